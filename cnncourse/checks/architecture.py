"""What a Keras model is made of, as plain data: the architecture exercises' checks compare the
learner's model with the one the exercise text describes, part by part.

:func:`model_parts` lists a model's layers in order as short descriptions in the exercise's own
words (``"Conv3D(8, 3, padding='same', use_bias=False)"``, ``"BatchNormalization(momentum=0.9)"``,
``"ReLU"``, ``"MaxPooling3D(2)"``, ``"Dropout(0.3)"``, ``"Dense(1)"``, ``"sigmoid"``), showing only
the settings the exercise asks for; :func:`cnncourse.checks.structure_findings` turns two such lists
into "missing: ..." / "extra: ..." findings. Equivalent ways of writing a layer give the same parts:
an ``activation=`` argument, an ``Activation`` layer, a ``ReLU`` layer and a ``keras.ops``
activation in a functional model all give the activation as its own part; nested models are
listed layer by layer; input layers are left out.

:func:`randomize_weights` gives a model random weights in which every layer matters (positive
batch-norm variances), so that the reference's weights copied into the learner's model tell
whether the two compute the same function. :func:`builder_call` is the ``call`` adapter of such a
check (the reference built once per case, the answer's model built with :func:`build_model` and
summarised as plain data); :func:`unbuilt` says why a summary describes no model.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = ["is_model", "flat_layers", "model_parts", "layer_kinds", "randomize_weights", "build_model",
           "builder_call", "unbuilt", "logit", "momentum_problem"]

#: The settings shown per layer class when a checker gives none: the ones the course's exercises
#: ask for. A checker passes its own ``settings`` to show others.
SETTINGS: dict[str, tuple[str, ...]] = {
    "Conv2D": ("filters", "kernel_size", "padding"),
    "Conv3D": ("filters", "kernel_size", "padding", "use_bias"),
    "Dense": ("units",),
    "BatchNormalization": ("momentum",),
    "MaxPooling2D": ("pool_size",), "MaxPooling3D": ("pool_size",),
    "AveragePooling2D": ("pool_size",), "AveragePooling3D": ("pool_size",),
    "UpSampling2D": ("size",),
    "Dropout": ("rate",),
}

#: Settings shown by value, without their name, as the exercises write them (``Conv3D(8, 3, ...)``,
#: ``Dropout(0.3)``, ``MaxPooling3D(2)``); the others are shown as ``name=value``.
_POSITIONAL = ("filters", "units", "kernel_size", "pool_size", "size", "rate", "mode")

#: keras.ops operations that act as an activation in a functional model (class name -> part).
_ACTIVATION_OPS = {"Relu": "ReLU", "Sigmoid": "sigmoid", "Softmax": "softmax", "Tanh": "tanh"}


def is_model(x: Any) -> bool:
    """Whether ``x`` looks like a built Keras model (has layers, weights and an input shape)."""
    return hasattr(x, "layers") and hasattr(x, "get_weights") and hasattr(x, "input_shape")


def flat_layers(model) -> list:
    """The model's layers (and, in a functional model, its keras.ops operations) in order, nested
    models expanded, input layers left out."""
    found = []
    for op in list(getattr(model, "operations", None) or model.layers):
        if type(op).__name__ == "InputLayer":
            continue
        if is_model(op):
            found.extend(flat_layers(op))
        else:
            found.append(op)
    return found


def _plain(value):
    if isinstance(value, (tuple, list)):
        value = tuple(_plain(v) for v in value)
        return value[0] if value and all(v == value[0] for v in value) else value
    if isinstance(value, float):
        return round(value, 6)
    return value


def _activation_name(activation) -> str | None:
    name = getattr(activation, "__name__", None) or str(activation)
    return None if name in ("linear", "None") else ("ReLU" if name == "relu" else name)


def _describe(kind: str, layer, settings: Sequence[str]) -> str:
    shown = []
    one_by_one = set(np.ravel(getattr(layer, "kernel_size", 0))) == {1}
    for key in settings:
        if not hasattr(layer, key) or (key == "padding" and one_by_one):
            continue   # (a 1x1 convolution pads nothing, whatever its padding says)
        value = _plain(getattr(layer, key))
        shown.append(repr(value) if key in _POSITIONAL else f"{key}={value!r}")
    return f"{kind}({', '.join(shown)})" if shown else kind


def model_parts(model, settings: Mapping[str, Sequence[str]] | None = None) -> tuple[str, ...]:
    """The parts of ``model`` in order, each a str (see the module docstring).

    Parameters
    ----------
    model : keras.Model
        A built model (functional or Sequential).
    settings : mapping of str to sequence of str, optional
        Per layer class name, the attributes to show (default :data:`SETTINGS`); a class not
        listed shows its name only.

    Returns
    -------
    tuple of str
        One entry per layer, plus one per non-linear activation (after its layer).
    """
    settings = SETTINGS if settings is None else settings
    parts = []
    for op in flat_layers(model):
        kind = type(op).__name__
        if kind in _ACTIVATION_OPS:
            parts.append(_ACTIVATION_OPS[kind])
            continue
        if kind == "Activation":
            name = _activation_name(op.activation)
            if name:
                parts.append(name)
            continue
        if kind == "ReLU":
            odd = [f"{k}={_plain(getattr(op, k))!r}" for k in ("max_value", "negative_slope", "threshold")
                   if getattr(op, k, None)]
            parts.append(f"ReLU({', '.join(odd)})" if odd else "ReLU")
            continue
        parts.append(_describe(kind, op, settings.get(kind, ())))
        activation = _activation_name(getattr(op, "activation", None)) if hasattr(op, "activation") else None
        if activation:
            parts.append(activation)
    return tuple(parts)


def layer_kinds(model) -> tuple[str, ...]:
    """The class names of ``model``'s layers in order (nested models expanded, inputs left out);
    ``()`` for something that is not a model."""
    return tuple(type(op).__name__ for op in flat_layers(model)) if is_model(model) else ()


def randomize_weights(model, seed: int = 0):
    """Give ``model`` random weights (seeded) in which every layer changes the output: batch-norm
    variances and scales in [0.5, 1.5], means, offsets and biases N(0, 0.2), kernels
    N(0, 1 / fan_in). Returns ``model``."""
    rng = np.random.default_rng(seed)
    new = []
    for w in model.weights:
        shape, path = tuple(w.shape), w.path if hasattr(w, "path") else w.name
        if "variance" in path or "gamma" in path:
            new.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        elif "mean" in path or "beta" in path or "bias" in path:
            new.append(rng.normal(0, 0.2, shape).astype("float32"))
        else:
            fan_in = max(int(np.prod(shape[:-1])), 1)
            new.append((rng.normal(size=shape) / np.sqrt(fan_in)).astype("float32"))
    model.set_weights(new)
    return model


def build_model(builder, case) -> Any:
    """``builder(*case.args, **case.kwargs)`` (deep copies), or ``{"crashed": "TypeName: first
    line of the message"}`` when it raises (so that a checker can name the mistake). A stub's
    ``NotImplementedError`` (and an undefined answer's) is raised, for the core to report."""
    try:
        return builder(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported as the answer's verdict
        lines = str(exc).strip().splitlines()
        return {"crashed": f"{type(exc).__name__}: {lines[0] if lines else ''}"}


def builder_call(reference: Callable, summarize: Callable) -> Callable:
    """A ``call`` adapter (:func:`cnncourse.checks.evaluate_function`) for a model-builder
    exercise whose check compares a plain summary of the model.

    The reference model of each case is built once, given random weights
    (:func:`randomize_weights`) and kept; the answer's model is built with :func:`build_model`.
    ``summarize(model, reference_model, case) -> dict`` describes a model (the reference's own
    summary is ``summarize(reference_model, reference_model, case)``); a build that raised gives
    ``{"crashed": ...}`` and an unfinished answer ``Ellipsis``, both as they are.
    """
    references: dict = {}   # case label -> the reference model with random weights

    def call(builder, case):
        if case.label not in references:
            references[case.label] = randomize_weights(
                reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs)))
        ref = references[case.label]
        model = ref if builder is reference else build_model(builder, case)
        return model if isinstance(model, dict) or model is Ellipsis else summarize(model, ref, case)
    return call


def unbuilt(got: dict) -> str:
    """Why a summary from :func:`builder_call` describes no model (its build raised, or the answer
    returned something else), or ""."""
    if "crashed" in got:
        return f"building the model raised {got['crashed']}"
    if "type" in got:
        return f"expected a keras.Model, got {got['type']}"
    return ""


def momentum_problem(momenta: Sequence[float], expected: float = 0.9) -> str:
    """An explanation when one of the batch normalisations' ``momenta`` is not ``expected``, else
    "" (notebooks 12 and 13 ask for 0.9: a short training must not keep Keras' 0.99)."""
    found = sorted({round(float(m), 4) for m in momenta} - {expected})
    if found:
        return (f"a batch normalisation has momentum={found[0]}: use momentum={expected}, so that "
                "the running averages used at test time forget the start of a short training")
    return ""


def logit(p):
    """``log(p / (1 - p))`` of probabilities clipped to [1e-7, 1 - 1e-7]."""
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))
