"""NumPy convolution references: equal to TensorFlow on random shapes, the talk's example,
classic kernels, and named errors for bad input (the sliding-kernel picture: test_widgets.py)."""
import numpy as np
import pytest

from cnncourse import conv


@pytest.fixture(scope="module")
def tf():
    from cnncourse.device import import_tensorflow

    return import_tensorflow()


def test_talk_example():
    out = conv.correlate2d(conv.TALK_IMAGE, conv.TALK_KERNEL)
    np.testing.assert_array_equal(out, conv.TALK_RESULT)
    np.testing.assert_array_equal(out, [[4, 3, 4], [2, 4, 3], [2, 3, 4]])
    # the talk's kernel is symmetric: convolution and cross-correlation agree on it ...
    np.testing.assert_array_equal(conv.convolve2d(conv.TALK_IMAGE, conv.TALK_KERNEL), out)
    # ... but not on an asymmetric kernel
    k = np.array([[1, 2], [0, 0]])
    assert not np.array_equal(conv.convolve2d(conv.TALK_IMAGE, k), conv.correlate2d(conv.TALK_IMAGE, k))
    np.testing.assert_array_equal(conv.conv2d(conv.TALK_IMAGE[..., None],
                                              conv.TALK_KERNEL[:, :, None, None])[..., 0], out)


@pytest.mark.parametrize("padding", ["valid", "same", 0, 1, 2, ((1, 0), (2, 1))])
def test_conv2d_equals_tensorflow_on_random_shapes(tf, padding):
    rng = np.random.default_rng(0)
    for _ in range(8):
        n, cin, cout = (int(v) for v in rng.integers(1, 4, 3))
        h, w = (int(v) for v in rng.integers(4, 11, 2))
        kh, kw = (int(v) for v in rng.integers(1, 5, 2))
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        x = rng.standard_normal((n, h, w, cin))
        k = rng.standard_normal((kh, kw, cin, cout))
        if isinstance(padding, str):
            tf_pad = padding.upper()
        else:
            (pt, pb), (pl, pr) = conv._resolve_padding(padding, h, w, kh, kw, *stride)
            tf_pad = [[0, 0], [pt, pb], [pl, pr], [0, 0]]
        expected = tf.nn.conv2d(x, k, stride, tf_pad).numpy()
        got = conv.conv2d(x, k, stride=stride, padding=padding)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=1e-10)
        np.testing.assert_allclose(conv.conv2d_loops(x, k, stride=stride, padding=padding), expected,
                                   atol=1e-10)
        # single image in, single image out
        np.testing.assert_allclose(conv.conv2d(x[0], k, stride=stride, padding=padding), expected[0],
                                   atol=1e-10)


def test_conv2d_bias_and_dtype():
    x = np.ones((4, 4, 2), np.float32)
    w = np.ones((3, 3, 2, 3), np.float32)
    out = conv.conv2d(x, w, np.array([0.0, 1.0, -1.0], np.float32))
    assert out.dtype == np.float32 and out.shape == (2, 2, 3)
    np.testing.assert_allclose(out[0, 0], [18, 19, 17])
    assert conv.conv2d(np.ones((3, 3, 1), np.uint8), np.ones((3, 3, 1, 1), np.int64)).dtype == np.float64


def test_im2col_rows_are_patches():
    x = np.arange(2 * 5 * 4 * 3).reshape(2, 5, 4, 3)
    cols = conv.im2col(x, (2, 3), stride=(2, 1))
    assert cols.shape == (2, 2, 2, 18)
    np.testing.assert_array_equal(cols[1, 1, 0], x[1, 2:4, 0:3, :].ravel())


def test_output_size_and_same_padding():
    assert conv.output_size(5, 3) == 3
    assert conv.output_size(32, 5) == 28
    assert conv.output_size(227, 11, 0, 4) == 55
    assert conv.output_size(256, 5, 2) == 256
    assert conv.output_size(6, 3, 0, 2) == 2
    for size in range(3, 12):
        for k in range(1, 4):
            for s in range(1, 4):
                before, after = conv.same_padding(size, k, s)
                out = (size - k + before + after) // s + 1
                assert out == -(-size // s)
    assert conv.same_padding(6, 3, 2) == (0, 1)


def test_pooling_equals_tensorflow(tf):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 7, 6, 3))
    for size, stride in [(2, None), (3, 2), (2, 1), ((2, 3), (1, 2))]:
        s = size if stride is None else stride
        np.testing.assert_allclose(conv.pool2d(x, size, stride), tf.nn.max_pool2d(x, size, s, "VALID"))
        np.testing.assert_allclose(conv.pool2d(x, size, stride, "avg"),
                                   tf.nn.avg_pool2d(x, size, s, "VALID"))
    assert conv.pool2d(x[0], 2).shape == (3, 3, 3)


def test_classic_kernels():
    assert np.isclose(conv.gaussian(1.0).sum(), 1.0) and conv.gaussian(1.0).shape == (7, 7)
    assert np.isclose(conv.box(3).sum(), 1.0)
    assert np.isclose(conv.sharpen().sum(), 1.0)
    assert abs(conv.laplacian_of_gaussian(1.5).sum()) < 1e-12
    np.testing.assert_array_equal(conv.sobel("y"), conv.sobel("x").T)
    kernels = conv.classic_kernels()
    assert len(kernels) == 5
    # Sobel x is positive where intensity rises to the right; blur keeps a constant image
    ramp = np.tile(np.arange(8.0), (8, 1))
    assert np.all(conv.apply_kernel(ramp, conv.sobel("x"), pad_mode="edge")[:, 1:-1] == 8)
    np.testing.assert_allclose(conv.apply_kernel(np.full((9, 9), 3.0), conv.gaussian(1.0)), 3.0)
    # LoG: a bright blob gives its strongest response at its centre
    yy, xx = np.mgrid[:21, :21]
    blob = np.exp(-((yy - 10) ** 2 + (xx - 10) ** 2) / 8.0)
    r = conv.apply_kernel(blob, conv.laplacian_of_gaussian(2.0))
    assert np.unravel_index(r.argmax(), r.shape) == (10, 10)


def test_bad_input_names_the_argument():
    x, w = np.zeros((5, 5, 2)), np.zeros((3, 3, 2, 4))
    with pytest.raises(ValueError, match=r"w: expected C_in = 3"):
        conv.conv2d(np.zeros((5, 5, 3)), w)
    with pytest.raises(ValueError, match=r"x: expected shape \(H, W, C_in\)"):
        conv.conv2d(np.zeros((5, 5)), w)
    with pytest.raises(ValueError, match=r"w: expected shape \(KH, KW, C_in, C_out\)"):
        conv.conv2d(x, np.zeros((3, 3, 2)))
    with pytest.raises(ValueError, match="padding: expected 'valid', 'same'"):
        conv.conv2d(x, w, padding="full")
    with pytest.raises(TypeError, match="stride: expected an int"):
        conv.conv2d(x, w, stride=1.5)
    with pytest.raises(ValueError, match="w: kernel 3x3 is larger"):
        conv.conv2d(np.zeros((2, 2, 2)), w)
    with pytest.raises(ValueError, match=r"b: expected shape \(4,\)"):
        conv.conv2d(x, w, np.zeros(3))
    with pytest.raises(TypeError, match="x: expected a numeric array"):
        conv.conv2d(x.astype(object), w)
    with pytest.raises(ValueError, match="kernel_size: 7 is larger"):
        conv.output_size(5, 7)
    with pytest.raises(ValueError, match="stride >= 1"):
        conv.output_size(5, 3, 0, 0)
    with pytest.raises(TypeError, match="padding: expected an int"):
        conv.output_size(5, 3, 0.5)
    with pytest.raises(ValueError, match=r"kernel: expected shape \(H, W\)"):
        conv.correlate2d(np.zeros((5, 5)), np.zeros((3, 3, 1)))
    with pytest.raises(ValueError, match="kernel: shape"):
        conv.correlate2d(np.zeros((2, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="mode: expected 'max' or 'avg'"):
        conv.pool2d(x, 2, mode="min")
    with pytest.raises(ValueError, match="size: window 6x6"):
        conv.pool2d(x, 6)
    with pytest.raises(ValueError, match="kernel: expected odd sizes"):
        conv.apply_kernel(np.zeros((5, 5)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="sigma: expected > 0"):
        conv.gaussian(0)
    with pytest.raises(ValueError, match="axis: expected 'x' or 'y'"):
        conv.sobel("z")


def test_conv2d_in_blocks_equals_one_block(monkeypatch):
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 13, 11, 3)), rng.standard_normal((4, 3, 3, 2))
    whole = conv.conv2d(x, w, stride=(2, 1), padding=1)
    monkeypatch.setattr(conv, "_IM2COL_BYTES", 1)      # one output row per block
    np.testing.assert_allclose(conv.conv2d(x, w, stride=(2, 1), padding=1), whole)
    np.testing.assert_allclose(conv.conv2d_loops(x, w, stride=(2, 1), padding=1), whole)
