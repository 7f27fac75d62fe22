"""Checks for notebook 02 (activation functions): sigmoid, tanh, ReLU, leaky ReLU and derivatives.

Functions are tried on ordinary inputs first, then on extreme ones (x = -1000 and 1000). Answers
run with NumPy's floating-point warnings turned into errors (underflow excepted), so a sigmoid
that overflows in ``exp`` is reported even when the value it returns happens to be right.

Derivatives are compared with a *numerical* derivative of the reference function, the central
difference ``(f(x + h) - f(x - h)) / 2h`` with ``h = 1e-5``, at points away from kinks; at the kink
``x = 0`` of (leaky) ReLU the conventions of TensorFlow are used: ``relu'(0) = 0`` and
``leaky_relu'(0) = alpha``.
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np

from cnncourse import neurons
from cnncourse.checks import Case, Mistake, compare, evaluate_function

__all__ = ["sigmoid", "sigmoid_grad", "tanh", "tanh_grad", "relu", "relu_grad", "leaky_relu",
           "leaky_relu_grad"]


class _FloatProblem:
    """What an answer gives (through :func:`_strict`) when NumPy reported overflow / invalid value /
    division by 0: the verdict fails it; a mistake is recognised by ``value``, what the answer
    returns with the warnings ignored (an array-like stand-in for it)."""

    def __init__(self, kind: str, message: str, value=None):
        self.kind, self.message, self.value = kind, message, value

    def __array__(self, dtype=None, copy=None):
        if self.value is None:
            raise TypeError(f"{self.kind} and no value")
        return np.asarray(self.value, dtype=dtype)

    def __repr__(self):
        return f"<{self.kind}: {self.message}>"


def _strict(fn, case: Case):
    """The call adapter: ``fn`` on the case with floating-point warnings raised as errors (underflow
    excepted); a warning gives a :class:`_FloatProblem` holding what ``fn`` returns without them."""
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            return fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
    except (FloatingPointError, OverflowError) as exc:   # OverflowError: math.exp(1000)
        problem = _FloatProblem(type(exc).__name__, str(exc))
    try:
        with np.errstate(all="ignore"):
            problem.value = fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
    except Exception:  # no value to recognise a mistake by
        pass
    return problem


def _compare(got, expected):
    if isinstance(got, _FloatProblem):
        return False, f"NumPy reported '{got.message}'"
    return compare(got, expected, rtol=1e-6, atol=1e-8)


def _extreme(case: Case | None) -> bool:
    return case is not None and any(np.max(np.abs(np.asarray(a, float))) >= 100 for a in case.args
                                    if np.asarray(a).dtype.kind in "fiu")


def _float_problem(message):
    return Mistake(message, when=lambda g, e, c: isinstance(g, _FloatProblem))


def _nan_at_extremes(message):
    return Mistake(message, when=lambda g, e, c: not isinstance(g, _FloatProblem) and _extreme(c)
                   and np.any(np.isnan(np.asarray(g, float))))


def _run(fn, reference, cases, name, mistakes, hint, extra=()):
    """Evaluate strictly, name the mistake, return the learner's function or the reference."""
    result = evaluate_function(fn, reference, cases, name=name, mistakes=[*extra, *mistakes],
                               hint=hint, compare_with=_compare, call=_strict)
    return fn if result.passed else reference


def _x(label, *values):
    return Case((np.array(values, dtype=float),), label=label)


_SMOOTH_CASES = [
    Case((0.0,), label="x=0.0"),
    Case((np.linspace(-5, 5, 11),), label="x=np.linspace(-5, 5, 11)"),
    Case((np.array([[-2.0, 0.5], [3.0, -0.1]]),), label="x=[[-2, 0.5], [3, -0.1]] (2-D)"),
    Case((-1000.0,), label="x=-1000.0"),
    Case((1000.0,), label="x=1000.0"),
    _x("x=[-1000, -50, 0, 50, 1000]", -1000, -50, 0, 50, 1000),
]


def _numerical_grad(f, at_zero=None):
    """Reference derivative: central difference of ``f`` (``at_zero`` used exactly at x = 0)."""

    def grad(x, *args, **kwargs):
        x = np.asarray(x, dtype=float)
        with np.errstate(all="ignore"):
            d = neurons.numerical_derivative(lambda t: f(t, *args, **kwargs), x)
        if at_zero is not None:
            d = np.where(x == 0, at_zero(*args, **kwargs), d)
        return d

    return grad


# --------------------------------------------------------------------------------------------
# sigmoid


def _quiet(f):
    def g(*args, **kwargs):
        with np.errstate(all="ignore"):
            return f(*args, **kwargs)
    return g


_OVERFLOW_SIGMOID = (
    "your sigmoid overflows for large |x| (at x = -1000, exp(-x) = exp(1000) is inf, and NumPy "
    "warns 'overflow encountered in exp'; exp(x) / (1 + exp(x)) even gives inf/inf = nan at "
    "x = 1000). Note that np.where(x >= 0, A, B) computes both A and B for every x, so it does not "
    "avoid the overflow. Compute e = np.exp(-np.abs(x)) (never more than 1) and return 1 / (1 + e) "
    "where x >= 0 and e / (1 + e) where x < 0.")


def sigmoid(fn: Callable) -> Callable:
    """Check ``sigmoid(x)`` = 1 / (1 + exp(-x)), elementwise, without overflow for any x."""
    return _run(fn, neurons.sigmoid, _SMOOTH_CASES, "sigmoid", [
        Mistake("the sign of x is flipped: you computed 1 / (1 + exp(x)) = sigmoid(-x). The sigmoid "
                "rises from 0 to 1 as x grows.",
                wrong=lambda x: neurons.sigmoid(-np.asarray(x, float))),
        Mistake("that is tanh, which ranges over [-1, 1]; the sigmoid is 1 / (1 + exp(-x)), in [0, 1].",
                wrong=lambda x: np.tanh(x)),
        Mistake("you left out the 1 in the denominator: 1 / exp(-x) = exp(x) is not bounded.",
                wrong=_quiet(lambda x: np.exp(x))),
        Mistake("you computed exp(-x) / (1 + exp(-x)), which is 1 - sigmoid(x) = sigmoid(-x).",
                wrong=lambda x: neurons.sigmoid(-np.asarray(x, float))),
    ], "sigmoid(x) = 1 / (1 + exp(-x)); for x < 0 use the equal form exp(x) / (1 + exp(x)).",
        extra=[_float_problem(_OVERFLOW_SIGMOID), _nan_at_extremes(_OVERFLOW_SIGMOID)])


def sigmoid_grad(fn: Callable) -> Callable:
    """Check ``sigmoid_grad(x)`` = sigmoid(x) * (1 - sigmoid(x)) against a numerical derivative."""
    s = neurons.sigmoid
    return _run(fn, _numerical_grad(neurons.sigmoid), _SMOOTH_CASES, "sigmoid_grad", [
        Mistake("you applied the formula to x instead of to sigmoid(x): the derivative is s * (1 - s) "
                "with s = sigmoid(x), not x * (1 - x).",
                wrong=lambda x: np.asarray(x, float) * (1 - np.asarray(x, float))),
        Mistake("you returned sigmoid(x) itself, not its derivative s * (1 - s).", wrong=s),
        Mistake("1 - sigmoid(x)**2 is the pattern of tanh's derivative; for the sigmoid it is "
                "s * (1 - s).", wrong=lambda x: 1 - s(x) ** 2),
        Mistake("you returned 1 - sigmoid(x); multiply by sigmoid(x): s * (1 - s).",
                wrong=lambda x: 1 - s(x)),
    ], "with s = sigmoid(x), the derivative is s * (1 - s); it is 0.25 at x = 0.",
        extra=[_float_problem("your derivative overflows for large |x| (exp(-x) / (1 + exp(-x))**2 "
                              "is inf / inf = nan at x = -1000). Write it as s * (1 - s) with "
                              "s = sigmoid(x), your overflow-free sigmoid."),
               _nan_at_extremes("your derivative gives nan for large |x| (inf / inf). Write it as "
                                "s * (1 - s) with s = sigmoid(x).")])


# --------------------------------------------------------------------------------------------
# tanh


def tanh(fn: Callable) -> Callable:
    """Check ``tanh(x)``, elementwise, finite for any x (e.g. 2 * sigmoid(2 x) - 1)."""
    s = neurons.sigmoid
    overflow = ("your tanh overflows for large |x|: (exp(x) - exp(-x)) / (exp(x) + exp(-x)) is "
                "inf / inf = nan at x = 1000. Use the identity tanh(x) = 2 * sigmoid(2 x) - 1 with "
                "your overflow-free sigmoid.")
    return _run(fn, neurons.tanh, _SMOOTH_CASES, "tanh", [
        Mistake("you computed 2 * sigmoid(x) - 1; the identity is tanh(x) = 2 * sigmoid(2 x) - 1 "
                "(the argument is doubled too).", wrong=lambda x: 2 * s(x) - 1),
        Mistake("you computed sigmoid(2 x): rescale it to [-1, 1], tanh(x) = 2 * sigmoid(2 x) - 1.",
                wrong=lambda x: s(2 * np.asarray(x, float))),
        Mistake("that is the sigmoid, in [0, 1]; tanh ranges over [-1, 1] and tanh(0) = 0.",
                wrong=s),
        Mistake("you computed 2 * sigmoid(2 x) + 1; subtract 1 instead.",
                wrong=lambda x: 2 * s(2 * np.asarray(x, float)) + 1),
    ], "tanh(x) = 2 * sigmoid(2 x) - 1; tanh(0) = 0, tanh(+-inf) = +-1.",
        extra=[_float_problem(overflow), _nan_at_extremes(overflow)])


def tanh_grad(fn: Callable) -> Callable:
    """Check ``tanh_grad(x)`` = 1 - tanh(x)**2 against a numerical derivative."""
    t = neurons.tanh
    return _run(fn, _numerical_grad(neurons.tanh), _SMOOTH_CASES, "tanh_grad", [
        Mistake("the derivative of tanh is 1 - tanh(x)**2; you returned 1 - x**2 (the formula applied to "
                "x instead of to tanh(x)).", wrong=lambda x: 1 - np.asarray(x, float) ** 2),
        Mistake("you returned 1 - tanh(x); the tanh must be squared: 1 - tanh(x)**2.",
                wrong=lambda x: 1 - t(x)),
        Mistake("you returned tanh(x) itself, not its derivative 1 - tanh(x)**2.", wrong=t),
        Mistake("that is the sigmoid's derivative s * (1 - s); tanh's is 1 - tanh(x)**2.",
                wrong=neurons.sigmoid_grad),
    ], "d/dx tanh(x) = 1 - tanh(x)**2; it is 1 at x = 0 and 0 for large |x|.",
        extra=[_float_problem("your derivative overflows for large |x|: write it as 1 - t**2 with "
                              "t = tanh(x)."),
               _nan_at_extremes("your derivative gives nan for large |x|: write it as 1 - t**2 "
                                "with t = tanh(x).")])


# --------------------------------------------------------------------------------------------
# ReLU and leaky ReLU


_KINK_CASES = [
    Case((np.linspace(-2.5, 2.5, 11),), label="x=np.linspace(-2.5, 2.5, 11) (includes 0)"),
    Case((2.5,), label="x=2.5"),
    Case((-0.5,), label="x=-0.5"),
    Case((np.array([[-2.0, 0.5], [3.0, -0.1]]),), label="x=[[-2, 0.5], [3, -0.1]] (2-D)"),
    Case((0.0,), label="x=0.0"),
    _x("x=[-1000, 1000]", -1000, 1000),
]


def relu(fn: Callable) -> Callable:
    """Check ``relu(x)`` = max(0, x) elementwise."""
    return _run(fn, neurons.relu, _KINK_CASES, "relu", [
        Mistake("np.max(x, 0) is the largest element of x (along axis 0), not an elementwise maximum: "
                "use np.maximum(x, 0).", wrong=lambda x: np.max(x, 0)),
        Mistake("you computed min(0, x): ReLU keeps the positive part, max(0, x).",
                wrong=lambda x: np.minimum(x, 0)),
        Mistake("you returned |x|: ReLU sets negative inputs to 0, it does not flip them.",
                wrong=np.abs),
        Mistake("you clipped at 1 as well; ReLU is unbounded above: max(0, x).",
                wrong=lambda x: np.clip(x, 0, 1)),
    ], "relu(x) = np.maximum(x, 0) (elementwise).")


def relu_grad(fn: Callable) -> Callable:
    """Check ``relu_grad(x)``: 1 where x > 0, else 0 (0 at x = 0)."""
    x_ = lambda x: np.asarray(x, float)  # noqa: E731
    return _run(fn, _numerical_grad(neurons.relu, at_zero=lambda: 0.0), _KINK_CASES, "relu_grad", [
        Mistake("you returned -1 for negative inputs (np.sign?); ReLU is flat there, so its derivative "
                "is 0 for x < 0.", wrong=lambda x: np.sign(x_(x))),
        Mistake("you returned relu(x) itself (x for positive inputs); the derivative of x is 1.",
                wrong=neurons.relu),
        Mistake("you returned 1 everywhere; for x < 0 ReLU is constant 0, so the derivative is 0.",
                wrong=lambda x: np.ones_like(x_(x))),
        Mistake("you returned 1 at x = 0; here relu'(0) = 0 (use x > 0, not x >= 0; TensorFlow does the "
                "same).", wrong=lambda x: (x_(x) >= 0).astype(float)),
        Mistake("you swapped the two sides: 1 for x > 0 and 0 for x <= 0.",
                wrong=lambda x: (x_(x) <= 0).astype(float)),
    ], "relu'(x) = 1 where x > 0, 0 elsewhere: (x > 0).astype(float).")


_LEAKY_CASES = [
    Case((np.linspace(-2.5, 2.5, 11),), label="x=np.linspace(-2.5, 2.5, 11) (alpha default 0.01)"),
    Case((np.linspace(-2.5, 2.5, 11),), {"alpha": 0.2}, label="x=np.linspace(-2.5, 2.5, 11), alpha=0.2"),
    Case((np.array([[-2.0, 0.5], [3.0, -0.1]]), 0.1), label="x=[[-2, 0.5], [3, -0.1]], alpha=0.1"),
    Case((-5.0,), {"alpha": 0.3}, label="x=-5.0, alpha=0.3"),
    Case((0.0,), {"alpha": 0.2}, label="x=0.0, alpha=0.2"),
    Case((np.array([-1000.0, 1000.0]),), {"alpha": 0.05}, label="x=[-1000, 1000], alpha=0.05"),
]


def _xa(x):
    return np.asarray(x, float)


def leaky_relu(fn: Callable) -> Callable:
    """Check ``leaky_relu(x, alpha=0.01)``: x where x > 0, alpha * x elsewhere."""
    return _run(fn, neurons.leaky_relu, _LEAKY_CASES, "leaky_relu", [
        Mistake("you applied the slope alpha to the positive inputs; it belongs to the negative side: "
                "x where x > 0, alpha * x elsewhere.",
                wrong=lambda x, alpha=0.01: np.where(_xa(x) > 0, alpha * _xa(x), _xa(x))),
        Mistake("you ignored alpha (that is plain ReLU): negative inputs give alpha * x, not 0.",
                wrong=lambda x, alpha=0.01: np.maximum(_xa(x), 0)),
        Mistake("you multiplied every input by alpha; positive inputs pass unchanged.",
                wrong=lambda x, alpha=0.01: alpha * _xa(x)),
        Mistake("you used alpha = 0.01 whatever alpha was passed: use the argument.",
                wrong=lambda x, alpha=0.01: np.where(_xa(x) > 0, _xa(x), 0.01 * _xa(x))),
        Mistake("the negative side has the wrong sign: it is alpha * x (negative for x < 0).",
                wrong=lambda x, alpha=0.01: np.where(_xa(x) > 0, _xa(x), -alpha * _xa(x))),
    ], "np.where(x > 0, x, alpha * x).")


def leaky_relu_grad(fn: Callable) -> Callable:
    """Check ``leaky_relu_grad(x, alpha=0.01)``: 1 where x > 0, alpha elsewhere (also at 0)."""
    reference = _numerical_grad(neurons.leaky_relu, at_zero=lambda alpha=0.01: alpha)
    return _run(fn, reference, _LEAKY_CASES, "leaky_relu_grad", [
        Mistake("you swapped the slopes: the derivative is 1 for x > 0 and alpha for x <= 0.",
                wrong=lambda x, alpha=0.01: np.where(_xa(x) > 0, alpha, 1.0)),
        Mistake("you ignored alpha (that is ReLU's derivative): for x <= 0 the slope is alpha, not 0.",
                wrong=lambda x, alpha=0.01: (_xa(x) > 0).astype(float)),
        Mistake("for x <= 0 you returned alpha * x (the function's value); the derivative is the "
                "constant alpha.",
                wrong=lambda x, alpha=0.01: np.where(_xa(x) > 0, 1.0, alpha * _xa(x))),
        Mistake("you returned 1 at x = 0; here the derivative at 0 is alpha (x > 0, not x >= 0).",
                wrong=lambda x, alpha=0.01: np.where(_xa(x) >= 0, 1.0, alpha)),
        Mistake("you used alpha = 0.01 whatever alpha was passed: use the argument.",
                wrong=lambda x, alpha=0.01: np.where(_xa(x) > 0, 1.0, 0.01)),
    ], "np.where(x > 0, 1.0, alpha).")
