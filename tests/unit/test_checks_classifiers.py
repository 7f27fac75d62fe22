"""Checkers of notebook 03: right answers pass, typical wrong answers are named, stubs are 'not done'."""
import numpy as np
import pytest

from cnncourse import mlp
from cnncourse.checks import classifiers as C


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# Each entry: checker, a correct learner-style answer, [(wrong answer, phrase of the verdict)].
def _naive_nll(w, b, X, y):
    p = sigmoid(X @ w + b)
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def _gd(X, y, lr, epochs, sign=-1, update_b=True, keep=slice(None)):
    w, b = np.zeros(X.shape[1]), 0.0
    losses = [mlp.logistic_nll(w, b, X, y)]
    for _ in range(epochs):
        dw, db = mlp.logistic_nll_grad(w, b, X, y)
        w = w + sign * lr * dw
        b = b + sign * lr * db if update_b else b
        losses.append(mlp.logistic_nll(w, b, X, y))
    return w, b, np.array(losses)[keep]


def _softmax(Z, axis=1, shift=True, global_max=False):
    m = Z.max() if global_max else Z.max(axis=axis, keepdims=True)
    e = np.exp(Z - m) if shift else np.exp(Z)
    return e / e.sum(axis=axis, keepdims=True)


CASES = [
    (C.predict_proba, lambda X, w, b: sigmoid(X @ w + b), [
        (lambda X, w, b: sigmoid(X @ w), "forgot the bias"),
        (lambda X, w, b: 1 / (1 + np.exp(X @ w + b)), "P(y=0 | x)"),
        (lambda X, w, b: X @ w + b, "apply the sigmoid"),
    ]),
    (C.nll, lambda w, b, X, y: np.mean(np.logaddexp(0, X @ w + b) - y * (X @ w + b)), [
        (lambda w, b, X, y: np.sum(np.logaddexp(0, X @ w + b) - y * (X @ w + b)), "divide by N"),
        (lambda w, b, X, y: -np.mean(np.logaddexp(0, X @ w + b) - y * (X @ w + b)),
         "not its negative"),
        (lambda w, b, X, y: -np.mean(y * np.log(sigmoid(X @ w + b))), "(1 - y) * log(1 - p)"),
        (_naive_nll, "log(0) = -inf"),
    ]),
    (C.nll_grad, lambda w, b, X, y: (X.T @ (sigmoid(X @ w + b) - y) / len(y),
                                     np.mean(sigmoid(X @ w + b) - y)), [
        (lambda w, b, X, y: (X.T @ (y - sigmoid(X @ w + b)) / len(y),
                             np.mean(y - sigmoid(X @ w + b))), "climb the loss"),
        (lambda w, b, X, y: (X.T @ (sigmoid(X @ w + b) - y), np.sum(sigmoid(X @ w + b) - y)),
         "forgot to divide by N"),
        (lambda w, b, X, y: (X.T @ sigmoid(X @ w + b) / len(y), np.mean(sigmoid(X @ w + b))),
         "error p - y"),
    ]),
    (C.gradient_descent, _gd, [
        (lambda X, y, lr, e: _gd(X, y, lr, e, sign=+1), "gradient *ascent*"),
        (lambda X, y, lr, e: _gd(X, y, lr, e, update_b=False), "bias b is never updated"),
        (lambda X, y, lr, e: _gd(X, y, lr, e, keep=slice(None, -1)), "misses the last one"),
        (lambda X, y, lr, e: _gd(X, y, lr, e, keep=slice(1, None)), "loss at the start"),
    ]),
    (C.softmax, _softmax, [
        (lambda Z: _softmax(Z, axis=0), "wrong axis"),
        (lambda Z: _softmax(Z, shift=False), "exp(1000) overflows"),
        (lambda Z: _softmax(Z, global_max=True), "maximum of the whole array"),
    ]),
    (C.softmax_nll, lambda Z, y: -np.mean(np.log(_softmax(Z)[np.arange(len(y)), y])), [
        (lambda Z, y: -np.mean(np.log(_softmax(Z)[:, y])), "P[np.arange(N), y]"),
        (lambda Z, y: -np.sum(np.log(_softmax(Z)[np.arange(len(y)), y])), "summed over the samples"),
        (lambda Z, y: np.mean(np.log(_softmax(Z)[np.arange(len(y)), y])), "sign is missing"),
        (lambda Z, y: -np.mean(np.log(_softmax(Z))), "correct class y_i only"),
    ]),
]
IDS = [c[0].__name__ for c in CASES]


@pytest.mark.parametrize("checker, right, wrongs", CASES, ids=IDS)
def test_correct_answer_passes_and_is_handed_back(last, checker, right, wrongs):
    with np.errstate(all="ignore"):
        assert checker(right) is right
    assert last().passed, str(last())


@pytest.mark.parametrize("checker, right, wrongs", CASES, ids=IDS)
def test_each_typical_mistake_is_named(last, checker, right, wrongs):
    for wrong, phrase in wrongs:
        with np.errstate(all="ignore"):
            handed_back = checker(wrong)
        assert handed_back is not wrong
        assert last().status == "failed" and phrase in last().message, str(last())


@pytest.mark.parametrize("checker, right, wrongs", CASES, ids=IDS)
def test_stub_is_not_done_and_reference_is_handed_back(last, stub, checker, right, wrongs):
    ref = checker(stub)
    assert last().status == "not done"
    assert ref is not stub and callable(ref)


def test_reference_handed_back_is_usable(stub):
    softmax = C.softmax(stub)
    np.testing.assert_allclose(softmax(np.zeros((2, 4))), 0.25)
    gd = C.gradient_descent(stub)
    w, b, losses = gd(np.eye(2), np.array([0, 1]), 0.5, 3)
    assert losses.shape == (4,) and losses[-1] < losses[0]
