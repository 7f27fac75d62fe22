"""Checks for notebook 12, 3D CNN for nucleus shapes: parameter counts of 3D convolutions, memory
of 3D activations, sphericity, and a held-out ROC AUC of the morphometric baseline."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from cnncourse.checks import (Case, Mistake, check_function, check_value, compare, evaluate_function,
                              structure_findings)
from cnncourse.checks.architecture import (builder_call, flat_layers, is_model, layer_kinds, logit,
                                           model_parts, momentum_problem, unbuilt)


# --------------------------------------------------------------------------------------------
# Exercise: parameters of a Conv3D layer


def _conv3d_params(kernel_size, in_channels, filters):
    return kernel_size ** 3 * in_channels * filters + filters


_PARAM_CASES = [
    Case((3, 1, 16), label="kernel_size=3, in_channels=1, filters=16"),
    Case((7, 1, 16), label="kernel_size=7, in_channels=1, filters=16"),
    Case((3, 16, 32), label="kernel_size=3, in_channels=16, filters=32"),
    Case((5, 8, 4), label="kernel_size=5, in_channels=8, filters=4"),
    Case((1, 64, 10), label="kernel_size=1, in_channels=64, filters=10"),
]


def conv3d_params(fn: Callable) -> Callable:
    """Check ``conv3d_params(kernel_size, in_channels, filters)``: k^3 * C_in * F weights + F biases."""
    return check_function(
        fn, _conv3d_params, _PARAM_CASES, name="conv3d_params",
        mistakes=[
            Mistake("the biases are missing: every filter has one bias, so add `filters`.",
                    wrong=lambda k, c, f: k ** 3 * c * f),
            Mistake("that is the 2D count (k * k): a 3D kernel is k x k x k, so use k ** 3.",
                    wrong=lambda k, c, f: k ** 2 * c * f + f),
            Mistake("the 2D count and no biases: use k ** 3 * in_channels * filters + filters.",
                    wrong=lambda k, c, f: k ** 2 * c * f),
            Mistake("the input channels are missing: each filter spans all input channels, so "
                    "one filter has k ** 3 * in_channels weights.",
                    wrong=lambda k, c, f: k ** 3 * f + f),
            Mistake("one bias per weight is too many: a filter has a single bias.",
                    wrong=lambda k, c, f: 2 * k ** 3 * c * f),
        ],
        hint="one filter has kernel_size ** 3 * in_channels weights and 1 bias; there are "
             "`filters` of them.",
    )


# --------------------------------------------------------------------------------------------
# Exercise: memory of activations

#: The value exercise's question: MiB of float32 activations of a 'same' Conv3D with 16 filters
#: over a batch of 8 volumes of 100^3 voxels (the sub-volume size of Helmstaedter et al. 2013).
ACTIVATION_QUESTION = {"batch": 8, "side": 100, "filters": 16, "bytes": 4}


def _activation_mib(batch=8, side=100, filters=16, nbytes=4):
    return batch * side ** 3 * filters * nbytes / 2 ** 20


def activation_mib(value: Any) -> Any:
    """Check the MiB of one layer's activations (see ``ACTIVATION_QUESTION``): 488.28125."""
    q = ACTIVATION_QUESTION
    b, s, f, n = q["batch"], q["side"], q["filters"], q["bytes"]
    expected = _activation_mib(b, s, f, n)
    return check_value(
        value, expected, name="activation_mib", rtol=1e-3,
        mistakes=[
            Mistake("that is for one volume: multiply by the batch size (8).",
                    wrong=_activation_mib(1, s, f, n)),
            Mistake("that counts values, not bytes: a float32 takes 4 bytes.",
                    wrong=_activation_mib(b, s, f, 1)),
            Mistake("that is in bytes: divide by 2 ** 20 to get MiB.", wrong=b * s ** 3 * f * n),
            Mistake("that is in MB (10 ** 6 bytes); a MiB is 2 ** 20 = 1,048,576 bytes.",
                    wrong=b * s ** 3 * f * n / 1e6),
            Mistake("that is the size of a 2D layer (100 x 100): a volume has 100 ** 3 voxels.",
                    wrong=_activation_mib(b, s ** (2 / 3), f, n)),
            Mistake("the 16 feature maps are missing: every filter gives its own 100^3 output.",
                    wrong=_activation_mib(b, s, 1, n)),
            Mistake("'valid' padding shrinks the output to 94^3, but the question says 'same'.",
                    wrong=_activation_mib(b, s - 6, f, n)),
        ],
        hint="batch x voxels per volume x filters x bytes per value, then / 2 ** 20.",
    )


# --------------------------------------------------------------------------------------------
# Exercise: sphericity


def _sphericity(volume, area):
    volume, area = np.asarray(volume, dtype=float), np.asarray(area, dtype=float)
    return np.pi ** (1 / 3) * (6 * volume) ** (2 / 3) / area


_SPH_CASES = [
    Case((4 / 3 * np.pi * 5.0 ** 3, 4 * np.pi * 5.0 ** 2), label="a ball of radius 5 (V, A)"),
    Case((1000.0, 600.0), label="a cube of side 10: volume=1000, area=600"),
    Case((np.array([1.0, 8.0, 3112.0]), np.array([6.0, 24.0, 1017.9])),
         label="arrays volume=[1, 8, 3112], area=[6, 24, 1017.9]"),
    Case((523.6, 400.0), label="volume=523.6, area=400.0 (a wrinkled ball)"),
]


def sphericity(fn: Callable) -> Callable:
    """Check ``sphericity(volume, area)`` = pi^(1/3) (6 V)^(2/3) / A (1 for a ball)."""
    return check_function(
        fn, _sphericity, _SPH_CASES, name="sphericity", rtol=1e-6,
        mistakes=[
            Mistake("the ratio is upside down: the ball's area pi^(1/3) (6V)^(2/3) goes on top, "
                    "the actual area A below, so that the result is at most 1.",
                    wrong=lambda v, a: np.asarray(a, float) / (np.pi ** (1 / 3)
                                                               * (6 * np.asarray(v, float)) ** (2 / 3))),
            Mistake("the factor pi ** (1 / 3) is missing (a ball must give exactly 1).",
                    wrong=lambda v, a: (6 * np.asarray(v, float)) ** (2 / 3) / np.asarray(a, float)),
            Mistake("the power applies to 6 * V, not to V alone: write (6 * volume) ** (2 / 3).",
                    wrong=lambda v, a: np.pi ** (1 / 3) * 6 * np.asarray(v, float) ** (2 / 3)
                    / np.asarray(a, float)),
            Mistake("2 / 3 in the exponent, not 1 / 3 or 3 / 2: area grows like volume^(2/3).",
                    wrong=lambda v, a: np.pi ** (1 / 3) * (6 * np.asarray(v, float)) ** (1 / 3)
                    / np.asarray(a, float)),
        ],
        hint="the area of the ball with volume V is pi^(1/3) (6 V)^(2/3); divide it by A.",
    )


# --------------------------------------------------------------------------------------------
# Exercise: held-out ROC AUC of the morphometric baseline


def _heldout_auc(X_train, y_train, X_test, y_test):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X_train, y_train)
    return float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))


def _training_auc(X_train, y_train, X_test, y_test):
    return _heldout_auc(X_train, y_train, X_train, y_train)


def _hard_label_auc(X_train, y_train, X_test, y_test):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_train, y_train)
    return float(roc_auc_score(y_test, model.predict(X_test)))


def _proba_class0_auc(X_train, y_train, X_test, y_test):
    return 1.0 - _heldout_auc(X_train, y_train, X_test, y_test)


def _auc_cases():
    cases = []
    for seed, (n, d, shift) in enumerate([(40, 7, 0.5), (60, 3, 0.6), (30, 5, 0.8)]):
        rng = np.random.default_rng(100 + seed)

        def make(m):
            y = np.arange(m) % 2
            X = rng.normal(size=(m, d)) * rng.uniform(0.5, 20, size=d) + shift * y[:, None]
            return X, y

        X_train, y_train = make(n)
        X_test, y_test = make(2 * n)
        cases.append(Case((X_train, y_train, X_test, y_test),
                          label=f"{n} training and {2 * n} test rows of {d} noisy features"))
    return cases


def _close_auc(got, expected):
    try:
        got = float(got)
    except (TypeError, ValueError):
        return False, f"expected a number (the AUC), got {type(got).__name__}"
    if abs(got - expected) <= 0.02:
        return True, ""
    return False, f"got AUC {got:.3f}, expected {expected:.3f}"


def heldout_auc(fn: Callable) -> Callable:
    """Check ``heldout_auc(X_train, y_train, X_test, y_test)``: standardise, fit a logistic
    regression on the training rows, return the ROC AUC of its probabilities on the test rows
    (within 0.02, so other reasonable solvers pass too)."""
    return check_function(
        fn, _heldout_auc, _auc_cases(), name="heldout_auc", compare_with=_close_auc,
        mistakes=[
            Mistake("that is the AUC on the training rows, which the model has seen: score "
                    "X_test and compare with y_test.",
                    when=lambda g, e, c: _matches(g, _training_auc, c)),
            Mistake("roc_auc_score needs scores, not 0/1 predictions: use "
                    "model.predict_proba(X_test)[:, 1] instead of model.predict(X_test).",
                    when=lambda g, e, c: _matches(g, _hard_label_auc, c)),
            Mistake("predict_proba(X)[:, 0] is the probability of class 0; take column 1.",
                    when=lambda g, e, c: _matches(g, _proba_class0_auc, c)),
        ],
        hint="make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train, y_train), then "
             "roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]).",
    )


def _matches(got, wrong, case) -> bool:
    try:
        return abs(float(got) - wrong(*case.args)) < 1e-6
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------------------------
# Exercise: the 3D CNN (Keras functional API)
#
# The check's `call` builds the learner's model, copies the reference's random weights into it and
# returns a plain summary: its parts in order (model_parts), the outputs on three volumes, the
# weights' shapes. Behaviour is compared first (same weights, same outputs), then the parts, so a
# model that leaves out a layer without weights (the dropout) or adds one fails too and is told
# which part.


def _reference_cnn3d(input_shape, filters=(8, 16, 32), dropout=0.3):
    from cnncourse.cnn3d import _build_cnn3d

    return _build_cnn3d(input_shape, filters, dropout, seed=0)


def _probe_volume(input_shape, n=3, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.random((n, *input_shape), dtype=np.float32)
    x[1] = x[1] ** 3   # three different-looking inputs
    x[2] = 1.0 - x[2]
    return x


def _cnn_summary(model, reference) -> dict:
    """What the checks compare of a built model: its parts, and its outputs on three volumes with
    ``reference``'s (random) weights copied in (when its weights have the same shapes)."""
    import keras

    if not is_model(model):
        return {"type": type(model).__name__}
    layers = flat_layers(model)
    summary = {
        "library": {"conv1", "bn1", "p_lobulated"} <= {layer.name for layer in layers},
        "input_shape": tuple(model.input_shape[1:]), "output_shape": tuple(model.output_shape),
        "params": int(model.count_params()), "kinds": layer_kinds(model),
        "parts": model_parts(model),
        "weight_shapes": tuple(tuple(w.shape) for w in model.weights),
        "conv_bias": any(type(layer).__name__ == "Conv3D" and layer.use_bias for layer in layers),
        "dropout_rates": tuple(float(layer.rate) for layer in layers
                               if type(layer).__name__ == "Dropout"),
        "momenta": tuple(sorted({round(float(layer.momentum), 4) for layer in layers
                                 if isinstance(layer, keras.layers.BatchNormalization)})),
        "outputs": None, "run_error": None,
    }
    if summary["input_shape"] != tuple(reference.input_shape[1:]):
        return summary
    if summary["weight_shapes"] == tuple(tuple(w.shape) for w in reference.weights):
        model.set_weights(reference.get_weights())
        try:
            summary["outputs"] = np.asarray(model(_probe_volume(summary["input_shape"]),
                                                  training=False), dtype=np.float64)
        except Exception as exc:  # noqa: BLE001 - reported as the answer's verdict
            summary["run_error"] = f"{type(exc).__name__}: {exc}"
    return summary


def _same_cnn3d(got, expected):
    if unbuilt(got):
        return False, unbuilt(got)
    if got["library"]:
        return False, ("that is the library's reference network (cnncourse.cnn3d): write the "
                       "layers yourself")
    if got["input_shape"] != expected["input_shape"]:
        return False, (f"the model's input shape is {got['input_shape']}, expected "
                       f"{expected['input_shape']} (use keras.Input(shape=input_shape))")
    gs, es = list(got["weight_shapes"]), list(expected["weight_shapes"])
    if gs != es:
        return False, f"its weights have shapes {gs}, the expected model's {es}"
    if got["run_error"]:
        return False, f"running it raised {got['run_error']}"
    g, e = got["outputs"], expected["outputs"]
    if g.shape != e.shape:
        return False, f"with the same weights it outputs shape {g.shape}, expected {e.shape}"
    if not np.allclose(g, e, atol=1e-4, rtol=1e-3):
        return False, (f"with the same weights it outputs {np.round(g.ravel(), 4).tolist()}, "
                       f"expected {np.round(e.ravel(), 4).tolist()}")
    bad = momentum_problem(got["momenta"])
    if bad:
        return False, bad
    if got["parts"] != expected["parts"]:
        return False, "its layers are not the ones the exercise lists"
    return True, ""


_2D_CRASH = ("2D", "ndim=4", "Kernel shape must have the same length")


def _outputs_are(got, expected, transform) -> bool:
    g, e = got.get("outputs"), expected.get("outputs")
    return g is not None and e is not None and g.shape == e.shape and np.allclose(
        g, transform(e), atol=1e-3, rtol=1e-3)


def _diagnose_cnn3d(got, expected, case) -> list[str]:
    """Finding codes for a failing case (see the mistakes of :func:`build_cnn3d`): the parts
    missing or extra, in order, then the mistakes' codes."""
    if "crashed" in got:
        return ["2d"] if any(w in got["crashed"] for w in _2D_CRASH) else []
    if "type" in got:
        return []
    kinds, blocks = got["kinds"], len(case.args[1])
    found = structure_findings(got["parts"], expected["parts"])
    rate = case.args[2] if len(case.args) > 2 else 0.3
    checks = {
        "2d": "Conv2D" in kinds or "MaxPooling2D" in kinds,
        "flatten": "Flatten" in kinds or not {"GlobalAveragePooling3D", "GlobalMaxPooling3D"} & set(kinds),
        "global_max": "GlobalMaxPooling3D" in kinds and "GlobalAveragePooling3D" not in kinds,
        "logits": _outputs_are(got, expected, logit),
        "double_sigmoid": _outputs_are(got, expected, lambda p: 1 / (1 + np.exp(-p))),
        "softmax_one": _outputs_are(got, expected, np.ones_like),
        "conv_bias": got["conv_bias"],
        "bn_missing": kinds.count("BatchNormalization") < blocks,
        "pool_missing": kinds.count("MaxPooling3D") < blocks,
        "relu_missing": got["parts"].count("ReLU") < blocks,
        "dropout": not got["dropout_rates"] or abs(got["dropout_rates"][-1] - rate) > 1e-9,
        "momentum": bool(momentum_problem(got["momenta"])),
    }
    return found + [code for code, yes in checks.items() if yes]


_CNN_CASES = [
    Case(((16, 16, 16, 1), (4, 8), 0.3), label="input_shape=(16, 16, 16, 1), filters=(4, 8), "
         "dropout=0.3"),
    Case(((16, 24, 32, 1), (4, 4, 8), 0.5), label="input_shape=(16, 24, 32, 1), filters=(4, 4, 8), "
         "dropout=0.5"),
]


def build_cnn3d(fn: Callable) -> Callable:
    """Check ``build_cnn3d(input_shape, filters, dropout)``: per filter count a block Conv3D
    (3x3x3, "same", no bias) -> BatchNormalization(momentum=0.9) -> ReLU -> MaxPooling3D(2), then
    GlobalAveragePooling3D, Dropout(dropout), Dense(1, sigmoid).

    Behaviour, not only shapes: the reference model gets random weights, the learner's model a
    copy of them, and both must give the same outputs on three volumes; then its layers must be
    the ones the exercise lists, in order (a missing or extra layer is named)."""
    result = evaluate_function(
        fn, _reference_cnn3d, _CNN_CASES, name="build_cnn3d", compare_with=_same_cnn3d,
        call=builder_call(_reference_cnn3d,
                          lambda model, reference, case: _cnn_summary(model, reference)),
        diagnose=_diagnose_cnn3d,
        mistakes=[
            Mistake("Conv2D / MaxPooling2D work on images (batch, H, W, C); a volume (batch, D, "
                    "H, W, C) needs Conv3D, MaxPooling3D and GlobalAveragePooling3D.", finding="2d"),
            Mistake("Flatten is no global pooling: it keeps every position, so the Dense layer's "
                    "weights depend on the volume size and on WHERE a fold is. Use "
                    "GlobalAveragePooling3D: one number per feature map.", finding="flatten"),
            Mistake("GlobalMaxPooling3D asks 'is the feature anywhere?'; this network uses "
                    "GlobalAveragePooling3D ('how much of it is there?').", finding="global_max"),
            Mistake("the sigmoid is missing: the output layer must be Dense(1, "
                    "activation='sigmoid') so that it is a probability (your outputs are the "
                    "logits).", finding="logits"),
            Mistake("the sigmoid is applied twice (an Activation('sigmoid') after "
                    "Dense(1, activation='sigmoid')?): outputs squeezed into (0.5, 0.73).",
                    finding="double_sigmoid"),
            Mistake("softmax over ONE unit is always 1: use a sigmoid for a single output.",
                    finding="softmax_one"),
            Mistake("a Conv3D has a bias: with BatchNormalization right after it the bias is "
                    "wasted (BN subtracts the mean and adds its own beta): use_bias=False.",
                    finding="conv_bias"),
            Mistake("BatchNormalization is missing after a Conv3D.", finding="bn_missing"),
            Mistake("a MaxPooling3D(2) is missing: every block halves the volume.",
                    finding="pool_missing"),
            Mistake("Dropout is missing (or has another rate than `dropout`) before the output "
                    "layer.", finding="dropout"),
            Mistake("the ReLU is missing after a batch normalisation: each block is Conv3D -> "
                    "BatchNormalization -> ReLU -> MaxPooling3D(2).", finding="relu_missing"),
            Mistake("BatchNormalization(momentum=0.9), as the exercise says (Keras' default is "
                    "0.99).", finding="momentum"),
        ],
        hint="x = keras.Input(shape=input_shape); per f in filters: Conv3D(f, 3, padding='same', "
             "use_bias=False) -> BatchNormalization(momentum=0.9) -> ReLU() -> MaxPooling3D(2); then "
             "GlobalAveragePooling3D() -> Dropout(dropout) -> Dense(1, activation='sigmoid'). "
             "Check the order of the layers.")
    return fn if result.passed else _reference_cnn3d


# --------------------------------------------------------------------------------------------
# Exercise: a rotation matrix from three angles in degrees


def _elementary(axis, radians):
    i, j = [a for a in range(3) if a != axis]
    r = np.eye(3)
    r[i, i] = r[j, j] = np.cos(radians)
    r[i, j], r[j, i] = -np.sin(radians), np.sin(radians)
    return r


def _rotation(angles, *, degrees=True, transpose_each=False, order=(0, 1, 2)):
    total = np.eye(3)
    angles = [float(a) for a in angles]
    for axis in order:
        t = np.deg2rad(angles[axis]) if degrees else angles[axis]
        r = _elementary(axis, t)
        total = (r.T if transpose_each else r) @ total
    return total


def _reference_rotation(angles):
    return _rotation(angles)


_ROT_CASES = [
    Case(((90, 0, 0),), label="angles=(90, 0, 0): a quarter turn about z"),
    Case(((0, 30, 0),), label="angles=(0, 30, 0)"),
    Case(((20, 45, 70),), label="angles=(20, 45, 70)"),
    Case(((-60, 10, 135),), label="angles=(-60, 10, 135)"),
]


def rotation_matrix(fn: Callable) -> Callable:
    """Check ``rotation_matrix(angles)``: angles (about z, y, x) in DEGREES, applied z first;
    about axis k the lower-index axis of the other two turns towards the higher one."""
    return check_function(
        fn, _reference_rotation, _ROT_CASES, name="rotation_matrix", atol=1e-9,
        mistakes=[
            Mistake("the angles are in degrees, but np.cos and np.sin take radians: convert with "
                    "np.deg2rad first.", wrong=lambda a: _rotation(a, degrees=False)),
            Mistake("the matrix is transposed (the signs of the sines swapped): that is the "
                    "INVERSE rotation. Row i, column j: R[i, j] = -sin, R[j, i] = +sin for the "
                    "lower-index axis i.",
                    when=lambda g, e, c: compare(g, _rotation(*c.args).T)[0]
                    or compare(g, _rotation(*c.args, transpose_each=True))[0]),
            Mistake("the product is in the wrong order: z is applied FIRST, so its matrix is on "
                    "the right: R = Rx @ Ry @ Rz (matrices do not commute).",
                    wrong=lambda a: _rotation(a, order=(2, 1, 0))),
        ],
        hint="for axis, deg in enumerate(angles): i, j = the two other axes; r = eye(3); "
             "r[i, i] = r[j, j] = cos(t); r[i, j] = -sin(t); r[j, i] = sin(t) with "
             "t = np.deg2rad(deg); R = r @ R.")


# --------------------------------------------------------------------------------------------
# Exercise: rotate a volume about its centre (scipy.ndimage.affine_transform)


def _affine(volume, matrix, *, transpose=True, centre="middle", order=1, mode="nearest"):
    from scipy import ndimage

    volume = np.asarray(volume)
    m = np.asarray(matrix, float)
    a = m.T if transpose else m
    shape = np.array(volume.shape, float)
    c = {"middle": (shape - 1) / 2, "half": shape / 2, "corner": np.zeros(3)}[centre]
    return ndimage.affine_transform(volume, a, offset=c - a @ c, order=order, mode=mode)


def _reference_rotate(volume, matrix):
    from cnncourse.augment import _rotate_volume

    return _rotate_volume(volume, matrix)


def _rotate_cases():
    rng = np.random.default_rng(7)
    blob = np.zeros((9, 11, 13), np.float32)
    blob[2:5, 3:8, 4:6] = 1.0
    blob[5, 6, 9] = 0.5
    noise = rng.random((10, 10, 10)).astype(np.float32)
    from cnncourse.augment import random_rotation_matrices

    return [
        Case((blob, _rotation((90, 0, 0))), label="a (9, 11, 13) volume with a block, 90 degrees "
             "about z"),
        Case((blob, _rotation((30, 50, 10))), label="the same volume, angles (30, 50, 10)"),
        Case((noise, random_rotation_matrices(1, seed=3)[0]), label="random values (10, 10, 10), "
             "a random rotation"),
    ]


def rotate_volume(fn: Callable) -> Callable:
    """Check ``rotate_volume(volume, matrix)``: the content of ``volume`` (D, H, W) rotated by
    ``matrix`` about the centre ``(shape - 1) / 2``, trilinear (order=1), edge values outside."""
    return check_function(
        fn, _reference_rotate, _rotate_cases(), name="rotate_volume", rtol=1e-4, atol=1e-4,
        mistakes=[
            Mistake("the volume turns about its CORNER (voxel 0, 0, 0), so the nucleus swings out "
                    "of the box: affine_transform needs offset = c - A @ c to turn about the "
                    "centre c = (shape - 1) / 2.", wrong=lambda v, m: _affine(v, m, centre="corner")),
            Mistake("the matrix is not transposed: affine_transform maps each OUTPUT voxel to the "
                    "input voxel it reads (the inverse rotation), so pass matrix.T (= the "
                    "inverse of a rotation), not matrix.", wrong=lambda v, m: _affine(v, m, transpose=False)),
            Mistake("the centre is half a voxel off: voxel centres run from 0 to shape - 1, so "
                    "the middle is (shape - 1) / 2, not shape / 2.",
                    wrong=lambda v, m: _affine(v, m, centre="half")),
            Mistake("affine_transform's default is order=3 (cubic splines, which overshoot); "
                    "use order=1 (trilinear).", wrong=lambda v, m: _affine(v, m, order=3)),
            Mistake("outside the volume use the nearest edge value (mode='nearest'): mode='constant' "
                    "fills the corners with 0, black corners the network could learn.",
                    wrong=lambda v, m: _affine(v, m, mode="constant")),
        ],
        hint="A = matrix.T; c = (np.array(volume.shape) - 1) / 2; ndimage.affine_transform(volume, "
             "A, offset=c - A @ c, order=1, mode='nearest').")
