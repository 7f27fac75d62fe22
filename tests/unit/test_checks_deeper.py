"""Checkers of notebook 07: correct answers pass, each modelled mistake is named, stubs are 'not
done'; the private references agree with brute force and with Keras."""
import numpy as np
import pytest

from cnncourse import deeper
from cnncourse.checks import deeper as C


# --------------------------------------------------------------------------------------------
# receptive field and weights


def receptive_field(layers):                     # learner-style answer
    rf, jump = 1, 1
    for kernel, stride in layers:
        rf = rf + (kernel - 1) * jump
        jump = jump * stride
    return rf


@pytest.mark.parametrize("layers", [[(3, 1)], [(3, 1), (3, 1)], [(3, 1)] * 3, [(5, 1)],
                                    [(3, 1), (2, 2), (3, 1)], [(7, 2), (3, 2), (3, 1)],
                                    [(3, 2), (3, 2), (3, 2)]])
def test_reference_receptive_field_equals_brute_force(layers):
    assert C._receptive_field(layers) == deeper.receptive_field_by_gradient(layers)


def test_receptive_field_check(verdict, last, stub):
    assert C.receptive_field(receptive_field) is receptive_field and last().passed
    assert C.receptive_field(stub) is C._receptive_field and last().status == "not done"
    C.receptive_field(lambda layers: 1 + sum(k - 1 for k, s in layers))
    verdict("failed", "stride product")
    C.receptive_field(lambda layers: sum(k for k, s in layers))
    verdict("failed", "added the kernel sizes")
    C.receptive_field(lambda layers: receptive_field(layers) - 1)
    verdict("failed", "off by one")
    C.receptive_field(lambda layers: receptive_field(layers) + 1)
    assert last().status == "failed"      # on two 3x3 layers this equals "added the kernel sizes"


def test_conv_weights_check(verdict, last, stub):
    right = lambda k, ci, co: k ** 2 * ci * co
    assert C.conv_weights(right) is right and last().passed
    C.conv_weights(stub)
    assert last().status == "not done"
    C.conv_weights(lambda k, ci, co: k * k * co)
    verdict("failed", "all c_in input channels")
    C.conv_weights(lambda k, ci, co: k * ci * co)
    verdict("failed", "k * k")
    C.conv_weights(lambda k, ci, co: (k * k * ci + 1) * co)
    verdict("failed", "no biases")


# --------------------------------------------------------------------------------------------
# batch normalisation


def batchnorm_forward(x, gamma, beta, moving_mean, moving_var, training, momentum=0.99,
                      epsilon=1e-3):
    axes = tuple(range(x.ndim - 1))
    if training:
        mu, var = x.mean(axis=axes), ((x - x.mean(axis=axes)) ** 2).mean(axis=axes)
        moving_mean = momentum * moving_mean + (1 - momentum) * mu
        moving_var = momentum * moving_var + (1 - momentum) * var
    else:
        mu, var = moving_mean, moving_var
    return gamma * (x - mu) / np.sqrt(var + epsilon) + beta, moving_mean, moving_var


@pytest.mark.parametrize("shape", [(7, 3), (4, 5, 5, 2)])
def test_reference_batchnorm_equals_keras(shape):
    import keras

    rng = np.random.default_rng(1)
    x = rng.normal(1.0, 2.0, shape).astype("float32")
    c = shape[-1]
    gamma, beta = rng.normal(size=c).astype("float32"), rng.normal(size=c).astype("float32")
    mm, mv = rng.normal(size=c), rng.uniform(0.5, 2, c)
    bn = keras.layers.BatchNormalization(momentum=0.9, epsilon=0.01)
    bn.build(shape)
    bn.gamma.assign(gamma), bn.beta.assign(beta)
    bn.moving_mean.assign(mm.astype("float32")), bn.moving_variance.assign(mv.astype("float32"))
    y, mm2, mv2 = C._batchnorm_forward(x, gamma, beta, mm, mv, True, momentum=0.9, epsilon=0.01)
    np.testing.assert_allclose(np.asarray(bn(x, training=True)), y, atol=1e-5)
    np.testing.assert_allclose(np.asarray(bn.moving_mean), mm2, atol=1e-5)
    np.testing.assert_allclose(np.asarray(bn.moving_variance), mv2, atol=1e-5)
    y_inf = C._batchnorm_forward(x, gamma, beta, mm2, mv2, False, momentum=0.9, epsilon=0.01)[0]
    np.testing.assert_allclose(np.asarray(bn(x, training=False)), y_inf, atol=1e-5)


def test_batchnorm_check(last, stub):
    assert C.batchnorm_forward(batchnorm_forward) is batchnorm_forward and last().passed
    C.batchnorm_forward(stub)
    assert last().status == "not done"


@pytest.mark.parametrize("wrong, words", [
    (C._bn_unbiased, ["unbiased"]), (C._bn_eps_outside, ["inside the square"]),
    (C._bn_batch_at_inference, ["running statistics"]),
    (C._bn_momentum_reversed, ["momentum convention is reversed"]),
    (C._bn_no_update, ["must be updated"]), (C._bn_all_axes, ["per channel"]),
])
def test_batchnorm_check_names_the_mistake(verdict, wrong, words):
    assert C.batchnorm_forward(wrong) is C._batchnorm_forward
    verdict("failed", *words)


# --------------------------------------------------------------------------------------------
# optimisers


def _keras_path(optimizer, w0, grads):
    import keras

    var = keras.Variable(np.asarray(w0, "float64"), dtype="float64")
    path = []
    for g in grads:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(np.asarray(g, "float64")), var)])
        path.append(np.asarray(var))
    return np.stack(path)


@pytest.mark.parametrize("case", C._SGD_CASES, ids=lambda c: c.label)
def test_reference_sgd_equals_keras(case):
    import keras

    w0, grads, lr, momentum = case.args
    ours = C._run_sgd(C._sgd_momentum_step)(w0, grads, lr, momentum)
    theirs = _keras_path(keras.optimizers.SGD(lr, momentum=momentum), w0, grads)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", C._ADAM_CASES, ids=lambda c: c.label)
def test_reference_adam_equals_keras(case):
    import keras

    w0, grads, lr, b1, b2, eps = case.args
    ours = C._run_adam(C._adam_step)(w0, grads, lr, b1, b2, eps)
    theirs = _keras_path(keras.optimizers.Adam(lr, beta_1=b1, beta_2=b2, epsilon=eps), w0, grads)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)


def sgd_momentum_step(w, g, velocity, lr=0.01, momentum=0.9):
    velocity = momentum * velocity - lr * g
    return w + velocity, velocity


def sgd_momentum_step_torch(w, g, velocity, lr=0.01, momentum=0.9):   # PyTorch's convention
    velocity = momentum * velocity + g
    return w - lr * velocity, velocity


def test_sgd_check(last, stub):
    assert C.sgd_momentum_step(sgd_momentum_step) is sgd_momentum_step and last().passed
    assert C.sgd_momentum_step(sgd_momentum_step_torch) is sgd_momentum_step_torch
    assert last().passed
    C.sgd_momentum_step(stub)
    assert last().status == "not done"


@pytest.mark.parametrize("wrong, words", [
    (C._sgd_plain, ["plain SGD"]), (C._sgd_ema, ["averaged the gradients"]),
    (C._sgd_uphill, ["uphill"]), (C._sgd_stale, ["old velocity"]),
])
def test_sgd_check_names_the_mistake(verdict, wrong, words):
    assert C.sgd_momentum_step(wrong) is C._sgd_momentum_step
    verdict("failed", *words)


def adam_step(w, g, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g * g
    lr_t = lr * (1 - beta_2 ** t) ** 0.5 / (1 - beta_1 ** t)
    return w - lr_t * m / (v ** 0.5 + epsilon), m, v


def test_adam_check(last, stub):
    assert C.adam_step(adam_step) is adam_step and last().passed
    C.adam_step(stub)
    assert last().status == "not done"


@pytest.mark.parametrize("wrong, words", [
    (C._adam_no_correction, ["no bias correction"]),
    (C._adam_eps_inside, ["outside the square root"]),
    (C._adam_algorithm1, ["Algorithm 1"]),
    (C._adam_t_plus_one, ["off by one"]), (C._adam_t_minus_one, ["off by one"]),
    (C._adam_no_square, ["squared"]),
])
def test_adam_check_names_the_mistake(verdict, wrong, words):
    assert C.adam_step(wrong) is C._adam_step
    verdict("failed", *words)


# --------------------------------------------------------------------------------------------
# residual block


def _block(*, shortcut=True, bn_after_add=False, relu_after_add=True, projection="needed",
           inner_relu=True, bn_ignored=False):
    import keras

    L = keras.layers

    def residual_block(x, filters, stride=1, batch_norm=True):
        norm = L.BatchNormalization if batch_norm or bn_ignored else (lambda: (lambda h: h))
        r = L.Conv2D(filters, 3, strides=stride, padding="same")(x)
        r = norm()(r)
        if inner_relu:
            r = L.Activation("relu")(r)
        r = L.Conv2D(filters, 3, padding="same")(r)
        if not bn_after_add:
            r = norm()(r)
        if not shortcut:
            return L.ReLU()(r)
        s = x
        needed = stride != 1 or x.shape[-1] != filters
        if projection == "always" or (projection == "needed" and needed):
            s = L.Conv2D(filters, 1, strides=stride)(x)
            s = norm()(s)
        h = L.Add()([s, r])
        if bn_after_add:
            h = norm()(h)
        return L.ReLU()(h) if relu_after_add else h
    return residual_block


def test_residual_block_check(last, stub):
    right = _block()
    assert C.residual_block(right) is right and last().passed
    assert C.residual_block(C._residual_block) is C._residual_block and last().passed
    C.residual_block(stub)
    assert last().status == "not done"


@pytest.mark.parametrize("kwargs, words", [
    (dict(shortcut=False), ["shortcut is missing"]),
    (dict(bn_after_add=True), ["add before the second BN"]),
    (dict(relu_after_add=False), ["ReLU after the addition"]),
    (dict(projection="always"), ["projection always"]),
    (dict(projection="never"), ["1x1 convolution"]),
    (dict(inner_relu=False), ["ReLU between the two convolutions"]),
    (dict(bn_ignored=True), ["batch_norm=False"]),
])
def test_residual_block_check_names_the_mistake(verdict, kwargs, words):
    assert C.residual_block(_block(**kwargs)) is C._residual_block
    verdict("failed", *words)


def test_residual_block_check_probes_behaviour(verdict):
    """A block with the right layers but a scaled identity path is caught by the zero-branch probe."""
    import keras

    L = keras.layers

    def scaled(x, filters, stride=1, batch_norm=True):
        norm = L.BatchNormalization if batch_norm else (lambda: (lambda h: h))
        s = x
        if stride != 1 or x.shape[-1] != filters:
            s = norm()(L.Conv2D(filters, 1, strides=stride)(x))
        r = norm()(L.Conv2D(filters, 3, strides=stride, padding="same")(x))
        r = norm()(L.Conv2D(filters, 3, padding="same")(L.ReLU()(r)))
        return L.ReLU()(L.Add()([L.Rescaling(0.5)(s), r]))

    C.residual_block(scaled)
    verdict("failed", "zero", "identity")
