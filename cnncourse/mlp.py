"""NumPy reference implementations for single-neuron classifiers and multilayer networks.

Everything here is plain NumPy in float64, written to be read next to the notebooks
*03 · Single-neuron classifiers* and *04 · Multilayer networks and backprop* (and used by their
checkers as the reference answers). Shapes follow CS231n's ``layers.py``:

* ``N`` samples, ``D`` input features, ``H`` hidden units, ``K`` classes (or outputs);
* inputs ``X`` (N, D); a dense layer's weights ``W`` (D, H) and bias ``b`` (H,);
* class labels ``y`` (N,) integers in ``[0, K)``; binary labels ``y`` (N,) in {0, 1};
* every loss is the **mean** over the N samples.

Pieces
------
activations and probabilities
    :func:`softmax`, :func:`log_softmax`, :func:`relu_backward` (and, from :mod:`cnncourse.neurons`,
    ``sigmoid`` and ``relu``, re-exported here)
single neuron (logistic and softmax regression)
    :func:`logistic_nll`, :func:`logistic_nll_grad`, :func:`logistic_regression_gd`,
    :func:`softmax_nll`, :func:`softmax_nll_grad`, :func:`softmax_regression_gd`
layers and losses for networks
    :func:`dense_forward`, :func:`dense_backward`, :func:`mse_loss`
gradient checking
    :func:`numerical_gradient`, :func:`relative_error`
networks
    :class:`MLP` (any depth) and :class:`TwoLayerNet`; ``MLP.to_keras()`` builds the same network
    in Keras with the same weights.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from cnncourse._validate import array
from cnncourse._validate import labels as _labels
from cnncourse.neurons import relu, sigmoid  # notebook 02's stable sigmoid and ReLU, re-exported

__all__ = [
    "sigmoid", "softmax", "log_softmax", "relu", "relu_backward",
    "logistic_nll", "logistic_nll_grad", "logistic_regression_gd",
    "softmax_nll", "softmax_nll_grad", "softmax_regression_gd",
    "dense_forward", "dense_backward", "mse_loss",
    "numerical_gradient", "relative_error", "MLP", "TwoLayerNet",
]


# --------------------------------------------------------------------------------------------
# Input validation


def _array(x, name: str, ndim=None) -> np.ndarray:
    """``x`` as a float64 array with ``ndim`` dimensions (an int or a tuple of allowed ones)."""
    return array(x, name, ndim=ndim, dtype=np.float64)


def _check_weights(X: np.ndarray, w, b) -> tuple[np.ndarray, float]:
    w = _array(w, "w", ndim=1)
    if w.shape[0] != X.shape[1]:
        raise ValueError(f"w: expected shape ({X.shape[1]},) (one weight per feature of X), "
                         f"got {w.shape}")
    b = np.asarray(b, dtype=np.float64)
    if b.size != 1:
        raise ValueError(f"b: expected a scalar bias, got shape {b.shape}")
    return w, float(b.reshape(()))


def _small_blas(threads: int | None = 1):
    """BLAS limited to ``threads`` (default single-threaded) for the small matrix products of these
    networks; ``None`` leaves the library default.

    On a busy 2-core machine, NumPy's and SciPy's OpenBLAS thread pools spin against each other
    and make L-BFGS on a tiny network about 10x slower; one thread is fastest for such sizes.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn; without it, just run
        return contextlib.nullcontext()
    if threads is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


# --------------------------------------------------------------------------------------------
# Activations and probabilities


def softmax(scores: ArrayLike, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``: ``exp(s - max(s)) / sum(exp(s - max(s)))``, stable for large scores.

    Parameters
    ----------
    scores : array_like, shape (N, K) (or any shape)
        Unnormalised class scores (*logits*), one row per sample.
    axis : int
        The class axis (default: the last one).

    Returns
    -------
    ndarray, float64, same shape as ``scores``; sums to 1 along ``axis``.

    Raises
    ------
    ValueError
        ``scores`` a scalar. A value that is not a number (``TypeError``).

    Examples
    --------
    >>> softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]])).round(3)
    array([[0.5 , 0.5 ],
           [0.25, 0.75]])
    """
    return np.exp(log_softmax(scores, axis=axis))


def log_softmax(scores: ArrayLike, axis: int = -1) -> np.ndarray:
    """Logarithm of :func:`softmax`, computed as ``s - max(s) - log(sum(exp(s - max(s))))``.

    Parameters
    ----------
    scores : array_like, shape (N, K) (or any shape, at least 1-D)
    axis : int

    Returns
    -------
    ndarray, float64, same shape as ``scores`` (all values <= 0).

    Raises
    ------
    ValueError
        ``scores`` a scalar. A value that is not a number (``TypeError``).
    """
    s = _array(scores, "scores")
    if s.ndim == 0:
        raise ValueError("scores: expected at least a 1-D array of class scores, got a scalar")
    shifted = s - np.max(s, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def relu_backward(dout: ArrayLike, x: ArrayLike) -> np.ndarray:
    """Backward pass of :func:`relu`: ``dout`` where ``x > 0``, else 0.

    Parameters
    ----------
    dout : array_like
        Upstream gradient dL/d relu(x), same shape as ``x``.
    x : array_like
        The ReLU's input from the forward pass.

    Returns
    -------
    dx : ndarray, same shape as ``x``.

    Raises
    ------
    ValueError
        ``dout`` of another shape than ``x``. A value that is not a number (``TypeError``).
    """
    dout, x = _array(dout, "dout"), _array(x, "x")
    if dout.shape != x.shape:
        raise ValueError(f"dout: expected shape {x.shape} (the shape of x), got {dout.shape}")
    return dout * (x > 0)


# --------------------------------------------------------------------------------------------
# Binary logistic regression: one sigmoid neuron


def _logistic_inputs(w, b, X, y):
    X = _array(X, "X", ndim=2)
    w, b = _check_weights(X, w, b)
    y = _labels(y, "y", n=X.shape[0], n_classes=2).astype(np.float64)
    return w, b, X, y


def logistic_nll(w: ArrayLike, b: float, X: ArrayLike, y: ArrayLike) -> float:
    """Mean negative log-likelihood (binary cross-entropy) of one sigmoid neuron.

    With ``z = X @ w + b`` and ``p = sigmoid(z) = P(y=1 | x; w, b)``::

        NLL = -mean(y * log(p) + (1 - y) * log(1 - p)) = mean(log(1 + exp(z)) - y * z)

    computed in the second form (``np.logaddexp``) so that confidently wrong predictions give a
    large finite loss instead of ``log(0) = -inf``.

    Parameters
    ----------
    w : array_like, shape (D,)
    b : float
    X : array_like, shape (N, D)
    y : array_like, shape (N,), values in {0, 1}

    Returns
    -------
    float

    Raises
    ------
    ValueError
        ``X`` not 2-D; ``w`` not of shape (D,) or ``b`` not a scalar; ``y`` not one 0/1
        label per row of ``X``. A value that is not a number (``TypeError``).

    Examples
    --------
    >>> logistic_nll(np.zeros(2), 0.0, np.ones((4, 2)), [0, 1, 1, 0])  # p = 0.5: log 2
    0.6931471805599453
    """
    w, b, X, y = _logistic_inputs(w, b, X, y)
    z = X @ w + b                                    # (N,)
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def logistic_nll_grad(w: ArrayLike, b: float, X: ArrayLike,
                      y: ArrayLike) -> tuple[np.ndarray, float]:
    """Gradient of :func:`logistic_nll` with respect to ``w`` and ``b``.

    ``dNLL/dz_i = (p_i - y_i) / N``, hence ``dw = X.T @ (p - y) / N`` and ``db = mean(p - y)``.

    Returns
    -------
    dw : ndarray, shape (D,)
    db : float

    Raises
    ------
    ValueError
        As :func:`logistic_nll`.
    """
    w, b, X, y = _logistic_inputs(w, b, X, y)
    err = sigmoid(X @ w + b) - y                     # (N,)
    return X.T @ err / X.shape[0], float(np.mean(err))


def logistic_regression_gd(X: ArrayLike, y: ArrayLike, *, lr: float = 0.5, epochs: int = 200,
                           w0: ArrayLike | None = None,
                           b0: float = 0.0) -> tuple[np.ndarray, float, np.ndarray]:
    """Fit one sigmoid neuron by full-batch gradient descent on :func:`logistic_nll`.

    Parameters
    ----------
    X : array_like, shape (N, D)
        Features (standardise them first: gradient descent is much faster then).
    y : array_like, shape (N,), values in {0, 1}
    lr : float
        Learning rate (step size), > 0.
    epochs : int
        Number of gradient steps, >= 0.
    w0, b0 : initial weights, shape (D,), and bias (default zeros).

    Returns
    -------
    w : ndarray, shape (D,)
    b : float
    losses : ndarray, shape (epochs + 1,)
        The loss before each step and after the last one.

    Raises
    ------
    ValueError
        ``X`` not 2-D; ``y`` not one 0/1 label per row; ``lr <= 0``; ``epochs`` not a
        non-negative integer; ``w0`` not of shape (D,). A value that is not a number
        (``TypeError``).
    """
    X = _array(X, "X", ndim=2)
    if not lr > 0:
        raise ValueError(f"lr: expected a positive learning rate, got {lr}")
    if int(epochs) != epochs or epochs < 0:
        raise ValueError(f"epochs: expected a non-negative integer, got {epochs}")
    w = np.zeros(X.shape[1]) if w0 is None else _array(w0, "w0", ndim=1).copy()
    w, b = _check_weights(X, w, b0)
    y = _labels(y, "y", n=X.shape[0], n_classes=2).astype(np.float64)
    losses = [logistic_nll(w, b, X, y)]
    for _ in range(int(epochs)):
        dw, db = logistic_nll_grad(w, b, X, y)
        w, b = w - lr * dw, b - lr * db
        losses.append(logistic_nll(w, b, X, y))
    return w, b, np.array(losses)


# --------------------------------------------------------------------------------------------
# Softmax regression: K neurons with a softmax


def _softmax_inputs(scores, y):
    scores = _array(scores, "scores", ndim=2)
    y = _labels(y, "y", n=scores.shape[0], n_classes=scores.shape[1])
    return scores, y


def softmax_nll(scores: ArrayLike, y: ArrayLike) -> float:
    """Mean multinomial negative log-likelihood ``-mean(log softmax(scores)[i, y_i])``.

    Parameters
    ----------
    scores : array_like, shape (N, K)
        Class scores (logits).
    y : array_like, shape (N,), integers in [0, K)

    Returns
    -------
    float

    Raises
    ------
    ValueError
        ``scores`` not 2-D; ``y`` not one integer label in ``[0, K)`` per row. A value that
        is not a number (``TypeError``).

    Examples
    --------
    >>> softmax_nll(np.zeros((3, 4)), [0, 1, 3])  # uniform over 4 classes: log 4
    1.3862943611198906
    """
    scores, y = _softmax_inputs(scores, y)
    logp = log_softmax(scores, axis=1)               # (N, K)
    return float(-np.mean(logp[np.arange(len(y)), y]))


def softmax_nll_grad(scores: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Gradient of :func:`softmax_nll` with respect to the scores: ``(softmax(scores) - onehot(y)) / N``.

    Returns
    -------
    dscores : ndarray, shape (N, K)

    Raises
    ------
    ValueError
        As :func:`softmax_nll`.
    """
    scores, y = _softmax_inputs(scores, y)
    d = softmax(scores, axis=1)
    d[np.arange(len(y)), y] -= 1.0
    return d / scores.shape[0]


def softmax_regression_gd(X: ArrayLike, y: ArrayLike, n_classes: int, *, lr: float = 0.5,
                          epochs: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit a softmax classifier ``softmax(X @ W + b)`` by full-batch gradient descent from zeros.

    Parameters
    ----------
    X : array_like, shape (N, D)
    y : array_like, shape (N,), integers in [0, n_classes)
    n_classes : int
        K, at least 2.
    lr : float
    epochs : int

    Returns
    -------
    W : ndarray, shape (D, K)
    b : ndarray, shape (K,)
    losses : ndarray, shape (epochs + 1,)

    Raises
    ------
    ValueError
        ``X`` not 2-D; ``n_classes`` not an integer >= 2; ``lr <= 0``; ``epochs`` not a
        non-negative integer; ``y`` not one label in ``[0, n_classes)`` per row. A value that is
        not a number (``TypeError``).
    """
    X = _array(X, "X", ndim=2)
    if int(n_classes) != n_classes or n_classes < 2:
        raise ValueError(f"n_classes: expected an integer >= 2, got {n_classes}")
    if not lr > 0:
        raise ValueError(f"lr: expected a positive learning rate, got {lr}")
    if int(epochs) != epochs or epochs < 0:
        raise ValueError(f"epochs: expected a non-negative integer, got {epochs}")
    y = _labels(y, "y", n=X.shape[0], n_classes=int(n_classes))
    W, b = np.zeros((X.shape[1], int(n_classes))), np.zeros(int(n_classes))
    losses = [softmax_nll(X @ W + b, y)]
    for _ in range(int(epochs)):
        dscores = softmax_nll_grad(X @ W + b, y)     # (N, K)
        W, b = W - lr * (X.T @ dscores), b - lr * dscores.sum(axis=0)
        losses.append(softmax_nll(X @ W + b, y))
    return W, b, np.array(losses)


# --------------------------------------------------------------------------------------------
# Layers and losses for networks


def _dense_inputs(x, W, b=None):
    x = _array(x, "x", ndim=2)
    W = _array(W, "W", ndim=2)
    if W.shape[0] != x.shape[1]:
        raise ValueError(f"W: expected {x.shape[1]} rows (one per input feature of x, "
                         f"shape {x.shape}), got shape {W.shape}")
    if b is not None:
        b = _array(b, "b", ndim=1)
        if b.shape != (W.shape[1],):
            raise ValueError(f"b: expected shape ({W.shape[1]},) (one bias per unit), got {b.shape}")
    return x, W, b


def dense_forward(x: ArrayLike, W: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Fully connected (dense) layer: every input feature connects to every unit.

    Parameters
    ----------
    x : array_like, shape (N, D)
    W : array_like, shape (D, H)
    b : array_like, shape (H,)

    Returns
    -------
    out : ndarray, shape (N, H)
        ``x @ W + b``.

    Raises
    ------
    ValueError
        ``x`` or ``W`` not 2-D; ``W`` without one row per feature of ``x``; ``b`` not of
        shape (H,). A value that is not a number (``TypeError``).
    """
    x, W, b = _dense_inputs(x, W, b)
    return x @ W + b


def dense_backward(dout: ArrayLike, x: ArrayLike,
                   W: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`dense_forward`.

    Parameters
    ----------
    dout : array_like, shape (N, H)
        Upstream gradient dL/d out.
    x : array_like, shape (N, D)
        The layer's input from the forward pass.
    W : array_like, shape (D, H)

    Returns
    -------
    dx : ndarray, shape (N, D)
        ``dout @ W.T``.
    dW : ndarray, shape (D, H)
        ``x.T @ dout`` (sums over the batch).
    db : ndarray, shape (H,)
        ``dout.sum(axis=0)``.

    Raises
    ------
    ValueError
        ``dout`` not of shape (N, H) for ``x`` (N, D) and ``W`` (D, H); the shape errors of
        :func:`dense_forward`. A value that is not a number (``TypeError``).
    """
    x, W, _ = _dense_inputs(x, W)
    dout = _array(dout, "dout", ndim=2)
    if dout.shape != (x.shape[0], W.shape[1]):
        raise ValueError(f"dout: expected shape {(x.shape[0], W.shape[1])} (N, H), got {dout.shape}")
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def mse_loss(pred: ArrayLike, target: ArrayLike) -> tuple[float, np.ndarray]:
    """Mean squared error over all elements (as Keras' ``"mse"``) and its gradient.

    Parameters
    ----------
    pred, target : array_like, same shape (N, K)

    Returns
    -------
    loss : float
    dpred : ndarray, same shape as ``pred``

    Raises
    ------
    ValueError
        ``target`` of another shape than ``pred``. A value that is not a number
        (``TypeError``).
    """
    pred, target = _array(pred, "pred"), _array(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"target: expected shape {pred.shape} (the shape of pred), got {target.shape}")
    diff = pred - target
    return float(np.mean(diff ** 2)), 2.0 * diff / diff.size


# --------------------------------------------------------------------------------------------
# Gradient checking


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray,
                       h: float = 1e-5) -> np.ndarray:
    """Central-difference estimate of the gradient of a scalar function ``f`` at ``x``.

    ``grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h)``, one pair of calls per element. ``x`` is
    perturbed in place (and restored), so ``f`` may close over the same array.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.
    x : ndarray of float64, any shape
        The point; modified during the call and restored before returning.
    h : float
        Step, > 0. With float64, ``1e-5`` balances truncation and rounding error.

    Returns
    -------
    ndarray, float64, same shape as ``x``.

    Raises
    ------
    ValueError
        ``x`` not a float64 ndarray (``TypeError``: it is perturbed in place); ``h <= 0``.

    Examples
    --------
    >>> x = np.array([1.0, 2.0])
    >>> numerical_gradient(lambda v: float(np.sum(v ** 2)), x).round(6)
    array([2., 4.])
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError(f"x: expected a float64 ndarray (it is perturbed in place), got "
                        f"{type(x).__name__}{'' if not isinstance(x, np.ndarray) else ' ' + str(x.dtype)}")
    if not h > 0:
        raise ValueError(f"h: expected a positive step, got {h}")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        f_plus = f(x)
        x[i] = old - h
        f_minus = f(x)
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def relative_error(a: ArrayLike, b: ArrayLike) -> float:
    """Relative error of two gradients: ``||a - b|| / (||a|| + ||b||)`` (Euclidean norms).

    Below about 1e-7, two float64 gradients agree; above about 1e-3, one of them is almost surely
    wrong. (Using norms rather than the largest elementwise ratio keeps entries that are nearly
    zero, where both estimates are mostly rounding noise, from dominating the verdict.)

    Parameters
    ----------
    a, b : array_like, same shape

    Returns
    -------
    float (0.0 when both are all zeros)

    Raises
    ------
    ValueError
        ``a`` and ``b`` of different shapes. A value that is not a number (``TypeError``).
    """
    a, b = _array(a, "a"), _array(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"b: expected shape {a.shape} (the shape of a), got {b.shape}")
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


# --------------------------------------------------------------------------------------------
# Networks


_ACTIVATIONS = ("relu", "tanh")
_OUTPUTS = ("softmax", "linear")


class MLP:
    """A fully connected network in NumPy: dense layers with ReLU or tanh between them.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths from input to output, e.g. ``(2, 64, 3)`` for 2 features, one hidden layer
        of 64 units and 3 classes. At least two entries.
    activation : {"relu", "tanh"}
        Hidden-layer nonlinearity.
    output : {"softmax", "linear"}
        ``"softmax"``: classification, loss :func:`softmax_nll` on integer labels (N,);
        ``"linear"``: regression, loss :func:`mse_loss` on targets (N, K).
    l2 : float
        L2 penalty ``l2 * sum(W ** 2)`` over the weight matrices (not the biases), added to the loss.
    seed : int
        Seed of the He (ReLU) / Glorot (tanh) normal initialisation; biases start at 0.

    Attributes
    ----------
    params : dict of str -> ndarray
        ``W1`` (sizes[0], sizes[1]), ``b1`` (sizes[1],), ``W2`` ..., as in CS231n.

    Examples
    --------
    >>> net = MLP((2, 8, 3), seed=0)
    >>> net.forward(np.zeros((5, 2))).shape
    (5, 3)
    >>> net.n_params
    51
    """

    #: BLAS threads while training (:func:`_small_blas`); ``None``: the library default (the
    #: benchmark ``cnncourse bench mlp`` compares both on an instance).
    blas_threads: int | None = 1

    def __init__(self, sizes: Sequence[int], *, activation: str = "relu", output: str = "softmax",
                 l2: float = 0.0, seed: int = 0):
        sizes = tuple(sizes)
        if len(sizes) < 2 or any(int(s) != s or s < 1 for s in sizes):
            raise ValueError(f"sizes: expected at least two positive integers, got {sizes}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation: expected one of {_ACTIVATIONS}, got {activation!r}")
        if output not in _OUTPUTS:
            raise ValueError(f"output: expected one of {_OUTPUTS}, got {output!r}")
        if not l2 >= 0:
            raise ValueError(f"l2: expected a non-negative penalty, got {l2}")
        self.sizes = tuple(int(s) for s in sizes)
        self.activation, self.output, self.l2, self.seed = activation, output, float(l2), seed
        rng = np.random.default_rng(seed)
        self.params: dict[str, np.ndarray] = {}
        for i, (d_in, d_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:]), 1):
            scale = np.sqrt(2.0 / d_in) if activation == "relu" else np.sqrt(2.0 / (d_in + d_out))
            self.params[f"W{i}"] = rng.normal(0.0, scale, (d_in, d_out))
            self.params[f"b{i}"] = np.zeros(d_out)

    @property
    def n_layers(self) -> int:
        """Number of dense layers (hidden layers + the output layer)."""
        return len(self.sizes) - 1

    @property
    def n_params(self) -> int:
        """Number of weights and biases."""
        return int(sum(p.size for p in self.params.values()))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(sizes={self.sizes}, activation={self.activation!r}, "
                f"output={self.output!r}, l2={self.l2})")

    def _check_X(self, X) -> np.ndarray:
        X = _array(X, "X", ndim=2)
        if X.shape[1] != self.sizes[0]:
            raise ValueError(f"X: expected {self.sizes[0]} features per sample, got shape {X.shape}")
        return X

    def _act(self, a):
        return np.maximum(a, 0.0) if self.activation == "relu" else np.tanh(a)

    def _forward(self, X):
        """Scores (N, K) and the per-layer inputs / pre-activations needed by the backward pass."""
        h, cache = X, []
        for i in range(1, self.n_layers + 1):
            a = dense_forward(h, self.params[f"W{i}"], self.params[f"b{i}"])   # (N, sizes[i])
            cache.append((h, a))
            h = self._act(a) if i < self.n_layers else a
        return h, cache

    def forward(self, X) -> np.ndarray:
        """Scores (logits for ``"softmax"``, predictions for ``"linear"``), shape (N, K)."""
        return self._forward(self._check_X(X))[0]

    def predict(self, X) -> np.ndarray:
        """Class labels (N,) for ``"softmax"``; predictions (N, K) for ``"linear"``."""
        scores = self.forward(X)
        return scores.argmax(axis=1) if self.output == "softmax" else scores

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (N, K) (``"softmax"`` output only)."""
        if self.output != "softmax":
            raise ValueError("predict_proba: only defined for output='softmax'")
        return softmax(self.forward(X), axis=1)

    def _check_y(self, y, n):
        if self.output == "softmax":
            return _labels(y, "y", n=n, n_classes=self.sizes[-1])
        y = _array(y, "y", ndim=(1, 2))
        if y.ndim == 1:
            y = y[:, None]
        if y.shape != (n, self.sizes[-1]):
            raise ValueError(f"y: expected shape ({n}, {self.sizes[-1]}) for regression targets, "
                             f"got {y.shape}")
        return y

    def loss(self, X, y) -> tuple[float, dict[str, np.ndarray]]:
        """Loss (data loss + L2 penalty) and its gradient for every parameter.

        Parameters
        ----------
        X : array_like, shape (N, sizes[0])
        y : array_like
            Integer labels (N,) for ``"softmax"``; targets (N, K) or (N,) for ``"linear"``.

        Returns
        -------
        loss : float
        grads : dict of str -> ndarray
            Same keys and shapes as :attr:`params`.
        """
        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])
        scores, cache = self._forward(X)
        if self.output == "softmax":
            loss, dh = softmax_nll(scores, y), softmax_nll_grad(scores, y)
        else:
            loss, dh = mse_loss(scores, y)
        grads = {}
        for i in range(self.n_layers, 0, -1):
            h_in, a = cache[i - 1]
            if i < self.n_layers:   # through the activation of layer i
                dh = relu_backward(dh, a) if self.activation == "relu" else dh * (1 - np.tanh(a) ** 2)
            W = self.params[f"W{i}"]
            dh, grads[f"W{i}"], grads[f"b{i}"] = dense_backward(dh, h_in, W)
            if self.l2:
                loss += self.l2 * float(np.sum(W ** 2))
                grads[f"W{i}"] += 2.0 * self.l2 * W
        return float(loss), {k: grads[k] for k in self.params}

    # flat parameter vectors, for gradient checks and scipy optimisers
    def get_flat(self) -> np.ndarray:
        """All parameters as one float64 vector (n_params,) in the order of :attr:`params`."""
        return np.concatenate([p.ravel() for p in self.params.values()])

    def set_flat(self, theta) -> None:
        """Set all parameters from a vector made by :meth:`get_flat`."""
        theta = _array(theta, "theta", ndim=1)
        if theta.size != self.n_params:
            raise ValueError(f"theta: expected {self.n_params} values, got {theta.size}")
        start = 0
        for k, p in self.params.items():
            self.params[k] = theta[start:start + p.size].reshape(p.shape).copy()
            start += p.size

    def fit_sgd(self, X, y, *, lr: float = 0.1, epochs: int = 100, batch_size: int = 32,
                seed: int = 0, X_val=None, y_val=None) -> dict[str, list[float]]:
        """Minibatch stochastic gradient descent; returns a Keras-like history dict.

        Each epoch shuffles the samples (with ``seed``) and takes one step per minibatch:
        ``param -= lr * grad``.

        Returns
        -------
        dict
            ``"loss"`` (training loss at the end of each epoch) and, for ``"softmax"``,
            ``"accuracy"``; with ``X_val``/``y_val`` also ``"val_loss"`` (and ``"val_accuracy"``).
            Draw it with :func:`cnncourse.viz.plot_history`.
        """
        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])
        if not lr > 0:
            raise ValueError(f"lr: expected a positive learning rate, got {lr}")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size}")
        if (X_val is None) != (y_val is None):
            raise ValueError("y_val: give both X_val and y_val, or neither")
        rng = np.random.default_rng(seed)
        history: dict[str, list[float]] = {"loss": []}
        n = X.shape[0]
        with _small_blas(self.blas_threads):
            self._sgd_epochs(X, y, rng, n, lr, int(epochs), int(batch_size), X_val, y_val, history)
        return history

    def _sgd_epochs(self, X, y, rng, n, lr, epochs, batch_size, X_val, y_val, history):
        for _ in range(epochs):
            order = rng.permutation(n)
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                _, grads = self.loss(X[idx], y[idx])
                for k in self.params:
                    self.params[k] -= lr * grads[k]
            self._log(history, "", X, y)
            if X_val is not None:
                self._log(history, "val_", X_val, y_val)

    def _log(self, history, prefix, X, y):
        loss, _ = self.loss(X, y)
        history.setdefault(prefix + "loss", []).append(loss)
        if self.output == "softmax":
            acc = float(np.mean(self.predict(X) == np.asarray(y)))
            history.setdefault(prefix + "accuracy", []).append(acc)

    def fit_lbfgs(self, X, y, *, maxiter: int = 500) -> float:
        """Minimise the loss with SciPy's L-BFGS (full batch, exact gradients); return the final loss.

        A quasi-Newton method converges in far fewer steps than SGD on small problems, which is
        handy to separate what a network *can represent* from how well SGD trains it.
        """
        from scipy.optimize import minimize

        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])

        def f(theta):
            self.set_flat(theta)
            loss, grads = self.loss(X, y)
            return loss, np.concatenate([grads[k].ravel() for k in self.params])

        with _small_blas(self.blas_threads):
            res = minimize(f, self.get_flat(), jac=True, method="L-BFGS-B",
                           options={"maxiter": int(maxiter)})
        self.set_flat(res.x)
        return float(res.fun)

    def to_keras(self):
        """The same network as a ``keras.Sequential`` with the same weights (float32).

        The output layer has no activation (it returns the scores); train it with
        ``from_logits=True`` losses for ``"softmax"``. The L2 penalty is not carried over.
        """
        from cnncourse.device import import_keras

        keras = import_keras()
        layers = [keras.Input((self.sizes[0],))]
        for i, width in enumerate(self.sizes[1:], 1):
            act = self.activation if i < self.n_layers else None
            layers.append(keras.layers.Dense(width, activation=act, name=f"dense_{i}"))
        model = keras.Sequential(layers)
        for i, layer in enumerate(model.layers, 1):
            layer.set_weights([self.params[f"W{i}"], self.params[f"b{i}"]])
        return model


class TwoLayerNet(MLP):
    """The 2-layer network of the notebook: ``X -> dense -> ReLU -> dense -> scores``.

    Parameters
    ----------
    n_in, n_hidden, n_out : int
        D, H and K.
    **kwargs
        ``activation``, ``output``, ``l2``, ``seed`` as for :class:`MLP`.

    Examples
    --------
    >>> net = TwoLayerNet(2, 16, 3, seed=1)
    >>> sorted(net.params), net.params["W1"].shape, net.params["W2"].shape
    (['W1', 'W2', 'b1', 'b2'], (2, 16), (16, 3))
    """

    def __init__(self, n_in: int, n_hidden: int, n_out: int, **kwargs):
        super().__init__((n_in, n_hidden, n_out), **kwargs)
