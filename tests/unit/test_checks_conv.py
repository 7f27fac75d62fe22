"""Checkers of notebook 05: correct, wrong (the mistake is named) and stub answers."""
import numpy as np
import pytest

from cnncourse.checks import conv as cc


def conv_loops(x, w, stride=1, padding=0):
    """A learner's correct answer, written with loops."""
    h, wd, _ = x.shape
    kh, kw, _, cout = w.shape
    xp = np.pad(x, ((padding, padding), (padding, padding), (0, 0)))
    ho, wo = (h - kh + 2 * padding) // stride + 1, (wd - kw + 2 * padding) // stride + 1
    out = np.zeros((ho, wo, cout))
    for i in range(ho):
        for j in range(wo):
            patch = xp[i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            for k in range(cout):
                out[i, j, k] = np.sum(patch * w[:, :, :, k])
    return out


def test_value_checks(last):
    assert cc.fc_weights(196608) == 196608 and last().passed
    assert cc.fc_weights(65536) == 196608 and "3 colour channels" in last().message
    assert cc.fc_weights(196609) == 196608 and "added the bias" in last().message
    assert cc.fc_weights(...) == 196608 and last().status == "not done"
    assert cc.conv_layer_params(1216) == 1216 and last().passed
    assert "forgot the biases" in (cc.conv_layer_params(1200), last().message)[1]
    assert "input channels" in (cc.conv_layer_params(416), last().message)[1]
    assert "locally connected" in (cc.conv_layer_params(77_220_864), last().message)[1]


def test_output_size(last, stub):
    right = lambda w, f, p=0, s=1: (w - f + 2 * p) // s + 1  # noqa: E731
    assert cc.output_size(right) is right
    cc.output_size(lambda w, f, p=0, s=1: (w - f + 2 * p) // s)
    assert "forgot the + 1" in last().message
    cc.output_size(lambda w, f, p=0, s=1: (w - f + 2 * p) / s + 1)
    assert "use // (floor)" in last().message
    cc.output_size(lambda w, f, p=0, s=1: (w - f + p) // s + 1)
    assert "both* sides" in last().message
    assert cc.output_size(stub) is cc._output_size and last().status == "not done"


def test_correlate2d(last, stub):
    def mine(image, kernel):
        kh, kw = kernel.shape
        return np.array([[np.sum(image[i:i + kh, j:j + kw] * kernel)
                          for j in range(image.shape[1] - kw + 1)]
                         for i in range(image.shape[0] - kh + 1)])

    assert cc.correlate2d(mine) is mine
    cc.correlate2d(lambda im, k: mine(im, k[::-1, ::-1]))
    assert "flipped the kernel" in last().message and "cross-correlation" in last().message
    cc.correlate2d(lambda im, k: mine(im, k)[:-1])
    assert "one row or column too many or too few" in last().message
    cc.correlate2d(lambda im, k: mine(np.pad(im, 1), k)[: im.shape[0], : im.shape[1]])
    assert "as large as the image" in last().message
    assert cc.correlate2d(stub) is cc._correlate2d and last().status == "not done"


@pytest.mark.parametrize("checker", [cc.conv2d, cc.conv2d_fast])
def test_conv2d_mistakes(last, stub, checker):
    assert checker(conv_loops) is conv_loops and last().passed
    checker(lambda x, w, stride=1, padding=0: conv_loops(x, w[::-1, ::-1], stride, padding))
    assert "flipped the kernel" in last().message
    checker(lambda x, w, stride=1, padding=0: conv_loops(x, w, stride, padding)[:-1, :-1])
    assert "one row or column" in last().message
    checker(lambda x, w, stride=1, padding=0: conv_loops(x, w, 1, padding))
    assert "ignored the stride" in last().message
    checker(lambda x, w, stride=1, padding=0: conv_loops(x, w, stride, 0))
    assert "ignored the padding" in last().message
    assert checker(stub) is cc._conv2d and last().status == "not done"


def test_conv2d_layout_mistakes(last):
    cc.conv2d(lambda x, w, stride=1, padding=0: conv_loops(x, w, stride, padding).transpose(2, 0, 1))
    assert "channels-first (C_out, H_out, W_out)" in last().message

    def pytorch(x, w, stride=1, padding=0):  # x (C, H, W), w (C_out, C_in, KH, KW)
        return conv_loops(x.transpose(1, 2, 0), w.transpose(2, 3, 1, 0), stride, padding).transpose(2, 0, 1)

    cc.conv2d(pytorch)
    assert last().status == "error" and "PyTorch's layout" in last().message

    def oihw(x, w, stride=1, padding=0):
        return conv_loops(x, w.transpose(2, 3, 1, 0), stride, padding)

    cc.conv2d(oihw)
    assert "(C_out, C_in, KH, KW)" in last().message and "Hint:" not in last().message

    def chw_input(x, w, stride=1, padding=0):
        return conv_loops(x.transpose(1, 2, 0), w, stride, padding)

    cc.conv2d(chw_input)
    assert "image as (C, H, W)" in last().message

    def pads_channels(x, w, stride=1, padding=0):  # np.pad(x, P) pads the channel axis too
        kh, kw, _, cout = w.shape
        xp = np.pad(x, padding)
        ho, wo = (x.shape[0] - kh + 2 * padding) // stride + 1, (x.shape[1] - kw + 2 * padding) // stride + 1
        return np.array([[[np.sum(xp[i * stride:i * stride + kh, j * stride:j * stride + kw] * w[..., k])
                           for k in range(cout)] for j in range(wo)] for i in range(ho)])

    cc.conv2d(pads_channels)
    assert "np.pad(x, ((P, P), (P, P), (0, 0)))" in last().message


def test_pool2d(last, stub):
    def mine(x, size=2, stride=None, mode="max"):
        s = size if stride is None else stride
        ho, wo = (x.shape[0] - size) // s + 1, (x.shape[1] - size) // s + 1
        red = np.max if mode == "max" else np.mean
        return np.array([[red(x[i * s:i * s + size, j * s:j * s + size], axis=(0, 1))
                          for j in range(wo)] for i in range(ho)])

    assert cc.pool2d(mine) is mine
    cc.pool2d(lambda x, size=2, stride=None, mode="max": mine(x, size, stride,
                                                              "avg" if mode == "max" else "max"))
    assert "swapped max and average" in last().message
    cc.pool2d(lambda x, size=2, stride=None, mode="max": mine(x, size, stride, mode).max(-1))
    assert "across channels" in last().message
    cc.pool2d(cc._pool_partial)
    assert "incomplete windows" in last().message
    assert cc.pool2d(stub) is cc._pool2d and last().status == "not done"


def test_window(last, stub):
    right = lambda hu, c, w: np.clip((hu - (c - w / 2)) / w, 0, 1)  # noqa: E731
    assert cc.window(right) is right
    cc.window(lambda hu, c, w: (hu - (c - w / 2)) / w)
    assert "forgot to clip" in last().message
    cc.window(lambda hu, c, w: np.clip((hu - (c - w)) / (2 * w), 0, 1))
    assert "half-width" in last().message
    assert cc.window(stub) is cc._window and last().status == "not done"
