"""Helpers of notebook 08 (what a network looks at): the classifier whose maps are studied,
weight randomisation for the sanity check, hematoxylin masks, and overlay pictures.

The saliency methods themselves (gradient, Grad-CAM, occlusion) and the rank correlation are the
learner's exercises; their reference versions live in :mod:`cnncourse.checks.saliency`. What is
here lies beyond the lesson: training a small mitosis classifier, re-initialising layers,
spreading a window map over pixels, and drawing.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:  # annotations only
    import keras
    import matplotlib.figure

from cnncourse._validate import array

__all__ = ["build_classifier", "train_classifier", "predict_logits", "weighted_layers",
           "randomize_top", "windows_to_pixels", "hematoxylin", "top_fraction_mask",
           "normalize_maps", "show_maps"]


def _keras():
    from cnncourse.device import import_keras

    return import_keras()


def _images(images, name="images") -> np.ndarray:
    return array(images, name, ndim=4, shape="(N, H, W, C)")


def build_classifier(mean: ArrayLike, variance: ArrayLike, *,
                     input_shape: tuple[int, int, int] = (32, 32, 3),
                     filters: Sequence[int] = (16, 32, 64),
                     name: str = "mitosis_cnn") -> keras.Model:
    """A small CNN that outputs the *logit* of "mitotic" for an RGB patch in [0, 1].

    ``Normalization`` (fixed per-channel ``mean`` and ``variance`` of the training set) ->
    per entry of ``filters`` a 3x3 'same' ReLU convolution ``conv1, conv2, ...`` (2x2 max pooling
    between them, none after the last) -> global average pooling ``gap`` -> ``Dense(1)`` named
    ``logit`` with no activation. The global average pooling followed by one linear unit is the
    class activation mapping (CAM) architecture of Zhou et al. (2016).

    Parameters
    ----------
    mean, variance : array_like, shape (C,)
        Per-channel statistics of the training patches (float in [0, 1]).
    input_shape : (int, int, int)
        (H, W, C) of a patch.
    filters : sequence of int
        Filters of ``conv1, conv2, ...``; H and W must survive ``len(filters) - 1`` poolings.
    name : str

    Returns
    -------
    keras.Model
        Uncompiled; input (N, H, W, C) float32 in [0, 1], output (N, 1) float32 logits.

    Raises
    ------
    ValueError
        ``mean`` / ``variance`` not of shape (C,); a variance <= 0; no filters.

    Examples
    --------
    >>> model = build_classifier([0.5] * 3, [0.1] * 3, input_shape=(16, 16, 3), filters=(4, 8))
    >>> [layer.name for layer in weighted_layers(model)], model.output_shape
    (['conv1', 'conv2', 'logit'], (None, 1))
    """
    keras = _keras()
    mean, variance = np.asarray(mean, np.float32), np.asarray(variance, np.float32)
    if mean.shape != (input_shape[-1],) or variance.shape != mean.shape:
        raise ValueError(f"mean, variance: expected shape ({input_shape[-1]},), got {mean.shape} "
                         f"and {variance.shape}")
    if np.any(variance <= 0):
        raise ValueError(f"variance: expected positive values, got {variance}")
    filters = list(filters)
    if not filters:
        raise ValueError("filters: expected at least one convolution")
    L = keras.layers
    inputs = keras.Input(input_shape, name="patch")
    x = L.Normalization(mean=mean, variance=variance, name="standardise")(inputs)
    for i, f in enumerate(filters, 1):
        if i > 1:
            x = L.MaxPooling2D(2, name=f"pool{i - 1}")(x)
        x = L.Conv2D(int(f), 3, padding="same", activation="relu", name=f"conv{i}")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(1, name="logit")(x)
    return keras.Model(inputs, outputs, name=name)


def train_classifier(model: keras.Model, x: np.ndarray, y: np.ndarray, *, epochs: int,
                     validation_data: tuple[np.ndarray, np.ndarray] | None = None,
                     batch_size: int = 64, learning_rate: float = 2e-3,
                     seed: int = 0) -> keras.callbacks.History:
    """Compile ``model`` (Adam, binary cross-entropy on logits, accuracy) and fit it.

    Parameters
    ----------
    model : keras.Model
        One logit per example, e.g. :func:`build_classifier`; compiled here.
    x : ndarray, float32, shape (N, H, W, C)
    y : ndarray of 0/1, shape (N,)
    epochs, batch_size : int
    validation_data : (x_val, y_val), optional
    learning_rate : float
        Adam's learning rate.
    seed : int
        Seed of the shuffling (``keras.utils.set_random_seed``).

    Returns
    -------
    keras.callbacks.History
        ``loss`` and ``accuracy`` per epoch (and ``val_*`` with ``validation_data``).

    Raises
    ------
    ValueError
        ``x`` not 4-D; ``y`` not one 0/1 label per example.
    """
    keras = _keras()
    x = _images(x, "x")
    y = np.asarray(y)
    if y.shape != (len(x),) or not np.isin(y, (0, 1)).all():
        raise ValueError(f"y: expected {len(x)} labels in {{0, 1}}, got shape {y.shape}")
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")])
    return model.fit(x, y.astype(np.float32), epochs=epochs, batch_size=batch_size,
                     validation_data=validation_data, verbose=0, shuffle=True)


def predict_logits(model: keras.Model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Logits of ``model`` for ``x`` (N, H, W, C): ndarray float32, shape (N,).

    Parameters
    ----------
    model : keras.Model
        One output per example, shape (N, 1).
    x : ndarray, shape (N, H, W, C)
        Cast to float32; run in inference mode, ``batch_size`` at a time.
    batch_size : int

    Returns
    -------
    ndarray, float32, shape (N,)

    Raises
    ------
    ValueError
        ``x`` not 4-D.
    """
    x = _images(x, "x").astype(np.float32)
    out = [np.asarray(model(x[i:i + batch_size], training=False)).reshape(-1)
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of ``model`` that have trainable weights, from the input to the output.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    list of keras.layers.Layer
        E.g. ``conv1, conv2, conv3, logit`` for :func:`build_classifier`.
    """
    return [layer for layer in model.layers if layer.trainable_weights]


def randomize_top(model: keras.Model, n_layers: int, *, seed: int = 0) -> keras.Model:
    """A copy of ``model`` whose top ``n_layers`` weighted layers are re-initialised.

    Cascading randomisation (Adebayo et al. 2018): ``n_layers=1`` re-draws the output layer,
    ``n_layers=2`` also the layer below it, and so on. Kernels are re-drawn with each layer's own
    initializer (seeded), biases set to zero; the other layers keep their trained weights.
    ``model`` itself is not changed.

    Parameters
    ----------
    model : keras.Model
    n_layers : int in [0, len(weighted_layers(model))]
        How many weighted layers, counted from the output, to re-draw.
    seed : int
        Seed of the new kernels (the same seed gives the same copy).

    Returns
    -------
    keras.Model
        A clone with the same architecture.

    Raises
    ------
    ValueError
        ``n_layers`` not an int in the range above.
    """
    keras = _keras()
    layers = weighted_layers(model)
    if not isinstance(n_layers, (int, np.integer)) or not 0 <= n_layers <= len(layers):
        raise ValueError(f"n_layers: expected an int in [0, {len(layers)}], got {n_layers!r}")
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    names = {layer.name for layer in layers[len(layers) - n_layers:]}
    for k, layer in enumerate(weighted_layers(clone)):
        if layer.name not in names:
            continue
        init = keras.initializers.get(layer.kernel_initializer.__class__.__name__)
        init = init.__class__(seed=seed * 1000 + k) if hasattr(init, "seed") else init
        layer.kernel.assign(init(layer.kernel.shape))
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(np.zeros(layer.bias.shape, np.float32))
    return clone


def windows_to_pixels(coarse: ArrayLike, size: tuple[int, int], patch: int,
                      stride: int) -> np.ndarray:
    """Spread a map over window positions onto pixels: each pixel gets the mean value of the
    windows (``patch`` x ``patch``, placed every ``stride`` pixels from the top-left corner) that
    cover it; pixels no window covers get 0.

    Parameters
    ----------
    coarse : ndarray, shape (N, ny, nx)
        One value per window position, e.g. an occlusion map.
    size : (int, int)
        Height and width of the images.
    patch : int
        Side of a window in pixels.
    stride : int
        Pixels between neighbouring windows.

    Returns
    -------
    ndarray, float32, shape (N, H, W)

    Raises
    ------
    ValueError
        ``coarse`` not 3-D; windows that do not fit in ``size``.

    Examples
    --------
    >>> windows_to_pixels(np.array([[[1.0, 3.0]]]), (2, 3), patch=2, stride=1)[0].tolist()
    [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]
    """
    coarse = np.asarray(coarse, np.float32)
    if coarse.ndim != 3:
        raise ValueError(f"coarse: expected shape (N, ny, nx), got {coarse.shape}")
    h, w = (int(s) for s in size)
    ny, nx = coarse.shape[1:]
    if (ny - 1) * stride + patch > h or (nx - 1) * stride + patch > w:
        raise ValueError(f"coarse: {ny}x{nx} windows of {patch} px every {stride} px do not fit "
                         f"in size {h}x{w}")
    total = np.zeros((len(coarse), h, w), np.float32)
    count = np.zeros((h, w), np.float32)
    for iy in range(ny):
        for ix in range(nx):
            sl = np.s_[iy * stride:iy * stride + patch, ix * stride:ix * stride + patch]
            total[(slice(None), *sl)] += coarse[:, iy, ix, None, None]
            count[sl] += 1
    return total / np.maximum(count, 1)


def hematoxylin(patches: np.ndarray) -> np.ndarray:
    """Hematoxylin optical density of RGB patches (colour deconvolution, ``skimage.color.rgb2hed``).

    Parameters
    ----------
    patches : ndarray, uint8 (N, H, W, 3) or float in [0, 1]

    Returns
    -------
    ndarray, float32, shape (N, H, W)
        Larger = more hematoxylin (darker chromatin).

    Raises
    ------
    ValueError
        ``patches`` not 4-D or not 3 channels.
    """
    from skimage.color import rgb2hed

    patches = _images(patches, "patches")
    if patches.shape[-1] != 3:
        raise ValueError(f"patches: expected RGB (3 channels), got {patches.shape[-1]}")
    rgb = patches.astype(np.float32) / 255.0 if patches.dtype == np.uint8 else patches
    return np.stack([rgb2hed(p)[..., 0] for p in rgb]).astype(np.float32)


def top_fraction_mask(values: ArrayLike, fraction: float) -> np.ndarray:
    """Per image, the ``fraction`` of pixels with the largest ``values`` (N, H, W): bool mask.

    Parameters
    ----------
    values : array_like of float, shape (N, H, W)
    fraction : float in (0, 1)

    Returns
    -------
    ndarray of bool, shape (N, H, W)
        At least ``fraction`` of each image's pixels (more where values tie at the threshold).

    Raises
    ------
    ValueError
        ``values`` not 3-D; ``fraction`` outside (0, 1).

    Examples
    --------
    >>> top_fraction_mask([[[1.0, 4.0], [3.0, 2.0]]], 0.25).astype(int).tolist()
    [[[0, 1], [0, 0]]]
    """
    values = np.asarray(values, np.float32)
    if values.ndim != 3:
        raise ValueError(f"values: expected shape (N, H, W), got {values.shape}")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction: expected a number in (0, 1), got {fraction!r}")
    threshold = np.quantile(values.reshape(len(values), -1), 1.0 - fraction, axis=1)
    return values >= threshold[:, None, None]


def normalize_maps(maps: ArrayLike) -> np.ndarray:
    """Scale each map (N, H, W) to [0, 1] by its own maximum of the absolute value (float32).

    Parameters
    ----------
    maps : array_like of float, shape (N, H, W)

    Returns
    -------
    ndarray, float32, shape (N, H, W)
        ``|maps[i]| / max |maps[i]|``; an all-zero map stays zero.

    Raises
    ------
    ValueError
        ``maps`` not 3-D.

    Examples
    --------
    >>> normalize_maps([[[0.0, -2.0], [1.0, 0.5]]])[0].tolist()
    [[0.0, 1.0], [0.5, 0.25]]
    """
    maps = np.abs(np.asarray(maps, np.float32))
    if maps.ndim != 3:
        raise ValueError(f"maps: expected shape (N, H, W), got {maps.shape}")
    peak = maps.reshape(len(maps), -1).max(axis=1)
    return maps / np.where(peak > 0, peak, 1.0)[:, None, None]


def show_maps(patches: np.ndarray, maps: Mapping[str, np.ndarray], *,
              titles: Sequence[str] | None = None, size: float = 1.6, alpha: float = 0.55,
              cmap: str = "jet") -> matplotlib.figure.Figure:
    """A grid: one row per patch, the patch then each map overlaid on it (scaled to its maximum).

    Parameters
    ----------
    patches : ndarray, (N, H, W, 3) uint8 or float in [0, 1]
    maps : dict name -> ndarray (N, H, W)
        Columns, in order.
    titles : sequence of str, optional
        One label per patch (row), shown above the patch.
    size : float
        Inches per panel.
    alpha : float
        Opacity of the maps over the patches.
    cmap : str

    Returns
    -------
    matplotlib.figure.Figure
        ``N x (1 + len(maps))`` axes: the patch, then each map (scaled by
        :func:`normalize_maps`) over it; map names above the first row.

    Raises
    ------
    ValueError
        ``patches`` not 4-D; a map not of shape (N, H, W); ``titles`` of another length.
    """
    import matplotlib.pyplot as plt

    patches = _images(patches, "patches")
    n = len(patches)
    for name, m in maps.items():
        if np.shape(m) != patches.shape[:3]:
            raise ValueError(f"maps[{name!r}]: expected shape {patches.shape[:3]}, got {np.shape(m)}")
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles: expected {n} titles (one per patch), got {len(titles)}")
    scaled = {name: normalize_maps(m) for name, m in maps.items()}
    ncols = 1 + len(maps)
    fig, axes = plt.subplots(n, ncols, figsize=(size * ncols, size * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(patches[i])
        axes[i, 0].set_title(titles[i] if titles is not None else "patch", fontsize=8)
        for j, (name, m) in enumerate(scaled.items(), 1):
            axes[i, j].imshow(patches[i])
            axes[i, j].imshow(m[i], cmap=cmap, alpha=alpha, vmin=0, vmax=1)
            if i == 0:
                axes[i, j].set_title(name, fontsize=9)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig
