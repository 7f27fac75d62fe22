"""cnncourse.detection: class weights, focal loss, thresholds, stain shift, transfer helpers.

Stand-in data: random arrays made here, so the tests need no data files.
"""
import numpy as np
import pytest

from cnncourse import detection as det


def test_class_weights_balanced_like_sklearn():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0] * 90 + [1] * 10)
    w = det.class_weights(y)
    assert w == {0: pytest.approx(100 / 180), 1: pytest.approx(5.0)}
    assert np.allclose([w[0], w[1]], compute_class_weight("balanced", classes=np.array([0, 1]), y=y))
    # average weight per sample is 1
    assert np.mean([w[c] for c in y]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="both classes must occur"):
        det.class_weights([0, 0, 0])
    with pytest.raises(ValueError, match="labels 0 and 1 only"):
        det.class_weights([0, 2])


def test_focal_loss_matches_keras_and_reduces_to_cross_entropy():
    import keras

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (32, 1)).astype("float32")
    p = rng.random((32, 1)).astype("float32")
    ours = det.BinaryFocalLoss(gamma=2.0, alpha=0.25)(y, p)
    ref = keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.25, gamma=2.0)(y, p)
    assert float(ours) == pytest.approx(float(ref), rel=1e-5)
    half_bce = keras.ops.convert_to_numpy(det.binary_focal_loss(y, p, gamma=0.0, alpha=0.5))
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert np.allclose(half_bce, bce / 2, rtol=1e-5)
    # an easy example loses much more of its loss than a hard one
    easy = keras.ops.convert_to_numpy(det.binary_focal_loss(np.array([1.0]), np.array([0.95])))
    hard = keras.ops.convert_to_numpy(det.binary_focal_loss(np.array([1.0]), np.array([0.2])))
    assert easy / -np.log(0.95) < 0.01 < hard / -np.log(0.2)
    # certain wrong predictions stay finite (clipping)
    certain = keras.ops.convert_to_numpy(det.binary_focal_loss(np.array([1.0, 0.0]), np.array([0.0, 1.0])))
    assert np.all(np.isfinite(certain))
    # labels of shape (N,) with predictions (N, 1), as model.fit hands them, give the same loss
    assert float(det.BinaryFocalLoss()(y[:, 0], p)) == pytest.approx(float(ours), rel=1e-6)
    with pytest.raises(ValueError, match="y_true: shape"):
        det.binary_focal_loss(y[:, 0], p)
    logits = keras.ops.convert_to_numpy(det.binary_focal_loss(y, np.log(p / (1 - p)), from_logits=True))
    assert np.allclose(logits, keras.ops.convert_to_numpy(det.binary_focal_loss(y, p)), rtol=1e-4)


def test_focal_loss_config_round_trip_and_bad_input():
    loss = det.BinaryFocalLoss(gamma=1.5, alpha=0.4)
    again = det.BinaryFocalLoss.from_config(loss.get_config())
    assert (again.gamma, again.alpha) == (1.5, 0.4)
    with pytest.raises(ValueError, match="gamma"):
        det.BinaryFocalLoss(gamma=-1)
    with pytest.raises(ValueError, match="alpha"):
        det.binary_focal_loss([1], [0.5], alpha=2)


def test_threshold_for_recall():
    y = np.array([0, 1, 1, 1, 1])
    s = np.array([0.5, 0.9, 0.8, 0.3, 0.1])
    assert det.threshold_for_recall(y, s, 0.75) == 0.3
    assert det.threshold_for_recall(y, s, 0.5) == 0.8
    assert det.threshold_for_recall(y, s, 1.0) == 0.1
    rng = np.random.default_rng(1)
    y = (rng.random(500) < 0.1).astype(int)
    s = rng.random(500) + y
    for target in (0.3, 0.7, 0.9, 1.0):
        t = det.threshold_for_recall(y, s, target)
        _, recall = det.precision_recall_at(y, s, t)
        _, recall_above = det.precision_recall_at(y, s, np.nextafter(t, np.inf))
        assert recall >= target > recall_above
    with pytest.raises(ValueError, match="target_recall"):
        det.threshold_for_recall(y, s, 0)
    with pytest.raises(ValueError, match="no positives"):
        det.threshold_for_recall([0, 0], [0.1, 0.2], 0.5)
    with pytest.raises(ValueError, match="scores: expected shape"):
        det.threshold_for_recall([0, 1], [0.1], 0.5)


def test_precision_recall_at():
    y = np.array([1, 1, 0, 0])
    s = np.array([0.9, 0.4, 0.6, 0.1])
    assert det.precision_recall_at(y, s, 0.5) == (0.5, 0.5)
    assert det.precision_recall_at(y, s, 0.95) == (1.0, 0.0)


def test_shift_stain_keeps_shape_and_changes_colour():
    from skimage.color import hed2rgb

    rng = np.random.default_rng(0)   # H&E-coloured stand-ins: random stain concentrations
    hed = np.zeros((3, 8, 8, 3))
    hed[..., :2] = rng.random((3, 8, 8, 2)) * 0.05
    patches = np.round(hed2rgb(hed.reshape(-1, 8, 3)).reshape(hed.shape) * 255).astype(np.uint8)
    same = det.shift_stain(patches)
    assert same.dtype == np.uint8 and same.shape == patches.shape
    assert np.abs(same.astype(int) - patches).max() <= 2     # identity up to rounding
    pale = det.shift_stain(patches, hematoxylin=0.5, eosin=0.5)
    assert pale.mean() > patches.mean()                       # less stain, brighter
    a = det.shift_stain(patches, jitter=0.2, seed=3)
    assert np.array_equal(a, det.shift_stain(patches, jitter=0.2, seed=3))
    with pytest.raises(TypeError, match="patches: expected uint8"):
        det.shift_stain(patches.astype(float))
    with pytest.raises(ValueError, match="patches: expected shape"):
        det.shift_stain(patches[0])


def test_to_float():
    x = det.to_float(np.full((1, 2, 2, 3), 255, np.uint8))
    assert x.dtype == np.float32 and x.max() == 1.0
    with pytest.raises(TypeError, match="uint8"):
        det.to_float(np.zeros((1, 2, 2, 3)))


def test_build_patch_cnn_names_and_batch_norm():
    import keras

    plain = det.build_patch_cnn((16, 16, 3), width=2)
    assert plain.output_shape == (None, 1)
    assert [la.name for la in det.feature_layers(plain)][-1] == "features_flatten"
    bn = det.build_patch_cnn((16, 16, 3), width=2, batch_norm=True)
    names = [la.name for la in det.feature_layers(bn)]
    assert {"features_bn1", "features_bn2", "features_bn3", "features_relu1"} <= set(names)
    assert not bn.get_layer("features_conv1").use_bias            # BN supplies the shift
    assert isinstance(bn.get_layer("features_bn1"), keras.layers.BatchNormalization)
    out = keras.ops.convert_to_numpy(bn(np.random.default_rng(0).random((4, 16, 16, 3))))
    assert out.shape == (4, 1) and np.all((out >= 0) & (out <= 1))
    inputs = keras.Input((2,))
    other = keras.Model(inputs, keras.layers.Dense(1, name="d")(inputs), name="plain")
    with pytest.raises(ValueError, match="no layers named 'features_"):
        det.feature_layers(other)
    with pytest.raises(ValueError, match="input_shape"):
        det.build_patch_cnn((16, 16))


def _he_field(size=64):
    """A pale pink field with dark-blue discs at known places (a stand-in for an H&E field)."""
    from skimage.color import hed2rgb

    hed = np.zeros((size, size, 3))
    hed[..., 1] = 0.05
    yy, xx = np.mgrid[:size, :size]
    centres = np.array([[16, 16], [16, 48], [48, 30]])
    for r, c in centres:
        hed[..., 0] += 0.15 * np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * 3.0 ** 2))
    rgb = hed2rgb(hed)
    return np.round(rgb * 255).astype(np.uint8), centres


def test_find_candidates_finds_dark_blobs():
    field, centres = _he_field()
    found = det.find_candidates(field, sigma=1.0, min_distance=3, quantile=0.9)
    assert found.dtype == np.int64 and found.shape[1] == 2
    gaps = np.linalg.norm(found[:, None] - centres[None], axis=-1)
    assert np.all(gaps.min(axis=0) <= 1)            # every blob has a candidate on it
    with pytest.raises(TypeError, match="field: expected uint8"):
        det.find_candidates(field.astype(float))
    with pytest.raises(ValueError, match="field: expected an RGB"):
        det.find_candidates(field[..., 0])
    with pytest.raises(ValueError, match="quantile"):
        det.find_candidates(field, quantile=1.0)
    with pytest.raises(ValueError, match="min_distance"):
        det.find_candidates(field, min_distance=0)


def test_extract_patches_centres_and_mirrors():
    field = np.arange(20 * 20 * 3, dtype=np.int64).reshape(20, 20, 3).astype(np.uint8)
    patches = det.extract_patches(field, [[10, 10], [0, 0], [19, 5]], size=8)
    assert patches.shape == (3, 8, 8, 3) and patches.dtype == np.uint8
    assert np.array_equal(patches[0], field[6:14, 6:14])            # rows r - 4 .. r + 3
    assert np.array_equal(patches[1][4:, 4:], field[:4, :4])         # inside part at a corner
    assert np.array_equal(patches[1][3, 4:], field[1, :4])           # mirrored row above row 0
    assert det.extract_patches(field, np.zeros((0, 2), int), size=8).shape == (0, 8, 8, 3)
    with pytest.raises(ValueError, match="centres: every centre"):
        det.extract_patches(field, [[20, 0]], size=8)
    with pytest.raises(ValueError, match="size"):
        det.extract_patches(field, [[5, 5]], size=7)
    with pytest.raises(ValueError, match="centres: expected shape"):
        det.extract_patches(field, [5, 5], size=8)


def test_precision_recall_f1():
    assert det.precision_recall_f1(7, 8, 10) == pytest.approx((0.875, 0.7, 2 * 0.875 * 0.7 / 1.575))
    assert det.precision_recall_f1(0, 0, 5) == (1.0, 0.0, 0.0)
    assert det.precision_recall_f1(0, 3, 0) == (0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="n_matched"):
        det.precision_recall_f1(4, 3, 10)
    with pytest.raises(ValueError, match="n_truths"):
        det.precision_recall_f1(0, 3, -1)


def test_no_public_shortcuts_around_the_exercises():
    for name in ("fine_tune", "non_max_suppression", "match_detections", "with_new_head"):
        assert not hasattr(det, name), name
