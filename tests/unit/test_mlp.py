"""NumPy reference layers, losses and networks: values, gradients (numerically checked), bad input."""
import numpy as np
import pytest

from cnncourse import mlp

RNG = np.random.default_rng(0)


def flat(grads, keys):
    return np.concatenate([grads[k].ravel() for k in keys])


# ---------------------------------------------------------------------------- activations


def test_sigmoid_is_stable_and_symmetric():
    z = np.array([-1000.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0])
    with np.errstate(over="raise", invalid="raise"):   # no overflow, no nan
        s = mlp.sigmoid(z)
    assert np.all(np.isfinite(s)) and s[0] == 0.0 and s[-1] == 1.0 and s[3] == 0.5
    np.testing.assert_allclose(s + s[::-1], 1.0)
    np.testing.assert_allclose(mlp.sigmoid(1.0), 1 / (1 + np.exp(-1.0)))


def test_softmax_rows_sum_to_one_and_large_scores_do_not_overflow():
    Z = np.array([[1000.0, 1001.0, 1002.0], [-2000.0, -2001.0, -2000.0], [0.0, 0.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        P = mlp.softmax(Z)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_allclose(P[0], mlp.softmax(np.array([[0.0, 1.0, 2.0]]))[0])
    np.testing.assert_allclose(P[2], 1 / 3)
    np.testing.assert_allclose(mlp.softmax(Z.T, axis=0), P.T)
    np.testing.assert_allclose(np.exp(mlp.log_softmax(Z)), P)


def test_relu_and_its_backward():
    x = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(mlp.relu(x), [[0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(mlp.relu_backward(np.array([[5.0, 5.0, 5.0]]), x), [[0, 0, 5.0]])


# ---------------------------------------------------------------------------- single neuron


def logistic_data(n=30, d=3, seed=0):
    r = np.random.default_rng(seed)
    X = r.normal(size=(n, d))
    y = (X @ np.arange(1.0, d + 1) + r.normal(size=n) > 0).astype(int)
    return X, y


def test_logistic_nll_matches_the_textbook_formula_and_stays_finite():
    X, y = logistic_data()
    w, b = RNG.normal(size=3), 0.3
    p = 1 / (1 + np.exp(-(X @ w + b)))
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert mlp.logistic_nll(w, b, X, y) == pytest.approx(expected)
    # confidently wrong: the naive formula gives inf, ours a large finite number (800 per sample)
    assert mlp.logistic_nll([800.0], 0.0, [[1.0], [-1.0]], [0, 1]) == pytest.approx(800.0)


def test_logistic_gradient_is_the_numerical_one():
    X, y = logistic_data()
    theta = RNG.normal(size=4)      # w (3,) and b
    dw, db = mlp.logistic_nll_grad(theta[:3], theta[3], X, y)
    num = mlp.numerical_gradient(lambda t: mlp.logistic_nll(t[:3], t[3], X, y), theta.copy())
    assert mlp.relative_error(np.append(dw, db), num) < 1e-8


def test_logistic_regression_gd_decreases_the_loss_and_agrees_with_sklearn():
    from sklearn.linear_model import LogisticRegression

    X, y = logistic_data(n=200, d=2, seed=1)
    w, b, losses = mlp.logistic_regression_gd(X, y, lr=1.0, epochs=3000)
    assert losses.shape == (3001,) and np.all(np.diff(losses) <= 1e-12)
    ref = LogisticRegression(C=1e8, tol=1e-10, max_iter=10000).fit(X, y)
    np.testing.assert_allclose(w, ref.coef_[0], rtol=1e-3)
    assert b == pytest.approx(ref.intercept_[0], rel=1e-3, abs=1e-3)
    w0, b0, l0 = mlp.logistic_regression_gd(X, y, epochs=0)
    assert np.all(w0 == 0) and b0 == 0 and l0 == pytest.approx([np.log(2)])


def test_softmax_nll_and_gradient():
    Z = RNG.normal(size=(6, 4))
    y = np.array([0, 3, 1, 1, 2, 0])
    expected = -np.mean(np.log(mlp.softmax(Z))[np.arange(6), y])
    assert mlp.softmax_nll(Z, y) == pytest.approx(expected)
    num = mlp.numerical_gradient(lambda s: mlp.softmax_nll(s, y), Z.copy())
    assert mlp.relative_error(mlp.softmax_nll_grad(Z, y), num) < 1e-8


def test_softmax_regression_with_two_classes_is_logistic_regression():
    X, y = logistic_data(n=50, d=2, seed=2)
    W, b, losses = mlp.softmax_regression_gd(X, y, 2, lr=0.5, epochs=50)
    w, b1, losses1 = mlp.logistic_regression_gd(X, y, lr=0.5, epochs=1)
    assert W.shape == (2, 2) and b.shape == (2,) and losses.shape == (51,)
    # the softmax over two classes depends only on the score difference
    p_soft = mlp.softmax(X @ W + b)[:, 1]
    w_eq, b_eq = W[:, 1] - W[:, 0], b[1] - b[0]
    np.testing.assert_allclose(p_soft, mlp.sigmoid(X @ w_eq + b_eq))
    assert losses[0] == pytest.approx(losses1[0])
    assert losses[-1] < losses[0]


# ---------------------------------------------------------------------------- layers


def test_dense_forward_backward_numerically():
    x, W, b = RNG.normal(size=(4, 3)), RNG.normal(size=(3, 5)), RNG.normal(size=5)
    dout = RNG.normal(size=(4, 5))
    dx, dW, db = mlp.dense_backward(dout, x, W)
    loss = lambda: float(np.sum(mlp.dense_forward(x, W, b) * dout))  # noqa: E731
    for arr, grad in [(x, dx), (W, dW), (b, db)]:
        assert mlp.relative_error(grad, mlp.numerical_gradient(lambda _: loss(), arr)) < 1e-8


def test_mse_loss_matches_keras_convention():
    pred, target = np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]])
    loss, d = mlp.mse_loss(pred, target)
    assert loss == pytest.approx(2.5)
    np.testing.assert_allclose(d, [[1.0], [2.0]])


# ---------------------------------------------------------------------------- gradient checking


def test_numerical_gradient_restores_x_and_is_second_order_accurate():
    x = np.array([0.3, -1.2, 2.0])
    before = x.copy()
    g = mlp.numerical_gradient(lambda v: float(np.sum(np.sin(v) * v.sum())), x)
    np.testing.assert_array_equal(x, before)
    exact = np.sin(x).sum() + np.cos(x) * x.sum()
    assert mlp.relative_error(g, exact) < 1e-9


def test_relative_error():
    assert mlp.relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert mlp.relative_error([0.0], [0.0]) == 0.0
    assert mlp.relative_error([1.0], [-1.0]) == pytest.approx(1.0)


# ---------------------------------------------------------------------------- networks


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_mlp_gradients_pass_a_gradient_check(activation, l2):
    X, y = RNG.normal(size=(8, 3)), np.array([0, 1, 2, 0, 1, 2, 2, 1])
    net = mlp.MLP((3, 6, 5, 3), activation=activation, l2=l2, seed=1)
    _, grads = net.loss(X, y)
    theta = net.get_flat()

    def f(t):
        net.set_flat(t)
        return net.loss(X, y)[0]

    num = mlp.numerical_gradient(f, theta.copy())
    assert mlp.relative_error(flat(grads, net.params), num) < 1e-6


def test_regression_network_gradient_and_lbfgs_fit():
    x = np.linspace(-1, 1, 40)[:, None]
    y = np.sin(3 * x)
    net = mlp.MLP((1, 8, 1), activation="tanh", output="linear", seed=0)
    _, grads = net.loss(x, y)
    theta = net.get_flat()
    num = mlp.numerical_gradient(lambda t: (net.set_flat(t), net.loss(x, y)[0])[1], theta.copy())
    assert mlp.relative_error(flat(grads, net.params), num) < 1e-6
    net.set_flat(theta)
    final = net.fit_lbfgs(x, y, maxiter=300)
    assert final < 1e-3 and net.loss(x, y.ravel())[0] == pytest.approx(final)


def test_two_layer_net_learns_with_sgd_and_reports_history():
    r = np.random.default_rng(5)
    X = r.normal(size=(120, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)              # XOR-like: not linearly separable
    net = mlp.TwoLayerNet(2, 16, 2, seed=0)
    assert net.n_params == 2 * 16 + 16 + 16 * 2 + 2
    hist = net.fit_sgd(X[:80], y[:80], lr=0.5, epochs=60, batch_size=16, X_val=X[80:], y_val=y[80:])
    assert set(hist) == {"loss", "accuracy", "val_loss", "val_accuracy"} and len(hist["loss"]) == 60
    assert hist["loss"][-1] < hist["loss"][0] and hist["accuracy"][-1] > 0.85
    np.testing.assert_allclose(net.predict_proba(X).sum(axis=1), 1.0)


def test_to_keras_has_the_same_outputs():
    X = RNG.normal(size=(5, 2))
    for net in (mlp.TwoLayerNet(2, 7, 3, seed=2), mlp.MLP((2, 4, 4, 1), activation="tanh",
                                                           output="linear")):
        model = net.to_keras()
        np.testing.assert_allclose(np.asarray(model(X.astype("float32"))), net.forward(X),
                                   rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, match", [
    (lambda: mlp.logistic_nll(np.zeros(3), 0.0, np.zeros((4, 2)), [0, 1, 0, 1]), r"w: expected shape \(2,\)"),
    (lambda: mlp.logistic_nll(np.zeros(2), 0.0, np.zeros(4), [0, 1, 0, 1]), "X: expected a 2-D array"),
    (lambda: mlp.logistic_nll(np.zeros(2), 0.0, np.zeros((4, 2)), [0, 1, 2, 1]), r"y: labels must lie in \[0, 2\)"),
    (lambda: mlp.logistic_nll(np.zeros(2), 0.0, np.zeros((4, 2)), [0, 1]), r"y: expected shape \(4,\)"),
    (lambda: mlp.logistic_nll(np.zeros(2), [0.0, 1.0], np.zeros((4, 2)), [0, 1, 0, 1]), "b: expected a scalar"),
    (lambda: mlp.logistic_regression_gd(np.zeros((4, 2)), [0, 1, 0, 1], lr=-1), "lr: expected a positive"),
    (lambda: mlp.logistic_regression_gd(np.zeros((4, 2)), [0, 1, 0, 1], epochs=2.5), "epochs:"),
    (lambda: mlp.softmax_nll(np.zeros((2, 3)), [0.5, 1]), "y: expected integer class labels"),
    (lambda: mlp.softmax_nll(np.zeros(3), [0]), "scores: expected a 2-D array"),
    (lambda: mlp.softmax(5.0), "scores: expected at least a 1-D"),
    (lambda: mlp.softmax_regression_gd(np.zeros((2, 2)), [0, 1], 1), "n_classes:"),
    (lambda: mlp.dense_forward(np.zeros((2, 3)), np.zeros((4, 5)), np.zeros(5)), "W: expected 3 rows"),
    (lambda: mlp.dense_forward(np.zeros((2, 3)), np.zeros((3, 5)), np.zeros(4)), r"b: expected shape \(5,\)"),
    (lambda: mlp.dense_backward(np.zeros((2, 4)), np.zeros((2, 3)), np.zeros((3, 5))), "dout: expected shape"),
    (lambda: mlp.relu_backward(np.zeros(3), np.zeros(4)), "dout: expected shape"),
    (lambda: mlp.mse_loss(np.zeros((2, 1)), np.zeros(2)), "target: expected shape"),
    (lambda: mlp.numerical_gradient(lambda v: 0.0, [1.0, 2.0]), "x: expected a float64 ndarray"),
    (lambda: mlp.numerical_gradient(lambda v: 0.0, np.zeros(2), h=0), "h: expected a positive"),
    (lambda: mlp.relative_error(np.zeros(2), np.zeros(3)), "b: expected shape"),
    (lambda: mlp.MLP((3,)), "sizes: expected at least two"),
    (lambda: mlp.MLP((3, 0, 2)), "sizes:"),
    (lambda: mlp.MLP((3, 2), activation="sigmoid"), "activation: expected one of"),
    (lambda: mlp.MLP((3, 2), output="sigmoid"), "output: expected one of"),
    (lambda: mlp.MLP((3, 2), l2=-1), "l2: expected a non-negative"),
    (lambda: mlp.MLP((3, 2)).forward(np.zeros((4, 2))), "X: expected 3 features"),
    (lambda: mlp.MLP((3, 2)).loss(np.zeros((4, 3)), [0, 1, 2, 0]), r"y: labels must lie in \[0, 2\)"),
    (lambda: mlp.MLP((3, 2), output="linear").loss(np.zeros((4, 3)), np.zeros((4, 3))), "y: expected shape"),
    (lambda: mlp.MLP((3, 2)).set_flat(np.zeros(3)), "theta: expected 8 values"),
    (lambda: mlp.MLP((3, 2)).fit_sgd(np.zeros((4, 3)), [0, 1, 0, 1], X_val=np.zeros((2, 3))), "y_val:"),
    (lambda: mlp.MLP((3, 2)).fit_sgd(np.zeros((4, 3)), [0, 1, 0, 1], batch_size=0), "batch_size:"),
    (lambda: mlp.MLP((3, 2), output="linear").predict_proba(np.zeros((1, 3))), "predict_proba:"),
])
def test_bad_input_raises_naming_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
