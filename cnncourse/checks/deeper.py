"""Checks for notebook 07 (how deep is deep): receptive fields, batch normalisation, Adam and
momentum, the residual block.

The references here are private: the library offers no public shortcut around the exercises.
The unit tests (tests/unit/test_checks_deeper.py) compare them with brute force and with Keras'
``BatchNormalization``, ``Adam`` and ``SGD``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from cnncourse.checks import Case, Mistake, check_function, evaluate_function, structure_findings

# --------------------------------------------------------------------------------------------
# Receptive field of a stack of (kernel, stride) layers


def _receptive_field(layers):
    """Receptive field (pixels, along one axis) of a stack of ``(kernel, stride)`` layers."""
    r, jump = 1, 1
    for k, s in layers:
        r += (k - 1) * jump          # each layer widens the field by (k - 1) input-steps of size jump
        jump *= s                    # distance, in input pixels, between neighbouring outputs
    return r


_RF_CASES = [
    Case(([(3, 1), (3, 1)],), label="layers=[(3, 1), (3, 1)] (two 3x3 convolutions)"),
    Case(([(3, 1), (2, 2), (3, 1)],), label="layers=[(3, 1), (2, 2), (3, 1)] (conv, 2x2 pool, conv)"),
    Case(([(3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2), (3, 1)],),
         label="VGG-like: [(3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2), (3, 1)]"),
    Case(([(5, 1)],), label="layers=[(5, 1)] (one 5x5 convolution)"),
    Case(([(7, 2), (3, 2), (3, 1)],), label="layers=[(7, 2), (3, 2), (3, 1)] (a ResNet stem)"),
    Case(([],), label="layers=[] (no layer: one pixel sees itself)"),
]


def receptive_field(fn: Callable) -> Callable:
    """Check ``receptive_field(layers)``: the receptive field (one axis, pixels) of a stack of
    ``(kernel, stride)`` layers, r = 1 + sum_i (k_i - 1) * (s_1 * ... * s_{i-1})."""
    return check_function(
        fn, _receptive_field, _RF_CASES, name="receptive_field",
        mistakes=[
            Mistake("you forgot the stride product: after a stride-2 layer, one step in the next "
                    "layer's kernel is 2 input pixels, so later layers widen the field by "
                    "(k - 1) * (product of the earlier strides).",
                    wrong=lambda layers: 1 + sum(k - 1 for k, s in layers)),
            Mistake("you added the kernel sizes: two 3x3 layers see 5 pixels, not 6; each layer "
                    "adds k - 1 (it overlaps the previous field by one pixel).",
                    wrong=lambda layers: sum(k for k, s in layers)),
            Mistake("off by one: start from r = 1 (one output pixel sees one input pixel before "
                    "any layer) and add (k - 1) * jump per layer.",
                    wrong=lambda layers: _receptive_field(layers) - 1),
            Mistake("off by one: you added 1 too many (start from r = 1, not r = 2, or add k - 1 "
                    "per layer, not k).",
                    wrong=lambda layers: _receptive_field(layers) + 1),
            Mistake("you multiplied in the layer's own stride before using it: a layer's stride "
                    "spaces the *next* layer's inputs, not its own kernel taps.",
                    wrong=lambda layers: _rf_own_stride(layers)),
        ],
        hint="r, jump = 1, 1; for each (k, s): r += (k - 1) * jump; jump *= s.")


def _rf_own_stride(layers):
    r, jump = 1, 1
    for k, s in layers:
        jump *= s
        r += (k - 1) * jump
    return r


def _conv_weights(kernel, c_in, c_out):
    return int(kernel) * int(kernel) * int(c_in) * int(c_out)


_W_CASES = [
    Case((3, 16, 16), label="kernel=3, c_in=16, c_out=16"),
    Case((5, 16, 16), label="kernel=5, c_in=16, c_out=16"),
    Case((3, 3, 64), label="kernel=3, c_in=3, c_out=64 (VGG's first layer)"),
    Case((1, 64, 256), label="kernel=1, c_in=64, c_out=256"),
]


def conv_weights(fn: Callable) -> Callable:
    """Check ``conv_weights(kernel, c_in, c_out)``: weights (no bias) of a k x k convolution."""
    return check_function(
        fn, _conv_weights, _W_CASES, name="conv_weights",
        mistakes=[
            Mistake("a filter spans all c_in input channels: k * k * c_in weights per filter, and "
                    "there are c_out filters.", wrong=lambda k, ci, co: k * k * co),
            Mistake("a k x k kernel has k * k = k**2 weights per channel, not k.",
                    wrong=lambda k, ci, co: k * ci * co),
            Mistake("no biases here (a convolution followed by batch normalisation does not need "
                    "them): k * k * c_in * c_out.", wrong=lambda k, ci, co: (k * k * ci + 1) * co),
        ],
        hint="kernel * kernel * c_in weights per filter, times c_out filters.")


# --------------------------------------------------------------------------------------------
# Batch normalisation (forward), Keras' conventions


def _batchnorm_forward(x, gamma, beta, moving_mean, moving_var, training, momentum=0.99,
                       epsilon=1e-3):
    x = np.asarray(x, dtype=float)
    axes = tuple(range(x.ndim - 1))                     # all but the channel axis
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)    # biased variance (divide by N)
        moving_mean = momentum * moving_mean + (1 - momentum) * mean
        moving_var = momentum * moving_var + (1 - momentum) * var
    else:
        mean, var = moving_mean, moving_var
    y = gamma * (x - mean) / np.sqrt(var + epsilon) + beta
    return y, np.asarray(moving_mean, float), np.asarray(moving_var, float)


def _bn_unbiased(x, gamma, beta, mm, mv, training, momentum=0.99, epsilon=1e-3):
    x = np.asarray(x, dtype=float)
    if not training:
        return _batchnorm_forward(x, gamma, beta, mm, mv, training, momentum, epsilon)
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axis=axes), x.var(axis=axes, ddof=1)
    y = gamma * (x - mean) / np.sqrt(var + epsilon) + beta
    return y, momentum * mm + (1 - momentum) * mean, momentum * mv + (1 - momentum) * var


def _bn_eps_outside(x, gamma, beta, mm, mv, training, momentum=0.99, epsilon=1e-3):
    x = np.asarray(x, dtype=float)
    axes = tuple(range(x.ndim - 1))
    mean, var = (x.mean(axis=axes), x.var(axis=axes)) if training else (mm, mv)
    if training:
        mm, mv = momentum * mm + (1 - momentum) * mean, momentum * mv + (1 - momentum) * var
    return gamma * (x - mean) / (np.sqrt(var) + epsilon) + beta, mm, mv


def _bn_batch_at_inference(x, gamma, beta, mm, mv, training, momentum=0.99, epsilon=1e-3):
    y, mm2, mv2 = _batchnorm_forward(x, gamma, beta, mm, mv, True, momentum, epsilon)
    return (y, mm2, mv2) if training else (y, np.asarray(mm, float), np.asarray(mv, float))


def _bn_momentum_reversed(x, gamma, beta, mm, mv, training, momentum=0.99, epsilon=1e-3):
    return _batchnorm_forward(x, gamma, beta, mm, mv, training, 1 - momentum, epsilon)[0:1] + \
        _batchnorm_forward(x, gamma, beta, mm, mv, training, 1 - momentum, epsilon)[1:]


def _bn_no_update(x, gamma, beta, mm, mv, training, momentum=0.99, epsilon=1e-3):
    y = _batchnorm_forward(x, gamma, beta, mm, mv, training, momentum, epsilon)[0]
    return y, np.asarray(mm, float), np.asarray(mv, float)


def _bn_all_axes(x, gamma, beta, mm, mv, training, momentum=0.99, epsilon=1e-3):
    x = np.asarray(x, dtype=float)
    if not training:
        return _batchnorm_forward(x, gamma, beta, mm, mv, training, momentum, epsilon)
    mean, var = x.mean(), x.var()
    y = gamma * (x - mean) / np.sqrt(var + epsilon) + beta
    return y, momentum * mm + (1 - momentum) * mean, momentum * mv + (1 - momentum) * var


def _bn_cases():
    rng = np.random.default_rng(7)
    x2 = rng.normal(2.0, 3.0, (6, 3))
    x4 = rng.normal(-1.0, 0.5, (4, 5, 5, 2))
    g3, b3 = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 0.3])
    return [
        Case((x2, g3, b3, np.zeros(3), np.ones(3), True), {"momentum": 0.9, "epsilon": 0.1},
             label="x (6, 3), training=True, momentum=0.9, epsilon=0.1"),
        Case((x2, g3, b3, np.array([1.0, 2.0, 3.0]), np.array([4.0, 1.0, 0.25]), False),
             {"momentum": 0.9, "epsilon": 0.1},
             label="x (6, 3), training=False (running mean [1, 2, 3], variance [4, 1, 0.25])"),
        Case((x4, np.array([1.5, 0.7]), np.array([0.2, 0.0]), np.array([0.5, -0.5]),
              np.array([2.0, 0.5]), True), {"momentum": 0.99, "epsilon": 1e-3},
             label="x (4, 5, 5, 2) (images, channels last), training=True, Keras defaults"),
    ]


def batchnorm_forward(fn: Callable) -> Callable:
    """Check ``batchnorm_forward(x, gamma, beta, moving_mean, moving_var, training, momentum=0.99,
    epsilon=1e-3) -> (y, moving_mean, moving_var)`` with Keras' conventions."""
    return check_function(
        fn, _batchnorm_forward, _bn_cases(), name="batchnorm_forward", rtol=1e-6, atol=1e-9,
        mistakes=[
            Mistake("you used the unbiased variance (ddof=1, divide by N - 1); batch "
                    "normalisation (and Keras) divides by N: x.var(axis=...).", wrong=_bn_unbiased),
            Mistake("epsilon goes inside the square root: (x - mean) / sqrt(var + epsilon), not "
                    "/ (sqrt(var) + epsilon).", wrong=_bn_eps_outside),
            Mistake("at inference (training=False) normalise with the running statistics "
                    "moving_mean and moving_var, not with the batch's own: a prediction must not "
                    "depend on the other images in the batch.", wrong=_bn_batch_at_inference),
            Mistake("the momentum convention is reversed: Keras keeps `momentum` of the old value, "
                    "moving = momentum * moving + (1 - momentum) * batch_statistic.",
                    wrong=_bn_momentum_reversed),
            Mistake("in training the running statistics must be updated (and returned): "
                    "moving = momentum * moving + (1 - momentum) * batch_statistic.",
                    wrong=_bn_no_update),
            Mistake("the statistics are per channel: average over every axis except the last "
                    "(axis=tuple(range(x.ndim - 1))), not over the whole array.",
                    wrong=_bn_all_axes),
        ],
        hint="axes = tuple(range(x.ndim - 1)); in training use x.mean(axes), x.var(axes) and "
             "update the moving statistics; at inference use the moving ones; "
             "y = gamma * (x - mean) / sqrt(var + epsilon) + beta.")


# --------------------------------------------------------------------------------------------
# Optimisers: SGD with momentum and Adam, Keras' formulas


def _sgd_momentum_step(w, g, velocity, lr=0.01, momentum=0.9):
    velocity = momentum * velocity - lr * g
    return w + velocity, velocity


def _adam_step(w, g, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g ** 2
    alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    return w - alpha * m / (np.sqrt(v) + epsilon), m, v


def _run_sgd(step):
    """Run ``step`` over a sequence of gradients; return the weights after every step."""
    def run(w0, grads, lr, momentum):
        w, vel, path = np.array(w0, float), np.zeros_like(np.asarray(w0, float)), []
        for g in grads:
            w, vel = step(w, np.asarray(g, float), vel, lr=lr, momentum=momentum)
            path.append(np.array(w, float))
        return np.stack(path)
    return run


def _run_adam(step):
    def run(w0, grads, lr, beta_1, beta_2, epsilon):
        w = np.array(w0, float)
        m, v, path = np.zeros_like(w), np.zeros_like(w), []
        for t, g in enumerate(grads, start=1):
            w, m, v = step(w, np.asarray(g, float), m, v, t, lr=lr, beta_1=beta_1, beta_2=beta_2,
                           epsilon=epsilon)
            path.append(np.array(w, float))
        return np.stack(path)
    return run


def _opt_grads(seed=11, steps=5, size=3, scale=1.0):
    return np.random.default_rng(seed).normal(0, scale, (steps, size))


_SGD_CASES = [
    Case((np.array([1.0, -2.0, 0.5]), _opt_grads(1), 0.1, 0.9),
         label="w0=[1, -2, 0.5], 5 random gradients, lr=0.1, momentum=0.9"),
    Case((np.array([0.0, 0.0, 0.0]), np.ones((4, 3)), 0.01, 0.5),
         label="w0=0, 4 gradients of ones, lr=0.01, momentum=0.5"),
]


def _sgd_plain(w, g, velocity, lr=0.01, momentum=0.9):
    return w - lr * g, velocity


def _sgd_ema(w, g, velocity, lr=0.01, momentum=0.9):
    velocity = momentum * velocity + (1 - momentum) * g
    return w - lr * velocity, velocity


def _sgd_uphill(w, g, velocity, lr=0.01, momentum=0.9):
    velocity = momentum * velocity - lr * g
    return w - velocity, velocity


def _sgd_stale(w, g, velocity, lr=0.01, momentum=0.9):
    return w + velocity, momentum * velocity - lr * g


def sgd_momentum_step(fn: Callable) -> Callable:
    """Check ``sgd_momentum_step(w, g, velocity, lr=0.01, momentum=0.9) -> (w, velocity)`` by
    running it for several steps: the weights must follow ``keras.optimizers.SGD(lr, momentum)``.
    (The velocity may be kept in either of the two usual conventions.)"""
    result = evaluate_function(
        _run_sgd(fn), _run_sgd(_sgd_momentum_step), _SGD_CASES, name="sgd_momentum_step",
        mistakes=[
            Mistake("the velocity is not used: that is plain SGD, w - lr * g. Momentum keeps a "
                    "running velocity = momentum * velocity - lr * g and steps w + velocity.",
                    wrong=_run_sgd(_sgd_plain)),
            Mistake("you averaged the gradients (velocity = momentum * velocity + (1 - momentum) "
                    "* g): that shrinks every step by (1 - momentum). Keras (and Polyak's heavy "
                    "ball) accumulate: velocity = momentum * velocity - lr * g.",
                    wrong=_run_sgd(_sgd_ema)),
            Mistake("the weights move uphill: with velocity = momentum * velocity - lr * g the "
                    "step is w + velocity (the minus sign is already inside).",
                    wrong=_run_sgd(_sgd_uphill)),
            Mistake("you stepped with the old velocity: update the velocity first, then move "
                    "w by the new one.", wrong=_run_sgd(_sgd_stale)),
        ],
        hint="velocity = momentum * velocity - lr * g; w = w + velocity; return both.")
    return fn if result.passed else _sgd_momentum_step


def _adam_no_correction(w, g, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g ** 2
    return w - lr * m / (np.sqrt(v) + epsilon), m, v


def _adam_eps_inside(w, g, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g ** 2
    alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    return w - alpha * m / np.sqrt(v + epsilon), m, v


def _adam_algorithm1(w, g, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g ** 2
    m_hat, v_hat = m / (1 - beta_1 ** t), v / (1 - beta_2 ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + epsilon), m, v


def _adam_t_plus_one(w, g, m, v, t, **kw):
    return _adam_step(w, g, m, v, t + 1, **kw)


def _adam_t_minus_one(w, g, m, v, t, **kw):
    with np.errstate(divide="ignore", invalid="ignore"):   # t - 1 = 0 divides by 1 - beta**0 = 0
        return _adam_step(w, g, m, v, t - 1, **kw)


def _adam_no_square(w, g, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * np.abs(g)
    alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    return w - alpha * m / (np.sqrt(v) + epsilon), m, v


_ADAM_CASES = [
    Case((np.array([1.0, -2.0, 0.5]), _opt_grads(2, scale=0.01), 0.1, 0.9, 0.999, 1e-3),
         label="w0=[1, -2, 0.5], 5 small random gradients, lr=0.1, epsilon=1e-3"),
    Case((np.array([0.5, 0.5, 0.5]), _opt_grads(3, steps=6), 0.01, 0.8, 0.99, 1e-7),
         label="w0=[0.5, 0.5, 0.5], 6 random gradients, lr=0.01, beta_1=0.8, beta_2=0.99"),
]


def adam_step(fn: Callable) -> Callable:
    """Check ``adam_step(w, g, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7) ->
    (w, m, v)`` (``t`` counts from 1) by running several steps against ``keras.optimizers.Adam``'s
    formula."""
    result = evaluate_function(
        _run_adam(fn), _run_adam(_adam_step), _ADAM_CASES, name="adam_step",
        mistakes=[
            Mistake("no bias correction: m and v start at 0, so early on they underestimate the "
                    "gradient's moments; multiply lr by sqrt(1 - beta_2**t) / (1 - beta_1**t).",
                    wrong=_run_adam(_adam_no_correction)),
            Mistake("epsilon goes outside the square root: m / (sqrt(v) + epsilon), as in the "
                    "paper and Keras; sqrt(v + epsilon) is a different optimiser.",
                    wrong=_run_adam(_adam_eps_inside)),
            Mistake("that is Algorithm 1 of the paper (epsilon added to sqrt(v_hat)). Keras uses "
                    "the paper's 'more efficient' form (end of its section 2): lr_t = lr * "
                    "sqrt(1 - beta_2**t) / (1 - beta_1**t) and w -= lr_t * m / (sqrt(v) + "
                    "epsilon). The two differ only in where epsilon sits.",
                    wrong=_run_adam(_adam_algorithm1)),
            Mistake("t is off by one: the first step has t = 1, and the bias correction uses "
                    "beta**t with that t (you used t + 1).", wrong=_run_adam(_adam_t_plus_one)),
            Mistake("t is off by one: the first step has t = 1 (you used t - 1).",
                    wrong=_run_adam(_adam_t_minus_one)),
            Mistake("v averages the *squared* gradient, g ** 2.", wrong=_run_adam(_adam_no_square)),
        ],
        hint="m = beta_1*m + (1-beta_1)*g; v = beta_2*v + (1-beta_2)*g**2; lr_t = lr*sqrt(1 - "
             "beta_2**t)/(1 - beta_1**t); w = w - lr_t*m/(sqrt(v) + epsilon).")
    return fn if result.passed else _adam_step


# --------------------------------------------------------------------------------------------
# The residual block (He et al. 2016, CVPR): conv-BN-ReLU-conv-BN, add the shortcut, ReLU


def _residual_block(x, filters, stride=1, batch_norm=True):
    from cnncourse import device

    layers = device.import_keras().layers

    def norm(h):
        return layers.BatchNormalization()(h) if batch_norm else h

    shortcut = x
    if stride != 1 or x.shape[-1] != filters:            # projection shortcut (1x1 conv + BN)
        shortcut = norm(layers.Conv2D(filters, 1, strides=stride, use_bias=not batch_norm)(x))
    r = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=not batch_norm)(x)
    r = layers.ReLU()(norm(r))
    r = layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm)(r)
    r = norm(r)
    return layers.ReLU()(layers.Add()([shortcut, r]))


_BLOCK_CASES = [
    Case(((8, 8, 4), filters, stride, bn), label=f"x of shape (8, 8, 4), filters={filters}, "
         f"stride={stride}, batch_norm={bn}")
    for filters, stride, bn in [(4, 1, True), (8, 2, True), (8, 1, True), (4, 1, False), (8, 2, False)]]


def _kind(layer):
    return type(layer).__name__


def _producer(tensor):
    history = getattr(tensor, "_keras_history", None)
    return history.operation if history is not None else None


def _inputs_of(layer):
    out = []
    for node in getattr(layer, "_inbound_nodes", []):
        out += [_producer(t) for t in node.input_tensors]
    return [p for p in out if p is not None]


def _convs(model):
    return [l for l in model.layers if _kind(l) == "Conv2D"]


def _is_projection(layer):
    return tuple(layer.kernel_size) == (1, 1)


def _relu_count(model):
    n = 0
    for l in model.layers:
        act = getattr(getattr(l, "activation", None), "__name__", "")
        if _kind(l) == "ReLU" or (_kind(l) == "Activation" and act == "relu") or (
                _kind(l) == "Conv2D" and act == "relu"):
            n += 1
    return n


def _probe_identity(model, input_shape):
    """Zero the 3x3 convolutions (the residual branch): the block must become ReLU(x).
    Batch-norm layers get gamma 0.5 and running variance 4 first, so that a normalisation of
    the *sum* (a BN after the add) shows up."""
    for layer in model.layers:
        if _kind(layer) == "Conv2D" and not _is_projection(layer):
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
        if _kind(layer) == "BatchNormalization":
            ws = layer.get_weights()
            names = [w.path.split("/")[-1] for w in layer.weights]
            new = []
            for name, w in zip(names, ws):
                new.append({"gamma": 0.5 * np.ones_like(w), "moving_variance": 4 * np.ones_like(w)}
                           .get(name, np.zeros_like(w) if name in ("beta", "moving_mean") else w))
            layer.set_weights(new)
    x = np.random.default_rng(0).normal(size=(2, *input_shape)).astype("float32")
    y = np.asarray(model(x, training=False))
    return x, y


def _part(layer) -> list[str]:
    """A layer as the block's description names it (a conv with a ReLU inside is two parts)."""
    kind, act = _kind(layer), getattr(getattr(layer, "activation", None), "__name__", "")
    if kind == "Conv2D":
        k, stride = layer.kernel_size[0], layer.strides[0]
        conv = f"Conv2D {k}x{k}" + (f" strides={stride}" if stride != 1 else "")
        return [conv, "ReLU"] if act == "relu" else [conv]
    if kind == "ReLU" or (kind == "Activation" and act == "relu"):
        return ["ReLU"]
    return [kind]


def _path(layer, stop=("InputLayer", "Add")) -> list[str]:
    """The parts of the single-input chain that ends at ``layer``, back to an input or an Add."""
    parts = []
    while layer is not None and _kind(layer) not in stop:
        parts = _part(layer) + parts
        inputs = _inputs_of(layer)
        layer = inputs[0] if len(inputs) == 1 else None
    return parts


def _block_summary(fn, case: Case) -> dict:
    """The call adapter of :func:`residual_block`: build ``fn`` into a model for the case and
    describe it as plain data: the output shape, the layers on the branch, on the shortcut and
    after the Add, counts of each kind, and whether a zeroed branch leaves ReLU(x)."""
    from cnncourse import device

    keras = device.import_keras()
    input_shape, filters, stride, bn = case.args
    changes = stride != 1 or filters != input_shape[-1]
    summary = {"changes": changes, "batch_norm": bn, "build": "ok"}
    inp = keras.Input(shape=input_shape)
    try:
        model = keras.Model(inp, fn(inp, filters, stride=stride, batch_norm=bn))
    except ValueError as exc:
        if not changes:
            raise
        summary["build"] = f"failed ({exc})"
        return summary
    layers = model.layers
    adds = [la for la in layers if _kind(la) == "Add"]
    convs = _convs(model)
    summary.update({
        "output shape": tuple(model.output_shape[1:]),
        "adds": len(adds),
        "BN on the sum": any(_kind(la) == "BatchNormalization"
                             and any(_kind(p) == "Add" for p in _inputs_of(la)) for la in layers),
        "ends with the Add": bool(adds) and (model.output is adds[-1].output
                                              or _kind(_producer(model.output)) == "Add"),
        "projections": [la.strides[0] for la in convs if _is_projection(la)],
        "3x3 convolutions": len([la for la in convs if tuple(la.kernel_size) == (3, 3)]),
        "batch norms": len([la for la in layers if _kind(la) == "BatchNormalization"]),
        "relus": _relu_count(model),
        "branch": [], "shortcut": [], "after the Add": _path(_producer(model.output)),
    })
    if adds:
        paths = [_path(p) for p in _inputs_of(adds[-1])]
        branch = max(paths, key=lambda ps: sum(p.startswith("Conv2D 3x3") for p in ps), default=[])
        summary["branch"] = branch
        summary["shortcut"] = next((ps for ps in paths if ps is not branch), [])
    if not changes:   # behaviour: a zero branch makes the identity block ReLU(x)
        x, y = _probe_identity(model, input_shape)
        summary["zeroed branch: max distance to ReLU(x)"] = float(np.max(np.abs(y - np.maximum(x, 0))))
    return summary


def _block_problem(got: dict, expected: dict):
    """``(finding, why)`` for the first thing wrong with the learner's block, or None (the
    order of He et al.'s description: shapes, the shortcut, where BN and ReLU go, the counts)."""
    if got["build"] != "ok":
        return "cannot add", f"building the block {got['build']}"
    shape, want = got["output shape"], expected["output shape"]
    if shape != want:
        return "shape", f"the output has shape {shape}, expected {want}"
    if not got["adds"]:
        return "no shortcut", "there is no Add layer"
    if got["BN on the sum"]:
        return "BN after add", "a BatchNormalization normalises the *sum*"
    if got["ends with the Add"]:
        return "no ReLU after add", "the block ends with the Add"
    projections, changes = got["projections"], got["changes"]
    if changes and not projections:
        return "projection never", "no 1x1 convolution on the shortcut"
    if changes and projections != expected["projections"]:
        return "projection stride", ("the 1x1 projection must use strides=stride to match the "
                                     "branch's output size")
    if not changes and projections:
        return "projection always", ("a 1x1 convolution sits on the shortcut although x and F(x) "
                                     "already have the same shape")
    n_3x3, n_bn = got["3x3 convolutions"], got["batch norms"]
    if n_3x3 != 2 or (got["batch_norm"] and n_bn < 2):
        return "counts", (f"found {n_3x3} 3x3 convolutions and {n_bn} batch normalisations; the "
                          "branch is conv3x3-BN-ReLU-conv3x3-BN")
    if not got["batch_norm"] and n_bn:
        return "BN ignored", f"found {n_bn} BatchNormalization layers"
    if got["relus"] < 2:
        return "no inner ReLU", f"only {got['relus']} ReLU"
    distance = got.get("zeroed branch: max distance to ReLU(x)", 0.0)
    if distance > 1e-5:
        return "identity", ("with the residual branch's convolutions set to zero, the block should "
                            "output ReLU(x) (the identity, then ReLU), but it does not (max "
                            f"difference {distance:.3g})")
    return None


def _compare_block(got, expected):
    problem = _block_problem(got, expected)
    return (True, "") if problem is None else (False, problem[1])


def _diagnose_block(got, expected, case) -> set:
    """The finding of :func:`_block_problem`, and the parts missing or extra on each path."""
    problem = _block_problem(got, expected)
    found = [problem[0]] if problem else []
    for path, what in (("branch", "in the branch"), ("shortcut", "on the shortcut"),
                       ("after the Add", "after the Add")):
        if path in got and path in expected:
            found += structure_findings(got[path], expected[path], what=what)
    return found


_BLOCK_MISTAKES = [
    Mistake("when the stride or the number of channels changes, x and the branch's output differ "
            "in shape and cannot be added: project the shortcut with a 1x1 convolution "
            "(strides=stride) followed by batch normalisation.", finding="cannot add"),
    Mistake("the first 3x3 convolution takes strides=stride and padding='same'; the second keeps "
            "the size.", finding="shape"),
    Mistake("the shortcut is missing; a residual block outputs ReLU(x + F(x)) "
            "(keras.layers.Add()([shortcut, r])).", finding="no shortcut"),
    Mistake("add before the second BN vs after; in He et al.'s block the branch is "
            "conv-BN-ReLU-conv-BN, the shortcut is added after the second BN, then ReLU. "
            "(Normalising the sum rescales the identity path, so the block can no longer pass x "
            "through.)", finding="BN after add"),
    Mistake("He et al. apply a ReLU after the addition, ReLU(x + F(x)).", finding="no ReLU after add"),
    Mistake("projection never; when the shape changes the shortcut needs Conv2D(filters, 1, "
            "strides=stride) + BatchNormalization.", finding="projection never"),
    Mistake("projection always; use the identity (shortcut = x) when stride == 1 and the channels "
            "match (He et al.'s parameter-free identity shortcut).", finding="projection always"),
    Mistake("batch_norm=False must leave them all out (the branch is then conv3x3-ReLU-conv3x3, "
            "the projection a bare 1x1 convolution).", finding="BN ignored"),
    Mistake("the ReLU between the two convolutions is missing (conv-BN-ReLU-conv-BN); without it "
            "the branch is one linear map.", finding="no inner ReLU"),
    Mistake("the shortcut does not carry x itself, or something (a BN, a scale) sits on the "
            "identity path.", finding="identity"),
]


def residual_block(fn: Callable) -> Callable:
    """Check ``residual_block(x, filters, stride=1, batch_norm=True)`` (Keras functional API):
    conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the shortcut (identity, or 1x1 conv + BN when the
    shape changes), then ReLU; ``batch_norm=False`` leaves out every BN. Each case is built into
    a model and described (:func:`_block_summary`); a part missing or extra on the branch, the
    shortcut or after the Add is named. Returns the learner's function if it passes, else the
    reference."""
    return check_function(fn, _residual_block, _BLOCK_CASES, name="residual_block",
                          call=_block_summary, compare_with=_compare_block,
                          diagnose=_diagnose_block, mistakes=_BLOCK_MISTAKES)
