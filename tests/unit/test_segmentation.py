"""cnncourse.segmentation: windows, the two pixel classifiers, Dice/IoU, instances, counting.

Stand-in data: small images of disks made here, so the tests need no data files.
"""
import numpy as np
import pytest

from cnncourse import segmentation as seg


def disks(centres, radii, shape):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    labels = np.zeros(shape, np.int32)
    for i, ((cy, cx), r) in enumerate(zip(centres, radii), start=1):
        labels[((yy - cy) ** 2 + (xx - cx) ** 2 < r * r) & (labels == 0)] = i
    return labels


# --------------------------------------------------------------------------------------------
# windows


def test_extract_windows_centre_and_border():
    image = np.arange(35.0).reshape(5, 7)
    coords = np.array([[2, 3], [0, 0], [4, 6]])
    w = seg.extract_windows(image, coords, 3)
    assert w.shape == (3, 3, 3)
    assert np.array_equal(w[:, 1, 1], image[coords[:, 0], coords[:, 1]])
    assert np.array_equal(w[0], image[1:4, 2:5])
    # reflect padding: the row above row 0 is row 1
    assert np.array_equal(w[1][0], [image[1, 1], image[1, 0], image[1, 1]])
    rgb = np.stack([image, -image], axis=-1)
    assert seg.extract_windows(rgb, coords, 5).shape == (3, 5, 5, 2)


def test_extract_windows_bad_input():
    image = np.zeros((5, 5))
    with pytest.raises(ValueError, match="size: expected an odd"):
        seg.extract_windows(image, np.array([[1, 1]]), 4)
    with pytest.raises(ValueError, match="coords: expected an int array"):
        seg.extract_windows(image, np.array([1, 1]), 3)
    with pytest.raises(ValueError, match="coords: every"):
        seg.extract_windows(image, np.array([[5, 0]]), 3)
    with pytest.raises(ValueError, match="image: expected shape"):
        seg.extract_windows(np.zeros(5), np.array([[1, 1]]), 3)


def test_sample_pixels_uniform_and_balanced():
    mask = disks([(10, 10)], [4], (20, 20)) > 0
    c = seg._sample_pixels(mask, 400, seed=1, foreground_fraction=0.5)
    assert c.shape == (400, 2) and c.dtype == np.int64
    assert mask[c[:, 0], c[:, 1]].sum() == 200
    u = seg._sample_pixels(mask, 4000, seed=1)
    assert abs(mask[u[:, 0], u[:, 1]].mean() - mask.mean()) < 0.03
    assert np.array_equal(u, seg._sample_pixels(mask, 4000, seed=1))
    with pytest.raises(ValueError, match="foreground_fraction"):
        seg._sample_pixels(mask, 10, foreground_fraction=2)
    with pytest.raises(ValueError, match="mask: expected a binary"):
        seg._sample_pixels(mask * 0.5, 10)
    with pytest.raises(ValueError, match="mask: it has no pixels"):
        seg._sample_pixels(np.zeros((4, 4), bool), 10, foreground_fraction=0.5)


def test_training_windows():
    masks = np.stack([disks([(8, 8)], [5], (16, 16)) > 0] * 3)
    images = masks.astype(np.float32) * 0.8
    w, y = seg._training_windows(images, masks, 30, 5, seed=2)
    assert w.shape == (30, 5, 5, 1) and y.shape == (30,) and w.dtype == y.dtype == np.float32
    assert np.array_equal(w[:, 2, 2, 0] > 0.4, y == 1)      # centre pixel and label agree
    w2, y2 = seg._training_windows(images, masks, 30, 5, seed=2)
    assert np.array_equal(w, w2) and np.array_equal(y, y2)
    # balanced classes; a tile without nuclei gives background windows only
    masks[1] = False
    w, y = seg._training_windows(images, masks, 30, 5, seed=2, foreground_fraction=0.5)
    assert y[:10].sum() == 5 and y[10:20].sum() == 0 and y[20:].sum() == 5
    with pytest.raises(ValueError, match="masks: expected shape"):
        seg._training_windows(images, masks[:2], 30, 5)
    with pytest.raises(ValueError, match="n_windows"):
        seg._training_windows(images, masks, 0, 5)


def test_tiles():
    image = np.arange(10 * 12).reshape(10, 12)
    t = seg.tiles(image, 4)
    assert t.shape == (6, 4, 4)
    assert np.array_equal(t[1], image[0:4, 4:8])
    assert seg.tiles(image, 4, stride=2).shape == (4 * 5, 4, 4)
    with pytest.raises(ValueError, match="size: 11 is larger"):
        seg.tiles(image, 11)


# --------------------------------------------------------------------------------------------
# models


def test_window_classifier_sliding_equals_dense():
    model = seg.build_window_classifier(15, width=4, hidden=8)
    assert model.input_shape == (None, 15, 15, 1) and model.output_shape == (None, 1)
    image = np.random.default_rng(0).random((13, 17)).astype(np.float32)
    slow = seg.predict_sliding_window(model, image, batch_size=50)
    dense = seg._to_fully_convolutional(model)
    fast = seg.predict_dense(dense, image, window=15)
    assert slow.shape == fast.shape == (13, 17)
    assert np.allclose(slow, fast, atol=1e-5)
    # one pixel by hand: the window around it, through the window model
    w = seg.extract_windows(image, np.array([[0, 16]]), 15)[..., None]
    assert np.allclose(np.asarray(model(w))[0, 0], slow[0, 16], atol=1e-6)


def test_window_classifier_bad_input():
    with pytest.raises(ValueError, match="window: expected at least 13"):
        seg.build_window_classifier(11)
    with pytest.raises(ValueError, match="window: expected an odd"):
        seg.build_window_classifier(12)
    with pytest.raises(ValueError, match="dense_model"):
        seg.predict_dense(seg._build_unet(1, 2), np.zeros((8, 8)), window=3)
    with pytest.raises(ValueError, match="window: expected an odd"):
        seg.predict_dense(seg._build_unet(1, 2), np.zeros((8, 8)), window=4)
    with pytest.raises(ValueError, match="hidden: expected a positive int"):
        seg.build_window_classifier(17, hidden=0)


def test_multiply_adds_by_hand():
    model = seg.build_window_classifier(17, width=8, hidden=32)
    by_hand = 14 * 14 * 16 * 8 + 5 * 5 * 9 * 8 * 16 + 3 * 3 * 9 * 16 * 16 + 9 * 16 * 32 + 32
    assert seg.multiply_adds(model, (17, 17, 1)) == by_hand
    dense = seg._to_fully_convolutional(model)     # a 10x10 image padded to 26x26
    maps = {"conv1": 23, "conv2": 18, "conv3": 14, "hidden": 10, "output": 10}
    fan_in = {"conv1": 16, "conv2": 9 * 8, "conv3": 9 * 16, "hidden": 9 * 16, "output": 32}
    filters = {"conv1": 8, "conv2": 16, "conv3": 16, "hidden": 32, "output": 1}
    assert seg.multiply_adds(dense, (26, 26, 1)) == sum(maps[k] ** 2 * fan_in[k] * filters[k] for k in maps)
    with pytest.raises(ValueError, match="input_shape"):
        seg.multiply_adds(model, (17, 17))


def test_unet_shapes_and_skip_connections():
    model = seg._build_unet(depth=2, width=2)
    names = [layer.name for layer in model.layers]
    assert "up0_skip" in names and "up1_skip" in names and "bottleneck_conv_b" in names
    assert model.get_layer("down0_conv_b").output.shape[-1] == 2
    assert model.get_layer("bottleneck_conv_b").output.shape[-1] == 8
    out = seg.predict_unet(model, np.random.default_rng(0).random((13, 18)))
    assert out.shape == (13, 18) and out.dtype == np.float32
    assert np.all((out >= 0) & (out <= 1))
    three = seg._build_unet(depth=1, width=2, n_classes=3)
    probs = seg.predict_unet(three, np.zeros((8, 8)))
    assert probs.shape == (8, 8, 3) and np.allclose(probs.sum(-1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="depth: expected an int from 1 to 5"):
        seg._build_unet(depth=0)


def test_predict_unet_takes_the_depth_of_a_model_without_pooling_layers():
    """The padding multiple is an argument: a U-Net that halves with strided convolutions (no
    pooling layer to count) needs depth=; the default counts pooling layers, whatever their names."""
    import keras

    L = keras.layers
    inputs = keras.Input((None, None, 1))
    x = L.Conv2D(2, 3, strides=2, padding="same")(inputs)
    x = L.Conv2D(2, 3, strides=2, padding="same")(x)
    out = L.Conv2D(1, 1, activation="sigmoid")(L.UpSampling2D(4)(x))
    model = keras.Model(inputs, out)
    image = np.random.default_rng(0).random((10, 13))
    with pytest.raises(ValueError, match="pass depth="):
        seg.predict_unet(model, image)
    assert seg.predict_unet(model, image, depth=2).shape == (10, 13)
    with pytest.raises(ValueError, match="depth: expected an int >= 0"):
        seg.predict_unet(model, image, depth=-1)
    renamed = seg._build_unet(depth=2, width=2, name="mine")
    for layer in renamed.layers:
        if "pool" in layer.name:
            layer.name = layer.name.replace("pool", "p")
    assert seg.predict_unet(renamed, image).shape == (10, 13)


# --------------------------------------------------------------------------------------------
# scores


def test_error_map_codes_are_fixed():
    pred = np.array([[1, 1, 0], [0, 0, 0]], bool)
    true = np.array([[1, 0, 1], [0, 0, 0]], bool)
    e = seg.error_map(pred, true)
    assert e.dtype == np.int8 and e.tolist() == [[0, 1, 2], [0, 0, 0]]
    # no false positive at all: the false negatives keep code 2 (fixed colours in the plots)
    assert set(np.unique(seg.error_map(pred & true, true))) == {0, 2}
    with pytest.raises(ValueError, match="pred: shape"):
        seg.error_map(pred, true[:1])


def test_public_api_has_no_shortcut_around_the_exercises():
    for name in ("build_unet", "dense_window_classifier", "training_windows", "sample_pixels"):
        assert not hasattr(seg, name), name


def test_dice_iou_values():
    a = np.array([1, 1, 0, 0], bool)
    b = np.array([1, 0, 0, 0], bool)
    assert seg.dice(a, b) == pytest.approx(2 / 3)
    assert seg.iou(a, b) == pytest.approx(1 / 2)
    assert seg.dice(a, a) == seg.iou(a, a) == 1.0
    assert seg.dice(a, ~a) == 0.0
    empty = np.zeros((3, 3), bool)
    assert seg.dice(empty, empty) == 1.0 and seg.iou(empty, empty) == 1.0
    rng = np.random.default_rng(0)
    x, y = rng.random((20, 20)) > 0.5, rng.random((20, 20)) > 0.3
    j = seg.iou(x, y)
    assert seg.dice(x, y) == pytest.approx(2 * j / (1 + j))
    assert seg.dice(x.astype(np.uint8), y.astype(float)) == seg.dice(x, y)


def test_dice_refuses_probabilities_and_labels():
    with pytest.raises(ValueError, match="pred: expected a binary mask.*Threshold"):
        seg.dice(np.array([0.2, 0.9]), np.array([0, 1]))
    with pytest.raises(ValueError, match="target: expected a binary"):
        seg.iou(np.array([0, 1]), np.array([0, 2]))
    with pytest.raises(ValueError, match="pred: shape"):
        seg.dice(np.zeros(3), np.zeros(4))


# --------------------------------------------------------------------------------------------
# instances


def test_separate_instances_splits_touching_disks():
    true = disks([(12, 12), (30, 20), (30, 36)], [8, 9, 9], (44, 52))
    labels = seg.separate_instances(true > 0, min_distance=5)
    assert labels.dtype == np.int32 and labels.max() == 3
    assert np.array_equal(labels > 0, true > 0)
    m = seg.match_instances(labels, true)
    assert m["matched"] == 3 and m["mean_matched_iou"] > 0.9
    assert seg.separate_instances(np.zeros((8, 8), bool)).max() == 0
    # a speck too small for a peak still becomes an object
    speck = np.zeros((9, 9), bool)
    speck[4, 4] = True
    assert seg.separate_instances(speck, smooth=0).max() == 1


def test_separate_instances_bad_input():
    with pytest.raises(ValueError, match="min_distance"):
        seg.separate_instances(np.zeros((4, 4), bool), min_distance=0)
    with pytest.raises(ValueError, match="mask: expected a binary"):
        seg.separate_instances(np.full((4, 4), 0.3))


def test_match_instances_counts():
    true = disks([(10, 10), (10, 30), (30, 10)], [6, 6, 6], (40, 40))
    pred = true.copy()
    pred[pred == 3] = 0                      # one missed
    pred[25:35, 25:35] = 7                   # one spurious (label ids need not be contiguous)
    m = seg.match_instances(pred, true)
    assert (m["n_true"], m["n_pred"], m["matched"], m["missed"], m["spurious"]) == (3, 3, 2, 1, 1)
    assert m["count_error"] == 0 and m["precision"] == m["recall"] == pytest.approx(2 / 3)
    merged = (true > 0).astype(np.int32)     # everything one object: matches nothing
    m = seg.match_instances(merged, true)
    assert m["n_pred"] == 1 and m["count_error"] == -2 and m["relative_count_error"] == pytest.approx(2 / 3)
    empty = np.zeros((5, 5), int)
    assert seg.match_instances(empty, empty)["f1"] == 1.0  # nothing to find, nothing found
    with pytest.raises(TypeError, match="pred_labels: expected an integer"):
        seg.match_instances(np.zeros((5, 5)), empty)
    with pytest.raises(ValueError, match="iou_threshold"):
        seg.match_instances(empty, empty, iou_threshold=0.3)


# --------------------------------------------------------------------------------------------
# images


def test_normalize_and_low_light():
    image = np.arange(1000, dtype=np.uint16).reshape(25, 40)
    x = seg.normalize(image, 0, 100)
    assert x.dtype == np.float32 and x.min() == 0 and x.max() == 1
    assert seg.normalize(image).min() == 0
    with pytest.raises(ValueError, match="constant image"):
        seg.normalize(np.ones((4, 4)))
    flat = np.full((200, 200), 0.5, np.float32)
    noisy = seg.low_light(flat, 10, background=0.0, seed=1)
    assert noisy.dtype == np.float32 and noisy.shape == flat.shape
    assert abs(noisy.mean() - 0.5) < 0.01                   # mean kept
    assert abs(noisy.std() - np.sqrt(0.5 / 10)) < 0.01       # Poisson: var = mean / photons
    assert seg.low_light(flat, 1000, seed=1).std() < noisy.std()
    assert abs(seg.low_light(flat, 10, seed=1).mean() - 0.5) < 0.01  # background subtracted again
    assert np.array_equal(noisy, seg.low_light(flat, 10, background=0.0, seed=1))
    with pytest.raises(ValueError, match="photons"):
        seg.low_light(flat, 0)
    with pytest.raises(ValueError, match="image: expected a float array"):
        seg.low_light(np.full((2, 2), 3.0), 5)
