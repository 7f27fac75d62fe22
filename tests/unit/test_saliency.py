"""cnncourse.saliency: the classifier of notebook 08, weight randomisation, masks, pictures."""
import numpy as np
import pytest

from cnncourse import saliency


@pytest.fixture(scope="module")
def model():
    return saliency.build_classifier(np.full(3, 0.5), np.full(3, 0.1), filters=(4, 6, 8))


def test_build_classifier_outputs_one_logit_per_patch(model):
    x = np.random.default_rng(0).random((5, 32, 32, 3), dtype=np.float32)
    logits = saliency.predict_logits(model, x, batch_size=2)
    assert logits.shape == (5,) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, np.asarray(model(x))[:, 0], rtol=1e-5, atol=1e-6)
    assert [layer.name for layer in saliency.weighted_layers(model)] == [
        "conv1", "conv2", "conv3", "logit"]
    assert model.get_layer("conv3").output.shape[1:3] == (8, 8)


def test_build_classifier_rejects_bad_statistics():
    with pytest.raises(ValueError, match="mean, variance"):
        saliency.build_classifier(np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="variance"):
        saliency.build_classifier(np.zeros(3), np.array([1.0, 0.0, 1.0]))


def test_train_classifier_learns_a_separable_toy_task():
    rng = np.random.default_rng(0)
    x = rng.random((64, 16, 16, 3), dtype=np.float32) * 0.2
    y = np.arange(64) % 2
    x[y == 1, 4:12, 4:12] += 0.7                          # positives: a bright square
    m = saliency.build_classifier(x.mean((0, 1, 2)), x.var((0, 1, 2)), input_shape=(16, 16, 3),
                                  filters=(4, 8))
    history = saliency.train_classifier(m, x, y, epochs=15, batch_size=16, learning_rate=1e-2)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert np.mean((saliency.predict_logits(m, x) > 0) == y) > 0.9
    with pytest.raises(ValueError, match="y"):
        saliency.train_classifier(m, x, y[:10], epochs=1)


def test_randomize_top_redraws_only_the_top_layers(model):
    before = [w.copy() for w in model.get_weights()]
    for n in range(5):
        r = saliency.randomize_top(model, n, seed=3)
        changed = [not np.array_equal(a, b) for a, b in zip(model.get_weights(), r.get_weights())]
        kernels_changed = changed[0::2]                   # conv1, conv2, conv3, logit kernels
        assert kernels_changed == [False] * (4 - n) + [True] * n
    for a, b in zip(before, model.get_weights()):        # the trained model is untouched
        np.testing.assert_array_equal(a, b)
    again = saliency.randomize_top(model, 2, seed=3)
    for a, b in zip(r.get_weights()[4:], again.get_weights()[4:]):
        np.testing.assert_array_equal(a, b)              # seeded
    with pytest.raises(ValueError, match="n_layers"):
        saliency.randomize_top(model, 5)


def test_windows_to_pixels_averages_the_covering_windows():
    coarse = np.array([[[1.0, 3.0]]])                     # two windows of 2 px, stride 1, on 1x3
    out = saliency.windows_to_pixels(coarse, (2, 3), patch=2, stride=1)
    np.testing.assert_allclose(out[0], [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    coarse = np.arange(4, dtype=float).reshape(1, 2, 2)   # 2x2 windows of 2 px, stride 2, on 5x5
    out = saliency.windows_to_pixels(coarse, (5, 5), patch=2, stride=2)
    assert out.shape == (1, 5, 5) and out[0, 4, 4] == 0 and out[0, 3, 3] == 3
    with pytest.raises(ValueError, match="coarse"):
        saliency.windows_to_pixels(np.zeros((1, 4, 4)), (5, 5), patch=2, stride=2)


def test_hematoxylin_is_high_on_dark_purple_and_masks_pick_the_top():
    patches = np.full((1, 4, 4, 3), 230, np.uint8)         # pale background
    patches[0, 1, 2] = (60, 40, 120)                       # dark purple: hematoxylin
    h = saliency.hematoxylin(patches)
    assert h.shape == (1, 4, 4) and h.dtype == np.float32
    assert np.unravel_index(np.argmax(h[0]), (4, 4)) == (1, 2)
    mask = saliency.top_fraction_mask(h, 1 / 16)
    assert mask.sum() == 1 and mask[0, 1, 2]
    with pytest.raises(ValueError, match="fraction"):
        saliency.top_fraction_mask(h, 1.5)
    with pytest.raises(ValueError, match="patches"):
        saliency.hematoxylin(np.zeros((4, 4, 3)))


def test_normalize_and_show_maps():
    import matplotlib

    matplotlib.use("Agg")
    maps = np.array([[[0.0, -2.0], [1.0, 0.5]], [[0.0, 0.0], [0.0, 0.0]]])
    out = saliency.normalize_maps(maps)
    np.testing.assert_allclose(out[0], [[0, 1], [0.5, 0.25]])
    assert np.all(out[1] == 0)
    patches = np.zeros((2, 2, 2, 3), np.uint8)
    fig = saliency.show_maps(patches, {"a": maps, "b": -maps}, titles=["x", "y"])
    assert len(fig.axes) == 6                         # 2 patches x (patch, map a, map b)
    assert [ax.get_title() for ax in fig.axes] == ["x", "a", "b", "y", "", ""]
    for row in range(2):
        patch, over_a, over_b = fig.axes[3 * row:3 * row + 3]
        assert len(patch.images) == 1
        for ax, m in ((over_a, maps), (over_b, -maps)):   # the patch, then the scaled map on top
            np.testing.assert_array_equal(ax.images[0].get_array(), patches[row])
            np.testing.assert_allclose(ax.images[1].get_array(),
                                       saliency.normalize_maps(m)[row])
    with pytest.raises(ValueError, match="maps"):
        saliency.show_maps(patches, {"a": maps[:1]})
