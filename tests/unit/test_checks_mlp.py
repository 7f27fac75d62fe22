"""Checkers of notebook 04: right answers pass, typical wrong answers are named, stubs are 'not done'."""
import numpy as np
import pytest

from cnncourse import mlp
from cnncourse.checks import mlp as C


# learner-style answers, written independently of the reference where possible
def dense_backward(dout, x, W):
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def two_layer_loss(params, X, y, l2=0.0, *, mask=True, l2_grad=2.0, l2_loss=True, bias=False):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    a1 = X @ W1 + b1
    h1 = np.maximum(a1, 0)
    scores = h1 @ W2 + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    P = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    N = len(y)
    loss = -np.mean(np.log(P[np.arange(N), y]))
    if l2_loss:
        loss += l2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2)) + (l2 * (b1 @ b1 + b2 @ b2) if bias else 0)
    dscores = P.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    dW2, db2 = h1.T @ dscores, dscores.sum(axis=0)
    dh1 = dscores @ W2.T
    da1 = dh1 * (a1 > 0) if mask else dh1
    dW1, db1 = X.T @ da1, da1.sum(axis=0)
    grads = {"W1": dW1 + l2_grad * l2 * W1, "b1": db1, "W2": dW2 + l2_grad * l2 * W2, "b2": db2}
    if bias:
        grads["b1"] = grads["b1"] + 2 * l2 * b1
        grads["b2"] = grads["b2"] + 2 * l2 * b2
    return loss, grads


def numgrad(f, x, h=1e-5, *, central=True, restore=True, denom=2.0):
    g = np.zeros_like(x)
    f0 = f(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old - h if central else old
        fm = f(x) if central else f0
        if restore or not central:
            x[i] = old
        g[i] = (fp - fm) / ((denom if central else 1.0) * h)
    return g


def sgd_epoch(params, X, y, lr, batch_size, order, l2=0.0, *, sign=-1, stop=None, full=False,
              stored=False):
    N = len(X)
    order = np.arange(N) if stored else order
    for start in range(0, N if stop is None else stop(N, batch_size), batch_size):
        idx = slice(None) if full else order[start:start + batch_size]
        _, grads = two_layer_loss(params, X[idx], y[idx], l2)
        params = {k: params[k] + sign * lr * grads[k] for k in params}
    return params


CASES = [
    (C.dense_forward, lambda x, W, b: x @ W + b, [
        (lambda x, W, b: x @ W, "bias is missing"),
        (lambda x, W, b: x @ W.T + b, "W transposed"),
        (lambda x, W, b: x * W + b, "elementwise"),
    ]),
    (C.dense_backward, dense_backward, [
        (lambda dout, x, W: (dout @ W.T, x.T @ dout, dout), "dout.sum(axis=0)"),
        (lambda dout, x, W: (dout @ W.T, x.T @ dout / len(x), dout.mean(axis=0)), "divided by N"),
        (lambda dout, x, W: (dout @ W.T, x.T @ dout, dout.mean(axis=0)), "not a mean"),
        (lambda dout, x, W: (dout @ W, x.T @ dout, dout.sum(axis=0)), "without transposing"),
        (lambda dout, x, W: (dout @ W.T, dout.T @ x, dout.sum(axis=0)), "its transpose"),
    ]),
    (C.relu_backward, lambda dout, x: dout * (x > 0), [
        (lambda dout, x: dout * (dout > 0), "not from the sign of the upstream"),
        (lambda dout, x: (x > 0) * 1.0, "mask (a > 0) alone"),
        (lambda dout, x: dout * np.maximum(x, 0), "multiplied dout by relu(a)"),
        (lambda dout, x: dout * (x >= 0), "a = 0 exactly"),
    ]),
    (C.two_layer_loss, two_layer_loss, [
        (lambda p, X, y, l2=0.0: two_layer_loss(p, X, y, l2, mask=False), "skips the ReLU"),
        (lambda p, X, y, l2=0.0: two_layer_loss(p, X, y, l2, l2_grad=0.0), "not in the gradients"),
        (lambda p, X, y, l2=0.0: two_layer_loss(p, X, y, l2, l2_grad=1.0), "2 * l2 * W"),
        (lambda p, X, y, l2=0.0: two_layer_loss(p, X, y, l2, bias=True), "not to the biases"),
        (lambda p, X, y, l2=0.0: two_layer_loss(p, X, y, l2, l2_loss=False), "the loss does not"),
    ]),
    (C.numerical_gradient, numgrad, [
        (lambda f, x, h=1e-5: numgrad(f, x, h, central=False), "one-sided difference"),
        (lambda f, x, h=1e-5: numgrad(f, x, h, restore=False), "not restored"),
        (lambda f, x, h=1e-5: numgrad(f, x, h, denom=1.0), "divide by 2h"),
        (lambda f, x, h=1e-5: numgrad(f, x.copy(), h), "perturbed a copy of x"),
    ]),
    (C.sgd_epoch, sgd_epoch, [
        (lambda *a, **k: sgd_epoch(*a, **k, sign=+1), "climbs the loss"),
        (lambda *a, **k: sgd_epoch(*a, **k, stop=lambda n, b: n - n % b), "last, smaller minibatch"),
        (lambda *a, **k: sgd_epoch(*a, **k, full=True), "whole data set"),
        (lambda *a, **k: sgd_epoch(*a, **k, stored=True), "stored order"),
    ]),
]
IDS = [c[0].__name__ for c in CASES]


@pytest.mark.parametrize("checker, right, wrongs", CASES, ids=IDS)
def test_correct_answer_passes_and_is_handed_back(last, checker, right, wrongs):
    assert checker(right) is right
    assert last().passed, str(last())


@pytest.mark.parametrize("checker, right, wrongs", CASES, ids=IDS)
def test_each_typical_mistake_is_named(last, checker, right, wrongs):
    for wrong, phrase in wrongs:
        assert checker(wrong) is not wrong
        assert last().status == "failed" and phrase in last().message, str(last())


@pytest.mark.parametrize("checker, right, wrongs", CASES, ids=IDS)
def test_stub_is_not_done_and_reference_is_handed_back(last, stub, checker, right, wrongs):
    ref = checker(stub)
    assert last().status == "not done" and ref is not stub and callable(ref)


def test_reference_two_layer_loss_passes_a_gradient_check():
    params = C._params(3, 4, 2, seed=0)
    X, y = np.random.default_rng(1).normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    loss, grads = C._two_layer(params, X, y, 0.1)
    for k in params:
        num = mlp.numerical_gradient(lambda _: C._two_layer(params, X, y, 0.1)[0], params[k])
        assert mlp.relative_error(grads[k], num) < 1e-7
    net = mlp.TwoLayerNet(3, 4, 2, l2=0.1)
    net.params = {k: v.copy() for k, v in params.items()}
    assert net.loss(X, y)[0] == pytest.approx(loss)
