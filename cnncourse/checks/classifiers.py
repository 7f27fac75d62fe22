"""Checks for notebook 03 (single-neuron classifiers: logistic regression, softmax, likelihood).

The reference answers are the library's (:mod:`cnncourse.mlp`); each checker also knows the likely
wrong answers and names them.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from cnncourse import mlp
from cnncourse.checks import Case, Mistake, check_function

# --------------------------------------------------------------------------------------------
# Cases

_rng = np.random.default_rng(3)
_X1 = np.array([[0.5, -1.0], [2.0, 0.3], [-1.5, 1.0], [0.0, 0.0]])
_y1 = np.array([1, 0, 1, 0])
_X2 = _rng.normal(size=(7, 3))
_y2 = np.array([0, 1, 1, 0, 1, 0, 0])
_w2, _b2 = np.array([0.4, -1.2, 0.7]), -0.3
# a confidently wrong neuron: z = +-800, so p rounds to exactly 0.0 or 1.0
_X3 = np.array([[1.0], [-1.0], [0.5]])
_y3 = np.array([0, 1, 1])
_w3, _b3 = np.array([800.0]), 0.0


def _sig(z):
    return mlp.sigmoid(z)


def _quiet(fn):
    """A mistake model that may take log(0) on purpose, without printing NumPy warnings."""
    def wrapped(*args, **kwargs):
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)
    return wrapped


def _predict_proba(X, w, b):
    return mlp.sigmoid(np.asarray(X, float) @ np.asarray(w, float) + b)


_PROBA_CASES = [
    Case((_X1, np.array([1.0, -2.0]), 0.5), label="X (4, 2), w=[1, -2], b=0.5"),
    Case((_X2, _w2, _b2), label="X (7, 3), w=[0.4, -1.2, 0.7], b=-0.3"),
    Case((_X1, np.zeros(2), 0.0), label="X (4, 2), w=[0, 0], b=0 (every p must be 0.5)"),
]


def predict_proba(fn: Callable) -> Callable:
    """Check ``predict_proba(X, w, b)`` -> P(y=1 | x; w, b), shape (N,)."""
    return check_function(
        fn, _predict_proba, _PROBA_CASES, name="predict_proba",
        mistakes=[
            Mistake("you forgot the bias b: the neuron computes sigmoid(X @ w + b).",
                    wrong=lambda X, w, b: _sig(X @ w)),
            Mistake("you computed P(y=0 | x) = 1 - sigmoid(z): the sign inside exp is flipped. "
                    "sigmoid(z) = 1 / (1 + exp(-z)).",
                    wrong=lambda X, w, b: _sig(-(X @ w + b))),
            Mistake("you returned the score z = X @ w + b itself: apply the sigmoid to get a "
                    "probability in [0, 1].",
                    wrong=lambda X, w, b: X @ w + b),
        ],
        hint="z = X @ w + b has shape (N,); return sigmoid(z).")


# --------------------------------------------------------------------------------------------
# Negative log-likelihood


_NLL_CASES = [
    Case((np.array([1.0, -2.0]), 0.5, _X1, _y1), label="w=[1, -2], b=0.5, X (4, 2), y=[1, 0, 1, 0]"),
    Case((_w2, _b2, _X2, _y2), label="w (3,), b=-0.3, X (7, 3), y (7,)"),
    Case((_w3, _b3, _X3, _y3), label="a confidently wrong neuron: z = [800, -800, 400], "
         "y = [0, 1, 1]"),
]


def _naive_nll(w, b, X, y):
    p = _sig(X @ w + b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def nll(fn: Callable) -> Callable:
    """Check ``nll(w, b, X, y)``: the mean binary negative log-likelihood."""
    return check_function(
        fn, mlp.logistic_nll, _NLL_CASES, name="nll",
        mistakes=[
            Mistake("you summed over the samples: divide by N (take the mean), so that the loss and "
                    "the learning rate do not depend on the size of the data set.",
                    wrong=lambda w, b, X, y: len(y) * mlp.logistic_nll(w, b, X, y)),
            Mistake("you returned the log-likelihood, not its negative: maximising the likelihood "
                    "means minimising -log L.",
                    wrong=lambda w, b, X, y: -mlp.logistic_nll(w, b, X, y)),
            Mistake("only the y * log(p) term is there: samples with y = 0 must contribute "
                    "(1 - y) * log(1 - p).",
                    wrong=_quiet(lambda w, b, X, y: float(-np.mean(y * np.log(_sig(X @ w + b)))))),
            Mistake("the loss is inf or nan for a confidently wrong neuron: p rounds to exactly 0 "
                    "or 1, log(0) = -inf (and 0 * -inf = nan). Compute it from z = X @ w + b as "
                    "np.mean(np.logaddexp(0, z) - y * z), which is the same formula, rearranged.",
                    when=lambda got, exp, case: np.ndim(got) == 0 and not np.isfinite(got)),
        ],
        hint="-mean(y * log(p) + (1 - y) * log(1 - p)) with p = sigmoid(X @ w + b).")


def _nll_grad_wrong_sign(w, b, X, y):
    dw, db = mlp.logistic_nll_grad(w, b, X, y)
    return -dw, -db


def _nll_grad_sum(w, b, X, y):
    dw, db = mlp.logistic_nll_grad(w, b, X, y)
    return dw * len(y), db * len(y)


def nll_grad(fn: Callable) -> Callable:
    """Check ``nll_grad(w, b, X, y)`` -> ``(dw (D,), db float)``."""
    return check_function(
        fn, mlp.logistic_nll_grad, _NLL_CASES[:2], name="nll_grad",
        mistakes=[
            Mistake("your gradient has the wrong sign (y - p instead of p - y): a step along it "
                    "would climb the loss instead of descending it.", wrong=_nll_grad_wrong_sign),
            Mistake("you forgot to divide by N: the loss is a mean, so its gradient is too.",
                    wrong=_nll_grad_sum),
            Mistake("dw is the sum over samples of (p - y) * x, i.e. X.T @ (p - y) / N: you used "
                    "p instead of the error p - y.",
                    wrong=lambda w, b, X, y: (X.T @ _sig(X @ w + b) / len(y),
                                              float(np.mean(_sig(X @ w + b))))),
        ],
        hint="with p = sigmoid(X @ w + b): dw = X.T @ (p - y) / N and db = mean(p - y).")


# --------------------------------------------------------------------------------------------
# Gradient descent


def _gd(X, y, lr, epochs):
    return mlp.logistic_regression_gd(X, y, lr=lr, epochs=epochs)


def _gd_ascent(X, y, lr, epochs):
    w, b = np.zeros(X.shape[1]), 0.0
    losses = [mlp.logistic_nll(w, b, X, y)]
    for _ in range(epochs):
        dw, db = mlp.logistic_nll_grad(w, b, X, y)
        w, b = w + lr * dw, b + lr * db
        losses.append(mlp.logistic_nll(w, b, X, y))
    return w, b, np.array(losses)


def _gd_no_bias(X, y, lr, epochs):
    w, b = np.zeros(X.shape[1]), 0.0
    losses = [mlp.logistic_nll(w, b, X, y)]
    for _ in range(epochs):
        dw, _ = mlp.logistic_nll_grad(w, b, X, y)
        w = w - lr * dw
        losses.append(mlp.logistic_nll(w, b, X, y))
    return w, b, np.array(losses)


_GD_CASES = [
    Case((_X2, _y2, 0.5, 5), label="X (7, 3), y (7,), lr=0.5, epochs=5"),
    Case((_X1, _y1, 0.1, 20), label="X (4, 2), y (4,), lr=0.1, epochs=20"),
    Case((_X2, _y2, 1.0, 0), label="epochs=0 (no step: w = 0, b = 0, one loss)"),
]


def gradient_descent(fn: Callable) -> Callable:
    """Check ``gradient_descent(X, y, lr, epochs)`` -> ``(w, b, losses)`` starting from zeros."""
    return check_function(
        fn, _gd, _GD_CASES, name="gradient_descent",
        mistakes=[
            Mistake("you stepped along the gradient (w + lr * dw): that is gradient *ascent*, the "
                    "loss grows. Step against it: w - lr * dw.", wrong=_gd_ascent),
            Mistake("the bias b is never updated: it needs its own step b - lr * db.",
                    wrong=_gd_no_bias),
            Mistake("losses should have epochs + 1 entries: the loss at the start and after every "
                    "step. Yours misses the last one.",
                    wrong=lambda X, y, lr, epochs: (*_gd(X, y, lr, epochs)[:2],
                                                    _gd(X, y, lr, epochs)[2][:-1])),
            Mistake("losses should have epochs + 1 entries: the loss at the start (before any "
                    "step) is missing.",
                    wrong=lambda X, y, lr, epochs: (*_gd(X, y, lr, epochs)[:2],
                                                    _gd(X, y, lr, epochs)[2][1:])),
        ],
        hint="start from w = zeros(D), b = 0; record nll; then repeat: (dw, db) = nll_grad(...), "
             "w -= lr * dw, b -= lr * db, record nll.")


# --------------------------------------------------------------------------------------------
# Softmax


def _softmax(Z):
    return mlp.softmax(Z, axis=1)


def _softmax_naive(Z):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(Z)
        return e / e.sum(axis=1, keepdims=True)


def _softmax_axis0(Z):
    return mlp.softmax(Z, axis=0)


def _softmax_global_max(Z):
    with np.errstate(invalid="ignore"):
        e = np.exp(Z - np.max(Z))
        return e / e.sum(axis=1, keepdims=True)


_SOFTMAX_CASES = [
    Case((np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]),), label="Z=[[1, 2, 3], [0, 0, 0]]"),
    Case((_rng.normal(size=(4, 5)),), label="Z of shape (4, 5)"),
    Case((np.array([[1000.0, 1001.0, 1002.0], [-3.0, 0.0, 3.0]]),),
         label="Z=[[1000, 1001, 1002], [-3, 0, 3]] (large scores)"),
    Case((np.array([[0.0, 1.0, 2.0], [-2000.0, -2001.0, -2000.0]]),),
         label="Z=[[0, 1, 2], [-2000, -2001, -2000]] (rows on very different scales)"),
]


def softmax(fn: Callable) -> Callable:
    """Check ``softmax(Z)``: Z (N, K) -> probabilities (N, K), each row summing to 1, stable."""
    return check_function(
        fn, _softmax, _SOFTMAX_CASES, name="softmax",
        mistakes=[
            Mistake("softmax over the wrong axis: each *row* (one sample) must sum to 1, so "
                    "normalise with axis=1 (and keepdims=True), not axis=0.", wrong=_softmax_axis0),
            Mistake("exp(1000) overflows to inf and inf / inf = nan: subtract each row's maximum "
                    "before exp (it cancels in the ratio).", wrong=_softmax_naive),
            Mistake("you subtracted the maximum of the whole array, not of each row: a row far "
                    "below it underflows to exp(...) = 0 everywhere and 0 / 0 = nan. Use "
                    "Z.max(axis=1, keepdims=True).", wrong=_softmax_global_max),
        ],
        hint="e = np.exp(Z - Z.max(axis=1, keepdims=True)); return e / e.sum(axis=1, keepdims=True)")


_SNLL_CASES = [
    Case((np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3], [1.0, 1.0, 1.0]]), np.array([0, 2, 0])),
         label="Z (3, 3), y=[0, 2, 0]"),
    Case((_rng.normal(size=(5, 4)), np.array([3, 0, 0, 1, 2])), label="Z (5, 4), y=[3, 0, 0, 1, 2]"),
    Case((np.array([[0.0, 30.0], [10.0, -10.0]]), np.array([0, 0])), label="Z=[[0, 30], [10, -10]], "
         "y=[0, 0]"),
]


def softmax_nll(fn: Callable) -> Callable:
    """Check ``softmax_nll(Z, y)``: mean of -log softmax(Z)[i, y_i]."""
    return check_function(
        fn, mlp.softmax_nll, _SNLL_CASES, name="softmax_nll",
        mistakes=[
            Mistake("P[:, y] picks whole columns (an N x N table), not one entry per row: use "
                    "P[np.arange(N), y] to get each sample's probability of its own class.",
                    wrong=_quiet(lambda Z, y: float(-np.mean(np.log(_softmax(Z)[:, y]))))),
            Mistake("you summed over the samples: take the mean (divide by N).",
                    wrong=lambda Z, y: len(y) * mlp.softmax_nll(Z, y)),
            Mistake("the sign is missing: the negative log-likelihood is -mean(log p), a positive "
                    "number.", wrong=lambda Z, y: -mlp.softmax_nll(Z, y)),
            Mistake("you averaged -log p over all classes instead of taking the probability of the "
                    "correct class y_i only.",
                    wrong=_quiet(lambda Z, y: float(-np.mean(np.log(_softmax(Z)))))),
        ],
        hint="P = softmax(Z); return -np.mean(np.log(P[np.arange(len(y)), y]))")
