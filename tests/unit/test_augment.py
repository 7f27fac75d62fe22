"""3D rotation and flips: volume kept, SciPy and Keras resamplers agree, random matrices valid."""
import numpy as np
import pytest

from cnncourse import augment


def ellipsoid(size=24, radii=(9, 5, 4)):
    grids = np.meshgrid(*[np.arange(size) - (size - 1) / 2] * 3, indexing="ij")
    return sum((g / r) ** 2 for g, r in zip(grids, radii)) <= 1


def test_random_rotation_matrices_are_rotations():
    mats = augment.random_rotation_matrices(50, seed=0)
    assert mats.shape == (50, 3, 3)
    np.testing.assert_allclose(mats @ mats.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (50, 3, 3)),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(mats), 1.0)
    np.testing.assert_array_equal(mats, augment.random_rotation_matrices(50, seed=0))
    # uniform over rotations: the rotated z axis covers the sphere, mean near 0
    assert np.abs((mats @ [1.0, 0, 0]).mean(axis=0)).max() < 0.2


def test_rotated_ellipsoid_keeps_its_volume():
    ell = ellipsoid()
    for mat in augment.random_rotation_matrices(5, seed=1):
        rotated = augment._rotate_volume(ell, mat)  # bool in, bool out (trilinear, then > 0.5)
        assert rotated.dtype == bool
        assert abs(int(rotated.sum()) - int(ell.sum())) < 0.04 * ell.sum()
        soft = augment._rotate_volume(ell.astype(np.float32), mat)
        assert soft.sum() == pytest.approx(ell.sum(), rel=0.01)


def test_quarter_turn_is_exact():
    vol = np.random.default_rng(0).random((9, 9, 9)).astype(np.float32)
    mat = augment.rotation_matrix([1, 0, 0], np.pi / 2)  # about z: the (y, x) plane turns
    out = augment._rotate_volume(vol, mat)
    np.testing.assert_allclose(out, np.rot90(vol, k=1, axes=(1, 2)), atol=1e-5)  # y -> x


def test_random_rotate_and_flip_batches():
    batch = np.stack([ellipsoid(), ellipsoid(radii=(6, 6, 9))]).astype(np.float32)
    out = augment._random_rotate(batch, seed=0)
    assert out.shape == batch.shape and out.dtype == batch.dtype
    np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), batch.sum(axis=(1, 2, 3)), rtol=0.02)
    np.testing.assert_array_equal(out, augment._random_rotate(batch, seed=0))
    flipped = augment.random_flip(batch, seed=3)
    np.testing.assert_array_equal(np.sort(flipped.ravel()), np.sort(batch.ravel()))


def test_keras_layer_matches_scipy_and_keeps_volume():
    import keras

    ell = ellipsoid().astype(np.float32)
    mats = augment.random_rotation_matrices(2, seed=2)
    x = np.stack([ell, ell])[..., None]
    out = keras.ops.convert_to_numpy(augment.RandomRotation3D.resample(x, mats.astype(np.float32)))
    for i in range(2):
        np.testing.assert_allclose(out[i, ..., 0], augment._rotate_volume(ell, mats[i]), atol=1e-4)
    layer = augment.RandomRotation3D(seed=0)
    y = keras.ops.convert_to_numpy(layer(x, training=True))
    assert y.shape == x.shape
    np.testing.assert_allclose(y.sum(axis=(1, 2, 3, 4)), ell.sum(), rtol=0.02)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    clone = augment.RandomRotation3D.from_config(layer.get_config())
    assert clone.flips and clone.seed == 0


def test_keras_layer_in_tf_data():
    from cnncourse.device import import_tensorflow

    tf = import_tensorflow()
    layer = augment.RandomRotation3D(seed=1)
    x = np.stack([ellipsoid()] * 4).astype(np.float32)[..., None]
    ds = tf.data.Dataset.from_tensor_slices(x).batch(2).map(lambda b: layer(b, training=True))
    sums = np.concatenate([b.numpy().sum(axis=(1, 2, 3, 4)) for b in ds])
    np.testing.assert_allclose(sums, x[0].sum(), rtol=0.02)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"volume: expected shape \(D, H, W\)"):
        augment._rotate_volume(np.zeros((4, 4)), np.eye(3))
    with pytest.raises(ValueError, match="matrix: expected an orthogonal matrix"):
        augment._rotate_volume(np.zeros((4, 4, 4)), 2 * np.eye(3))
    with pytest.raises(ValueError, match=r"matrix: expected shape \(3, 3\)"):
        augment._rotate_volume(np.zeros((4, 4, 4)), np.eye(2))
    with pytest.raises(TypeError, match="volume: expected a numeric"):
        augment._rotate_volume(np.zeros((4, 4, 4), dtype=object), np.eye(3))
    with pytest.raises(ValueError, match=r"volumes: expected shape \(n, D, H, W\)"):
        augment._random_rotate(np.zeros((4, 4, 4)))
    with pytest.raises(ValueError, match="n: expected an int >= 0"):
        augment.random_rotation_matrices(-1)
    with pytest.raises(ValueError, match="axis: expected a non-zero vector"):
        augment.rotation_matrix([0, 0, 0], 1.0)
    with pytest.raises(ValueError, match=r"RandomRotation3D: expected inputs of shape"):
        augment.RandomRotation3D()(np.zeros((2, 8, 8, 8), np.float32), training=True)
