"""Pixel labelling two ways, and what to do with the labels.

* The **sliding-window classifier** (Ning et al., 2005): a small CNN looks at a window of pixels
  and labels its centre pixel; to label an image it is run once per pixel.
  :func:`extract_windows`, :func:`build_window_classifier`, :func:`predict_sliding_window`; and
  :func:`predict_dense`, which runs the *fully convolutional* form of the classifier (the same
  weights on the whole image in one pass) that the learner writes in notebook 09.
* The **U-Net** (Ronneberger et al., 2015): a contracting path, an expanding path, and skip
  connections between them; it labels every pixel of a tile in one pass. :func:`predict_unet`
  runs one on an image of any size (the learner builds the U-Net in notebook 09).
* The notebook's exercises (the training-window sampler, the U-Net, the fully convolutional
  conversion) have private reference versions here, used by :mod:`cnncourse.checks.segmentation`
  and the benchmark; they are not a public shortcut around the exercises.
* Images: :func:`normalize` (percentile scaling to [0, 1]), :func:`low_light` (the shot noise of
  a short exposure).
* Cost: :func:`multiply_adds` counts a model's multiply-adds for one input.
* Scores and instances: :func:`dice`, :func:`iou`, :func:`error_map` (false positives and false
  negatives), :func:`separate_instances` (distance transform + watershed), :func:`match_instances`
  (count nuclei against a reference), :func:`tiles`.

Images are 2D float arrays ``(H, W)`` (or ``(H, W, C)``); masks are boolean ``(H, W)``; instance
label images are integer ``(H, W)`` with 0 for background and 1..N for the objects.
Keras is imported inside the functions that need it, so importing this module is cheap.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:  # annotations only
    import keras

from cnncourse._validate import array
from cnncourse._validate import binary as _binary

__all__ = [
    "extract_windows", "build_window_classifier", "predict_sliding_window", "predict_dense",
    "predict_unet", "dice", "iou", "error_map", "separate_instances", "match_instances", "tiles",
    "normalize", "low_light", "multiply_adds",
]


# --------------------------------------------------------------------------------------------
# Input checks


def _image(image, name="image") -> np.ndarray:
    return array(image, name, ndim=(2, 3), shape="(H, W) or (H, W, C)", kinds="biuf")


def _window_size(size, name="size") -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1 or size % 2 == 0:
        raise ValueError(f"{name}: expected an odd positive int (the window has a centre pixel), "
                         f"got {size!r}")
    return int(size)


# --------------------------------------------------------------------------------------------
# Images


def normalize(image: ArrayLike, low: float = 1.0, high: float = 99.8) -> np.ndarray:
    """Scale intensities so the ``low`` and ``high`` percentiles map to 0 and 1, then clip.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C), numeric
    low, high : float
        Percentiles, ``0 <= low < high <= 100``.

    Returns
    -------
    float32 array, same shape, values in [0, 1]
    """
    image = _image(image)
    if not 0 <= low < high <= 100:
        raise ValueError(f"low, high: expected 0 <= low < high <= 100, got {low!r}, {high!r}")
    lo, hi = np.percentile(image, [low, high])
    if hi <= lo:
        raise ValueError("image: constant image (the percentiles coincide), cannot normalize")
    return np.clip((image.astype(np.float32) - lo) / (hi - lo), 0, 1).astype(np.float32)


def low_light(image: ArrayLike, photons: float, *, background: float = 0.05,
              seed: int = 0) -> np.ndarray:
    """The same scene recorded with a short exposure: Poisson (shot) noise.

    Each pixel counts photons with mean ``(image + background) * photons``; the counts are divided
    by ``photons`` and the background is subtracted again, so the mean intensity is unchanged and
    only the noise grows as ``photons`` shrinks (the signal-to-noise ratio of a pixel is about
    ``sqrt(mean count)``). Dark pixels may come out slightly negative, as in a real
    background-subtracted image.

    Parameters
    ----------
    image : float array in [0, 1], any shape
    photons : float > 0
        Mean photon count of a pixel of intensity 1 (a few: very dim; hundreds: nearly clean).
    background : float >= 0
        Background light added before counting (dark pixels are noisy too).
    seed : int
        Seed of the random generator.

    Returns
    -------
    float32 array, same shape, mean ``image`` (in expectation), variance
    ``(image + background) / photons``
    """
    image = np.asarray(image)
    if image.dtype.kind != "f" or (image.size and (image.min() < 0 or image.max() > 1)):
        raise ValueError("image: expected a float array with values in [0, 1] (see normalize)")
    if not photons > 0:
        raise ValueError(f"photons: expected a positive number, got {photons!r}")
    if background < 0:
        raise ValueError(f"background: expected a number >= 0, got {background!r}")
    rng = np.random.default_rng(seed)
    counts = rng.poisson((image + background) * photons)
    return (counts / photons - background).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Windows


def _pad(image: np.ndarray, half: int, mode: str) -> np.ndarray:
    pad = [(half, half), (half, half)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad, mode=mode)


def extract_windows(image: ArrayLike, coords: ArrayLike, size: int, *,
                    mode: str = "reflect") -> np.ndarray:
    """Square windows of ``image`` centred on the pixels ``coords``.

    The image is padded by ``size // 2`` on every side (``mode`` as in :func:`numpy.pad`), so
    pixels at the border get full windows too.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
    coords : int array, shape (N, 2)
        Row and column of each centre pixel, ``0 <= row < H``, ``0 <= col < W``.
    size : int
        Odd window side.
    mode : str
        Padding mode for :func:`numpy.pad` (``"reflect"``, ``"constant"``, ...).

    Returns
    -------
    windows : ndarray, shape (N, size, size) or (N, size, size, C), image's dtype
        ``windows[i, size // 2, size // 2]`` is ``image[coords[i, 0], coords[i, 1]]``.

    Examples
    --------
    >>> image = np.arange(25.0).reshape(5, 5)
    >>> extract_windows(image, [[2, 2]], 3)[0]
    array([[ 6.,  7.,  8.],
           [11., 12., 13.],
           [16., 17., 18.]])
    """
    image = _image(image)
    size = _window_size(size)
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] != 2 or coords.dtype.kind not in "iu":
        raise ValueError(f"coords: expected an int array of shape (N, 2), got shape {coords.shape} "
                         f"and dtype {coords.dtype}")
    h, w = image.shape[:2]
    if coords.size and ((coords < 0).any() or (coords[:, 0] >= h).any()
                        or (coords[:, 1] >= w).any()):
        raise ValueError(f"coords: every (row, col) must lie inside the image of shape {(h, w)}")
    half = size // 2
    padded = _pad(image, half, mode)
    # A pixel (r, c) of the image is (r + half, c + half) in the padded image, so its window
    # starts at (r, c) there: rows r .. r + size - 1.
    offsets = np.arange(size)
    rows = coords[:, 0, None, None] + offsets[None, :, None]     # (N, size, 1)
    cols = coords[:, 1, None, None] + offsets[None, None, :]     # (N, 1, size)
    return padded[rows, cols]


def _sample_pixels(mask, n, *, seed=0, foreground_fraction=None) -> np.ndarray:
    """Random pixel coordinates for training a window classifier.

    Parameters
    ----------
    mask : bool array, shape (H, W)
        Foreground mask.
    n : int
        Number of pixels.
    seed : int
        Seed of the random generator.
    foreground_fraction : float in [0, 1], optional
        Share of foreground pixels in the sample. ``None`` (default) samples pixels uniformly, so
        the classes appear as often as they do in the image.

    Returns
    -------
    coords : int64 array, shape (n, 2)
        Rows and columns, drawn with replacement.
    """
    mask = _binary(mask, "mask")
    if mask.ndim != 2:
        raise ValueError(f"mask: expected shape (H, W), got {mask.shape}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected a non-negative int, got {n!r}")
    rng = np.random.default_rng(seed)
    if foreground_fraction is None:
        flat = rng.integers(0, mask.size, size=n)
    else:
        if not 0 <= foreground_fraction <= 1:
            raise ValueError(f"foreground_fraction: expected a number in [0, 1], got "
                             f"{foreground_fraction!r}")
        fg, bg = np.flatnonzero(mask), np.flatnonzero(~mask)
        n_fg = int(round(n * foreground_fraction))
        if (n_fg and not fg.size) or (n - n_fg and not bg.size):
            raise ValueError("mask: it has no pixels of a class the sample asks for")
        flat = np.concatenate([rng.choice(fg, n_fg), rng.choice(bg, n - n_fg)])
        rng.shuffle(flat)
    return np.stack(np.unravel_index(flat, mask.shape), axis=1).astype(np.int64)


def _training_windows(images, masks, n_windows, size, *, seed=0, foreground_fraction=None):
    """The reference training-window sampler (notebook 09 has the learner write it): a training
    set for a window classifier: random pixels of several images, their windows
    and their labels.

    Parameters
    ----------
    images : float array, shape (N, H, W)
    masks : bool array, shape (N, H, W)
        Foreground masks of the images.
    n_windows : int
        Total number of windows, spread evenly over the images (at least one per image).
    size : int
        Odd window side.
    seed : int
        Seed of the pixel sampling.
    foreground_fraction : float, optional
        As in :func:`_sample_pixels` (default: pixels drawn uniformly). An image without
        foreground pixels gives background windows only (and one without background, foreground
        windows only).

    Returns
    -------
    windows : float32 array, shape (M, size, size, 1)
    labels : float32 array, shape (M,)
        1.0 where the centre pixel is foreground.
    """
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 3:
        raise ValueError(f"images: expected shape (N, H, W), got {images.shape}")
    if masks.shape != images.shape:
        raise ValueError(f"masks: expected shape {images.shape} (the images'), got {masks.shape}")
    if isinstance(n_windows, bool) or not isinstance(n_windows, (int, np.integer)) or n_windows < 1:
        raise ValueError(f"n_windows: expected a positive int, got {n_windows!r}")
    per_image = max(1, int(n_windows) // len(images))
    windows, labels = [], []
    for i, (image, mask) in enumerate(zip(images, masks)):
        fraction = foreground_fraction
        if fraction is not None and not np.any(mask):
            fraction = 0.0                       # an image without foreground: background only
        elif fraction is not None and np.all(mask):
            fraction = 1.0                       # and one without background: foreground only
        coords = _sample_pixels(mask, per_image, seed=(seed, i), foreground_fraction=fraction)
        windows.append(extract_windows(image, coords, size))
        labels.append(_binary(mask, "masks")[coords[:, 0], coords[:, 1]])
    return (np.concatenate(windows)[..., None].astype(np.float32),
            np.concatenate(labels).astype(np.float32))


def tiles(image: ArrayLike, size: int, *, stride: int | None = None) -> np.ndarray:
    """Cut an image into square tiles (row by row), dropping what does not fill a whole tile.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
    size : int
        Tile side.
    stride : int, optional
        Step between tiles (default ``size``: no overlap).

    Returns
    -------
    ndarray, shape (n_tiles, size, size) or (n_tiles, size, size, C)
    """
    image = _image(image)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size: expected a positive int, got {size!r}")
    stride = size if stride is None else stride
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"stride: expected a positive int, got {stride!r}")
    h, w = image.shape[:2]
    if size > h or size > w:
        raise ValueError(f"size: {size} is larger than the image {(h, w)}")
    out = [image[r:r + size, c:c + size]
           for r in range(0, h - size + 1, stride) for c in range(0, w - size + 1, stride)]
    return np.stack(out)


# --------------------------------------------------------------------------------------------
# Sliding-window classifier


def build_window_classifier(window=17, width=8, *, channels=1, hidden=32, name="window_cnn"):
    """A small LeNet-like CNN that labels the centre pixel of a ``window x window`` patch
    (Ning et al. 2005).

    Layers (their names in brackets): a 4x4 *valid* convolution with ``width`` filters
    (``conv1``; 4 so that the map it gives, ``window - 3`` wide, is even), 2x2 max pooling
    (``pool1``), two 3x3 valid convolutions with ``2 * width`` filters (``conv2``, ``conv3``),
    then ``Flatten`` and two Dense layers: ``hidden`` ReLU units (``hidden``) and one sigmoid
    unit (``output``). Notebook 09 has the learner turn it into a fully convolutional network
    (the Dense layers become convolutions with the same weights).

    Parameters
    ----------
    window : int
        Odd window side, at least 13.
    width : int
        Filters of the first convolution (the next two have ``2 * width``).
    channels : int
        Image channels.
    hidden : int
        Units of the hidden Dense layer.

    Returns
    -------
    keras.Model
        Input ``(window, window, channels)`` float32, output ``(1,)``: probability of foreground.
    """
    window = _window_size(window, "window")
    if window < 13:
        raise ValueError(f"window: expected at least 13 (a 4x4 convolution, 2x2 pooling, two 3x3 "
                         f"convolutions and a dense layer), got {window}")
    for arg, value in (("width", width), ("hidden", hidden), ("channels", channels)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{arg}: expected a positive int, got {value!r}")
    keras = _keras()
    L = keras.layers
    inputs = keras.Input((window, window, channels), name="window")
    x = L.Conv2D(width, 4, activation="relu", name="conv1")(inputs)
    x = L.MaxPooling2D(2, name="pool1")(x)
    x = L.Conv2D(2 * width, 3, activation="relu", name="conv2")(x)
    x = L.Conv2D(2 * width, 3, activation="relu", name="conv3")(x)       # (k, k, 2 * width)
    x = L.Flatten(name="flatten")(x)                                     # (k * k * 2 * width,)
    x = L.Dense(hidden, activation="relu", name="hidden")(x)
    outputs = L.Dense(1, activation="sigmoid", name="output")(x)
    return keras.Model(inputs, outputs, name=name)


def _to_fully_convolutional(window_model):
    """Reference answer of notebook 09's exercise: the fully convolutional form of a model from
    :func:`build_window_classifier`, with the same weights.

    A Dense layer on a flattened ``k x k x C`` map computes the same numbers as a ``k x k``
    convolution whose kernel is the Dense kernel reshaped to ``(k, k, C, units)`` (``Flatten``
    orders its outputs row, column, channel), and a convolution slid over a bigger input computes
    every window's output at once. Pooling with stride 2 would keep only every second window, so
    it becomes pooling with stride 1, and the layers after it read their inputs 2 pixels apart
    (dilation 2), the values the window model reads after its stride-2 pooling.

    Returns
    -------
    keras.Model
        Input ``(H, W, C)`` (any ``H, W >= window``), output ``(H - window + 1, W - window + 1, 1)``:
        output pixel ``(r, c)`` is the window model's probability for the window whose top-left
        corner is ``(r, c)``. :func:`predict_dense` pads the image and calls it.
    """
    keras = _keras()
    L = keras.layers
    get = window_model.get_layer
    channels = window_model.input_shape[-1]
    k = get("conv3").output.shape[1]
    inputs = keras.Input((None, None, channels), name="image")
    x = L.Conv2D(get("conv1").filters, 4, activation="relu", name="conv1")(inputs)
    x = L.MaxPooling2D(2, strides=1, name="pool1")(x)
    x = L.Conv2D(get("conv2").filters, 3, dilation_rate=2, activation="relu", name="conv2")(x)
    x = L.Conv2D(get("conv3").filters, 3, dilation_rate=2, activation="relu", name="conv3")(x)
    x = L.Conv2D(get("hidden").units, k, dilation_rate=2, activation="relu", name="hidden")(x)
    outputs = L.Conv2D(1, 1, activation="sigmoid", name="output")(x)
    model = keras.Model(inputs, outputs, name=f"{window_model.name}_fully_convolutional")
    for name in ("conv1", "conv2", "conv3"):
        model.get_layer(name).set_weights(get(name).get_weights())
    for name in ("hidden", "output"):
        kernel, bias = get(name).get_weights()                    # (k * k * C, units), (units,)
        layer = model.get_layer(name)
        layer.set_weights([kernel.reshape(layer.kernel.shape), bias])  # (k, k, C, units)
    return model


def predict_sliding_window(model, image, *, batch_size=4096, mode="reflect") -> np.ndarray:
    """Label every pixel by running the window classifier once per pixel (the slow way).

    Parameters
    ----------
    model : keras.Model
        Input ``(window, window, C)``, output one probability per window.
    image : ndarray, shape (H, W) or (H, W, C), float
    batch_size : int
        Windows per forward pass.

    Returns
    -------
    prob : float32 array, shape (H, W)
    """
    image = _image(image)
    window = model.input_shape[1]
    h, w = image.shape[:2]
    padded = _pad(image.astype(np.float32), window // 2, mode)
    # All H * W windows as a strided view (no copy); a block of rows is copied when it is fed.
    view = np.lib.stride_tricks.sliding_window_view(padded, (window, window), axis=(0, 1))
    if image.ndim == 3:
        view = np.moveaxis(view, 2, -1)                     # (H, W, window, window, C)
    rows_per_batch = max(1, batch_size // w)
    out = np.empty((h, w), np.float32)
    for start in range(0, h, rows_per_batch):
        block = view[start:start + rows_per_batch]          # (rows, W, window, window[, C])
        batch = block.reshape(-1, *block.shape[2:])         # one window per pixel of the rows
        if batch.ndim == 3:
            batch = batch[..., None]
        out[start:start + rows_per_batch] = np.asarray(
            model(batch, training=False)).reshape(block.shape[:2])
    return out


def predict_dense(dense_model, image, *, window, mode="reflect") -> np.ndarray:
    """Label every pixel in one pass of a fully convolutional window classifier.

    The image is padded by ``window // 2`` on every side (as :func:`predict_sliding_window` does),
    so the output has the image's size. Equal (up to float rounding) to
    :func:`predict_sliding_window` when ``dense_model`` is the fully convolutional form of the
    window model.

    Parameters
    ----------
    dense_model : keras.Model
        Input ``(H, W, C)`` of any size, output ``(H - window + 1, W - window + 1, 1)``.
    image : ndarray, shape (H, W) or (H, W, C), float
    window : int
        Odd window side of the classifier the model was made from.

    Returns
    -------
    prob : float32 array, shape (H, W)
    """
    image = _image(image)
    window = _window_size(window, "window")
    padded = _pad(image.astype(np.float32), window // 2, mode)
    if padded.ndim == 2:
        padded = padded[..., None]
    out = np.asarray(dense_model(padded[None], training=False))
    if out.ndim != 4 or out.shape[1:3] != image.shape[:2] or out.shape[-1] != 1:
        raise ValueError(f"dense_model: on an image of shape {image.shape[:2]} padded to "
                         f"{padded.shape[:2]} it gives shape {out.shape[1:]}, expected "
                         f"{image.shape[:2] + (1,)} (is window={window} right?)")
    return out[0, ..., 0]


# --------------------------------------------------------------------------------------------
# U-Net


def _build_unet(depth=2, width=8, *, channels=1, n_classes=1, name="unet"):
    """Reference answer of notebook 09's exercise: a small U-Net (Ronneberger et al. 2015) for
    images whose sides are multiples of ``2**depth``.

    Contracting path: at each of ``depth`` levels two 3x3 convolutions (ReLU) then 2x2 max
    pooling, doubling the filters each level (``width``, ``2 * width``, ...). A bottleneck of two
    3x3 convolutions. Expanding path: at each level 2x2 upsampling, a 2x2 convolution, the
    **skip connection** (concatenation ``[skip, x]`` with the contracting path's features of the
    same size, on the channel axis), and two 3x3 convolutions. A 1x1 convolution gives the output.
    Unlike the original (which uses unpadded convolutions and crops), convolutions here are
    ``same``-padded so the output has the input's size.

    Parameters
    ----------
    depth : int
        Number of poolings (1 to 5).
    width : int
        Filters at the first level.
    channels : int
        Image channels.
    n_classes : int
        1: one sigmoid foreground probability per pixel; >= 2: a softmax over classes.

    Returns
    -------
    keras.Model
        Input ``(None, None, channels)``, output ``(H, W, n_classes)``.
    """
    for arg, value, lo, hi in (("depth", depth, 1, 5), ("width", width, 1, 512),
                               ("n_classes", n_classes, 1, 1000), ("channels", channels, 1, 1000)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
            raise ValueError(f"{arg}: expected an int from {lo} to {hi}, got {value!r}")
    keras = _keras()
    L = keras.layers

    def block(x, filters, tag):
        x = L.Conv2D(filters, 3, padding="same", activation="relu", name=f"{tag}_conv_a")(x)
        return L.Conv2D(filters, 3, padding="same", activation="relu", name=f"{tag}_conv_b")(x)

    inputs = keras.Input((None, None, channels), name="image")
    x, skips = inputs, []
    for level in range(depth):
        x = block(x, width * 2 ** level, f"down{level}")
        skips.append(x)
        x = L.MaxPooling2D(2, name=f"down{level}_pool")(x)
    x = block(x, width * 2 ** depth, "bottleneck")
    for level in reversed(range(depth)):
        x = L.UpSampling2D(2, name=f"up{level}_upsample")(x)
        x = L.Conv2D(width * 2 ** level, 2, padding="same", activation="relu",
                     name=f"up{level}_upconv")(x)
        x = L.Concatenate(name=f"up{level}_skip")([skips[level], x])
        x = block(x, width * 2 ** level, f"up{level}")
    activation = "sigmoid" if n_classes == 1 else "softmax"
    outputs = L.Conv2D(n_classes, 1, activation=activation, name="output")(x)
    return keras.Model(inputs, outputs, name=name)


def _n_poolings(model) -> int:
    """Number of ``MaxPooling2D`` / ``AveragePooling2D`` layers of ``model`` (the default depth of
    :func:`predict_unet`)."""
    keras = _keras()
    pools = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
    return sum(1 for layer in model.layers if isinstance(layer, pools))


def predict_unet(model, image, *, depth=None, mode="reflect") -> np.ndarray:
    """Run a U-Net on one image of any size: pad to a multiple of ``2**depth``, predict, crop.

    Parameters
    ----------
    model : keras.Model
        A U-Net with input ``(None, None, C)`` and an output the size of its input.
    image : ndarray, shape (H, W) or (H, W, C), float
    depth : int, optional
        How many times the U-Net halves the image (its input sides must be multiples of
        ``2**depth``). Default: the number of ``MaxPooling2D`` / ``AveragePooling2D`` layers of
        ``model``; give it when the model downsamples another way (e.g. strided convolutions).
    mode : str
        ``np.pad`` mode for the padding to a multiple of ``2**depth``.

    Returns
    -------
    ndarray, float32, shape (H, W) for one output class, else (H, W, n_classes)
    """
    image = _image(image).astype(np.float32)
    if depth is None:
        depth = _n_poolings(model)
    elif isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
        raise ValueError(f"depth: expected an int >= 0 (the number of halvings), got {depth!r}")
    m = 2 ** int(depth)
    h, w = image.shape[:2]
    ph, pw = -h % m, -w % m
    pad = [(0, ph), (0, pw)] + [(0, 0)] * (image.ndim - 2)
    x = np.pad(image, pad, mode=mode)
    if x.ndim == 2:
        x = x[..., None]
    out = np.asarray(model(x[None], training=False))
    if out.ndim != 4 or out.shape[1:3] != x.shape[:2]:
        raise ValueError(f"model: on an input of shape {x.shape} it gives shape {out.shape[1:]}; "
                         "a U-Net's output must have the input's height and width (if it halves "
                         f"the image more than depth={depth} times, pass depth=)")
    out = out[0, :h, :w]
    return out[..., 0] if out.shape[-1] == 1 else out


# --------------------------------------------------------------------------------------------
# Cost


def multiply_adds(model: keras.Model, input_shape: tuple[int, ...]) -> int:
    """Multiply-adds of the convolution and dense layers of ``model`` for one input.

    A ``Conv2D`` layer costs ``out_h * out_w * kernel_h * kernel_w * in_channels * filters``
    (dilation changes where the taps read, not how many there are); a ``Dense`` layer
    ``in_units * units``. Pooling, activations and biases are not counted (they are cheap).

    Parameters
    ----------
    model : keras.Model
        A functional model.
    input_shape : tuple
        Shape of one input without the batch axis, e.g. ``(64, 64, 1)``.

    Returns
    -------
    int
    """
    keras = _keras()
    layers = [layer for layer in model.layers
              if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    if not layers:
        raise ValueError(f"model: {model.name!r} has no Conv2D or Dense layers")
    if len(input_shape) != len(model.input_shape) - 1:
        raise ValueError(f"input_shape: expected {len(model.input_shape) - 1} numbers (no batch "
                         f"axis), got {input_shape!r}")
    probe = keras.Model(model.input, [layer.output for layer in layers])
    outputs = probe(np.zeros((1, *input_shape), np.float32))
    total = 0
    for layer, out in zip(layers, outputs):
        fan_in = int(np.prod(layer.kernel.shape[:-1]))       # kh * kw * in_channels, or in_units
        total += int(np.prod(out.shape[1:])) * fan_in        # outputs (incl. filters) * fan-in
    return total


# --------------------------------------------------------------------------------------------
# Scores


def dice(pred: ArrayLike, target: ArrayLike) -> float:
    """Dice coefficient ``2 |A ∩ B| / (|A| + |B|)`` of two binary masks.

    Parameters
    ----------
    pred, target : bool or 0/1 arrays of the same shape
        Probabilities must be thresholded first: other values raise ``ValueError``.

    Returns
    -------
    float in [0, 1]
        1.0 when both masks are empty (they agree perfectly; 0/0 is not returned as NaN).

    Examples
    --------
    >>> dice(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]))
    0.6666666666666666
    """
    pred, target = _pair(pred, target)
    total = pred.sum() + target.sum()
    if total == 0:
        return 1.0
    return float(2.0 * np.logical_and(pred, target).sum() / total)


def iou(pred: ArrayLike, target: ArrayLike) -> float:
    """Intersection over union (Jaccard index) ``|A ∩ B| / |A ∪ B|`` of two binary masks.

    Same conventions as :func:`dice` (1.0 for two empty masks). ``dice = 2 iou / (1 + iou)``.
    """
    pred, target = _pair(pred, target)
    union = np.logical_or(pred, target).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(pred, target).sum() / union)


def error_map(pred: ArrayLike, target: ArrayLike) -> np.ndarray:
    """Where a predicted mask is wrong: 0 correct, 1 false positive, 2 false negative.

    Parameters
    ----------
    pred, target : bool or 0/1 arrays of the same shape
        Predicted and true masks (threshold probabilities first).

    Returns
    -------
    int8 array, same shape
        1 where ``pred`` is foreground and ``target`` is not (false positive), 2 where ``target``
        is foreground and ``pred`` is not (false negative), 0 elsewhere. Codes are fixed, so a
        plot with a fixed colour per code does not change colours when one kind is absent.
    """
    pred, target = _pair(pred, target)
    out = np.zeros(pred.shape, np.int8)
    out[pred & ~target] = 1
    out[~pred & target] = 2
    return out


def _pair(pred, target):
    pred, target = _binary(pred, "pred"), _binary(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred: shape {pred.shape} differs from target's {target.shape}")
    return pred, target


# --------------------------------------------------------------------------------------------
# Instances


def separate_instances(mask: ArrayLike, *, min_distance: int = 4,
                       smooth: float = 1.0) -> np.ndarray:
    """Split a foreground mask into nuclei: distance transform, one marker per peak, watershed.

    Each foreground pixel gets its distance to the background; touching round nuclei form two
    hills joined by a saddle. Local maxima at least ``min_distance`` pixels apart become markers,
    and the watershed of the *negated* distance, restricted to the mask, grows one region per
    marker until regions meet at the saddles.

    Parameters
    ----------
    mask : bool or 0/1 array, shape (H, W)
    min_distance : int
        Smallest distance between two markers (about a nucleus radius; smaller splits more).
    smooth : float
        Gaussian sigma applied to the distance map before finding peaks (0: none); removes
        spurious peaks on ragged outlines.

    Returns
    -------
    labels : int32 array, shape (H, W)
        0 for background, 1..N for the instances.
    """
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.measure import label
    from skimage.segmentation import watershed

    mask = _binary(mask, "mask")
    if mask.ndim != 2:
        raise ValueError(f"mask: expected shape (H, W), got {mask.shape}")
    if isinstance(min_distance, bool) or not isinstance(min_distance, (int, np.integer)) \
            or min_distance < 1:
        raise ValueError(f"min_distance: expected a positive int, got {min_distance!r}")
    if smooth < 0:
        raise ValueError(f"smooth: expected a non-negative number, got {smooth!r}")
    distance = ndi.distance_transform_edt(mask)
    if smooth:
        distance = ndi.gaussian_filter(distance, smooth) * mask
    components = label(mask)
    peaks = peak_local_max(distance, min_distance=int(min_distance), labels=components,
                           exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    # Components without a peak (tiny specks) keep one marker each, so no object is dropped.
    missing = np.setdiff1d(np.unique(components[mask]), np.unique(components[markers > 0]))
    for i, comp in enumerate(missing, start=len(peaks) + 1):
        r, c = np.argwhere(components == comp)[0]
        markers[r, c] = i
    labels = watershed(-distance, markers, mask=mask)
    return _relabel(labels)


def _relabel(labels: np.ndarray) -> np.ndarray:
    ids = np.unique(labels)
    ids = ids[ids != 0]
    lut = np.zeros(int(labels.max()) + 1, np.int32)
    lut[ids] = np.arange(1, len(ids) + 1)
    return lut[labels]


def match_instances(pred_labels: ArrayLike, true_labels: ArrayLike, *,
                    iou_threshold: float = 0.5) -> dict:
    """Match predicted instances to reference instances and count.

    A predicted object matches a reference object when their IoU exceeds ``iou_threshold``
    (above 0.5 a match is necessarily one to one).

    Parameters
    ----------
    pred_labels, true_labels : int arrays, shape (H, W)
        Instance label images (0 = background).
    iou_threshold : float in [0.5, 1)

    Returns
    -------
    dict
        ``n_true``, ``n_pred``, ``matched`` (true positives), ``missed`` (reference objects not
        matched), ``spurious`` (predicted objects not matched), ``count_error`` (``n_pred -
        n_true``), ``relative_count_error`` (``|count_error| / n_true``), ``precision``,
        ``recall``, ``f1`` (of the matching), ``mean_matched_iou``.
    """
    pred_labels, true_labels = np.asarray(pred_labels), np.asarray(true_labels)
    for name, arr in (("pred_labels", pred_labels), ("true_labels", true_labels)):
        if arr.dtype.kind not in "iub":
            raise TypeError(f"{name}: expected an integer label image, got dtype {arr.dtype}")
        if arr.ndim != 2 or (arr.size and arr.min() < 0):
            raise ValueError(f"{name}: expected a 2D label image with labels >= 0, got shape "
                             f"{arr.shape}")
    if pred_labels.shape != true_labels.shape:
        raise ValueError(f"pred_labels: shape {pred_labels.shape} differs from true_labels' "
                         f"{true_labels.shape}")
    if not 0.5 <= iou_threshold < 1:
        raise ValueError(f"iou_threshold: expected a number in [0.5, 1), got {iou_threshold!r}")
    pred = _relabel(pred_labels.astype(np.int64))
    true = _relabel(true_labels.astype(np.int64))
    n_pred, n_true = int(pred.max()), int(true.max())
    # Overlap table by one bincount over pixel pairs: overlap[i, j] = |pred i ∩ true j|.
    overlap = np.bincount(pred.ravel() * (n_true + 1) + true.ravel(),
                          minlength=(n_pred + 1) * (n_true + 1)).reshape(n_pred + 1, n_true + 1)
    area_pred, area_true = overlap.sum(axis=1), overlap.sum(axis=0)
    inter = overlap[1:, 1:].astype(float)
    union = area_pred[1:, None] + area_true[None, 1:] - inter
    ious = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    hits = ious > iou_threshold
    matched = int(hits.sum())
    precision = matched / n_pred if n_pred else float(n_true == 0)
    recall = matched / n_true if n_true else float(n_pred == 0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "n_true": n_true, "n_pred": n_pred, "matched": matched, "missed": n_true - matched,
        "spurious": n_pred - matched, "count_error": n_pred - n_true,
        "relative_count_error": abs(n_pred - n_true) / n_true if n_true else float(n_pred > 0),
        "precision": precision, "recall": recall, "f1": f1,
        "mean_matched_iou": float(ious[hits].mean()) if matched else 0.0,
    }


def _keras():
    from cnncourse.device import import_keras

    return import_keras()
