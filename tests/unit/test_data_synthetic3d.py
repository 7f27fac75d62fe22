"""Synthetic 3D nuclei and their sparse form: shapes, determinism, class balance, baselines."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cnncourse import data
from cnncourse.data.synthetic3d import make_nuclei_3d, to_sparse


@pytest.fixture(scope="module")
def nuclei():
    return make_nuclei_3d(120, 24, seed=0)


def test_shapes_dtypes_ranges(nuclei):
    volumes, masks, y = nuclei
    assert volumes.shape == masks.shape == (120, 24, 24, 24)
    assert volumes.dtype == np.float32 and masks.dtype == bool and y.dtype == np.int64
    assert volumes.min() >= 0 and volumes.max() <= 1
    assert set(np.unique(y)) == {0, 1} and y.sum() == 60
    # every nucleus is inside the grid (never touches the border) and non-empty
    assert masks.reshape(120, -1).any(axis=1).all()
    for axis in (1, 2, 3):
        assert not np.take(masks, [0, -1], axis=axis).any()


def test_mask_and_image_agree(nuclei):
    volumes, masks, _ = nuclei
    inside = volumes[masks].mean()
    outside = volumes[~masks].mean()
    assert inside > outside + 0.3


def test_deterministic_by_seed():
    a = make_nuclei_3d(6, 16, seed=3)
    b = make_nuclei_3d(6, 16, seed=3)
    c = make_nuclei_3d(6, 16, seed=4)
    for x, z in zip(a, b):
        np.testing.assert_array_equal(x, z)
    assert not np.array_equal(a[0], c[0])


def test_lazy_access_through_data_package():
    assert data.make_nuclei_3d is make_nuclei_3d and data.to_sparse is to_sparse


def test_volume_and_brightness_alone_are_near_chance(nuclei):
    volumes, masks, y = nuclei
    assert abs(roc_auc_score(y, masks.sum(axis=(1, 2, 3))) - 0.5) < 0.12
    assert abs(roc_auc_score(y, volumes.mean(axis=(1, 2, 3))) - 0.5) < 0.12
    inside = [v[m] for v, m in zip(volumes, masks)]
    assert abs(roc_auc_score(y, [a.mean() for a in inside]) - 0.5) < 0.12
    # the spread of intensities (folds vs nucleoli) says a little, less than the shape measures
    assert abs(roc_auc_score(y, [a.std() for a in inside]) - 0.5) < 0.22


def test_morphometric_baseline_is_in_the_calibrated_band():
    """Seven shape measures of the masks + logistic regression: held-out AUC about 0.75."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from cnncourse.morphometrics import measure_matrix

    _, masks, y = make_nuclei_3d(120, 32, seed=0)
    _, masks_test, y_test = make_nuclei_3d(120, 32, seed=100)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(measure_matrix(masks), y)
    auc = roc_auc_score(y_test, model.predict_proba(measure_matrix(masks_test))[:, 1])
    assert 0.62 < auc < 0.86, auc  # 0.71 on this seed; about 0.75 on larger sets


def test_same_shapes_at_every_size():
    _, small, y_small = make_nuclei_3d(3, 24, seed=5)
    _, big, y_big = make_nuclei_3d(3, 48, seed=5)
    np.testing.assert_array_equal(y_small, y_big)
    ratio = big.sum(axis=(1, 2, 3)) / small.sum(axis=(1, 2, 3))
    np.testing.assert_allclose(ratio, 8.0, rtol=0.08)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n": 0}, ValueError, "n: expected an int >= 1"),
    ({"n": 2.5}, TypeError, "n: expected an int"),
    ({"n": 2, "size": 8}, ValueError, "size: expected an int >= 16"),
    ({"n": 2, "size": 300}, ValueError, "size: expected an int from 16 to 256"),
    ({"n": 2, "difficulty": 1.5}, ValueError, r"difficulty: expected a float in \[0, 1\]"),
    ({"n": 2, "difficulty": "hard"}, TypeError, "difficulty"),
    ({"n": 2, "seed": -1}, ValueError, "seed"),
])
def test_bad_arguments_raise_named_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_nuclei_3d(**kwargs)


def test_to_sparse_foreground_and_surface(nuclei):
    volumes, masks, _ = nuclei
    m = masks[:4]
    coords, feats = to_sparse(m, mode="foreground")
    assert coords.dtype == np.int32 and coords.shape == (m.sum(), 4)
    assert feats.dtype == np.float32 and feats.shape == (m.sum(), 1) and np.all(feats == 1)
    # lexicographically sorted, unique
    order = np.lexsort(coords.T[::-1])
    np.testing.assert_array_equal(order, np.arange(len(coords)))
    assert len(np.unique(coords, axis=0)) == len(coords)
    dense = np.zeros_like(m)
    dense[tuple(coords.T)] = True
    np.testing.assert_array_equal(dense, m)

    surf, sfeats = to_sparse(m, mode="surface", volumes=volumes[:4])
    assert 0 < len(surf) < len(coords)
    assert m[tuple(surf.T)].all()
    np.testing.assert_allclose(sfeats[:, 0], volumes[:4][tuple(surf.T)])
    # a surface voxel has a background face neighbour; an interior one has none
    from scipy import ndimage
    eroded = ndimage.binary_erosion(m, structure=ndimage.generate_binary_structure(3, 1)[None])
    np.testing.assert_array_equal(np.sort(np.ravel_multi_index(surf.T, m.shape)),
                                  np.flatnonzero(m & ~eroded))


def test_to_sparse_single_voxel_and_border():
    m = np.ones((1, 3, 3, 3), bool)
    coords, _ = to_sparse(m, mode="surface")
    assert len(coords) == 26  # all but the centre: the grid border counts as outside


@pytest.mark.parametrize("size", [32, 64, 128])
def test_to_sparse_at_several_grid_sizes(size):
    _, masks, _ = make_nuclei_3d(2, size, seed=1)
    coords, feats = to_sparse(masks)
    assert coords[:, 1:].max() < size and len(coords) == len(feats)
    # the surface grows like size^2, the foreground like size^3
    assert len(coords) < (0.5 if size == 32 else 0.2) * masks.sum()


def test_to_sparse_bad_inputs():
    m = np.zeros((1, 4, 4, 4), bool)
    with pytest.raises(TypeError, match="masks: expected a bool array"):
        to_sparse(m.astype(np.uint8))
    with pytest.raises(ValueError, match=r"masks: expected shape \(n, D, H, W\)"):
        to_sparse(m[0])
    with pytest.raises(ValueError, match="mode: expected 'surface' or 'foreground'"):
        to_sparse(m, mode="edges")
    with pytest.raises(ValueError, match="volumes: expected shape"):
        to_sparse(m, volumes=np.zeros((1, 4, 4, 5)))
