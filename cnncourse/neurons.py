"""One artificial neuron: the perceptron, logic gates, and activation functions with derivatives.

NumPy reference implementations used by notebooks 01 (perceptron, NAND) and 02 (activation
functions) and by their exercise checks. Everything takes array-likes of real numbers and returns
NumPy arrays; bad input raises ``TypeError`` or ``ValueError`` naming the argument.

A neuron computes ``f(sum_i w_i x_i + b)``: a *weighted sum* of its inputs plus a *bias*, passed
through an *activation function* ``f``. With the step function ``f(z) = 1 if z > 0 else 0`` it is
Rosenblatt's perceptron; with weights ``(-2, -2)`` and bias ``3`` it computes NAND.

Examples
--------
>>> import numpy as np
>>> from cnncourse import neurons
>>> inputs, outputs = neurons.truth_table(neurons.nand)
>>> outputs.tolist()
[1, 1, 1, 0]
>>> neurons.weighted_sum(inputs, neurons.NAND_WEIGHTS, neurons.NAND_BIAS).tolist()
[3.0, 1.0, 1.0, -1.0]
>>> float(neurons.sigmoid(-1000.0)), float(neurons.sigmoid_grad(0.0))
(0.0, 0.25)
"""
from __future__ import annotations

import itertools
from typing import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "NAND_WEIGHTS", "NAND_BIAS", "weighted_sum", "step", "step_grad", "perceptron", "nand",
    "binary_inputs", "truth_table", "format_truth_table", "gate_name",
    "sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu", "relu_grad", "leaky_relu",
    "leaky_relu_grad", "ACTIVATIONS", "numerical_derivative",
]

#: The talk's NAND perceptron: two inputs with weight -2 each, bias 3.
NAND_WEIGHTS = np.array([-2.0, -2.0])
NAND_BIAS = 3.0


# --------------------------------------------------------------------------------------------
# Input validation


def _real_array(x, name: str) -> np.ndarray:
    """``x`` as a float ndarray (float32/float64 kept, integers and bools become float64)."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name}: expected an array of real numbers, got {type(x).__name__} "
                        f"({exc})") from None
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind in "biu":
        return arr.astype(np.float64)
    if arr.dtype.kind == "c":
        raise TypeError(f"{name}: expected real numbers, got complex dtype {arr.dtype}")
    raise TypeError(f"{name}: expected an array of real numbers, got dtype {arr.dtype} "
                    f"({type(x).__name__})")


def _real_scalar(v, name: str) -> float:
    arr = _real_array(v, name)
    if arr.ndim != 0:
        raise ValueError(f"{name}: expected a single number, got an array of shape {arr.shape}")
    value = float(arr)
    if not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    return value


def _alpha(alpha) -> float:
    value = _real_scalar(alpha, "alpha")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"alpha: expected a slope in [0, 1) for the negative side, got {value}")
    return value


# --------------------------------------------------------------------------------------------
# The perceptron


def weighted_sum(x: ArrayLike, w: ArrayLike, b: float) -> np.ndarray:
    """The neuron's pre-activation ``z = sum_i w_i x_i + b``.

    Parameters
    ----------
    x : array_like, shape (n,) or (..., n)
        One input vector, or a stack of them (one per row).
    w : array_like, shape (n,)
        Weights, one per input.
    b : float
        Bias.

    Returns
    -------
    ndarray, float, shape ``x.shape[:-1]``
        ``x @ w + b`` (a 0-d array for a single input vector).

    Examples
    --------
    >>> weighted_sum([[0, 0], [1, 1]], [-2, -2], 3).tolist()
    [3.0, -1.0]

    Raises
    ------
    ValueError
        ``w`` not a non-empty 1-D array; ``x``'s last axis not of ``len(w)``; ``b`` not a single
        finite number.
    TypeError
        ``x, w, b`` not real numbers (complex, strings, ragged lists).
    """
    x = _real_array(x, "x")
    w = _real_array(w, "w")
    b = _real_scalar(b, "b")
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"w: expected a 1-D array of weights, shape (n,), got shape {w.shape}")
    if x.ndim == 0 or x.shape[-1] != w.shape[0]:
        raise ValueError(f"x: expected shape (n,) or (..., n) with n = {w.shape[0]} inputs "
                         f"(one per weight in w), got shape {x.shape}")
    return np.asarray(x @ w + b)


def step(z: ArrayLike) -> np.ndarray:
    """Step activation: 1 where ``z > 0``, else 0 (so ``step(0) == 0``, as in Nielsen's book).

    Parameters
    ----------
    z : array_like of float, any shape

    Returns
    -------
    ndarray of int64, same shape as ``z``.

    Raises
    ------
    TypeError
        ``z`` not real numbers (complex, strings, ragged lists).

    Examples
    --------
    >>> step([-1.0, 0.0, 0.5]).tolist()
    [0, 0, 1]
    """
    return (_real_array(z, "z") > 0).astype(np.int64)


def step_grad(z: ArrayLike) -> np.ndarray:
    """Derivative of :func:`step`: 0 everywhere (undefined at 0, where we also return 0).

    This is why a perceptron cannot learn by gradient descent: no small change of a weight
    changes its output, until a jump.

    Parameters
    ----------
    z : array_like of float, any shape

    Returns
    -------
    ndarray of float64, same shape as ``z``, all zeros

    Raises
    ------
    TypeError
        ``z`` not real numbers (complex, strings, ragged lists).
    """
    z = _real_array(z, "z")
    return np.zeros(z.shape, dtype=np.float64)


def perceptron(x: ArrayLike, w: ArrayLike, b: float) -> np.ndarray:
    """Output of a perceptron, ``step(x @ w + b)``: 0 or 1.

    Parameters
    ----------
    x : array_like, shape (n,) or (..., n)
        One input vector or a stack of them.
    w : array_like, shape (n,)
        Weights.
    b : float
        Bias.

    Returns
    -------
    ndarray of int64, shape ``x.shape[:-1]``
        0 or 1 per input vector (a 0-d array for a single vector; ``int()`` of it is a number).

    Examples
    --------
    >>> perceptron([[0, 0], [0, 1], [1, 0], [1, 1]], NAND_WEIGHTS, NAND_BIAS).tolist()
    [1, 1, 1, 0]

    Raises
    ------
    ValueError, TypeError
        As :func:`weighted_sum`.
    """
    return step(weighted_sum(x, w, b))


def nand(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """NAND of binary inputs, computed by the talk's perceptron (weights -2, -2, bias 3).

    Parameters
    ----------
    a, b : int or array_like of 0/1
        Broadcast against each other.

    Returns
    -------
    ndarray of int64, the broadcast shape of ``a`` and ``b`` (0-d for two numbers).

    Raises
    ------
    ValueError
        A value other than 0 or 1; shapes that do not broadcast.
    TypeError
        ``a, b`` not real numbers (complex, strings, ragged lists).

    Examples
    --------
    >>> nand([0, 0, 1, 1], [0, 1, 0, 1]).tolist()
    [1, 1, 1, 0]
    """
    a, b = _real_array(a, "a"), _real_array(b, "b")
    for name, v in (("a", a), ("b", b)):
        if not np.all((v == 0) | (v == 1)):
            raise ValueError(f"{name}: expected binary inputs (0 or 1), got {np.unique(v)[:6]}")
    a, b = np.broadcast_arrays(a, b)
    return perceptron(np.stack([a, b], axis=-1), NAND_WEIGHTS, NAND_BIAS)


# --------------------------------------------------------------------------------------------
# Truth tables


def binary_inputs(n_inputs: int = 2) -> np.ndarray:
    """All ``2**n_inputs`` binary input rows in counting order (00, 01, 10, 11 for two inputs).

    Returns
    -------
    ndarray of int64, shape (2**n_inputs, n_inputs)
    """
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, (int, np.integer)):
        raise TypeError(f"n_inputs: expected an int, got {type(n_inputs).__name__}")
    if not 1 <= n_inputs <= 16:
        raise ValueError(f"n_inputs: expected 1..16, got {n_inputs}")
    return np.array(list(itertools.product((0, 1), repeat=int(n_inputs))), dtype=np.int64)


def truth_table(gate: Callable, n_inputs: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate ``gate`` on every binary input combination, one call per row.

    Parameters
    ----------
    gate : callable
        ``gate(a, b, ...)`` taking ``n_inputs`` numbers 0/1 and returning 0/1, or a tuple of 0/1
        (several outputs, e.g. a half adder's ``(sum, carry)``).
    n_inputs : int
        Number of arguments of ``gate``.

    Returns
    -------
    inputs : ndarray of int64, shape (2**n_inputs, n_inputs)
    outputs : ndarray of int64, shape (2**n_inputs,) or (2**n_inputs, n_outputs)
    """
    if not callable(gate):
        raise TypeError(f"gate: expected a function, got {type(gate).__name__}")
    inputs = binary_inputs(n_inputs)
    rows = [gate(*(int(v) for v in row)) for row in inputs]
    outputs = np.array([np.asarray(r).tolist() if not isinstance(r, tuple) else
                        [np.asarray(v).tolist() for v in r] for r in rows])
    if outputs.dtype.kind not in "biuf" or not np.all((outputs == 0) | (outputs == 1)):
        raise ValueError(f"gate: expected outputs 0 or 1, got {outputs.tolist()}")
    return inputs, outputs.astype(np.int64)


def format_truth_table(inputs: ArrayLike, outputs: ArrayLike,
                       input_names: Sequence[str] | None = None,
                       output_names: Sequence[str] | None = None) -> str:
    """A truth table as aligned text, one row per input combination (as on the talk's slide).

    Parameters
    ----------
    inputs : array_like, shape (m, n)
    outputs : array_like, shape (m,) or (m, k)
        Numbers (0/1, or sums shown with up to 3 digits).
    input_names, output_names : sequence of str, optional
        Column headers (default A, B, C, ... and "out" / out1, out2, ...).
    """
    inputs = np.asarray(inputs)
    outputs = np.asarray(outputs)
    if inputs.ndim != 2:
        raise ValueError(f"inputs: expected shape (m, n), got {inputs.shape}")
    if outputs.ndim == 1:
        outputs = outputs[:, None]
    if outputs.ndim != 2 or outputs.shape[0] != inputs.shape[0]:
        raise ValueError(f"outputs: expected {inputs.shape[0]} rows (one per input row), got "
                         f"shape {outputs.shape}")
    input_names = list(input_names or "ABCDEFGHIJKLMNOP"[: inputs.shape[1]])
    if output_names is None:
        output_names = ["out"] if outputs.shape[1] == 1 else [f"out{i + 1}" for i in range(outputs.shape[1])]
    output_names = list(output_names)
    if len(input_names) != inputs.shape[1] or len(output_names) != outputs.shape[1]:
        raise ValueError(f"input_names/output_names: expected {inputs.shape[1]} and "
                         f"{outputs.shape[1]} names, got {len(input_names)} and {len(output_names)}")

    def fmt(v):
        return f"{v:g}" if isinstance(v, float) else str(v)

    header = input_names + ["|"] + output_names
    body = [[fmt(v) for v in r_in.tolist()] + ["|"] + [fmt(v) for v in r_out.tolist()]
            for r_in, r_out in zip(inputs, outputs)]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in body]
    return "\n".join(lines)


_GATE_NAMES = {
    (0, 0, 0, 0): "FALSE", (0, 0, 0, 1): "AND", (0, 0, 1, 0): "A AND NOT B", (0, 0, 1, 1): "A",
    (0, 1, 0, 0): "B AND NOT A", (0, 1, 0, 1): "B", (0, 1, 1, 0): "XOR", (0, 1, 1, 1): "OR",
    (1, 0, 0, 0): "NOR", (1, 0, 0, 1): "XNOR", (1, 0, 1, 0): "NOT B", (1, 0, 1, 1): "A OR NOT B",
    (1, 1, 0, 0): "NOT A", (1, 1, 0, 1): "B OR NOT A", (1, 1, 1, 0): "NAND", (1, 1, 1, 1): "TRUE",
}


def gate_name(outputs: ArrayLike) -> str:
    """Name of the two-input logic function with these outputs for inputs 00, 01, 10, 11.

    Parameters
    ----------
    outputs : array_like of 0/1, shape (4,)

    Returns
    -------
    str
        E.g. ``"AND"``, ``"NAND"``, ``"XOR"``, ``"A"`` (one of the 16 two-input functions).

    Raises
    ------
    ValueError
        Not four values, or a value other than 0 and 1.

    Examples
    --------
    >>> gate_name([1, 1, 1, 0])
    'NAND'
    """
    out = np.asarray(outputs)
    if out.shape != (4,) or not np.all((out == 0) | (out == 1)):
        raise ValueError(f"outputs: expected four 0/1 values (inputs 00, 01, 10, 11), got {out.tolist()}")
    return _GATE_NAMES[tuple(int(v) for v in out)]


# --------------------------------------------------------------------------------------------
# Activation functions and their derivatives


def sigmoid(x: ArrayLike) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, computed without overflow for any ``x``.

    ``exp(-x)`` overflows for ``x < -709`` (float64); here only ``exp(-|x|) <= 1`` is computed, and
    ``sigmoid(x) = 1 / (1 + e)`` for ``x >= 0``, ``e / (1 + e)`` for ``x < 0``, with ``e = exp(-|x|)``.

    Parameters
    ----------
    x : array_like of float, any shape

    Returns
    -------
    ndarray, same shape as ``x`` (float32 stays float32, other inputs give float64), in [0, 1].

    Examples
    --------
    >>> sigmoid([-1000.0, 0.0, 1000.0]).tolist()
    [0.0, 0.5, 1.0]
    """
    x = _real_array(x, "x")
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def sigmoid_grad(x: ArrayLike) -> np.ndarray:
    """Derivative of :func:`sigmoid`: ``sigmoid(x) * (1 - sigmoid(x))``, at most 0.25 (at 0).

    Parameters
    ----------
    x : array_like of float, any shape

    Returns
    -------
    ndarray, same shape as ``x`` (float32 stays float32, other inputs give float64, in [0, 0.25])

    Raises
    ------
    TypeError
        ``x`` not real numbers (complex, strings, ragged lists).

    Examples
    --------
    >>> sigmoid_grad([0.0, 1000.0]).tolist()
    [0.25, 0.0]
    """
    s = sigmoid(x)
    return s * (1 - s)


def tanh(x: ArrayLike) -> np.ndarray:
    """Hyperbolic tangent, in [-1, 1]; equal to ``2 * sigmoid(2 x) - 1`` (a rescaled sigmoid).

    Parameters
    ----------
    x : array_like of float, any shape

    Returns
    -------
    ndarray, same shape as ``x`` (float32 stays float32, other inputs give float64, in [-1, 1])

    Raises
    ------
    TypeError
        ``x`` not real numbers (complex, strings, ragged lists).

    Examples
    --------
    >>> tanh([0.0, 1.0]).round(4).tolist()
    [0.0, 0.7616]
    """
    return np.tanh(_real_array(x, "x"))


def tanh_grad(x: ArrayLike) -> np.ndarray:
    """Derivative of :func:`tanh`: ``1 - tanh(x)**2``, at most 1 (at 0).

    Parameters
    ----------
    x : array_like of float, any shape

    Returns
    -------
    ndarray, same shape as ``x`` (float32 stays float32, other inputs give float64, in [0, 1])

    Raises
    ------
    TypeError
        ``x`` not real numbers (complex, strings, ragged lists).

    Examples
    --------
    >>> tanh_grad([0.0]).tolist()
    [1.0]
    """
    t = tanh(x)
    return 1 - t * t


def relu(x: ArrayLike) -> np.ndarray:
    """Rectified linear unit ``max(0, x)`` elementwise.

    Parameters
    ----------
    x : array_like of float, any shape

    Returns
    -------
    ndarray, same shape as ``x`` (float32 stays float32, other inputs give float64)

    Raises
    ------
    TypeError
        ``x`` not real numbers (complex, strings, ragged lists).

    Examples
    --------
    >>> relu([-1.0, 2.0]).tolist()
    [0.0, 2.0]
    """
    x = _real_array(x, "x")
    return np.maximum(x, 0).astype(x.dtype, copy=False)


def relu_grad(x: ArrayLike) -> np.ndarray:
    """Derivative of :func:`relu`: 1 where ``x > 0``, 0 elsewhere (``relu_grad(0) == 0``, as in
    TensorFlow).

    Parameters
    ----------
    x : array_like of float, any shape

    Returns
    -------
    ndarray, same shape as ``x`` (float32 stays float32, other inputs give float64, 0 or 1)

    Raises
    ------
    TypeError
        ``x`` not real numbers (complex, strings, ragged lists).

    Examples
    --------
    >>> relu_grad([-1.0, 0.0, 2.0]).tolist()
    [0.0, 0.0, 1.0]
    """
    x = _real_array(x, "x")
    return (x > 0).astype(x.dtype)


def leaky_relu(x: ArrayLike, alpha: float = 0.01) -> np.ndarray:
    """Leaky ReLU: ``x`` where ``x > 0``, ``alpha * x`` elsewhere.

    Parameters
    ----------
    x : array_like of float, any shape
    alpha : float in [0, 1)
        Slope for negative inputs (``alpha = 0`` gives ReLU).

    Returns
    -------
    ndarray, same shape as ``x`` (float32 stays float32, other inputs give float64)

    Raises
    ------
    TypeError
        ``x`` not real numbers (complex, strings, ragged lists).
    ValueError
        ``alpha`` not a single number in [0, 1).

    Examples
    --------
    >>> leaky_relu([-1.0, 2.0]).tolist()
    [-0.01, 2.0]
    """
    x = _real_array(x, "x")
    alpha = _alpha(alpha)
    return np.where(x > 0, x, alpha * x).astype(x.dtype, copy=False)


def leaky_relu_grad(x: ArrayLike, alpha: float = 0.01) -> np.ndarray:
    """Derivative of :func:`leaky_relu`: 1 where ``x > 0``, ``alpha`` elsewhere (also at 0).

    Parameters
    ----------
    x : array_like of float, any shape
    alpha : float in [0, 1)

    Returns
    -------
    ndarray, same shape as ``x`` (float32 stays float32, other inputs give float64)

    Raises
    ------
    TypeError
        ``x`` not real numbers (complex, strings, ragged lists).
    ValueError
        ``alpha`` not a single number in [0, 1).

    Examples
    --------
    >>> leaky_relu_grad([-1.0, 0.0, 2.0], alpha=0.1).tolist()
    [0.1, 0.1, 1.0]
    """
    x = _real_array(x, "x")
    alpha = _alpha(alpha)
    return np.where(x > 0, 1.0, alpha).astype(x.dtype, copy=False)


#: name -> (function, derivative), for plots, widgets and the tanh-vs-ReLU experiment.
ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "step": (step, step_grad),
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad),
}


def numerical_derivative(f: Callable, x: ArrayLike, h: float = 1e-5) -> np.ndarray:
    """Central difference ``(f(x + h) - f(x - h)) / (2 h)``, elementwise.

    Its error is about ``h**2 * |f'''| / 6`` plus rounding ``~1e-16 / h``: near 1e-10 for
    ``h = 1e-5`` on smooth functions. At a kink (ReLU at 0) it gives the mean of the two slopes.

    Parameters
    ----------
    f : callable
        Elementwise function of an array.
    x : array_like of float, any shape
    h : float > 0
        Step.

    Returns
    -------
    ndarray of float64, same shape as ``x``.

    Examples
    --------
    >>> round(float(numerical_derivative(sigmoid, 0.0)), 8)
    0.25
    """
    if not callable(f):
        raise TypeError(f"f: expected a function, got {type(f).__name__}")
    h = _real_scalar(h, "h")
    if h <= 0:
        raise ValueError(f"h: expected a positive step, got {h}")
    x = _real_array(x, "x").astype(np.float64)
    return (np.asarray(f(x + h), dtype=np.float64) - np.asarray(f(x - h), dtype=np.float64)) / (2 * h)
