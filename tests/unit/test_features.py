"""Nuclei feature tables and pixel samples: values on tiny hand-made images, the real image, bad input."""
import numpy as np
import pytest

from cnncourse import features


def test_group_touching_merges_touching_nuclei_and_counts_them():
    labels = np.array([[1, 1, 0, 3, 0],
                       [2, 2, 0, 0, 0],
                       [0, 0, 0, 0, 4],
                       [5, 0, 0, 4, 4]])
    objects, n = features.group_touching(labels)
    assert objects.dtype == np.int32 and objects.max() == 4 and n.dtype == np.int64
    assert n.tolist() == [2, 1, 1, 1]            # {1, 2}, {3}, {4}, {5}
    np.testing.assert_array_equal(objects > 0, labels > 0)
    # diagonal contact counts only with connectivity 2
    diag = np.array([[1, 0], [0, 2]])
    assert features.group_touching(diag)[1].tolist() == [2]
    assert features.group_touching(diag, connectivity=1)[1].tolist() == [1, 1]


def test_nuclei_features_measure_each_object():
    image = np.zeros((6, 8))
    labels = np.zeros((6, 8), int)
    labels[1:3, 1:4] = 2            # 2 x 3 rectangle
    labels[4:6, 5:8] = 5            # 2 x 3 rectangle
    image[labels == 5] = 10.0
    f = features.nuclei_features(image, labels)
    assert set(f) == {"label", *features.NUCLEUS_PROPERTIES}
    assert f["label"].tolist() == [2, 5]
    np.testing.assert_allclose(f["area"], [6, 6])
    np.testing.assert_allclose(f["solidity"], [1, 1])
    np.testing.assert_allclose(f["intensity_mean"], [0, 10])


def test_pixel_features_and_classes():
    labels = np.zeros((9, 9), int)
    labels[2:7, 2:7] = 1
    image = (labels * 200).astype(np.uint8)
    F = features.pixel_features(image, sigma=0.5)
    assert F.shape == (9, 9, 2) and F.dtype == np.float64
    assert 0 <= F[..., 0].min() and F[..., 0].max() <= 1          # uint8 scaled to [0, 1]
    assert F[4, 4, 1] < F[2, 4, 1]                                 # gradient larger at the edge
    C = features.pixel_classes(labels)
    assert C[0, 0] == 0 and C[4, 4] == 1 and C[2, 4] == 2 and C.dtype == np.int64
    assert np.bincount(C.ravel()).tolist() == [81 - 25, 9, 16]


def test_sample_per_class_is_balanced_and_deterministic():
    classes = np.array([0] * 50 + [1] * 10 + [2] * 5)
    idx = features.sample_per_class(classes, 5, seed=3)
    assert np.bincount(classes[idx]).tolist() == [5, 5, 5] and len(set(idx)) == 15
    np.testing.assert_array_equal(idx, features.sample_per_class(classes, 5, seed=3))


def test_on_the_real_nuclei_image():
    from cnncourse import data

    image, labels = data.load_nuclei()
    objects, n = features.group_touching(labels)
    assert n.sum() == labels.max() and n.min() >= 1 and (n > 1).sum() >= 10
    f = features.nuclei_features(image, objects, ["area", "solidity"])
    clumps = n > 1
    assert f["area"][clumps].mean() > 1.5 * f["area"][~clumps].mean()
    assert f["solidity"][clumps].mean() < f["solidity"][~clumps].mean()


@pytest.mark.parametrize("call, match", [
    (lambda: features.group_touching(np.zeros((2, 2, 2), int)), "labels: expected a 2D"),
    (lambda: features.group_touching(np.zeros((2, 2))), "labels: expected integer"),
    (lambda: features.group_touching(-np.ones((2, 2), int)), "labels: expected ids >= 0"),
    (lambda: features.group_touching(np.zeros((2, 2), int), connectivity=3), "connectivity:"),
    (lambda: features.nuclei_features(np.zeros((3, 3)), np.zeros((4, 4), int)), r"labels: expected shape \(3, 3\)"),
    (lambda: features.nuclei_features(np.zeros(3), np.zeros(3, int)), r"image: expected shape \(H, W\)"),
    (lambda: features.nuclei_features(np.zeros((3, 3)), np.ones((3, 3), int), ["nonsense"]), "properties:"),
    (lambda: features.nuclei_features(np.zeros((3, 3)), np.ones((3, 3), int), []), "properties:"),
    (lambda: features.pixel_features(np.zeros((3, 3)), sigma=0), "sigma:"),
    (lambda: features.pixel_features(np.zeros((3, 3), bool)), "image: expected a numeric"),
    (lambda: features.sample_per_class(np.array([0, 0, 1]), 2), "n_per_class: 2 is more"),
    (lambda: features.sample_per_class(np.array([0, 1]), 0), "n_per_class: expected a positive"),
    (lambda: features.sample_per_class(np.array([0.0, 1.0]), 1), "classes: expected integer"),
])
def test_bad_input_names_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
