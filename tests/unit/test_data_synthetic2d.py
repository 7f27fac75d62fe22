"""Synthetic 2D generators: determinism, shapes, label/image agreement, and the darkness baseline."""
import numpy as np
import pytest

from cnncourse import data
from cnncourse.data import synthetic2d


@pytest.fixture(scope="module")
def nuclei():
    return data.make_nuclei_2d(6, 96, seed=3)


@pytest.fixture(scope="module")
def mitosis():
    return synthetic2d._mitosis(1000, seed=0)


def _best_threshold_accuracy(score, y):
    """Accuracy of the best single threshold on ``score`` (either direction)."""
    order = np.argsort(score)
    ys = y[order]
    # predict 1 above position i: correct = negatives at or below + positives above
    neg_below = np.concatenate([[0], np.cumsum(ys == 0)])
    pos_above = ys.sum() - np.concatenate([[0], np.cumsum(ys == 1)])
    acc = (neg_below + pos_above) / len(y)
    return float(max(acc.max(), 1 - acc.min()))


def _auc(y, score):
    """ROC AUC as the Mann-Whitney statistic (ties count one half)."""
    from scipy.stats import rankdata

    ranks = rankdata(score)
    n1 = int(y.sum())
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * (len(y) - n1)))


# ---- make_nuclei_2d ----------------------------------------------------------------------------
def test_nuclei_shapes_dtypes_ranges(nuclei):
    images, labels = nuclei
    assert images.shape == labels.shape == (6, 96, 96)
    assert images.dtype == np.float32 and labels.dtype == np.int32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert labels.min() == 0


def test_nuclei_deterministic():
    a = data.make_nuclei_2d(2, 64, seed=5)
    b = data.make_nuclei_2d(2, 64, seed=5)
    c = data.make_nuclei_2d(2, 64, seed=6)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_nuclei_ids_unique_and_contiguous(nuclei):
    from scipy import ndimage

    _, labels = nuclei
    for lab in labels:
        ids = np.unique(lab)
        assert ids[0] == 0 and np.array_equal(ids, np.arange(len(ids)))
        assert len(ids) >= 3  # several nuclei per image
        # every instance is one connected piece (no id reused for two nuclei)
        for k in ids[1:]:
            assert ndimage.label(lab == k)[1] == 1


def test_nuclei_mask_agrees_with_image(nuclei):
    images, labels = nuclei
    for im, lab in zip(images, labels):
        inside, outside = im[lab > 0].mean(), im[lab == 0].mean()
        assert inside > outside + 0.08, (inside, outside)
        # per nucleus too: each labelled region is brighter than the background around
        means = np.bincount(lab.ravel(), im.ravel()) / np.bincount(lab.ravel())
        assert (means[1:] > outside).mean() > 0.95


def test_nuclei_touching_keep_separate_ids():
    _, labels = data.make_nuclei_2d(4, 128, seed=0, difficulty=1.0)
    lab = labels
    # horizontally or vertically adjacent pixels with two different non-zero ids exist
    h = (lab[:, :, 1:] != lab[:, :, :-1]) & (lab[:, :, 1:] > 0) & (lab[:, :, :-1] > 0)
    v = (lab[:, 1:] != lab[:, :-1]) & (lab[:, 1:] > 0) & (lab[:, :-1] > 0)
    assert h.any() or v.any()


# ---- make_mitosis_patches ----------------------------------------------------------------------
def test_mitosis_shapes_dtypes_balance(mitosis):
    x, y, sub = mitosis
    assert x.shape == (1000, 32, 32, 3) and x.dtype == np.uint8
    assert y.shape == (1000,) and y.dtype == np.int64
    assert y.sum() == 500 and set(np.unique(y)) == {0, 1}
    assert set(np.unique(sub[y == 0])) == {0, 1} and set(np.unique(sub[y == 1])) == {2, 3, 4}
    x2, y2 = data.make_mitosis_patches(10, 48, seed=1, positive_fraction=0.2)
    assert x2.shape == (10, 48, 48, 3) and y2.sum() == 2


def test_mitosis_deterministic():
    a = data.make_mitosis_patches(16, seed=7)
    b = data.make_mitosis_patches(16, seed=7)
    c = data.make_mitosis_patches(16, seed=8)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_mitosis_darkness_alone_is_a_weak_classifier(mitosis):
    x, y, _ = mitosis
    od = -np.log(np.maximum(x, 1) / 255.0)          # optical density per pixel and channel
    assert _best_threshold_accuracy(od.mean(axis=(1, 2, 3)), y) <= 0.78
    assert _best_threshold_accuracy(x.mean(axis=(1, 2, 3)), y) <= 0.78
    # the darkest pixels are no giveaway either (pyknotic nuclei are as dark as mitoses)
    assert _best_threshold_accuracy(np.percentile(od.mean(-1), 98, axis=(1, 2)), y) <= 0.8


def test_mitosis_classes_differ_in_shape(mitosis):
    """Mitotic figures have irregular outlines: the dark object at the centre (Otsu threshold of the
    optical density) is less solid (area / convex-hull area) than a normal or pyknotic nucleus."""
    from scipy import ndimage
    from skimage.filters import threshold_otsu
    from skimage.measure import label, regionprops
    x, y, _ = mitosis
    x, y = x[:300], y[:300]
    od = ndimage.gaussian_filter(-np.log(np.maximum(x, 1) / 255.0).mean(-1), (0, 0.7, 0.7))
    solidity = []
    for im in od:
        lab = label(im > threshold_otsu(im[6:26, 6:26]))
        centre = lab[12:20, 12:20]
        k = np.bincount(centre.ravel(), minlength=2)[1:].argmax() + 1
        solidity.append(regionprops((lab == k).astype(np.uint8))[0].solidity)
    solidity = np.array(solidity)
    assert _auc(y, -solidity) >= 0.7                      # shape separates the classes...
    assert abs(_auc(y, od.mean((1, 2))) - 0.5) <= 0.25   # ...darkness hardly does


def test_combine_hed_matches_skimage():
    from skimage.color import combine_stains, rgb_from_hed

    rng = np.random.default_rng(0)
    H, E, D = rng.uniform(0, 2, (3, 3, 5, 5)).astype(np.float32)
    ref = combine_stains(np.stack([H, E, D], -1) / -np.log(1e-6), rgb_from_hed)
    np.testing.assert_allclose(synthetic2d._combine_hed(H, E, D), ref, atol=1e-5)


# ---- bad arguments -----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, name", [
    (dict(n_images=0), "n_images"), (dict(n_images=2, size=16), "size"),
    (dict(n_images=2, difficulty=1.5), "difficulty"), (dict(n_images=2, difficulty=-0.1), "difficulty"),
])
def test_nuclei_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        data.make_nuclei_2d(**kwargs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(n=0), "n"), (dict(n=-3), "n"), (dict(n=4, size=8), "size"),
    (dict(n=4, difficulty=2.0), "difficulty"), (dict(n=4, positive_fraction=1.1), "positive_fraction"),
    (dict(n=4, positive_fraction=-0.5), "positive_fraction"),
])
def test_mitosis_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        data.make_mitosis_patches(**kwargs)


def test_bad_types():
    with pytest.raises(TypeError, match="n_images"):
        data.make_nuclei_2d(2.5)
    with pytest.raises(TypeError, match="difficulty"):
        data.make_mitosis_patches(4, difficulty="hard")


# ---- contact sheet -----------------------------------------------------------------------------
def test_contact_sheet_draws():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = data.contact_sheet(seed=0)
    titles = [ax.get_title() for ax in fig.get_axes()]
    assert any("mitotic" in t or "y=1" in t for t in titles)
    assert any("y=0" in t for t in titles)
    assert len(fig.get_axes()) >= 30
    plt.close(fig)
