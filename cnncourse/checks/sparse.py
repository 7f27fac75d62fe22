"""Checks for the sparse convolution notebook (13): multiply-add counts, a rulebook by hand, and a
submanifold convolution as gather + matrix product."""
from __future__ import annotations

import itertools
import re
from typing import Any, Callable

import numpy as np

from cnncourse.checks import (Case, Mistake, check_function, check_value, evaluate_function,
                              structure_findings)
from cnncourse.checks.architecture import (builder_call, flat_layers, is_model, layer_kinds, logit,
                                           model_parts, momentum_problem, randomize_weights, unbuilt)

# ---- exercise: multiply-adds of one layer, dense vs sparse ---------------------------------------


def multiply_adds(answer: Any, *, grid: int, sites: int, kernel_size: int = 3, cin: int = 16,
                  cout: int = 16) -> Any:
    """Check ``(dense, sparse)`` multiply-adds of one 3D convolution layer.

    Dense: every one of the ``grid**3`` positions computes ``k**3 * cin * cout`` products; sparse
    (submanifold, gather + GEMM): only the ``sites`` active positions do.
    """
    per_site = kernel_size**3 * cin * cout
    expected = (grid**3 * per_site, sites * per_site)
    return check_value(
        answer, expected, name="multiply_adds", rtol=0, atol=0.5,
        mistakes=[
            Mistake("the kernel has k**3 = 27 offsets in 3D, not k**2 = 9 (that is 2D).",
                    wrong=(grid**3 * kernel_size**2 * cin * cout, sites * kernel_size**2 * cin * cout)),
            Mistake("each output channel sums over every input channel: multiply by cin AND cout.",
                    wrong=(grid**3 * kernel_size**3 * cout, sites * kernel_size**3 * cout)),
            Mistake("the grid is grid**3 positions (a cube), not grid**2.",
                    wrong=(grid**2 * per_site, sites * per_site)),
            Mistake("the pair is (dense, sparse), in that order.", wrong=expected[::-1]),
        ],
        hint="per output position: k**3 offsets x cin inputs x cout outputs; dense has grid**3 "
             "positions, sparse only the active sites.")


# ---- exercise: the rulebook by hand ------------------------------------------------------------


def _offsets(k, centered=True, order="zyx"):
    r = range(-(k // 2), k // 2 + 1) if centered else range(k)
    offs = list(itertools.product(r, r, r))
    if order == "xyz":  # x slowest instead of z
        offs = [(dz, dy, dx) for dx, dy, dz in offs]
    return offs


def _rulebook(coords, kernel_size=3, *, centered=True, batch=True, centre=True, missing=None,
              order="zyx"):
    coords = np.asarray(coords)
    n = len(coords)
    missing = n if missing is None else missing
    key = (lambda c: tuple(c)) if batch else (lambda c: tuple(c[1:]))
    where = {key(c): i for i, c in enumerate(coords.tolist())}
    offs = [o for o in _offsets(kernel_size, centered, order) if centre or any(o)]
    table = np.full((n, len(offs)), missing, dtype=np.int64)
    for i, (b, z, y, x) in enumerate(coords.tolist()):
        for j, (dz, dy, dx) in enumerate(offs):
            table[i, j] = where.get(key((b, z + dz, y + dy, x + dx)), missing)
    return table


def _reference_rulebook(coords, kernel_size=3):
    return _rulebook(coords, kernel_size)


_RULEBOOK_CASES = [
    Case((np.array([[0, 1, 1, 1], [0, 1, 1, 2]]),), label="two neighbours along x, one sample"),
    Case((np.array([[0, 0, 0, 0], [0, 1, 1, 1], [0, 0, 1, 0], [0, 2, 2, 2], [0, 1, 0, 1]]),),
         label="five sites with diagonal neighbours"),
    Case((np.array([[0, 2, 2, 2], [0, 2, 2, 3], [1, 2, 2, 2], [1, 3, 2, 2]]),),
         label="two samples with a site at the same (z, y, x)"),
    Case((np.array([[0, 0, 0, 0], [0, 0, 0, 2], [0, 0, 0, 1]]), 5), label="kernel_size=5"),
    Case((np.array([[0, 4, 4, 4], [1, 4, 4, 4]]), 1), label="kernel_size=1"),
]


def build_rulebook(fn: Callable) -> Callable:
    """Check ``build_rulebook(coords, kernel_size=3)`` -> int (N, k**3) neighbour table."""
    return check_function(
        fn, _reference_rulebook, _RULEBOOK_CASES, name="build_rulebook",
        mistakes=[
            Mistake("the offsets run from 0 to k-1: an off-by-one. For a submanifold convolution "
                    "the output site is the kernel's CENTRE, so offsets run from -(k//2) to k//2.",
                    wrong=lambda c, k=3: _rulebook(c, k, centered=False)),
            Mistake("sites of different samples became neighbours: look a neighbour up by "
                    "(batch, z, y, x), not by (z, y, x) alone.",
                    wrong=lambda c, k=3: _rulebook(c, k, batch=False)),
            Mistake("the centre offset (0, 0, 0) is missing: the site itself is one of its k**3 "
                    "neighbours (it carries the kernel's centre weight).",
                    wrong=lambda c, k=3: _rulebook(c, k, centre=False)),
            Mistake("a missing neighbour must be N (the index of the zero row), not -1: -1 "
                    "would read the LAST site's features.",
                    wrong=lambda c, k=3: _rulebook(c, k, missing=-1)),
            Mistake("the offsets are in the wrong order: z must vary slowest and x fastest, "
                    "like the kernel's (kd, kh, kw) axes.",
                    wrong=lambda c, k=3: _rulebook(c, k, order="xyz")),
        ],
        hint="for each site i and each offset (dz, dy, dx) in itertools.product(r, r, r) with "
             "r = range(-(k//2), k//2 + 1), look up (b, z+dz, y+dy, x+dx) in a dict of sites.")


# ---- exercise: submanifold convolution = gather + GEMM --------------------------------------------


def _reference_conv(features, table, kernel):
    features = np.asarray(features, dtype=np.float64)
    n, cin = features.shape
    cout = kernel.shape[-1]
    padded = np.vstack([features, np.zeros((1, cin))])      # row n = the zero row
    gathered = padded[table].reshape(len(table), -1)          # (N, k^3 * cin)
    return gathered @ np.asarray(kernel).reshape(-1, cout)    # (N, cout)


def _conv_flipped(features, table, kernel):
    return _reference_conv(features, table, np.asarray(kernel)[::-1, ::-1, ::-1])


def _conv_clip(features, table, kernel):
    features = np.asarray(features, dtype=np.float64)
    g = np.take(features, table, axis=0, mode="clip").reshape(len(table), -1)
    return g @ np.asarray(kernel).reshape(-1, kernel.shape[-1])


def _conv_channel_major(features, table, kernel):
    k = np.asarray(kernel)
    cin, cout = k.shape[3], k.shape[4]
    padded = np.vstack([np.asarray(features, float), np.zeros((1, cin))])
    g = padded[table].transpose(0, 2, 1).reshape(len(table), -1)  # (N, cin * k^3)
    return g @ k.reshape(-1, cin, cout).reshape(-1, cout)


def _conv_cases():
    from cnncourse.sparse import neighbor_table

    rng = np.random.default_rng(0)
    cases = []
    for n_sites, cin, cout, k, side in [(6, 1, 1, 3, 3), (12, 2, 3, 3, 4), (10, 3, 2, 1, 4),
                                        (15, 2, 2, 3, 5)]:
        flat = rng.choice(side**3, size=n_sites, replace=False)
        coords = np.column_stack([np.zeros(n_sites, int),
                                  np.array(np.unravel_index(flat, (side,) * 3)).T])
        table = neighbor_table(coords, (side,) * 3, 1, k)
        cases.append(Case((rng.standard_normal((n_sites, cin)), table,
                           rng.standard_normal((k, k, k, cin, cout))),
                          label=f"{n_sites} sites, cin={cin}, cout={cout}, k={k}"))
    return cases


def submanifold_conv(fn: Callable) -> Callable:
    """Check ``submanifold_conv(features, table, kernel)`` -> (N, cout) (gather + one GEMM)."""
    return check_function(
        fn, _reference_conv, _conv_cases(), name="submanifold_conv",
        mistakes=[
            Mistake("you flipped the kernel: that is a true convolution. CNN layers (Keras Conv3D "
                    "too) compute cross-correlation: offset o of the table uses kernel[o].",
                    wrong=_conv_flipped),
            Mistake("missing neighbours (index N) must read a row of ZEROS: append one to the "
                    "features (np.vstack) instead of clipping the index to the last site.",
                    wrong=_conv_clip),
            Mistake("the gathered rows and the kernel are flattened in different orders: reshape "
                    "(N, k^3, cin) to (N, k^3 * cin) and the kernel to (k^3 * cin, cout), both "
                    "offset-major.",
                    wrong=_conv_channel_major),
        ],
        hint="padded = np.vstack([features, zeros((1, cin))]); "
             "padded[table].reshape(N, -1) @ kernel.reshape(-1, cout).")


# ---- exercise: assemble the sparse classifier from the sparse layers ------------------------------


def _reference_classifier(widths=(8, 16, 32), dropout=0.3):
    """The network of notebook 13, written from the public layers (the checks' reference)."""
    import keras

    from cnncourse import sparse

    inputs = sparse.network_input_layers(len(widths), 1)
    x = inputs["features"]
    for lev, width in enumerate(widths):
        x = sparse.SubmanifoldConv3D(width, 3, use_bias=False)(x, inputs[f"neighbors_{lev}"])
        x = sparse.SparseBatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
        if lev < len(widths) - 1:
            x = sparse.SparseMaxPool3D(2)(x, inputs[f"down_{lev}"], inputs[f"up_{lev}"])
    x = sparse.SparseGlobalPool3D("avg_max")(x, inputs["batch_index"], inputs["samples"])
    x = keras.layers.Dropout(dropout)(x)
    out = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, out, name="reference_sparse_classifier")


def _probe_batch(levels, seed=0):
    """network_inputs of three small random 'nuclei' (blobs of sites) in an 8^3 grid."""
    from cnncourse.sparse import SparseTensor, network_inputs

    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(8)] * 3, indexing="ij"), -1).reshape(-1, 3)
    coords = []
    for b in range(3):
        centre = rng.uniform(2.5, 4.5, 3)
        radius = rng.uniform(1.8, 3.0, 3)
        inside = (((grid - centre) / radius) ** 2).sum(1) <= 1
        coords.append(np.column_stack([np.full(inside.sum(), b), grid[inside]]))
    coords = np.concatenate(coords).astype(np.int32)
    feats = rng.random((len(coords), 1)).astype(np.float32)
    return network_inputs(SparseTensor(coords, feats, (8, 8, 8), batch_size=3), levels)


def _self_only(inputs, levels):
    """The same inputs, but every convolution table of ``levels`` lists only the site itself."""
    out = dict(inputs)
    for lev in levels:
        table = inputs[f"neighbors_{lev}"]
        n, k = table.shape
        alone = np.full_like(table, n)
        alone[:, k // 2] = np.arange(n)
        out[f"neighbors_{lev}"] = alone
    return out


_SPARSE_SETTINGS = {"SubmanifoldConv3D": ("filters", "kernel_size", "use_bias"),
                    "SparseBatchNormalization": ("momentum",), "SparseMaxPool3D": ("pool_size",),
                    "SparseAvgPool3D": ("pool_size",), "SparseGlobalPool3D": ("mode",),
                    "Dropout": ("rate",), "Dense": ("units",)}


def _run(model, inputs):
    return np.asarray(model(inputs, training=False), dtype=np.float64)


def _is_library_classifier(model) -> bool:
    names = {layer.name for layer in model.layers}
    return ({"subm_0_0", "global_pool", "probability"} <= names
            or model.name == "reference_sparse_classifier")


_TABLE_ERROR = re.compile(r"indices\[[^\]]*\] = -?\d+ is not in \[0, \d+\)"    # a gather out of range
                          r"|\w+: \w+ (has \d+ rows but there are \d+[^.]*|holds the entry[^:]*"
                          r"|is not a submanifold neighbour table[^:]*|is not the transpose[^(]*)")
_TABLE_WORDS = ("is not in [0", "rows but there are", "holds the entry",
                "is not a submanifold neighbour table", "is not the transpose")


def _classifier_summary(model, reference, levels: int) -> dict:
    """What the checks compare of a built sparse classifier: its parts; its outputs on a batch of
    three objects with its own random weights, also with neighbour tables that list only the site
    itself; its outputs with ``reference``'s random weights copied in (``reference`` itself: its
    outputs)."""
    import keras

    if not is_model(model):
        return {"type": type(model).__name__}
    layers = flat_layers(model)
    summary = {
        "library": _is_library_classifier(model), "kinds": layer_kinds(model),
        "parts": model_parts(model, _SPARSE_SETTINGS),
        "output_shape": tuple(model.output_shape), "params": int(model.count_params()),
        "weight_shapes": tuple(tuple(w.shape) for w in model.weights),
        "batch_norms": sum(isinstance(layer, keras.layers.BatchNormalization) for layer in layers),
        "momenta": tuple(sorted({round(float(layer.momentum), 4) for layer in layers
                                 if isinstance(layer, keras.layers.BatchNormalization)})),
        "global_modes": tuple(layer.mode for layer in layers
                              if type(layer).__name__ == "SparseGlobalPool3D"),
        "dropout_rates": tuple(float(layer.rate) for layer in layers
                               if type(layer).__name__ == "Dropout"),
        "error": None, "own": None, "alone_all": None, "alone_coarse": None, "copied": None,
    }
    x = _probe_batch(levels)
    if model is reference:
        summary["library"] = False
        summary["own"] = summary["copied"] = _run(model, x)
        return summary
    if summary["library"]:
        return summary
    try:
        randomize_weights(model, seed=1)
        summary["own"] = _run(model, x)
        summary["alone_all"] = _run(model, _self_only(x, range(levels)))
        if levels > 1:
            summary["alone_coarse"] = _run(model, _self_only(x, range(1, levels)))
    except Exception as exc:  # noqa: BLE001 - reported as the answer's verdict
        text = str(exc)
        found = _TABLE_ERROR.search(text)
        text = found.group(0) if found else (text.strip().splitlines() or [""])[0][:200]
        summary["error"] = f"{type(exc).__name__}: {text}"
        return summary
    if summary["weight_shapes"] == tuple(tuple(w.shape) for w in reference.weights):
        model.set_weights(reference.get_weights())
        summary["copied"] = _run(model, x)
    return summary


def _same_classifier(got, expected):
    if unbuilt(got):
        return False, unbuilt(got)
    if got["library"]:
        return False, ("that is the library's network (cnncourse.sparse.net._build_sparse_classifier "
                       "or the checker's reference): assemble it yourself from the layers")
    if got["error"]:
        return False, f"running it on a batch raised {got['error']}"
    e = expected["copied"]
    if got["own"].shape != e.shape:
        return False, f"it outputs shape {got['own'].shape} for 3 samples, expected {e.shape}"
    gs, es = list(got["weight_shapes"]), list(expected["weight_shapes"])
    if gs != es:
        return False, f"its weights have shapes {gs}, the expected model's {es}"
    bad = momentum_problem(got["momenta"])
    if bad:
        return False, bad
    g = got["copied"]
    if not np.allclose(g, e, atol=1e-4, rtol=1e-3):
        return False, (f"with the same weights it outputs {np.round(g.ravel(), 4).tolist()}, "
                       f"expected {np.round(e.ravel(), 4).tolist()}")
    if got["parts"] != expected["parts"]:
        return False, "its layers are not the ones the exercise lists"
    return True, ""


def _same(a, b, **tolerance) -> bool:
    return a is not None and b is not None and np.shape(a) == np.shape(b) and np.allclose(a, b, **tolerance)


def _diagnose_classifier(got, expected, case) -> list[str]:
    """Finding codes for a failing case (see the mistakes of :func:`build_sparse_classifier`): the
    parts missing or extra, in order, then the mistakes' codes."""
    if unbuilt(got) or got["library"]:
        return []
    kinds, parts = got["kinds"], got["parts"]
    rate = case.args[1] if len(case.args) > 1 else 0.3
    checks = {
        "alone_all": _same(got["own"], got["alone_all"], atol=1e-6),
        "alone_coarse": _same(got["own"], got["alone_coarse"], atol=1e-6),
        "no_pool": not {"SparseMaxPool3D", "SparseAvgPool3D", "SparseConv3D"} & set(kinds),
        "table": any(s in (got["error"] or "") for s in _TABLE_WORDS),
        "avg_pool": "SparseAvgPool3D" in kinds,
        "no_bn": got["batch_norms"] == 0,
        "logits": expected["copied"] is not None and _same(got["copied"], logit(expected["copied"]),
                                                           atol=1e-3, rtol=1e-3),
        "global_pool": any(m != "avg_max" for m in got["global_modes"]) or "SparseGlobalPool3D" not in kinds,
        "no_relu": "ReLU" not in parts,
        "dropout": not got["dropout_rates"] or abs(got["dropout_rates"][-1] - rate) > 1e-9,
        "momentum": bool(momentum_problem(got["momenta"])),
    }
    return structure_findings(parts, expected["parts"]) + [c for c, yes in checks.items() if yes]


_CLASSIFIER_CASES = [
    Case(((4, 8), 0.3), label="widths=(4, 8), dropout=0.3 (3 samples in an 8^3 grid)"),
    Case(((4, 4, 8), 0.5), label="widths=(4, 4, 8), dropout=0.5"),
]


def build_sparse_classifier(fn: Callable) -> Callable:
    """Check ``build_sparse_classifier(widths, dropout)``: per level SubmanifoldConv3D(width, 3,
    no bias) on that level's table -> SparseBatchNormalization -> ReLU, SparseMaxPool3D(2)
    between levels, SparseGlobalPool3D("avg_max"), Dropout, Dense(1, sigmoid).

    Behaviour: the reference gets random weights, the learner's model a copy, and both must give
    the same probabilities for a batch of three small objects; probes that blank the neighbour
    tables tell whether the convolutions look at the neighbours at all. Then its layers must be
    the ones the exercise lists, in order (a missing or extra layer is named)."""
    result = evaluate_function(
        fn, _reference_classifier, _CLASSIFIER_CASES, name="build_sparse_classifier",
        compare_with=_same_classifier, diagnose=_diagnose_classifier,
        call=builder_call(_reference_classifier, lambda model, reference, case: _classifier_summary(
            model, reference, len(case.args[0]))),
        mistakes=[
            Mistake("your convolutions never look at the neighbours (the output does not change "
                    "when every table lists only the site itself): a Dense layer on the features "
                    "is a 1x1x1 convolution. Use SubmanifoldConv3D(width, 3)(x, neighbors_l).",
                    finding="alone_all"),
            Mistake("the coarser levels do not use their own neighbour table: level l's "
                    "convolution takes inputs[f'neighbors_{l}'] (the sites of level l), not "
                    "neighbors_0.", finding="alone_coarse"),
            Mistake("there is no pooling between the levels, so the grid is kept: every level "
                    "after the first has its own, coarser sites. Put SparseMaxPool3D(2)(x, "
                    "down_l, up_l) between level l and l + 1.", finding="no_pool"),
            Mistake("a table of another level: a gather read a row that does not exist. Level l's "
                    "convolution takes inputs[f'neighbors_{l}'], built for the sites of level l, "
                    "and the pooling between l and l + 1 takes down_l and up_l.", finding="table"),
            Mistake("SparseAvgPool3D divides each window's sum by 8, counting the INACTIVE sites "
                    "as zeros (an object's border looks darker); this network max-pools: "
                    "SparseMaxPool3D.", finding="avg_pool"),
            Mistake("batch normalisation is missing: SparseBatchNormalization() after each "
                    "convolution (its statistics come from the active sites only).", finding="no_bn"),
            Mistake("the sigmoid is missing: Dense(1, activation='sigmoid') (your outputs are "
                    "logits).", finding="logits"),
            Mistake("the global pooling must pool each sample's sites, mean AND max side by side: "
                    "SparseGlobalPool3D('avg_max')(x, batch_index, samples).", finding="global_pool"),
            Mistake("the ReLU is missing after the batch normalisation.", finding="no_relu"),
            Mistake("Dropout(dropout) is missing (or has another rate than `dropout`) between the "
                    "global pooling and the output layer.", finding="dropout"),
            Mistake("SparseBatchNormalization(momentum=0.9), as the exercise says (Keras' default "
                    "is 0.99).", finding="momentum"),
        ],
        hint="inputs = sparse.network_input_layers(len(widths), 1); x = inputs['features']; per "
             "level: SubmanifoldConv3D(w, 3, use_bias=False)(x, inputs[f'neighbors_{l}']) -> "
             "SparseBatchNormalization(momentum=0.9) -> ReLU(), then (not after the last level) "
             "SparseMaxPool3D(2)(x, inputs[f'down_{l}'], inputs[f'up_{l}']); "
             "SparseGlobalPool3D('avg_max')(x, inputs['batch_index'], inputs['samples']) -> "
             "Dropout(dropout) -> Dense(1, activation='sigmoid'); keras.Model(inputs, out).")
    return fn if result.passed else _reference_classifier
