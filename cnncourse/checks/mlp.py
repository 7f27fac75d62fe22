"""Checks for notebook 04 (multilayer networks and backprop).

References come from :mod:`cnncourse.mlp`; each checker names the likely wrong answers.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from cnncourse import mlp
from cnncourse.checks import Case, Mistake, check_function

_rng = np.random.default_rng(4)

# --------------------------------------------------------------------------------------------
# Dense layer

_x = _rng.normal(size=(4, 3))
_W = _rng.normal(size=(3, 5))
_b = _rng.normal(size=5)
_xs = _rng.normal(size=(3, 3))        # a square case: x @ W.T does not crash there
_Ws = _rng.normal(size=(3, 3))
_bs = np.array([0.1, -0.2, 0.3])

# The square case comes first: there, transposing W gives wrong numbers (and a named mistake)
# rather than a shape error.
_DENSE_CASES = [
    Case((_xs, _Ws, _bs), label="x (3, 3), W (3, 3), b (3,)"),
    Case((_x, _W, _b), label="x (4, 3), W (3, 5), b (5,)"),
    Case((np.ones((1, 2)), np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([10.0, 20.0])),
         label="x=[[1, 1]], W=[[1, 2], [3, 4]], b=[10, 20]"),
]


def dense_forward(fn: Callable) -> Callable:
    """Check ``dense_forward(x, W, b)`` -> x @ W + b, shape (N, H)."""
    return check_function(
        fn, mlp.dense_forward, _DENSE_CASES, name="dense_forward",
        mistakes=[
            Mistake("the bias is missing: out = x @ W + b.", wrong=lambda x, W, b: x @ W),
            Mistake("you multiplied by W transposed: with x (N, D) and W (D, H), the product is "
                    "x @ W.", wrong=lambda x, W, b: x @ W.T + b),
            Mistake("'*' multiplies elementwise; a layer needs the matrix product x @ W.",
                    wrong=lambda x, W, b: x * W + b),
        ],
        hint="x (N, D) @ W (D, H) gives (N, H); add b (H,), which broadcasts over the rows.")


def _dense_backward_db_mean(dout, x, W):
    dx, dW, db = mlp.dense_backward(dout, x, W)
    return dx, dW, db / len(dout)


def _dense_backward_dW_mean(dout, x, W):
    dx, dW, db = mlp.dense_backward(dout, x, W)
    return dx, dW / len(dout), db / len(dout)


_dout = _rng.normal(size=(4, 5))
_douts = _rng.normal(size=(3, 3))
_BACKWARD_CASES = [
    Case((_douts, _xs, _Ws), label="dout (3, 3), x (3, 3), W (3, 3)"),
    Case((_dout, _x, _W), label="dout (4, 5), x (4, 3), W (3, 5)"),
]


def dense_backward(fn: Callable) -> Callable:
    """Check ``dense_backward(dout, x, W)`` -> ``(dx (N, D), dW (D, H), db (H,))``."""
    return check_function(
        fn, mlp.dense_backward, _BACKWARD_CASES, name="dense_backward",
        mistakes=[
            Mistake("db must add up the upstream gradient over the batch: db = dout.sum(axis=0), "
                    "one number per unit, not the (N, H) array dout itself.",
                    wrong=lambda dout, x, W: (dout @ W.T, x.T @ dout, dout)),
            Mistake("you divided by N: the 1/N of the mean loss is already inside dout, so the "
                    "layer just sums over the batch.", wrong=_dense_backward_dW_mean),
            Mistake("db should be a sum over the batch, not a mean.", wrong=_dense_backward_db_mean),
            Mistake("dx = dout @ W.T (shape (N, D)); you used W without transposing it.",
                    wrong=lambda dout, x, W: (dout @ W, x.T @ dout, dout.sum(axis=0))),
            Mistake("dW = x.T @ dout (shape (D, H), like W); you wrote dout.T @ x, its transpose.",
                    wrong=lambda dout, x, W: (dout @ W.T, dout.T @ x, dout.sum(axis=0))),
        ],
        hint="each gradient has the shape of what it is the gradient of: dx like x, dW like W, "
             "db like b. dx = dout @ W.T, dW = x.T @ dout, db = dout.sum(axis=0).")


# --------------------------------------------------------------------------------------------
# ReLU backward

_RELU_CASES = [
    Case((np.array([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]]), np.array([[0.5, 1.0, -1.0], [-2.0, 3.0, 0.2]])),
         label="dout=[[1, -2, 3], [4, 5, -6]], a=[[0.5, 1, -1], [-2, 3, 0.2]]"),
    Case((np.array([[2.0, 2.0, 2.0]]), np.array([[-1.0, 0.0, 1.0]])),
         label="dout=[[2, 2, 2]], a=[[-1, 0, 1]] (a = 0 exactly in the middle)"),
    Case((_rng.normal(size=(3, 4)), _rng.normal(size=(3, 4))), label="dout, a of shape (3, 4)"),
]


def relu_backward(fn: Callable) -> Callable:
    """Check ``relu_backward(dout, a)`` -> dout * (a > 0), with ``a`` the ReLU's forward input."""
    return check_function(
        fn, mlp.relu_backward, _RELU_CASES, name="relu_backward",
        mistakes=[
            Mistake("the mask must come from the forward input a (where the ReLU let the signal "
                    "through), not from the sign of the upstream gradient dout.",
                    wrong=lambda dout, a: dout * (dout > 0)),
            Mistake("you returned the mask (a > 0) alone: multiply it by the upstream gradient "
                    "dout (chain rule).", wrong=lambda dout, a: (a > 0).astype(float)),
            Mistake("you multiplied dout by relu(a): the ReLU's derivative is 1 where a > 0 and 0 "
                    "elsewhere, not a.", wrong=lambda dout, a: dout * np.maximum(a, 0)),
            Mistake("at a = 0 exactly, use derivative 0 (a > 0, not a >= 0), as TensorFlow and "
                    "Keras do; otherwise gradients disagree with theirs.",
                    wrong=lambda dout, a: dout * (a >= 0)),
        ],
        hint="the local gradient of max(0, a) is 1 where a > 0, else 0: da = dout * (a > 0).")


# --------------------------------------------------------------------------------------------
# The 2-layer network: loss and gradients


def _two_layer(params, X, y, l2=0.0, *, mask=True, l2_factor=2.0, l2_bias=False, l2_loss=True):
    """Reference 2-layer ReLU network with softmax NLL + L2, and variants with known mistakes."""
    W1, b1, W2, b2 = (np.asarray(params[k], float) for k in ("W1", "b1", "W2", "b2"))
    a1 = X @ W1 + b1                                   # (N, H)
    h1 = np.maximum(a1, 0.0)                           # (N, H)
    scores = h1 @ W2 + b2                              # (N, K)
    loss = mlp.softmax_nll(scores, y)
    dscores = mlp.softmax_nll_grad(scores, y)          # (N, K)
    dh1, dW2, db2 = mlp.dense_backward(dscores, h1, W2)
    da1 = mlp.relu_backward(dh1, a1) if mask else dh1
    _, dW1, db1 = mlp.dense_backward(da1, X, W1)
    grads = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    penalised = ("W1", "W2", "b1", "b2") if l2_bias else ("W1", "W2")
    for k in penalised:
        p = np.asarray(params[k], float)
        if l2_loss:
            loss += l2 * float(np.sum(p ** 2))
        grads[k] = grads[k] + l2_factor * l2 * p
    return float(loss), grads


def _params(d, h, k, seed):
    r = np.random.default_rng(seed)
    return {"W1": r.normal(0, 0.8, (d, h)), "b1": r.normal(0, 0.3, h),
            "W2": r.normal(0, 0.8, (h, k)), "b2": r.normal(0, 0.3, k)}


_Xn = _rng.normal(size=(6, 2))
_yn = np.array([0, 1, 2, 1, 0, 2])
_TWO_LAYER_CASES = [
    Case((_params(2, 5, 3, 0), _Xn, _yn), label="D=2, H=5, K=3, N=6, l2=0"),
    Case((_params(2, 5, 3, 1), _Xn, _yn, 0.1), label="D=2, H=5, K=3, N=6, l2=0.1"),
    Case((_params(4, 3, 2, 2), _rng.normal(size=(5, 4)), np.array([1, 0, 0, 1, 1]), 0.01),
         label="D=4, H=3, K=2, N=5, l2=0.01"),
]


def two_layer_loss(fn: Callable) -> Callable:
    """Check ``two_layer_loss(params, X, y, l2=0.0)`` -> ``(loss, grads)``."""
    return check_function(
        fn, _two_layer, _TWO_LAYER_CASES, name="two_layer_loss",
        mistakes=[
            Mistake("the backward pass skips the ReLU: multiply the gradient by (a1 > 0) "
                    "(relu_backward) before the first layer's backward.",
                    wrong=lambda p, X, y, l2=0.0: _two_layer(p, X, y, l2, mask=False)),
            Mistake("the L2 term is in the loss but not in the gradients: add 2 * l2 * W to dW.",
                    wrong=lambda p, X, y, l2=0.0: _two_layer(p, X, y, l2, l2_factor=0.0)),
            Mistake("the derivative of l2 * sum(W**2) is 2 * l2 * W; you added l2 * W.",
                    wrong=lambda p, X, y, l2=0.0: _two_layer(p, X, y, l2, l2_factor=1.0)),
            Mistake("the L2 penalty applies to the weights W1 and W2 only, not to the biases.",
                    wrong=lambda p, X, y, l2=0.0: _two_layer(p, X, y, l2, l2_bias=True)),
            Mistake("the gradients include the L2 term but the loss does not: add "
                    "l2 * (sum(W1**2) + sum(W2**2)) to the loss.",
                    wrong=lambda p, X, y, l2=0.0: _two_layer(p, X, y, l2, l2_loss=False)),
        ],
        hint="forward: a1 = X @ W1 + b1, h1 = relu(a1), scores = h1 @ W2 + b2; backward in reverse "
             "order with softmax_nll_grad, dense_backward, relu_backward, dense_backward.")


# --------------------------------------------------------------------------------------------
# Numerical gradient


def _f_cross(v):
    return float(np.sum(np.sin(v) * np.sum(v)) + v.ravel()[0] * v.ravel()[-1] ** 2)


def _numgrad_forward(f, x, h=1e-5):
    g = np.zeros_like(x)
    fx = f(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        g[i] = (f(x) - fx) / h
        x[i] = old
    return g


def _numgrad_no_restore(f, x, h=1e-5):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        fm = f(x)
        g[i] = (fp - fm) / (2 * h)
    return g


def _numgrad_over_h(f, x, h=1e-5):
    return 2.0 * mlp.numerical_gradient(f, x, h)


def _sq(v):
    return float(np.sum(v ** 2))


class _LossOfWeights:
    """A loss that reads the weights array it was built on, not its argument (as a network's loss
    reads its own weight arrays): a numerical gradient must perturb ``x`` itself, in place."""

    def __init__(self, w):
        self.w = w

    def __call__(self, _x):
        return float(np.sum(np.sin(self.w)) + self.w.ravel()[0] * self.w.ravel()[-1] ** 2)

    def __repr__(self):
        return "loss(W)"


def _numgrad_copy(f, x, h=1e-5):
    return mlp.numerical_gradient(f, np.array(x, dtype=float, copy=True), h)


_W_OUTSIDE = np.array([[0.4, -0.3], [1.1, 0.2]])


_NUMGRAD_CASES = [
    Case((_sq, np.array([1.0, -2.0, 3.0])), label="f(v) = sum(v**2) at v=[1, -2, 3]"),
    Case((_f_cross, np.array([0.3, -1.2, 0.8, 2.0])),
         label="f(v) = sum(sin(v) * sum(v)) + v[0] * v[-1]**2 at v=[0.3, -1.2, 0.8, 2]"),
    Case((_f_cross, np.array([[0.5, 1.0], [-0.7, 0.1]])), label="the same f at a (2, 2) array"),
    Case((_f_cross, np.array([0.2, 0.4, -0.6])), kwargs={"h": 1e-4},
         label="the same f at v=[0.2, 0.4, -0.6], h=1e-4"),
    Case((_LossOfWeights(_W_OUTSIDE), _W_OUTSIDE),
         label="f = a loss that reads the weight array W itself (as a network's loss does), x = W"),
]


def numerical_gradient(fn: Callable) -> Callable:
    """Check ``numerical_gradient(f, x, h=1e-5)`` (central differences, x restored)."""
    return check_function(
        fn, mlp.numerical_gradient, _NUMGRAD_CASES, name="numerical_gradient",
        rtol=1e-7, atol=1e-9,
        mistakes=[
            Mistake("you used the one-sided difference (f(x + h) - f(x)) / h: its error is "
                    "proportional to h (about 1e-5 here), too large for a 1e-6 gradient check. "
                    "Use the central difference (f(x + h) - f(x - h)) / (2h), whose error is "
                    "proportional to h**2.", wrong=_numgrad_forward),
            Mistake("x[i] is not restored after probing it, so every later entry is computed at a "
                    "shifted point: put x[i] = old back before moving on.",
                    wrong=_numgrad_no_restore),
            Mistake("divide by 2h, not h: the central difference spans from x - h to x + h.",
                    wrong=_numgrad_over_h),
            Mistake("you perturbed a copy of x: a network's loss reads its own weight arrays, not "
                    "your copy, so it never sees the change (gradient 0). Change x[i] in place, "
                    "and put the old value back.",
                    when=lambda g, e, c: isinstance(c.args[0], _LossOfWeights)
                    and np.allclose(g, 0) and not np.allclose(e, 0)),
        ],
        hint="for each index i: old = x[i]; x[i] = old + h; fp = f(x); x[i] = old - h; "
             "fm = f(x); x[i] = old; grad[i] = (fp - fm) / (2 * h).")


# --------------------------------------------------------------------------------------------
# One epoch of minibatch SGD


def _sgd_epoch(params, X, y, lr, batch_size, order, l2=0.0, *, sign=-1.0, drop_last=False,
               full_batch=False, ignore_order=False):
    params = {k: np.array(v, dtype=float) for k, v in params.items()}
    n = len(X)
    order = np.arange(n) if ignore_order else np.asarray(order)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = np.arange(n) if full_batch else order[start:start + batch_size]
        _, grads = _two_layer(params, X[idx], y[idx], l2)
        params = {k: params[k] + sign * lr * grads[k] for k in params}
    return params


_Xs = _rng.normal(size=(10, 2))
_ys = np.array([0, 1, 2, 2, 1, 0, 1, 2, 0, 1])
_SGD_CASES = [
    Case((_params(2, 4, 3, 5), _Xs, _ys, 0.5, 4, _rng.permutation(10)),
         label="N=10, batch_size=4 (batches of 4, 4 and 2), lr=0.5"),
    Case((_params(2, 4, 3, 6), _Xs, _ys, 0.1, 5, _rng.permutation(10), 0.01),
         label="N=10, batch_size=5, lr=0.1, l2=0.01"),
]


def sgd_epoch(fn: Callable) -> Callable:
    """Check ``sgd_epoch(params, X, y, lr, batch_size, order, l2=0.0)`` -> new params."""
    return check_function(
        fn, _sgd_epoch, _SGD_CASES, name="sgd_epoch",
        mistakes=[
            Mistake("you added lr * grad: that climbs the loss. Gradient descent subtracts it.",
                    wrong=lambda *a, **k: _sgd_epoch(*a, **k, sign=1.0)),
            Mistake("the last, smaller minibatch is dropped: with N=10 and batch_size=4 there are "
                    "three steps (4 + 4 + 2 samples); loop `for start in range(0, N, batch_size)`.",
                    wrong=lambda *a, **k: _sgd_epoch(*a, **k, drop_last=True)),
            Mistake("every step used the whole data set: each step should use only its minibatch "
                    "X[idx], y[idx] with idx = order[start:start + batch_size].",
                    wrong=lambda *a, **k: _sgd_epoch(*a, **k, full_batch=True)),
            Mistake("you went through the samples in their stored order: take the minibatches "
                    "from `order` (the shuffled indices).",
                    wrong=lambda *a, **k: _sgd_epoch(*a, **k, ignore_order=True)),
        ],
        hint="for start in range(0, N, batch_size): idx = order[start:start + batch_size]; "
             "loss, grads = two_layer_loss(params, X[idx], y[idx], l2); "
             "params[k] = params[k] - lr * grads[k] for every k.")
