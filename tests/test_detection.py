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


def test_fine_tune_freezes_features_and_keeps_pretrained_weights():
    rng = np.random.default_rng(0)
    x = rng.random((16, 16, 16, 3)).astype("float32")
    y = np.array([0, 1] * 8)
    pretrained = det.build_patch_cnn((16, 16, 3), width=2)
    before = [w.copy() for w in pretrained.get_weights()]
    model, history = det.fine_tune(pretrained, x, y, freeze_features=True, epochs=1,
                                   batch_size=8, validation_data=(x, y))
    assert "val_auc" in history.history
    for layer in det.feature_layers(model):
        assert not layer.trainable
        for a, b in zip(layer.get_weights(), pretrained.get_layer(layer.name).get_weights()):
            assert np.array_equal(a, b)
    # the head was re-initialised and trained, the pretrained model untouched
    assert not np.array_equal(model.get_layer("head_output").get_weights()[0],
                              pretrained.get_layer("head_output").get_weights()[0])
    assert all(np.array_equal(a, b) for a, b in zip(before, pretrained.get_weights()))
    unfrozen, _ = det.fine_tune(pretrained, x, y, freeze_features=False, epochs=1, batch_size=8)
    assert all(layer.trainable for layer in det.feature_layers(unfrozen))
    import keras

    inputs = keras.Input((2,))
    plain = keras.Model(inputs, keras.layers.Dense(1, name="d")(inputs), name="plain")
    with pytest.raises(ValueError, match="no layers named 'features_"):
        det.fine_tune(plain, x, y, epochs=1)
