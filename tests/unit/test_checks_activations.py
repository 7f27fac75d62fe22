"""Checks of notebook 02: activation functions and derivatives, right, wrong, stub."""
import warnings

import numpy as np
import pytest

from cnncourse import neurons
from cnncourse.checks import activations as A


def stable_sigmoid(x):
    x = np.asarray(x, float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


CORRECT = [
    (A.sigmoid, stable_sigmoid),
    (A.sigmoid_grad, lambda x: stable_sigmoid(x) * (1 - stable_sigmoid(x))),
    (A.tanh, lambda x: 2 * stable_sigmoid(2 * np.asarray(x, float)) - 1),
    (A.tanh_grad, lambda x: 1 - np.tanh(x) ** 2),
    (A.relu, lambda x: np.maximum(x, 0)),
    (A.relu_grad, lambda x: (np.asarray(x) > 0).astype(float)),
    (A.leaky_relu, lambda x, alpha=0.01: np.where(np.asarray(x) > 0, x, alpha * np.asarray(x))),
    (A.leaky_relu_grad, lambda x, alpha=0.01: np.where(np.asarray(x) > 0, 1.0, alpha)),
]


@pytest.mark.parametrize("checker, fn", CORRECT)
def test_correct_answers_pass_without_warnings(last, checker, fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert checker(fn) is fn
    assert last().passed


@pytest.mark.parametrize("checker, fn", CORRECT)
def test_stub_hands_back_a_working_reference(last, stub, checker, fn):
    ref = checker(stub)
    assert last().status == "not done"
    np.testing.assert_allclose(ref(np.array([-1.0, 0.5, 2.0])), fn(np.array([-1.0, 0.5, 2.0])),
                               atol=1e-7)


def naive_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def where_sigmoid(x):
    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


@pytest.mark.parametrize("checker, wrong, phrase", [
    (A.sigmoid, naive_sigmoid, "overflows for large |x|"),
    (A.sigmoid, where_sigmoid, "computes both A and B"),
    (A.sigmoid, lambda x: 1 / (1 + np.exp(x)), "sign of x is flipped"),
    (A.sigmoid, np.tanh, "that is tanh"),
    (A.sigmoid_grad, lambda x: x * (1 - x), "not x * (1 - x)"),
    (A.sigmoid_grad, stable_sigmoid, "returned sigmoid(x) itself"),
    (A.sigmoid_grad, lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2, "overflows"),
    (A.tanh, lambda x: 2 * stable_sigmoid(x) - 1, "argument is doubled"),
    (A.tanh, lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)), "tanh overflows"),
    (A.tanh_grad, lambda x: 1 - np.asarray(x) ** 2, "you returned 1 - x**2"),
    (A.tanh_grad, lambda x: 1 - np.tanh(x), "must be squared"),
    (A.relu, lambda x: np.max(x, 0), "np.maximum(x, 0)"),
    (A.relu, np.abs, "|x|"),
    (A.relu_grad, np.sign, "-1 for negative inputs"),
    (A.relu_grad, lambda x: (np.asarray(x) >= 0).astype(float), "not x >= 0"),
    (A.relu_grad, neurons.relu, "returned relu(x) itself"),
    (A.leaky_relu, lambda x, alpha=0.01: np.where(np.asarray(x) > 0, alpha * np.asarray(x), x),
     "slope alpha to the positive inputs"),
    (A.leaky_relu, lambda x, alpha=0.01: np.where(np.asarray(x) > 0, x, 0.01 * np.asarray(x)),
     "whatever alpha was passed"),
    (A.leaky_relu, lambda x, alpha=0.01: np.maximum(x, 0), "plain ReLU"),
    (A.leaky_relu_grad, lambda x, alpha=0.01: np.where(np.asarray(x) > 0, alpha, 1.0), "swapped the slopes"),
    (A.leaky_relu_grad, lambda x, alpha=0.01: (np.asarray(x) > 0).astype(float), "ReLU's derivative"),
])
def test_mistakes_named(last, checker, wrong, phrase):
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # checking a wrong answer must not spill warnings
        assert checker(wrong) is not wrong
    assert last().status == "failed" and phrase in last().message, last().message


def test_crash_reported(last):
    A.relu(lambda x: x.nonexistent)
    assert last().status == "error" and "AttributeError" in last().message
