"""Every kind of model a notebook builds saves to ``.keras`` in one process and loads in another
after only ``import cnncourse``, with the same predictions (and the same loss, for the focal loss).

The custom classes (cnncourse.layers, cnncourse.sparse.layers) are registered by the import hook
that ``import cnncourse`` installs, so the loading process imports nothing else of the course.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from cnncourse import config

SAVE = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    import numpy as np
    import cnncourse
    cnncourse.setup(seed=0, verbose=False)
    import keras
    from cnncourse import cnn3d, data, detection, models, segmentation, sparse


    def course_classes(model):  # the cnncourse layer classes anywhere in the model (nested too)
        return sorted({f"{type(l).__module__}.{type(l).__name__}"
                       for l in model._flatten_layers(include_self=False)
                       if type(l).__module__.startswith("cnncourse")})

    out = Path(sys.argv[1])
    rng = np.random.default_rng(0)
    made = {}

    def keep(name, model, x, **extra):
        model.save(out / f"{name}.keras")
        np.savez(out / f"{name}.npz", **{f"x_{k}": v for k, v in x.items()},
                 y=keras.ops.convert_to_numpy(model(_inputs(x), training=False)),
                 **extra)
        made[name] = course_classes(model)

    def _inputs(x):  # a dict of named inputs (the sparse network) or the one array
        return x if len(x) > 1 else x["x"]

    img = lambda *s: rng.random(s, dtype=np.float32)
    keep("lenet5", models.lenet5((32, 32, 1), 10), {"x": img(2, 32, 32, 1)})
    keep("mlp", models.mlp((8, 8, 1), (16,), 2), {"x": img(2, 8, 8, 1)})
    aug = keras.Sequential([keras.Input((16, 16, 3)), models.augmentation(seed=3),
                            models.small_cnn((16, 16, 3), 2)], name="augmented_cnn")
    keep("augmented_cnn", aug, {"x": img(2, 16, 16, 3)})
    keep("window_cnn", segmentation.build_window_classifier(17, 4), {"x": img(2, 17, 17, 1)})
    keep("unet", segmentation._build_unet(depth=2, width=4), {"x": img(1, 16, 16, 1)})
    patch = detection.build_patch_cnn((16, 16, 3), width=4)
    patch.compile(optimizer="adam", loss=detection.BinaryFocalLoss(gamma=1.5, alpha=0.4))
    x_patch, y_patch = img(4, 16, 16, 3), np.array([0, 1, 0, 1], np.float32)
    loss = float(patch.compute_loss(x=x_patch, y=y_patch, y_pred=patch(x_patch)))
    keep("patch_cnn_focal", patch, {"x": x_patch}, labels=y_patch, loss=loss)
    keep("cnn3d_rotation", cnn3d._build_cnn3d((16, 16, 16, 1), filters=(4, 8), augment=True,
                                              seed=1), {"x": img(2, 16, 16, 16, 1)})
    volumes, masks, _ = data.make_nuclei_3d(2, 16, seed=0)[:3]
    st = sparse.SparseTensor(*data.to_sparse(masks, mode="foreground", volumes=volumes), (16, 16, 16), 2)
    from cnncourse.sparse.net import _build_sparse_classifier

    net = _build_sparse_classifier(in_channels=1, widths=(4, 8))
    keep("sparse_classifier", net, sparse.network_inputs(st, 2))
    (out / "made.json").write_text(json.dumps(made))
''')

LOAD = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    import numpy as np
    import cnncourse
    import keras


    def course_classes(model):  # the cnncourse layer classes anywhere in the model (nested too)
        return sorted({f"{type(l).__module__}.{type(l).__name__}"
                       for l in model._flatten_layers(include_self=False)
                       if type(l).__module__.startswith("cnncourse")})

    out = Path(sys.argv[1])
    report = {}
    for name in json.loads((out / "made.json").read_text()):
        model = keras.saving.load_model(out / f"{name}.keras")
        saved = np.load(out / f"{name}.npz", allow_pickle=False)
        x = {k[2:]: saved[k] for k in saved.files if k.startswith("x_")}
        y = keras.ops.convert_to_numpy(model(x if len(x) > 1 else x["x"], training=False))
        row = {"max_abs_diff": float(np.max(np.abs(y - saved["y"]))),
               "layers": course_classes(model)}
        if "loss" in saved.files:
            xs = x["x"]
            row["loss"] = [float(saved["loss"]), float(model.compute_loss(
                x=xs, y=saved["labels"], y_pred=model(xs)))]
            row["loss_class"] = type(model.loss).__module__ + "." + type(model.loss).__name__
            row["loss_config"] = {k: model.loss.get_config()[k] for k in ("gamma", "alpha")}
        report[name] = row
    print(json.dumps(report))
''')


def _python(code, *args, cwd):
    env = {**os.environ, "CNNCOURSE_FAST": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def test_models_round_trip_through_keras_files(tmp_path):
    _python(SAVE, tmp_path, cwd=tmp_path)
    made = json.loads((tmp_path / "made.json").read_text())
    # the custom classes are really in the saved models
    custom = {cls for classes in made.values() for cls in classes}
    assert {"cnncourse.layers.RandomRot90", "cnncourse.layers.RandomRotation3D",
            "cnncourse.sparse.layers.SubmanifoldConv3D"} <= custom, custom
    report = json.loads(_python(LOAD, tmp_path, cwd=tmp_path).strip().splitlines()[-1])
    assert set(report) == set(made)
    for name, row in report.items():
        assert row["max_abs_diff"] <= 1e-5, (name, row)
        assert row["layers"] == made[name], (name, row)
    focal = report["patch_cnn_focal"]
    assert focal["loss_class"] == "cnncourse.layers.BinaryFocalLoss"
    assert focal["loss_config"] == {"gamma": 1.5, "alpha": 0.4}
    assert focal["loss"][1] == pytest.approx(focal["loss"][0], rel=1e-5)


def test_import_cnncourse_stays_cheap_and_registers_when_keras_loads():
    code = ("import sys, cnncourse\n"
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules\n"
            "import keras\n"
            "from keras.saving import get_registered_object as g\n"
            "names = ['RandomRot90', 'RandomRotation3D', 'BinaryFocalLoss']\n"
            "names = [f'cnncourse>{n}' for n in names] + ['cnncourse.sparse>SubmanifoldConv3D']\n\n"
            "print([g(n) is not None for n in names])\n")
    out = _python(code, cwd=config.ROOT)
    assert out.strip().splitlines()[-1] == "[True, True, True, True]"


@pytest.mark.parametrize("first", ["cnncourse.sparse.ops", "cnncourse.sparse.validation",
                                   "cnncourse.tools.bench.sparse.alternatives"])
def test_registering_works_whichever_sparse_module_loads_keras_first(first):
    """The hook imports cnncourse.sparse.layers when Keras loads, which may be half-way through
    importing one of the modules layers.py uses (each imports Keras first)."""
    code = ("import warnings; warnings.simplefilter('error')\n"
            f"import cnncourse, {first}\n"
            "from keras.saving import get_registered_object as g\n"
            "print(g('cnncourse.sparse>SubmanifoldConv3D') is not None)\n")
    assert _python(code, cwd=config.ROOT).strip().splitlines()[-1] == "True"
