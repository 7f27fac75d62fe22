"""Helpers for notebook 07 (how deep is deep): brute-force receptive fields, a 2-D loss surface
for optimiser paths, plain and residual stacks for the degradation experiment, and plots.

Nothing here is a shortcut around the notebook's exercises: the receptive-field formula, batch
normalisation, the optimisers and the residual block are written by the learner (their checks
keep private references in :mod:`cnncourse.checks.deeper`). The stacks below take the block as
an argument, so the notebook's residual network is built from the learner's block.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # annotations only
    import keras
    import matplotlib.axes

__all__ = ["receptive_field_by_gradient", "bowl", "plain_block", "build_stack", "train_losses",
           "draw_receptive_fields", "plot_paths", "plot_loss_curves"]


def _keras():
    from cnncourse import device

    return device.import_keras()


def _layers_arg(layers) -> list[tuple[int, int]]:
    try:
        out = [(int(k), int(s)) for k, s in layers]
    except (TypeError, ValueError):
        raise ValueError(f"layers: expected a sequence of (kernel, stride) pairs, got {layers!r}") \
            from None
    if any(k < 1 or s < 1 for k, s in out):
        raise ValueError(f"layers: kernels and strides must be >= 1, got {out}")
    return out


# --------------------------------------------------------------------------------------------
# Receptive field by brute force


def receptive_field_by_gradient(layers: Sequence[tuple[int, int]]) -> int:
    """Receptive field of a stack of convolutions measured with ``tf.GradientTape``.

    Builds ``Conv2D(1, k, strides=s)`` layers ('valid' padding) with all-ones kernels, takes the
    gradient of one output pixel (near the centre) with respect to the input image, and returns
    the width (in pixels, along the rows) of the region where that gradient is non-zero.

    Parameters
    ----------
    layers : sequence of (int, int)
        ``(kernel, stride)`` of each layer, input first; a pooling layer counts as a layer.

    Returns
    -------
    int
        Width of the input region that influences one output pixel.
    """
    from cnncourse import device

    layers = _layers_arg(layers)
    tf = device.import_tensorflow()
    keras = _keras()
    jump, span = 1, 1
    for k, s in layers:                       # a generous size: every kernel at full stride
        span += k * jump
        jump *= s
    size = 2 * span + 2 * jump + 1
    x = tf.Variable(np.zeros((1, size, size, 1), np.float32))
    convs = [keras.layers.Conv2D(1, k, strides=s, use_bias=False, kernel_initializer="ones")
             for k, s in layers]
    with tf.GradientTape() as tape:
        h = x
        for conv in convs:
            h = conv(h)
        c = h.shape[1] // 2
        out = h[0, c, c, 0]
    grad = np.asarray(tape.gradient(out, x))[0, :, :, 0]   # (size, size)
    rows = np.flatnonzero(np.abs(grad).sum(axis=1) > 0)
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


# --------------------------------------------------------------------------------------------
# A 2-D loss surface for the optimisers


def bowl(w: np.ndarray, *, scale: float = 30.0) -> tuple[float, np.ndarray]:
    """An elongated quadratic bowl, rotated by 30 degrees: loss and gradient at ``w``.

    ``L(w) = 0.5 * (u**2 + scale * v**2)`` where ``(u, v)`` is ``w`` in axes rotated by 30
    degrees; the minimum is 0 at the origin. The valley is ``scale`` times steeper across than
    along, the situation where plain gradient descent zig-zags.

    Parameters
    ----------
    w : ndarray, shape (2,)
        A point in weight space.
    scale : float
        Ratio of the curvatures (> 0).

    Returns
    -------
    loss : float
    grad : ndarray, shape (2,), float64
    """
    w = np.asarray(w, dtype=float)
    if w.shape != (2,):
        raise ValueError(f"w: expected shape (2,), got {w.shape}")
    if scale <= 0:
        raise ValueError(f"scale: must be > 0, got {scale}")
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    R = np.array([[c, s], [-s, c]])
    H = R.T @ np.diag([1.0, scale]) @ R
    return float(0.5 * w @ H @ w), H @ w


# --------------------------------------------------------------------------------------------
# Plain and residual stacks


def plain_block(x: keras.KerasTensor, filters: int, stride: int = 1,
                batch_norm: bool = True) -> keras.KerasTensor:
    """The plain counterpart of a residual block (He et al. 2016's "plain" networks):
    conv3x3(stride)-BN-ReLU-conv3x3-BN-ReLU, no shortcut; ``batch_norm=False`` leaves out the
    BN layers (the convolutions then have biases). Keras functional API: tensor in, tensor out.

    Parameters
    ----------
    x : keras tensor, shape (batch, H, W, C)
    filters : int
        Channels of both convolutions.
    stride : int
        Stride of the first convolution ('same' padding: H and W are divided by it, rounded up).
    batch_norm : bool

    Returns
    -------
    keras tensor, shape (batch, ceil(H / stride), ceil(W / stride), filters)

    Examples
    --------
    >>> import keras
    >>> y = plain_block(keras.Input((8, 8, 3)), 4, stride=2)
    >>> tuple(y.shape)
    (None, 4, 4, 4)
    """
    layers = _keras().layers

    def norm(h):
        return layers.BatchNormalization()(h) if batch_norm else h

    r = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=not batch_norm)(x)
    r = layers.ReLU()(norm(r))
    r = layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm)(r)
    return layers.ReLU()(norm(r))


def build_stack(block: Callable, n_blocks: int, input_shape: Sequence[int] = (16, 16, 3), *,
                width: int = 8, batch_norm: bool = False, n_classes: int = 2,
                name: str | None = None) -> keras.Model:
    """A small classifier: a 3x3 stem convolution of stride 2, ``n_blocks`` blocks, global
    average pooling and a softmax layer.

    The weighted layers are 1 (stem) + 2 * ``n_blocks`` (blocks) + 1 (output), the way He et al.
    count depth ("plain-20" has 20). Every block keeps ``width`` channels and the resolution,
    so a residual block uses its identity shortcut throughout. Kernels use Keras' default
    initialisation (Glorot uniform).

    Parameters
    ----------
    block : callable
        ``block(x, filters, stride=1, batch_norm=...) -> tensor`` (e.g. :func:`plain_block` or a
        residual block).
    n_blocks : int
        Number of blocks (>= 0).
    input_shape : tuple of int
        (height, width, channels) of the input.
    width : int
        Channels of every convolution.
    batch_norm : bool
        Batch normalisation after every convolution (stem and blocks).
    n_classes : int
        Output classes.
    name : str, optional
        Default ``"stack{depth}"`` with depth ``2 * n_blocks + 2``.

    Returns
    -------
    keras.Model
        Input ``input_shape``, output (batch, ``n_classes``) probabilities.

    Raises
    ------
    ValueError
        ``n_blocks < 0``; ``width < 1``.

    Examples
    --------
    >>> model = build_stack(plain_block, 2, (8, 8, 1), width=4)
    >>> model.name, model.output_shape
    ('stack6', (None, 2))
    """
    if int(n_blocks) < 0:
        raise ValueError(f"n_blocks: must be >= 0, got {n_blocks}")
    if int(width) < 1:
        raise ValueError(f"width: must be >= 1, got {width}")
    keras = _keras()
    layers = keras.layers
    inp = keras.Input(shape=tuple(input_shape))
    h = layers.Conv2D(width, 3, strides=2, padding="same", use_bias=not batch_norm)(inp)
    if batch_norm:
        h = layers.BatchNormalization()(h)
    h = layers.ReLU()(h)
    for _ in range(int(n_blocks)):
        h = block(h, int(width), stride=1, batch_norm=batch_norm)
    h = layers.GlobalAveragePooling2D()(h)
    out = layers.Dense(int(n_classes), activation="softmax")(h)
    return keras.Model(inp, out, name=name or f"stack{2 * int(n_blocks) + 2}")


def train_losses(model: keras.Model, x: np.ndarray, y: np.ndarray, *, epochs: int, seed: int,
                 learning_rate: float = 2e-3, batch_size: int = 32) -> np.ndarray:
    """Train ``model`` with Adam on (x, y); return the training loss of every epoch.

    Parameters
    ----------
    model : keras.Model
        Outputs class probabilities; compiled here with sparse categorical cross-entropy.
    x : ndarray, shape (N, H, W, C), float32
    y : ndarray, shape (N,), int
    epochs, seed : int
        Passes over the data; seed for Keras (batch order).
    learning_rate : float
        ``keras.optimizers.Adam(learning_rate)``.
    batch_size : int

    Returns
    -------
    ndarray, shape (epochs,), float64
        Keras' training loss per epoch: the mean cross-entropy over that epoch's batches.

    Raises
    ------
    ValueError
        ``x`` and ``y`` of different lengths; ``epochs < 1``.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y: lengths differ ({len(x)} vs {len(y)})")
    if int(epochs) < 1:
        raise ValueError(f"epochs: must be >= 1, got {epochs}")
    keras = _keras()
    keras.utils.set_random_seed(int(seed))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=int(epochs), batch_size=batch_size, verbose=0)
    return np.asarray(history.history["loss"], dtype=float)


# --------------------------------------------------------------------------------------------
# Pictures


def _plt():
    import matplotlib.pyplot as plt

    return plt


def draw_receptive_fields(image: np.ndarray, sizes: Sequence[int], labels: Sequence[str], *,
                          ax: matplotlib.axes.Axes | None = None) -> matplotlib.axes.Axes:
    """Draw centred squares of the given receptive-field ``sizes`` (pixels) on ``image``
    (H, W) or (H, W, 3).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
    sizes : sequence of int
        Side of each square in pixels.
    labels : sequence of str
        One per size, shown in the legend as ``"label: SxS"``.
    ax : matplotlib Axes, optional
        Default: the current axes.

    Returns
    -------
    matplotlib.axes.Axes
        With the image, one square patch per size and a legend.

    Raises
    ------
    ValueError
        ``sizes`` and ``labels`` of different lengths.
    """
    plt = _plt()
    from matplotlib.patches import Rectangle

    if len(sizes) != len(labels):
        raise ValueError(f"sizes and labels: lengths differ ({len(sizes)} vs {len(labels)})")
    ax = ax or plt.gca()
    ax.imshow(image)
    h, w = np.asarray(image).shape[:2]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (size, label) in enumerate(zip(sizes, labels)):
        x0, y0 = (w - size) / 2 - 0.5, (h - size) / 2 - 0.5
        ax.add_patch(Rectangle((x0, y0), size, size, fill=False, lw=2,
                               color=colors[i % len(colors)], label=f"{label}: {size}x{size}"))
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
    return ax


def plot_paths(loss: Callable, paths: Mapping[str, np.ndarray], *, lim: float = 2.2,
               ax: matplotlib.axes.Axes | None = None) -> matplotlib.axes.Axes:
    """Contours of ``loss(w) -> (value, grad)`` on [-lim, lim]^2 with one path (array (T, 2))
    per optimiser.

    Parameters
    ----------
    loss : callable
        ``loss(w (2,) float) -> (value float, grad (2,))``, e.g. :func:`bowl`.
    paths : mapping of str -> array_like, shape (T, 2)
        The points an optimiser visited, one line each (labelled with the key).
    lim : float
        Half-width of the square shown.
    ax : matplotlib Axes, optional
        Default: the current axes.

    Returns
    -------
    matplotlib.axes.Axes
        Contour lines, one line per path, a star at the minimum (0, 0).
    """
    plt = _plt()
    ax = ax or plt.gca()
    g = np.linspace(-lim, lim, 121)
    Z = np.array([[loss(np.array([a, b]))[0] for a in g] for b in g])
    ax.contour(g, g, Z, levels=np.geomspace(0.01, Z.max(), 12), colors="0.7", linewidths=0.8)
    for name, path in paths.items():
        path = np.asarray(path)
        ax.plot(path[:, 0], path[:, 1], "o-", ms=2.5, lw=1.2, label=name)
    ax.plot(0, 0, "k*", ms=10, label="minimum")
    ax.set_xlabel("$w_1$")
    ax.set_ylabel("$w_2$")
    ax.set_aspect("equal")
    ax.legend(fontsize="small")
    return ax


def plot_loss_curves(curves: Mapping[str, np.ndarray], *, ax: matplotlib.axes.Axes | None = None,
                     title: str = "training loss") -> matplotlib.axes.Axes:
    """``curves``: {name: array (n_seeds, epochs)}, the loss after epochs 1, 2, ... Mean line
    with the min-max band over seeds.

    Parameters
    ----------
    curves : mapping of str -> array_like of float, shape (n_seeds, epochs) or (epochs,)
    ax : matplotlib Axes, optional
        Default: the current axes.
    title : str

    Returns
    -------
    matplotlib.axes.Axes
        One line per name (the mean, labelled ``"name (n seeds)"``) and, for several seeds,
        the band between their minimum and maximum.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = plot_loss_curves({"plain": [[1.0, 0.5], [1.0, 0.7]]})
    >>> line = ax.get_lines()[0]
    >>> line.get_label(), line.get_ydata().tolist()
    ('plain (2 seeds)', [1.0, 0.6])
    """
    plt = _plt()
    ax = ax or plt.gca()
    for name, c in curves.items():
        c = np.atleast_2d(np.asarray(c, float))
        epochs = np.arange(1, c.shape[1] + 1)
        n = c.shape[0]
        line, = ax.plot(epochs, c.mean(axis=0), lw=2,
                        label=f"{name} ({n} seed{'s' if n > 1 else ''})")
        if c.shape[0] > 1:
            ax.fill_between(epochs, c.min(axis=0), c.max(axis=0), color=line.get_color(),
                            alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.set_title(title)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend()
    return ax
