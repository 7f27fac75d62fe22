"""Checks for notebook 05 (convolution): weight counts, output size, cross-correlation with loops
and vectorised, pooling, CT windowing.

The conv2d checkers compare with :mod:`cnncourse.conv` (itself tested equal to ``tf.nn.conv2d``)
and, when an answer is wrong or crashes, also try it on re-laid-out inputs to name a layout mistake
(channels first, PyTorch's weight order) or a padding mistake.
"""
from __future__ import annotations

import copy
from typing import Any, Callable

import numpy as np

from cnncourse import conv as _conv
from cnncourse.checks import Case, Mistake, check_function, check_value, compare

# --------------------------------------------------------------------------------------------
# Counting weights


def fc_weights(value: Any) -> Any:
    """Check the number of weights of ONE fully connected neuron on a 256x256x3 image: 196,608."""
    return check_value(
        value, 256 * 256 * 3, name="fc_weights",
        mistakes=[
            Mistake("you forgot the 3 colour channels: every pixel has an R, a G and a B value, "
                    "each with its own weight (256*256*3).", wrong=256 * 256),
            Mistake("you added the bias: the talk counts the 196,608 *weights*; the bias is one "
                    "extra parameter on top.", wrong=256 * 256 * 3 + 1),
            Mistake("you added the sizes; the neuron has one weight per input number, so multiply "
                    "them: 256*256*3.", wrong=256 + 256 + 3),
            Mistake("256*3 counts one row of pixels only; the neuron sees all 256 rows.",
                    wrong=256 * 3),
        ],
        hint="one weight per input number: height * width * channels.")


#: The conv-layer exercise: 16 filters of 5x5 on a 256x256x3 image, stride 1, no padding.
CONV_LAYER = {"height": 256, "width": 256, "channels": 3, "filters": 16, "kernel": 5}


def conv_layer_params(value: Any) -> Any:
    """Check the parameter count of a conv layer: 16 filters of 5x5 on a 3-channel input = 1216."""
    k, c, f = CONV_LAYER["kernel"], CONV_LAYER["channels"], CONV_LAYER["filters"]
    out_positions = (CONV_LAYER["height"] - k + 1) * (CONV_LAYER["width"] - k + 1)
    return check_value(
        value, (k * k * c + 1) * f, name="conv_layer_params",
        mistakes=[
            Mistake("you forgot the biases: each of the 16 filters has one bias (+16).",
                    wrong=k * k * c * f),
            Mistake("you forgot the input channels: a filter spans the whole input depth, so it is "
                    "5x5x3, not 5x5 (the talk: 'in depth axis it is always equal to the depth of "
                    "the input volume').", wrong=(k * k + 1) * f),
            Mistake("you forgot the input channels and the biases.", wrong=k * k * f),
            Mistake("you gave all filters a single shared bias; each filter has its own.",
                    wrong=k * k * c * f + 1),
            Mistake("you counted one filter; the layer has 16.", wrong=k * k * c + 1),
            Mistake("you counted a separate set of weights at every output position: that is a "
                    "*locally connected* layer. With parameter sharing every position uses the "
                    "same 16 filters.", wrong=(k * k * c + 1) * f * out_positions),
        ],
        hint="(weights per filter + 1 bias) * number of filters; a filter is 5x5xC_in.")


# --------------------------------------------------------------------------------------------
# Output size


def _output_size(size, kernel_size, padding=0, stride=1):
    return (size - kernel_size + 2 * padding) // stride + 1


_SIZE_CASES = [
    Case((5, 3, 0, 1), label="W=5, F=3, P=0, S=1 (the talk's example)"),
    Case((32, 5, 0, 1), label="W=32, F=5, P=0, S=1 (LeNet's C1)"),
    Case((256, 5, 2, 1), label="W=256, F=5, P=2, S=1"),
    Case((227, 11, 0, 4), label="W=227, F=11, P=0, S=4 (AlexNet's first layer)"),
    Case((7, 3, 1, 2), label="W=7, F=3, P=1, S=2"),
    Case((6, 3, 0, 2), label="W=6, F=3, P=0, S=2 (does not divide evenly)"),
    Case((8, 2, 0, 2), label="W=8, F=2, P=0, S=2 (a 2x2 pooling window)"),
]


def output_size(fn: Callable) -> Callable:
    """Check ``output_size(size, kernel_size, padding, stride)`` = ``(W - F + 2P) // S + 1``."""
    return check_function(
        fn, _output_size, _SIZE_CASES, name="output_size",
        mistakes=[
            Mistake("you forgot the + 1: a kernel as large as the input still fits once.",
                    wrong=lambda w, f, p=0, s=1: (w - f + 2 * p) // s),
            Mistake("padding P is added on *both* sides: use 2*P.",
                    wrong=lambda w, f, p=0, s=1: (w - f + p) // s + 1),
            Mistake("you divided with /, which gives a fraction when the stride does not divide "
                    "evenly; the last incomplete step is dropped: use // (floor).",
                    wrong=lambda w, f, p=0, s=1: (w - f + 2 * p) / s + 1),
            Mistake("you rounded up; frameworks round down (the kernel must fit entirely).",
                    wrong=lambda w, f, p=0, s=1: -(-(w - f + 2 * p) // s) + 1),
            Mistake("the stride divides (W - F + 2P) only, then + 1 is added: "
                    "(W - F + 2P) // S + 1, not (W - F + 2P + 1) // S.",
                    wrong=lambda w, f, p=0, s=1: (w - f + 2 * p + 1) // s),
        ],
        hint="(W - F + 2*P) // S + 1.")


# --------------------------------------------------------------------------------------------
# Cross-correlation and conv2d


def _correlate2d(image, kernel):
    return _conv.correlate2d(image, kernel)


def _cases_correlate():
    rng = np.random.default_rng(5)
    return [
        Case((_conv.TALK_IMAGE.copy(), _conv.TALK_KERNEL.copy()),
             label="the talk's 5x5 image and 3x3 kernel"),
        Case((np.arange(24.0).reshape(4, 6), np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])),
             label="a 4x6 ramp, an asymmetric 2x3 kernel"),
        Case((rng.integers(0, 5, (6, 5)).astype(float), rng.integers(-2, 3, (3, 3)).astype(float)),
             label="a random 6x5 image, a random 3x3 kernel"),
        Case((rng.random((3, 3)), rng.random((3, 3))), label="kernel as large as the image"),
        Case((rng.random((4, 5)), np.array([[2.0]])), label="a 1x1 kernel"),
    ]


def _off_by_one(got, expected, case):
    g, e = np.shape(got), np.shape(expected)
    if len(g) != len(e) or g == e:
        return False
    return all(abs(a - b) <= 1 for a, b in zip(g[:2], e[:2])) and g[2:] == e[2:]


_OFF_BY_ONE = ("the output has one row or column too many or too few: there are (W - F + 2P) // S "
               "+ 1 positions along each axis. `range(H - F)` misses the last one; "
               "`range(H - F + 2)` slides past the edge.")
_FLIPPED = ("you flipped the kernel (kernel[::-1, ::-1]): that is *convolution* in the "
            "mathematical sense. CNN layers and tf.nn.conv2d compute *cross-correlation*: the "
            "kernel slides over the image as it is. (The talk's kernel is symmetric, so its example "
            "cannot tell the two apart; an asymmetric kernel can.)")


def correlate2d(fn: Callable) -> Callable:
    """Check ``correlate2d(image, kernel)``: 'valid' cross-correlation of one channel."""
    return check_function(
        fn, _correlate2d, _cases_correlate(), name="correlate2d",
        mistakes=[
            Mistake(_FLIPPED, wrong=lambda im, k: _conv.convolve2d(im, k)),
            Mistake("the output is as large as the image: this exercise is 'valid' (no padding), "
                    "so only positions where the whole kernel fits count.",
                    when=lambda g, e, c: np.shape(g) == np.shape(c.args[0])),
            Mistake(_OFF_BY_ONE, when=_off_by_one),
        ],
        hint="out[i, j] = np.sum(image[i:i+KH, j:j+KW] * kernel) for i < H-KH+1, j < W-KW+1.")


def _conv2d(x, w, stride=1, padding=0):
    return _conv.conv2d(np.asarray(x, float), np.asarray(w, float), stride=stride, padding=padding)


def _cases_conv2d():
    rng = np.random.default_rng(7)

    def case(h, wd, cin, kh, kw, cout, stride, padding):
        x = rng.integers(-3, 4, (h, wd, cin)).astype(float)
        w = rng.integers(-2, 3, (kh, kw, cin, cout)).astype(float)
        return Case((x, w), {"stride": stride, "padding": padding},
                    label=f"x {x.shape}, w {w.shape}, stride={stride}, padding={padding}")

    talk = Case((_conv.TALK_IMAGE[..., None].astype(float),
                 _conv.TALK_KERNEL[:, :, None, None].astype(float)), {"stride": 1, "padding": 0},
                label="the talk's example, x (5, 5, 1), w (3, 3, 1, 1)")
    return [talk, case(6, 7, 2, 3, 2, 3, 1, 0), case(7, 6, 3, 3, 3, 4, 2, 1),
            case(8, 9, 2, 2, 3, 5, 3, 2), case(5, 5, 4, 5, 5, 2, 1, 0), case(6, 5, 3, 3, 3, 2, 1, 1)]


def _same(a, b) -> bool:
    try:
        return compare(a, b, rtol=1e-5, atol=1e-6)[0]
    except Exception:
        return False


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception:
        return None


def _layout_finding(fn, case: Case, expected, got) -> str | None:
    """Try ``fn`` on re-laid-out inputs to name a layout or padding mistake (a finding code)."""
    x, w = case.args
    stride, padding = case.kwargs["stride"], case.kwargs["padding"]
    exp_chw = np.transpose(expected, (2, 0, 1))
    w_oihw = np.ascontiguousarray(np.transpose(w, (3, 2, 0, 1)))
    x_chw = np.ascontiguousarray(np.transpose(x, (2, 0, 1)))
    if got is not None and _same(got, exp_chw):
        return "channels first"
    if _same(_call(fn, x_chw, w_oihw, stride=stride, padding=padding), exp_chw):
        return "pytorch"
    if _same(_call(fn, x.copy(), w_oihw, stride=stride, padding=padding), expected):
        return "oihw"
    if _same(_call(fn, x.copy(), np.ascontiguousarray(np.transpose(w, (0, 1, 3, 2))), stride=stride,
                   padding=padding), expected):
        return "hwoi"
    if _same(_call(fn, x_chw, w.copy(), stride=stride, padding=padding), expected):
        return "chw image"
    if padding:
        xp = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
        if _same(_call(fn, xp, w.copy(), stride=stride, padding=0), expected):
            return "padding"
    return None


def _conv2d_mistakes():
    return [
        Mistake(_FLIPPED, wrong=lambda x, w, stride=1, padding=0:
                _conv2d(x, np.asarray(w)[::-1, ::-1], stride, padding)),
        Mistake("you ignored the stride: the kernel must move S pixels at a time "
                "(rows i*S, columns j*S).",
                wrong=lambda x, w, stride=1, padding=0: _conv2d(x, w, 1, padding)),
        Mistake("you ignored the padding: add P zeros on each side of the two spatial axes first.",
                wrong=lambda x, w, stride=1, padding=0: _conv2d(x, w, stride, 0)),
        Mistake("you padded one side only; P zeros go on *both* sides (top and bottom, left and "
                "right).", wrong=lambda x, w, stride=1, padding=0:
                _conv.conv2d(np.asarray(x, float), np.asarray(w, float), stride=stride,
                             padding=((padding, 0), (padding, 0)))),
        Mistake("you used only the first input channel; each filter spans all C_in channels "
                "and sums over them.", wrong=lambda x, w, stride=1, padding=0:
                _conv2d(np.asarray(x)[..., :1], np.asarray(w)[:, :, :1], stride, padding)),
        Mistake(_OFF_BY_ONE, when=_off_by_one),
        Mistake("the values are right but the result is channels-first (C_out, H_out, W_out); "
                "Keras and TensorFlow keep channels last: (H_out, W_out, C_out).",
                finding="channels first"),
        Mistake("your function works in PyTorch's layout (x as (C, H, W), w as (C_out, C_in, KH, "
                "KW), result (C_out, H, W)). Here, as in Keras/TensorFlow, everything is channels "
                "last: x (H, W, C_in), w (KH, KW, C_in, C_out), result (H_out, W_out, C_out).",
                finding="pytorch"),
        Mistake("you read the weights as (C_out, C_in, KH, KW) (PyTorch's order); Keras and "
                "tf.nn.conv2d lay them out (KH, KW, C_in, C_out): w[:, :, :, k] is filter k.",
                finding="oihw"),
        Mistake("you read the weights as (KH, KW, C_out, C_in); the order is (KH, KW, C_in, "
                "C_out): w[:, :, :, k] is filter k.", finding="hwoi"),
        Mistake("you read the image as (C, H, W) (channels first); here it is (H, W, C): "
                "H, W, C = x.shape.", finding="chw image"),
        Mistake("your function is right without padding, so the padding is wrong. Pad only "
                "the two spatial axes: np.pad(x, ((P, P), (P, P), (0, 0))); np.pad(x, P) "
                "would also pad the channel axis.", finding="padding"),
    ]


def _check_conv2d(fn, name):
    """Check a conv2d answer. Its call adapter also tries a wrong (or crashing) answer on the
    case's inputs laid out otherwise (:func:`_layout_finding`): what it finds names the mistake."""
    layouts = {}   # id(case) -> the layout finding for the answer on that case

    def call(f, case):
        args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
        if f is not fn:
            return f(*args, **kwargs)
        expected = _conv2d(*case.args, **case.kwargs)
        try:
            got = f(*args, **kwargs)
        except NotImplementedError:
            raise
        except Exception:   # which layout would it run (and be right) in?
            layouts[id(case)] = _layout_finding(f, case, expected, None)
            raise
        if not _same(got, expected):
            layouts[id(case)] = _layout_finding(f, case, expected, got)
        return got

    return check_function(
        fn, _conv2d, _cases_conv2d(), name=name, mistakes=_conv2d_mistakes(), rtol=1e-5, atol=1e-6,
        call=call, diagnose=lambda got, expected, case: {layouts.get(id(case))} - {None},
        hint="out[i, j, :] = sum over (u, v, c) of xpad[i*S+u, j*S+v, c] * w[u, v, c, :].")


def conv2d(fn: Callable) -> Callable:
    """Check ``conv2d(x, w, stride=1, padding=0)`` (loops): x (H, W, C_in), w (KH, KW, C_in,
    C_out) -> (H_out, W_out, C_out), cross-correlation as ``tf.nn.conv2d``."""
    return _check_conv2d(fn, "conv2d")


def conv2d_fast(fn: Callable) -> Callable:
    """Check the vectorised ``conv2d_fast(x, w, stride=1, padding=0)``; same contract as conv2d."""
    return _check_conv2d(fn, "conv2d_fast")


# --------------------------------------------------------------------------------------------
# Pooling


def _pool2d(x, size=2, stride=None, mode="max"):
    return _conv.pool2d(np.asarray(x, float), size, stride, mode)


def _cases_pool():
    rng = np.random.default_rng(11)
    x = rng.integers(0, 10, (4, 4, 2)).astype(float)
    return [
        Case((x,), {"size": 2, "stride": None, "mode": "max"}, label="x (4, 4, 2), 2x2 max"),
        Case((rng.integers(0, 10, (6, 6, 2)).astype(float),), {"size": 2, "stride": None,
             "mode": "avg"}, label="x (6, 6, 2), 2x2 average"),
        Case((rng.integers(0, 10, (5, 7, 3)).astype(float),), {"size": 2, "stride": None,
             "mode": "max"}, label="x (5, 7, 3), 2x2 max (odd sizes)"),
        Case((rng.integers(0, 10, (7, 7, 2)).astype(float),), {"size": 3, "stride": 2,
             "mode": "max"}, label="x (7, 7, 2), 3x3 max, stride 2 (overlapping)"),
        Case((rng.integers(0, 10, (6, 5, 2)).astype(float),), {"size": 3, "stride": 1,
             "mode": "avg"}, label="x (6, 5, 2), 3x3 average, stride 1"),
    ]


def _pool_partial(x, size=2, stride=None, mode="max"):
    """Pooling that keeps incomplete windows at the border (ceil instead of floor)."""
    x = np.asarray(x, float)
    s = size if stride is None else stride
    h, w = x.shape[:2]
    ho, wo = -(-(h - size) // s) + 1, -(-(w - size) // s) + 1
    out = np.zeros((ho, wo, x.shape[2]))
    for i in range(ho):
        for j in range(wo):
            win = x[i * s:i * s + size, j * s:j * s + size]
            out[i, j] = win.max(axis=(0, 1)) if mode == "max" else win.mean(axis=(0, 1))
    return out


def pool2d(fn: Callable) -> Callable:
    """Check ``pool2d(x, size=2, stride=None, mode="max")``: x (H, W, C), per-channel pooling."""
    swapped = {"max": "avg", "avg": "max"}
    return check_function(
        fn, _pool2d, _cases_pool(), name="pool2d",
        mistakes=[
            Mistake("you swapped max and average: mode='max' takes the largest value of each "
                    "window, mode='avg' the mean.",
                    wrong=lambda x, size=2, stride=None, mode="max": _pool2d(x, size, stride,
                                                                             swapped[mode])),
            Mistake("you ignored the stride argument; stride=None means stride = size "
                    "(non-overlapping windows), otherwise move `stride` pixels.",
                    wrong=lambda x, size=2, stride=None, mode="max": _pool2d(x, size, size, mode)),
            Mistake("stride=None must mean stride = size; you moved one pixel at a time.",
                    wrong=lambda x, size=2, stride=None, mode="max": _pool2d(x, size, stride or 1,
                                                                             mode)),
            Mistake("you pooled across channels too (or dropped the channel axis); pooling works "
                    "on each channel separately and keeps all C channels: (H_out, W_out, C).",
                    when=lambda g, e, c: np.ndim(e) == 3 and np.shape(e)[2] > 1
                    and np.shape(g) in (np.shape(e)[:2], np.shape(e)[:2] + (1,))),
            Mistake("you kept incomplete windows at the right/bottom border; Keras' "
                    "MaxPooling2D (padding='valid') drops them: (W - size) // stride + 1 windows.",
                    wrong=_pool_partial),
            Mistake(_OFF_BY_ONE, when=_off_by_one),
        ],
        hint="window (i, j) is x[i*S:i*S+size, j*S:j*S+size, :]; reduce it over axes (0, 1).")


# --------------------------------------------------------------------------------------------
# CT windowing


def _window(hu, center, width):
    hu = np.asarray(hu, dtype=float)
    return np.clip((hu - (center - width / 2)) / width, 0.0, 1.0)


def _cases_window():
    hu = np.array([[-1000.0, -600.0, -160.0], [0.0, 40.0, 240.0], [400.0, 1000.0, 3000.0]])
    return [
        Case((hu, 40, 400), label="a 3x3 HU grid, soft-tissue window (C=40, W=400)"),
        Case((hu, -600, 1500), label="the same grid, lung window (C=-600, W=1500)"),
        Case((np.linspace(-1200, 2000, 17), 400, 1800), label="a HU ramp, bone window (C=400, W=1800)"),
    ]


def window(fn: Callable) -> Callable:
    """Check ``window(hu, center, width)`` -> float in [0, 1], clipped outside the window."""
    return check_function(
        fn, _window, _cases_window(), name="window",
        mistakes=[
            Mistake("you forgot to clip: HU outside [C - W/2, C + W/2] must become 0 or 1 "
                    "(np.clip(..., 0, 1)).",
                    wrong=lambda hu, c, w: (np.asarray(hu, float) - (c - w / 2)) / w),
            Mistake("the window spans C - W/2 to C + W/2; you used W as the half-width "
                    "(C - W to C + W).",
                    wrong=lambda hu, c, w: np.clip((np.asarray(hu, float) - (c - w)) / (2 * w), 0, 1)),
            Mistake("the lowest value shown is C - W/2: subtract it before dividing by W.",
                    wrong=lambda hu, c, w: np.clip(np.asarray(hu, float) / w, 0, 1)),
            Mistake("you subtracted the centre C instead of the window's lower edge C - W/2.",
                    wrong=lambda hu, c, w: np.clip((np.asarray(hu, float) - c) / w, 0, 1)),
            Mistake("you swapped centre and width.",
                    wrong=lambda hu, c, w: np.clip((np.asarray(hu, float) - (w - c / 2)) / c, 0, 1)),
        ],
        hint="lo = C - W/2; return np.clip((hu - lo) / W, 0, 1).")
