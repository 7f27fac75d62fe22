"""Network inputs, rotation augmentation and batches of cnncourse.sparse.net."""
import warnings

import numpy as np
import pytest

from cnncourse.sparse import SparseTensor
from cnncourse.sparse.net import (EpochTimer, SparseBatches, network_input_layers, network_inputs,
                                  rotate_sites, split_samples)

QUARTER_Z = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]])  # 90 degrees about the z axis


def ball(radius, centre, side):
    z, y, x = np.mgrid[:side, :side, :side]
    return np.argwhere((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2
                       <= radius**2)


def test_identity_and_quarter_turn_are_exact():
    rng = np.random.default_rng(0)
    half = np.argwhere(rng.random((4, 4, 4)) < 0.3) + 1
    c0 = np.array([6, 6, 6])
    sites = np.unique(np.vstack([half, 2 * c0 - half]), axis=0)  # centroid exactly c0
    feats = rng.standard_normal((len(sites), 2))
    same, f = rotate_sites(sites, feats, (13, 13, 13), np.eye(3))
    np.testing.assert_array_equal(same, sites)
    np.testing.assert_array_equal(f, feats)
    turned, f = rotate_sites(sites, feats, (13, 13, 13), QUARTER_Z)
    expected = (sites - c0) @ QUARTER_Z.T + c0
    order = np.lexsort(expected.T[::-1])
    np.testing.assert_array_equal(turned, expected[order])
    np.testing.assert_array_equal(f, feats[order])


def test_random_rotation_resamples_a_solid_without_holes():
    sites = ball(5, (10, 10, 10), 21)
    feats = sites.astype(float)  # each site carries its own position
    rng = np.random.default_rng(1)
    for _ in range(3):
        new, f = rotate_sites(sites, feats, (21, 21, 21), rng=rng)
        assert abs(len(new) - len(sites)) < 0.04 * len(sites)
        assert len(np.unique(new, axis=0)) == len(new) and new.dtype == np.int32
        assert np.all(np.abs(np.linalg.norm(new - 10, axis=1) - np.linalg.norm(f - 10, axis=1))
                      <= 1.0)  # features come from the site rotated back (nearest neighbour)


def test_rotation_keeps_objects_in_the_grid_or_says_why():
    rod = np.array([[0, 0, x] for x in range(6)])  # along x at a corner
    new, _ = rotate_sites(rod, np.ones((6, 1)), (8, 8, 8), QUARTER_Z)
    assert new.min() >= 0 and new.max() < 8 and len(new) == 6
    plate = np.array([[4, y, x] for y in range(9) for x in range(9)])  # fills a 9x9 slice
    c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
    eighth = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])  # its diagonal does not fit
    with pytest.raises(ValueError, match="more than the grid"):
        rotate_sites(plate, np.ones((81, 1)), (9, 9, 9), eighth)
    with pytest.raises(ValueError, match="orthogonal"):
        rotate_sites(rod, np.ones((6, 1)), (8, 8, 8), np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        rotate_sites(np.ones((3, 4), int), np.ones((3, 1)), (8, 8, 8))
    empty, f = rotate_sites(np.zeros((0, 3), int), np.zeros((0, 1)), (8, 8, 8))
    assert empty.shape == (0, 3)


def test_split_samples_and_network_inputs():
    coords = np.array([[2, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 1], [2, 3, 3, 3]], np.int32)
    feats = np.arange(8, dtype=np.float32).reshape(4, 2)
    parts = split_samples(coords, feats, 4)
    assert [len(c) for c, _ in parts] == [2, 0, 2, 0]
    np.testing.assert_array_equal(parts[2][1], feats[[0, 3]])
    st = SparseTensor(coords, feats, (4, 4, 4), 4)
    inputs = network_inputs(st, 2)
    assert set(inputs) == {"features", "neighbors_0", "neighbors_1", "down_0", "up_0",
                           "batch_index", "samples"}
    assert inputs["neighbors_0"].shape == (4, 27) and inputs["up_0"].shape == (4, 8)
    n1 = inputs["neighbors_1"].shape[0]
    assert inputs["down_0"].shape == (n1, 8) and inputs["batch_index"].shape == (n1,)
    np.testing.assert_array_equal(inputs["samples"], np.arange(4))
    assert set(network_input_layers(2, 2)) == set(inputs)
    with pytest.raises(ValueError, match="levels"):
        network_inputs(st, 0)
    with pytest.raises(ValueError, match="no features"):
        network_inputs(st.with_features(None), 1)


def test_sparse_batches():
    rng = np.random.default_rng(0)
    samples = [(ball(2, (4, 4, 4), 10), rng.standard_normal((33, 1)).astype("float32"))
               for _ in range(5)]
    y = np.array([0, 1, 0, 1, 1])
    data = SparseBatches(samples, y, (10, 10, 10), 2, 2, shuffle=True, seed=3)
    data.on_epoch_end()  # the first epoch keeps the given order; later ones are shuffled
    assert len(data) == 3
    seen = np.concatenate([data[i][1] for i in range(3)])
    assert sorted(seen.tolist()) == sorted(y.astype(float).tolist())
    inputs, labels = data[2]
    assert inputs["samples"].tolist() == [0] and labels.shape == (1,)
    plain = SparseBatches(samples, y, (10, 10, 10), 5, 2)
    assert plain.batch(0).num_sites == 5 * 33
    a = SparseBatches(samples, y, (10, 10, 10), 5, 2, augment=True, seed=1).batch(0)
    b = SparseBatches(samples, y, (10, 10, 10), 5, 2, augment=True, seed=1).batch(0)
    np.testing.assert_array_equal(a.coords, b.coords)  # same seed, same rotations
    with pytest.raises(ValueError, match="labels"):
        SparseBatches(samples, y[:3], (9, 9, 9), 2, 2)
    with pytest.raises(ValueError, match="batch_size"):
        SparseBatches(samples, y, (10, 10, 10), 0, 2)
    with pytest.raises(IndexError):
        plain.batch(1)


def test_epoch_timer():
    timer = EpochTimer()
    with pytest.raises(ValueError, match="no epoch"):
        timer.seconds_per_epoch()
    for epoch in range(3):
        timer.on_epoch_begin(epoch)
        timer.on_epoch_end(epoch)
    assert len(timer.seconds) == 3 and timer.seconds_per_epoch() >= 0


def test_rotate_batch_rotates_each_sample_on_its_own():
    from cnncourse.sparse.net import random_rotations, rotate_batch

    a, b = ball(3, (6, 6, 6), 13), ball(2, (3, 9, 4), 13)
    coords = np.vstack([np.column_stack([np.full(len(b), 2), b]),
                        np.column_stack([np.zeros(len(a), int), a])])  # unsorted, sample 1 empty
    feats = np.arange(len(coords), dtype=float)[:, None]
    rots = random_rotations(3, np.random.default_rng(0))
    out, f = rotate_batch(coords, feats, (13, 13, 13), rots)
    assert np.all(np.diff(out[:, 0]) >= 0) and set(out[:, 0]) == {0, 2}
    for sample, sites, rot in ((0, a, rots[0]), (2, b, rots[2])):
        keep = coords[:, 0] == sample
        ref_c, ref_f = rotate_sites(sites, feats[keep], (13, 13, 13), rot)
        np.testing.assert_array_equal(out[out[:, 0] == sample, 1:], ref_c)
        np.testing.assert_array_equal(f[out[:, 0] == sample], ref_f)
    with pytest.raises(ValueError, match="batch indices"):
        rotate_batch(coords, feats, (13, 13, 13), rots[:2])
    with pytest.raises(ValueError, match="orthogonal"):
        rotate_batch(coords, feats, (13, 13, 13), rots * 2)


def _masked_classifier(levels, buckets):
    from cnncourse.device import import_keras

    keras = import_keras()
    """A small classifier whose batch norm skips padding sites when ``buckets``."""
    from cnncourse.sparse import layers as L
    from cnncourse.sparse import network_input_layers

    keras.utils.set_random_seed(0)
    inp = network_input_layers(levels, 1, buckets=buckets)
    x = inp["features"]
    for lev in range(levels):
        x = L.SubmanifoldConv3D(4, 3, use_bias=False, name=f"c{lev}")(x, inp[f"neighbors_{lev}"])
        mask = inp[f"valid_{lev}"] if buckets else None
        x = L.SparseBatchNormalization(name=f"bn{lev}")(x, mask=mask)
        x = keras.layers.ReLU()(x)
        if lev < levels - 1:
            x = L.SparseMaxPool3D(2, name=f"p{lev}")(x, inp[f"down_{lev}"], inp[f"up_{lev}"])
    x = L.SparseGlobalPool3D("avg_max")(x, inp["batch_index"], inp["samples"])
    return keras.Model(inp, keras.layers.Dense(1, name="out")(x))


def test_bucket_padding_changes_no_value_and_no_gradient():
    from cnncourse.sparse import bucket_size, network_inputs

    assert [bucket_size(n) for n in (0, 256, 257)] == [256, 256, 363]
    with pytest.raises(ValueError, match="non-negative"):
        bucket_size(-1)
    rng = np.random.default_rng(0)
    coords = np.argwhere(rng.random((3, 8, 8, 8)) < 0.3).astype(np.int32)
    st = SparseTensor(coords, rng.standard_normal((len(coords), 1)).astype("float32"),
                      (8, 8, 8), batch_size=3)
    exact = network_inputs(st, 2)
    padded = network_inputs(st, 2, buckets={"minimum": 64})
    for lev in range(2):
        n = exact[f"neighbors_{lev}"].shape[0]
        assert padded[f"neighbors_{lev}"].shape[0] == bucket_size(n, minimum=64) > n
        assert padded[f"valid_{lev}"].sum() == n
    assert (padded["batch_index"] == -1).sum() > 0
    from cnncourse.device import import_keras

    keras = import_keras()
    with warnings.catch_warnings():  # the valid masks stay inside batch norm: no mask warning
        warnings.simplefilter("error", UserWarning)
        plain, masked = _masked_classifier(2, False), _masked_classifier(2, True)
    masked.set_weights(plain.get_weights())
    y = np.array([[1.0], [0.0], [1.0]], "float32")
    results = []
    for model, inputs in ((plain, exact), (masked, padded)):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            out = model(inputs, training=True)
            loss = tf.reduce_mean((out - y) ** 2)
        results.append((np.asarray(out), [np.asarray(g) for g in
                                          tape.gradient(loss, model.trainable_weights)]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5, atol=1e-6)
    for g1, g0 in zip(results[1][1], results[0][1]):
        np.testing.assert_allclose(g1, g0, rtol=1e-4, atol=1e-6)
