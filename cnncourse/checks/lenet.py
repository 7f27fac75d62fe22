"""Checks for notebook 06 (LeNet): parameters per layer, the Keras model, MLP size, ROC AUC."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from cnncourse import models as _models
from cnncourse.checks import Case, Mistake, check_function, check_value, structure_findings

# --------------------------------------------------------------------------------------------
# Parameters of LeNet-5, layer by layer

_LAYERS = ("C1", "S2", "C3", "S4", "C5", "F6", "output")
_NO_BIAS = {"C1": 5 * 5 * 1 * 6, "C3": 5 * 5 * 6 * 16, "C5": 5 * 5 * 16 * 120, "F6": 120 * 84,
            "output": 84 * 10}


def _layer_is(key, *values):
    return lambda g, e, c: isinstance(g, dict) and g.get(key) in values


def param_counts(value: Any) -> Any:
    """Check ``{"C1": ..., "S2": ..., ..., "output": ...}`` for LeNet-5 on 32x32x1, 10 classes."""
    if isinstance(value, dict):  # accept any key order and numpy ints
        value = {k: (int(v) if isinstance(v, (int, np.integer)) else v) for k, v in value.items()}
        if value and all(v is Ellipsis for v in value.values()):
            value = ...  # the lesson's stub: nothing filled in yet
    return check_value(
        value, dict(_models.LENET5_PARAMS), name="param_counts",
        mistakes=[
            Mistake("you forgot the biases: every filter of a conv layer and every unit of a dense "
                    "layer has one (C1: 5*5*1*6 weights + 6 biases = 156).",
                    when=lambda g, e, c: isinstance(g, dict)
                    and any(g.get(k) == v for k, v in _NO_BIAS.items())),
            Mistake("C3's filters span all 6 maps of S2: each is 5x5x6, so (5*5*6 + 1) * 16 = 2416.",
                    when=_layer_is("C3", (5 * 5 * 1 + 1) * 16, 5 * 5 * 16, 5 * 5 * 1 * 16)),
            Mistake("C5's filters span all 16 maps of S4: each is 5x5x16, so (5*5*16 + 1) * 120.",
                    when=_layer_is("C5", (5 * 5 * 6 + 1) * 120, (5 * 5 + 1) * 120, 5 * 5 * 120)),
            Mistake("pooling (subsampling) layers have no parameters in Keras: a max or average "
                    "has nothing to learn. (The 1998 S2/S4 had a trainable coefficient and bias per "
                    "map; Keras' AveragePooling2D does not.)",
                    when=lambda g, e, c: isinstance(g, dict) and (g.get("S2") != 0 or g.get("S4") != 0)),
            Mistake("F6 sees the 120 outputs of C5 (C5's maps are 1x1): (120 + 1) * 84 = 10164.",
                    when=_layer_is("F6", (400 + 1) * 84, 400 * 84, (16 + 1) * 84)),
            Mistake("the output layer has 10 units on F6's 84: (84 + 1) * 10 = 850.",
                    when=_layer_is("output", 84 * 10 + 1, (120 + 1) * 10)),
        ],
        hint="conv layer: (KH * KW * C_in + 1) * C_out; dense layer: (n_in + 1) * n_out; "
             "pooling: 0. Keys: " + ", ".join(_LAYERS) + ".")


# --------------------------------------------------------------------------------------------
# The Keras model


def _signature(model):
    """Parameter counts of the layers that have parameters, in order."""
    return [int(layer.count_params()) for layer in model.layers if layer.count_params() > 0]


def _output_shape(model):
    return tuple(model.output_shape[1:]) if hasattr(model, "output_shape") else None


_C5 = "C5 (Conv2D(120, 5), or Flatten then Dense(120))"


def _parts(model) -> list[str]:
    """The model's layers as LeNet's description names them (activations left out: the check
    judges them by behaviour); C5 written either way is one part."""
    parts = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            parts.append(f"Conv2D({layer.filters}, {layer.kernel_size[0]})")
        elif kind.endswith("Pooling2D"):
            parts.append(f"pooling({layer.pool_size[0]})")
        elif kind == "Dense":
            softmax = getattr(layer.activation, "__name__", "") == "softmax"
            parts.append(f"Dense({layer.units}{', softmax' if softmax else ''})")
        elif kind not in ("InputLayer", "Activation", "ReLU"):
            parts.append(kind)
    for pair in (["Conv2D(120, 5)", "Flatten"], ["Flatten", "Dense(120)"]):
        for i in range(len(parts) - 1):
            if parts[i:i + 2] == pair:
                parts[i:i + 2] = [_C5]
                break
    return parts


def _model_summary(fn, case: Case) -> dict:
    """The call adapter of :func:`build_lenet5`: build the model for the case and describe it as
    plain data, in the order :func:`_lenet_problem` judges it."""
    model = fn(*case.args, **case.kwargs)
    if model is Ellipsis:
        return model
    if not hasattr(model, "count_params") or not hasattr(model, "layers"):
        return {"type": type(model).__name__}
    first_conv = next((tuple(la.output.shape[1:]) for la in model.layers
                       if "Conv" in type(la).__name__), None)
    summary = {"type": "Model", "input shape": tuple(model.input_shape[1:]),
               "output shape": _output_shape(model), "signature": _signature(model),
               "parameters": int(model.count_params()),
               "biases": sum(int(la.weights[-1].shape[0]) for la in model.layers if len(la.weights) == 2),
               "first conv output": first_conv, "parts": _parts(model)}
    x = np.random.default_rng(0).random((2, *model.input_shape[1:]), dtype=np.float32)
    try:
        p = np.asarray(model(x, training=False))
    except Exception as exc:   # a model that cannot run on its own input shape
        summary["runs"] = f"raised {type(exc).__name__}: {exc}"
        return summary
    summary["softmax"] = bool(p.shape[-1] <= 1 or np.allclose(p.sum(-1), 1.0, atol=1e-4))
    summary["behaves like"] = _behaves_like(model, x, p)
    summary["linear"] = summary["behaves like"] is None and _behaves_like(model, x, p, ("linear",)) is not None
    return summary


def _lenet_problem(got: dict, expected: dict) -> str:
    """Why the learner's model is not LeNet-5 ('' if it is)."""
    if got.get("type") != "Model":
        return f"expected a keras.Model, got {got.get('type')}"
    if got["input shape"] != expected["input shape"]:
        return (f"the model's input shape is {got['input shape']}, expected "
                f"{expected['input shape']} (use keras.Input(shape=input_shape))")
    if got["output shape"] != expected["output shape"]:
        return f"output shape {got['output shape']}, expected {expected['output shape']}"
    g, e = got["signature"], expected["signature"]
    if g != e:
        return (f"parameters of the layers that have some: {g} (total {sum(g):,}), expected "
                f"{e} (total {sum(e):,})")
    if "runs" in got:
        return f"the model {got['runs']}"
    if not got["softmax"]:
        return "the outputs do not sum to 1: the output layer needs activation='softmax'"
    if got["behaves like"] is None:
        return ("with the same weights, the model computes what no LeNet-5 computes "
                "(conv -> activation -> pool, twice; conv -> activation; dense -> activation; "
                "softmax output, with ReLU or tanh and max or average pooling)")
    return ""


def _same_model(got, expected):
    if not isinstance(got, dict):
        return False, f"expected a keras.Model, got {type(got).__name__}"
    why = _lenet_problem(got, expected)
    return not why, why


def _lenet_findings(got, expected, case) -> list[str]:
    """What is wrong with a failing model, as findings: the mistakes below, then the parts
    missing or extra compared with the reference."""
    if got.get("type") != "Model":
        return []
    found = []
    if got["parameters"] == expected["parameters"] - expected["biases"]:
        found.append("no biases")
    if got["first conv output"] and got["first conv output"][:2] == tuple(case.args[0][:2]):
        found.append("same padding")
    if got.get("linear"):
        found.append("no hidden activation")
    if got["output shape"] != expected["output shape"]:
        found.append("output units")
    return found + structure_findings(got["parts"], expected["parts"])


def _behaves_like(model, x, p, activations=("relu", "tanh")):
    """The (activation, pooling) of the LeNet-5 that, given ``model``'s weights, computes ``p``."""
    weights = model.get_weights()
    for activation in activations:
        for pooling in ("max", "avg"):
            twin = _models.lenet5(tuple(model.input_shape[1:]), int(model.output_shape[-1]),
                                  activation=activation, pooling=pooling)
            try:   # C5 may be written as Flatten + Dense(120): the same weights, reshaped
                twin.set_weights([np.reshape(w, v.shape) for w, v in zip(weights, twin.get_weights())])
            except ValueError:
                return None
            if np.allclose(np.asarray(twin(x, training=False)), p, atol=1e-5):
                return activation, pooling
    return None


def _build_cases():
    return [Case(((32, 32, 1), 10), label="input_shape=(32, 32, 1), n_classes=10"),
            Case(((32, 32, 3), 2), label="input_shape=(32, 32, 3), n_classes=2")]


def _reference_lenet5(input_shape=(32, 32, 1), n_classes=10):
    return _models.lenet5(input_shape, n_classes, activation="relu", pooling="max")


def build_lenet5(fn: Callable) -> Callable:
    """Check ``build_lenet5(input_shape, n_classes)``: a Keras LeNet-5 with 61,706 parameters for
    (32, 32, 1) and 10 classes. Layers are compared by their parameter counts, then by what the
    model computes with its own weights (ReLU or tanh, max or average pooling); a wrong model's
    missing or extra layers are named."""
    return check_function(
        fn, _reference_lenet5, _build_cases(), name="build_lenet5", call=_model_summary,
        compare_with=_same_model, diagnose=_lenet_findings,
        mistakes=[
            Mistake("the layers have no biases (use_bias=False?); LeNet's layers all have them.",
                    finding="no biases"),
            Mistake("C1 keeps the 32x32 size: that is padding='same'. LeNet's convolutions are "
                    "'valid' (the default): 32x32 -> 28x28 -> pool 14x14 -> 10x10 -> 5x5 -> 1x1.",
                    finding="same padding"),
            Mistake("the hidden layers have no activation: C1, C3, C5 and F6 need "
                    "activation='relu' (or 'tanh'). Without one, the stack of layers collapses to "
                    "one linear map (plus pooling) and the network can only draw linear boundaries.",
                    finding="no hidden activation"),
            Mistake("the output has the wrong number of units: Dense(n_classes, "
                    "activation='softmax').", finding="output units"),
        ],
        hint="Conv2D(6, 5) -> pool(2) -> Conv2D(16, 5) -> pool(2) -> Conv2D(120, 5) -> Flatten -> "
             "Dense(84) -> Dense(n_classes, activation='softmax'), starting from "
             "keras.Input(shape=input_shape).")


# --------------------------------------------------------------------------------------------
# MLP size


def _mlp_params(n_in, hidden, n_out):
    sizes = [int(n_in), *[int(h) for h in hidden], int(n_out)]
    return int(sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:])))


_MLP_CASES = [
    Case((3072, [20], 2), label="n_in=3072 (32x32x3), hidden=[20], n_out=2"),
    Case((784, [100], 10), label="n_in=784, hidden=[100], n_out=10"),
    Case((10, [5, 4], 3), label="n_in=10, hidden=[5, 4], n_out=3"),
    Case((4, [], 2), label="n_in=4, hidden=[] (no hidden layer), n_out=2"),
]


def mlp_params(fn: Callable) -> Callable:
    """Check ``mlp_params(n_in, hidden, n_out)``: parameters of a stack of Dense layers."""
    def no_bias(n_in, hidden, n_out):
        sizes = [n_in, *hidden, n_out]
        return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))

    return check_function(
        fn, _mlp_params, _MLP_CASES, name="mlp_params",
        mistakes=[
            Mistake("you forgot the biases: a Dense layer from a to b units has (a + 1) * b "
                    "parameters.", wrong=no_bias),
            Mistake("you forgot the output layer (from the last hidden layer to n_out).",
                    wrong=lambda n_in, hidden, n_out: _mlp_params(n_in, list(hidden)[:-1],
                                                                  list(hidden)[-1])
                    if hidden else 0),
            Mistake("you counted one bias per *input* unit; biases belong to the receiving "
                    "units: (a + 1) * b, not a * (b + 1).",
                    wrong=lambda n_in, hidden, n_out: sum(
                        a * (b + 1) for a, b in zip([n_in, *hidden], [*hidden, n_out]))),
        ],
        hint="sizes = [n_in, *hidden, n_out]; sum (a + 1) * b over consecutive pairs (a, b).")


# --------------------------------------------------------------------------------------------
# ROC AUC


def _roc_auc(y_true, score):
    y_true, score = np.asarray(y_true), np.asarray(score, dtype=float)
    pos, neg = score[y_true == 1], score[y_true == 0]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def _auc_cases():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 40)
    s = np.round(y * 0.3 + rng.random(40), 1)      # rounded: many ties
    return [
        Case((np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])), label="y=[0, 0, 1, 1], "
             "score=[0.1, 0.4, 0.35, 0.8] (sklearn's example)"),
        Case((np.array([1, 0, 1, 0, 1]), np.array([0.9, 0.9, 0.5, 0.2, 0.2])),
             label="y=[1, 0, 1, 0, 1], score=[0.9, 0.9, 0.5, 0.2, 0.2] (ties)"),
        Case((y, s), label="40 random labels, rounded scores (ties)"),
        Case((np.array([1, 1, 0, 0]), np.array([0.2, 0.1, 0.8, 0.9])), label="a perfectly wrong "
             "ranking"),
    ]


def roc_auc(fn: Callable) -> Callable:
    """Check ``roc_auc(y_true, score)``: the fraction of (positive, negative) pairs ranked
    correctly, ties counting 1/2 (equal to ``sklearn.metrics.roc_auc_score``)."""
    return check_function(
        fn, _roc_auc, _auc_cases(), name="roc_auc",
        mistakes=[
            Mistake("you swapped the classes: the AUC is the chance that a *positive* (mitotic) "
                    "patch scores higher than a negative one; you computed the opposite (1 - AUC).",
                    wrong=lambda y, s: 1.0 - _roc_auc(y, s)),
            Mistake("ties must count 1/2: a pair with equal scores is a coin flip. You counted "
                    "them as wrong (strict >).",
                    wrong=lambda y, s: float((np.asarray(s)[np.asarray(y) == 1][:, None]
                                              > np.asarray(s)[np.asarray(y) == 0][None, :]).mean())),
            Mistake("ties must count 1/2: you counted them as right (>=).",
                    wrong=lambda y, s: float((np.asarray(s)[np.asarray(y) == 1][:, None]
                                              >= np.asarray(s)[np.asarray(y) == 0][None, :]).mean())),
            Mistake("that is the accuracy at threshold 0.5, not the AUC: the AUC looks at the "
                    "ranking of the scores, at every threshold at once.",
                    wrong=lambda y, s: float(np.mean((np.asarray(s) > 0.5) == (np.asarray(y) == 1)))),
        ],
        hint="pos = score[y == 1]; neg = score[y == 0]; compare every pos with every neg "
             "(pos[:, None] > neg[None, :]), ties count 0.5; divide by len(pos) * len(neg).")

