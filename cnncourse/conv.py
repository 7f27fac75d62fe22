"""2D convolution in NumPy: the reference implementations behind notebook 05.

Conventions are Keras/TensorFlow's (channels last):

* an image batch ``x`` is ``(N, H, W, C)``, a single image ``(H, W, C)``;
* conv weights ``w`` are ``(KH, KW, C_in, C_out)``;
* "convolution" in deep learning is **cross-correlation**: the kernel is *not* flipped
  (:func:`correlate2d`); the textbook convolution flips it (:func:`convolve2d`).

The output size along one axis is ``(W - F + 2P) // S + 1`` (:func:`output_size`).

Examples
--------
The talk's example: a 5x5 binary image and a 3x3 kernel give a 3x3 feature map.

>>> image = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1],
...                   [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]])
>>> kernel = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]])
>>> correlate2d(image, kernel).astype(int).tolist()
[[4, 3, 4], [2, 4, 3], [2, 3, 4]]
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

from cnncourse._validate import array

__all__ = [
    "TALK_IMAGE", "TALK_KERNEL", "TALK_RESULT", "output_size", "same_padding", "correlate2d",
    "convolve2d", "conv2d_loops", "conv2d", "im2col", "pool2d", "apply_kernel", "sobel",
    "gaussian", "sharpen", "laplacian_of_gaussian", "box", "classic_kernels",
]

#: The talk's "simple example of 2D convolution": image, kernel and the convolved feature.
TALK_IMAGE = np.array([[1, 1, 1, 0, 0],
                       [0, 1, 1, 1, 0],
                       [0, 0, 1, 1, 1],
                       [0, 0, 1, 1, 0],
                       [0, 1, 1, 0, 0]])
TALK_KERNEL = np.array([[1, 0, 1],
                        [0, 1, 0],
                        [1, 0, 1]])
TALK_RESULT = np.array([[4, 3, 4],
                        [2, 4, 3],
                        [2, 3, 4]])


# --------------------------------------------------------------------------------------------
# Sizes and padding


def _pair(value, name: str) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(2, 1) -> (2, 1)``; anything else is a named error."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        return int(value[0]), int(value[1])
    raise TypeError(f"{name}: expected an int or a pair of ints, got {value!r}")


def output_size(size: int, kernel_size: int, padding: int = 0, stride: int = 1) -> int:
    """Number of positions a kernel takes along one axis: ``(W - F + 2P) // S + 1``.

    Parameters
    ----------
    size : int
        Input size ``W`` along the axis (height or width).
    kernel_size : int
        Kernel size ``F``.
    padding : int
        Zeros added on *each* side, ``P``.
    stride : int
        Step between positions, ``S``. When ``W - F + 2P`` is not a multiple of ``S`` the last
        incomplete step is dropped (floor), as in TensorFlow, Keras and PyTorch.

    Examples
    --------
    >>> output_size(5, 3)            # the talk's 5x5 image, 3x3 kernel
    3
    >>> output_size(227, 11, 0, 4)   # AlexNet's first layer
    55
    """
    for name, v in (("size", size), ("kernel_size", kernel_size), ("padding", padding),
                    ("stride", stride)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise TypeError(f"{name}: expected an int, got {v!r}")
    if size < 1 or kernel_size < 1 or padding < 0 or stride < 1:
        raise ValueError(f"expected size >= 1, kernel_size >= 1, padding >= 0, stride >= 1; got "
                         f"size={size}, kernel_size={kernel_size}, padding={padding}, stride={stride}")
    if kernel_size > size + 2 * padding:
        raise ValueError(f"kernel_size: {kernel_size} is larger than the padded input "
                         f"({size} + 2*{padding} = {size + 2 * padding})")
    return int((size - kernel_size + 2 * padding) // stride + 1)


def same_padding(size: int, kernel_size: int, stride: int = 1) -> tuple[int, int]:
    """Zeros ``(before, after)`` that TensorFlow's ``padding="SAME"`` adds along one axis.

    The output then has ``ceil(size / stride)`` positions; an odd total puts the extra zero
    *after* (so ``"same"`` with an even kernel or a stride is not symmetric).

    Examples
    --------
    >>> same_padding(5, 3)
    (1, 1)
    >>> same_padding(6, 3, stride=2)
    (0, 1)
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def _resolve_padding(padding, h, w, kh, kw, sh, sw) -> tuple[tuple[int, int], tuple[int, int]]:
    """``padding`` as ``((top, bottom), (left, right))``."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0), (0, 0)
        if mode == "same":
            return same_padding(h, kh, sh), same_padding(w, kw, sw)
        raise ValueError(f"padding: expected 'valid', 'same', an int or ((top, bottom), "
                         f"(left, right)), got {padding!r}")
    if (isinstance(padding, (tuple, list)) and len(padding) == 2
            and all(isinstance(p, (tuple, list)) for p in padding)):
        (pt, pb), (pl, pr) = _pair(tuple(padding[0]), "padding"), _pair(tuple(padding[1]), "padding")
    else:
        ph, pw = _pair(padding, "padding")
        pt, pb, pl, pr = ph, ph, pw, pw
    if min(pt, pb, pl, pr) < 0:
        raise ValueError(f"padding: expected non-negative amounts, got {padding!r}")
    return (pt, pb), (pl, pr)


# --------------------------------------------------------------------------------------------
# Convolution


def _as_2d(a, name: str) -> np.ndarray:
    return array(a, name, ndim=2, shape="(H, W)", kinds="biuf")


def correlate2d(image: ArrayLike, kernel: ArrayLike) -> np.ndarray:
    """'Valid' 2D cross-correlation of one channel, written as plain loops.

    ``out[i, j] = sum_{u, v} image[i + u, j + v] * kernel[u, v]``: the kernel slides over the
    image *without* being flipped. This is what CNN layers (and ``tf.nn.conv2d``) compute.

    Parameters
    ----------
    image : ndarray, shape (H, W)
    kernel : ndarray, shape (KH, KW), KH <= H and KW <= W

    Returns
    -------
    ndarray, shape (H - KH + 1, W - KW + 1), float64

    Raises
    ------
    ValueError
        ``image`` or ``kernel`` not 2-D; a kernel larger than the image.
    TypeError
        A non-numeric dtype.
    """
    image, kernel = _as_2d(image, "image"), _as_2d(kernel, "kernel")
    kh, kw = kernel.shape
    if kh > image.shape[0] or kw > image.shape[1]:
        raise ValueError(f"kernel: shape {kernel.shape} is larger than the image {image.shape}")
    ho, wo = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    out = np.zeros((ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[i, j] = np.sum(image[i:i + kh, j:j + kw] * kernel)
    return out


def convolve2d(image: ArrayLike, kernel: ArrayLike) -> np.ndarray:
    """'Valid' 2D *convolution* in the mathematical sense: cross-correlation with the kernel
    rotated by 180 degrees (``kernel[::-1, ::-1]``). Same shapes, dtype and errors as
    :func:`correlate2d`.

    Examples
    --------
    >>> convolve2d([[1, 2, 3]], [[1, 0]]).tolist()          # the kernel flipped: [0, 1]
    [[2.0, 3.0]]
    >>> correlate2d([[1, 2, 3]], [[1, 0]]).tolist()
    [[1.0, 2.0]]
    """
    kernel = _as_2d(kernel, "kernel")
    return correlate2d(image, kernel[::-1, ::-1])


def _check_conv_inputs(x, w):
    x, w = np.asarray(x), np.asarray(w)
    if x.ndim not in (3, 4):
        raise ValueError(f"x: expected shape (H, W, C_in) or (N, H, W, C_in), got {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"w: expected shape (KH, KW, C_in, C_out), got {w.shape}")
    for name, a in (("x", x), ("w", w)):
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{name}: expected a numeric array, got dtype {a.dtype}")
    if x.shape[-1] != w.shape[2]:
        raise ValueError(f"w: expected C_in = {x.shape[-1]} (the last axis of x) in w.shape[2], got "
                         f"w.shape = {w.shape}; weights are laid out (KH, KW, C_in, C_out)")
    return x, w


def _prepare(x, w, stride, padding):
    x, w = _check_conv_inputs(x, w)
    single = x.ndim == 3
    if single:
        x = x[None]
    sh, sw = _pair(stride, "stride")
    if sh < 1 or sw < 1:
        raise ValueError(f"stride: expected >= 1, got {stride!r}")
    kh, kw = w.shape[:2]
    (pt, pb), (pl, pr) = _resolve_padding(padding, x.shape[1], x.shape[2], kh, kw, sh, sw)
    if kh > x.shape[1] + pt + pb or kw > x.shape[2] + pl + pr:
        raise ValueError(f"w: kernel {kh}x{kw} is larger than the padded input "
                         f"{x.shape[1] + pt + pb}x{x.shape[2] + pl + pr}")
    dtype = np.result_type(x.dtype, w.dtype, np.float32)
    xp = np.pad(x.astype(dtype, copy=False), ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    return xp, w.astype(dtype, copy=False), (sh, sw), single


def conv2d_loops(x: ArrayLike, w: ArrayLike, *, stride: int | tuple[int, int] = 1,
                 padding: int | str | tuple = 0) -> np.ndarray:
    """Multi-channel 2D convolution layer (cross-correlation), with explicit loops over the output
    positions: slow, but every index is visible. Same arguments, result and errors as
    :func:`conv2d` (without a bias).

    Examples
    --------
    >>> x, w = np.arange(16.0).reshape(4, 4, 1), np.ones((2, 2, 1, 1))
    >>> np.array_equal(conv2d_loops(x, w, stride=2), conv2d(x, w, stride=2))
    True
    """
    xp, w, (sh, sw), single = _prepare(x, w, stride, padding)
    kh, kw, _, cout = w.shape
    n, hp, wp, _ = xp.shape
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    out = np.zeros((n, ho, wo, cout), dtype=xp.dtype)
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]        # (N, KH, KW, C_in)
            out[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2]))  # (N, C_out)
    return out[0] if single else out


def im2col(x: ArrayLike, kernel_size: int | tuple[int, int],
           stride: int | tuple[int, int] = 1) -> np.ndarray:
    """Every kernel-sized patch of ``x`` as one row ("image to columns").

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C) (already padded)
    kernel_size, stride : int or (int, int)

    Returns
    -------
    ndarray, shape (N, H_out, W_out, KH * KW * C)
        Row ``[n, i, j]`` is ``x[n, i*S:i*S+KH, j*S:j*S+KW, :]`` flattened in (KH, KW, C) order,
        so ``im2col(x) @ w.reshape(-1, C_out)`` is the convolution.

    Raises
    ------
    ValueError
        ``x`` not 4-D; sizes or strides not positive integers; a kernel larger than ``x``.

    Examples
    --------
    >>> im2col(np.arange(9.0).reshape(1, 3, 3, 1), 2).shape
    (1, 2, 2, 4)
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x: expected shape (N, H, W, C), got {x.shape}")
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(stride, "stride")
    win = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]  # (N, Ho, Wo, C, KH, KW)
    win = win.transpose(0, 1, 2, 4, 5, 3)                               # (N, Ho, Wo, KH, KW, C)
    return win.reshape(*win.shape[:3], -1)


_IM2COL_BYTES = 64 * 2 ** 20


def conv2d(x: ArrayLike, w: ArrayLike, b: ArrayLike | None = None, *,
           stride: int | tuple[int, int] = 1, padding: int | str | tuple = 0) -> np.ndarray:
    """Multi-channel 2D convolution layer (cross-correlation, as ``tf.nn.conv2d``), vectorised
    with im2col: one matrix product instead of loops.

    Parameters
    ----------
    x : ndarray, shape (H, W, C_in) or (N, H, W, C_in)
        Channels last.
    w : ndarray, shape (KH, KW, C_in, C_out)
    b : ndarray, shape (C_out,), optional
        Bias added to every output position.
    stride : int or (int, int)
    padding : int, (int, int), ((top, bottom), (left, right)), "valid" or "same"
        Zeros around the input. ``"same"`` follows TensorFlow (output ``ceil(H / S)``).

    Returns
    -------
    ndarray, shape (H_out, W_out, C_out) or (N, H_out, W_out, C_out)
        float32 when ``x`` and ``w`` are float32 (or smaller), else float64;
        ``H_out = (H - KH + P_top + P_bottom) // S + 1``.

    Raises
    ------
    ValueError
        ``x`` not 3-D or 4-D; ``w`` not 4-D or with another ``C_in`` than ``x``; ``b`` not of
        shape (C_out,); a stride < 1; negative or unknown padding; a kernel larger than the
        padded input.
    TypeError
        A non-numeric dtype.

    Examples
    --------
    >>> x = np.ones((4, 4, 2)); w = np.ones((3, 3, 2, 1))
    >>> conv2d(x, w, padding="same")[..., 0]
    array([[ 8., 12., 12.,  8.],
           [12., 18., 18., 12.],
           [12., 18., 18., 12.],
           [ 8., 12., 12.,  8.]])
    """
    xp, w, (sh, sw), single = _prepare(x, w, stride, padding)
    kh, kw, cin, cout = w.shape
    n, hp, wp, _ = xp.shape
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    w2 = w.reshape(-1, cout)                                # (KH*KW*C_in, C_out)
    # im2col copies every patch: KH*KW times the input. Large kernels go in blocks of output rows
    # so that the copy stays under about 64 MB.
    rows = max(1, _IM2COL_BYTES // max(1, n * wo * kh * kw * cin * xp.itemsize))
    out = np.empty((n, ho, wo, cout), dtype=xp.dtype)
    for i0 in range(0, ho, rows):
        i1 = min(ho, i0 + rows)
        block = xp[:, i0 * sh:(i1 - 1) * sh + kh]
        out[:, i0:i1] = im2col(block, (kh, kw), (sh, sw)) @ w2  # (N, rows, Wo, KH*KW*C_in) @ ...
    if b is not None:
        b = np.asarray(b)
        if b.shape != (cout,):
            raise ValueError(f"b: expected shape ({cout},) (one bias per output channel), got {b.shape}")
        out = out + b
    return out[0] if single else out


def pool2d(x: ArrayLike, size: int | tuple[int, int] = 2,
           stride: int | tuple[int, int] | None = None, mode: str = "max") -> np.ndarray:
    """Max or average pooling over ``size`` windows of each channel separately ('valid': windows
    that do not fit are dropped, as Keras' ``MaxPooling2D`` does).

    Parameters
    ----------
    x : ndarray, shape (H, W, C) or (N, H, W, C)
    size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``size`` (non-overlapping windows).
    mode : {"max", "avg"}

    Returns
    -------
    ndarray, shape (H_out, W_out, C) or (N, H_out, W_out, C), ``H_out = (H - size) // stride + 1``

    Raises
    ------
    ValueError
        ``x`` not 3-D or 4-D; sizes or strides not positive integers; a window larger than
        ``x``; an unknown ``mode``.

    Examples
    --------
    >>> pool2d(np.arange(16.0).reshape(4, 4, 1))[..., 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"x: expected shape (H, W, C) or (N, H, W, C), got {x.shape}")
    if mode not in ("max", "avg"):
        raise ValueError(f"mode: expected 'max' or 'avg', got {mode!r}")
    ph, pw = _pair(size, "size")
    sh, sw = _pair(size if stride is None else stride, "stride")
    if ph < 1 or pw < 1 or sh < 1 or sw < 1:
        raise ValueError(f"size and stride: expected >= 1, got size={size!r}, stride={stride!r}")
    if ph > x.shape[-3] or pw > x.shape[-2]:
        raise ValueError(f"size: window {ph}x{pw} is larger than the input {x.shape[-3]}x{x.shape[-2]}")
    win = sliding_window_view(x, (ph, pw), axis=(-3, -2))[..., ::sh, ::sw, :, :, :]
    return win.max(axis=(-2, -1)) if mode == "max" else win.mean(axis=(-2, -1))


def apply_kernel(image: ArrayLike, kernel: ArrayLike, *, pad_mode: str = "reflect") -> np.ndarray:
    """Filter a grey image with a 2D kernel (cross-correlation), output the same size.

    The border is padded with ``np.pad(..., mode=pad_mode)`` ("reflect" avoids the dark frame
    that zero padding gives), then :func:`conv2d` runs 'valid'.

    Parameters
    ----------
    image : ndarray, shape (H, W)
    kernel : ndarray, shape (KH, KW), odd sizes
    pad_mode : str
        Any ``np.pad`` mode: "reflect", "edge", "constant" (zeros), ...

    Returns
    -------
    ndarray, shape (H, W), float64

    Raises
    ------
    ValueError
        ``image`` or ``kernel`` not 2-D; a kernel of even size.
    """
    image, kernel = _as_2d(image, "image"), _as_2d(kernel, "kernel")
    kh, kw = kernel.shape
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"kernel: expected odd sizes so the output is centred, got {kernel.shape}")
    padded = np.pad(image.astype(np.float64), ((kh // 2,) * 2, (kw // 2,) * 2), mode=pad_mode)
    return conv2d(padded[..., None], kernel.astype(np.float64)[:, :, None, None])[..., 0]


# --------------------------------------------------------------------------------------------
# Classic hand-made kernels


def sobel(axis: str = "x") -> np.ndarray:
    """Sobel kernel (3, 3): ``axis="x"`` responds to intensity rising to the right (vertical
    edges), ``"y"`` to intensity rising downwards (horizontal edges).

    Raises
    ------
    ValueError
        ``axis`` other than "x" or "y".

    Examples
    --------
    >>> sobel("x")[1].tolist()
    [-2.0, 0.0, 2.0]
    """
    kx = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    if axis == "x":
        return kx
    if axis == "y":
        return kx.T.copy()
    raise ValueError(f"axis: expected 'x' or 'y', got {axis!r}")


def _radius(sigma: float, size: int | None) -> int:
    if not sigma > 0:
        raise ValueError(f"sigma: expected > 0, got {sigma!r}")
    if size is None:
        return max(1, int(math.ceil(3 * sigma)))
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size: expected an odd int >= 1, got {size!r}")
    return size // 2


def gaussian(sigma: float = 1.0, size: int | None = None) -> np.ndarray:
    """Gaussian blur kernel, (size, size) summing to 1; ``size`` defaults to ``2*ceil(3 sigma)+1``.

    Raises
    ------
    ValueError
        ``sigma <= 0``; ``size`` not an odd int >= 1.

    Examples
    --------
    >>> gaussian(1.0).shape, round(float(gaussian(1.0).sum()), 6)
    ((7, 7), 1.0)
    """
    r = _radius(sigma, size)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    k = np.exp(-(xx ** 2 + yy ** 2) / (2.0 * sigma ** 2))
    return k / k.sum()


def laplacian_of_gaussian(sigma: float = 1.5, size: int | None = None) -> np.ndarray:
    """Laplacian of Gaussian, (size, size), shifted to sum to 0 and scaled by ``sigma**2``
    (so responses at different scales compare). Negated ("Mexican hat"): bright blobs of radius
    about ``sigma * sqrt(2)`` give a strong *positive* response."""
    r = _radius(sigma, size)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    q = (xx ** 2 + yy ** 2) / (2.0 * sigma ** 2)
    k = (1.0 - q) * np.exp(-q)
    k = k - k.mean()
    return k / np.abs(k).sum() * 2.0


def sharpen() -> np.ndarray:
    """Sharpening kernel (3, 3): the image plus its negative Laplacian (weights sum to 1)."""
    return np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]])


def box(size: int = 3) -> np.ndarray:
    """Mean filter (size, size) summing to 1."""
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size: expected an int >= 1, got {size!r}")
    return np.full((size, size), 1.0 / size ** 2)


def classic_kernels(sigma: float = 1.5) -> dict[str, np.ndarray]:
    """The classic hand-made filters, by name: Sobel x / y, Gaussian blur, sharpen, LoG."""
    return {"Sobel x (vertical edges)": sobel("x"), "Sobel y (horizontal edges)": sobel("y"),
            f"Gaussian blur (sigma={sigma:g})": gaussian(sigma), "sharpen": sharpen(),
            f"Laplacian of Gaussian (sigma={sigma:g})": laplacian_of_gaussian(sigma)}
