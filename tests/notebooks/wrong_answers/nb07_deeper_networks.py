"""Subtle wrong answers for notebook 07: right shapes and types, wrong behaviour."""
NOTEBOOK = "07_deeper_networks"
WRONG = [
    # receptive field without the stride product: right on stride-1 stacks, wrong after a pool
    dict(anchor="def receptive_field(",
         code="r = 1\nfor kernel, stride in layers:\n    r += kernel - 1\nreturn r\n",
         expect=["❌", "stride product"]),
    # a bias counted per filter
    dict(anchor="def conv_weights(",
         code="return (kernel * kernel * c_in + 1) * c_out\n",
         expect=["❌", "no biases"]),
    # epsilon outside the square root: off by about 1e-3 only
    dict(anchor="def batchnorm_forward(",
         code=("axes = tuple(range(x.ndim - 1))\n"
               "if training:\n"
               "    mean, var = x.mean(axis=axes), x.var(axis=axes)\n"
               "    moving_mean = momentum * moving_mean + (1 - momentum) * mean\n"
               "    moving_var = momentum * moving_var + (1 - momentum) * var\n"
               "else:\n"
               "    mean, var = moving_mean, moving_var\n"
               "y = gamma * (x - mean) / (np.sqrt(var) + epsilon) + beta\n"
               "return y, moving_mean, moving_var\n"),
         expect=["❌", "inside the square root"]),
    # gradients averaged instead of accumulated
    dict(anchor="def sgd_momentum_step(",
         code=("velocity = momentum * velocity + (1 - momentum) * g\n"
               "return w - lr * velocity, velocity\n"),
         expect=["❌", "averaged the gradients"]),
    # no bias correction
    dict(anchor="def adam_step(",
         code=("m = beta_1 * m + (1 - beta_1) * g\n"
               "v = beta_2 * v + (1 - beta_2) * g ** 2\n"
               "return w - lr * m / (np.sqrt(v) + epsilon), m, v\n"),
         expect=["❌", "no bias correction"]),
    # the sum is normalised: add before the second BN
    dict(anchor="def residual_block(",
         code=("def norm(h):\n"
               "    return layers.BatchNormalization()(h) if batch_norm else h\n"
               "\n"
               "shortcut = x\n"
               "if stride != 1 or x.shape[-1] != filters:\n"
               "    shortcut = norm(layers.Conv2D(filters, 1, strides=stride)(x))\n"
               "r = layers.Conv2D(filters, 3, strides=stride, padding='same')(x)\n"
               "r = layers.ReLU()(norm(r))\n"
               "r = layers.Conv2D(filters, 3, padding='same')(r)\n"
               "return layers.ReLU()(norm(layers.Add()([shortcut, r])))\n"),
         expect=["❌", "add before the second BN"]),
]
