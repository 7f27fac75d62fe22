"""Sparse Keras layers against their dense counterparts, values and gradients.

Backend-agnostic (keras.ops only): tests/system/test_sparse_jax.py runs this file again under
KERAS_BACKEND=jax.
"""
import numpy as np
import pytest

from cnncourse.device import import_keras
from cnncourse.sparse import SparseTensor

keras = import_keras()
ops = keras.ops
BACKEND = keras.backend.backend()
if BACKEND == "jax":  # float64 needs x64 mode in JAX
    import jax

    jax.config.update("jax_enable_x64", True)

from cnncourse.sparse import layers as L  # noqa: E402
from cnncourse.sparse import ops as sparse_ops  # noqa: E402
from cnncourse.tools.bench.sparse import alternatives as sparse_algorithms  # noqa: E402

TIGHT = dict(rtol=1e-10, atol=1e-12)  # float64


def grads(fn, *args):
    """Gradients of the scalar ``fn(*args)`` with respect to every argument, as NumPy arrays."""
    if BACKEND == "jax":
        grad = jax.jit(jax.grad(fn, argnums=tuple(range(len(args)))))  # one compile, not per op
        return [np.asarray(g) for g in grad(*args)]
    import tensorflow as tf

    ts = [tf.constant(a) for a in args]
    with tf.GradientTape() as tape:
        tape.watch(ts)
        loss = fn(*ts)
    return [np.asarray(tf.convert_to_tensor(g)) for g in tape.gradient(loss, ts)]


def compiled(fn):
    """``fn`` jitted under JAX (one compile for the many calls of a finite difference), as is
    under TensorFlow (eager calls are cheap there)."""
    return jax.jit(fn) if BACKEND == "jax" else fn


def numeric_grad(fn, x, eps=1e-6):
    """Central differences of the scalar ``fn(x)`` (float64)."""
    fn = compiled(fn)
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        g[i] = (float(fn(up)) - float(fn(down))) / (2 * eps)
    return g


def random_sparse(batch=3, side=6, channels=2, p=0.3, seed=0, empty=(1,)):
    """Random sites (some on the borders), float64 features; the samples in ``empty`` have none."""
    rng = np.random.default_rng(seed)
    mask = rng.random((batch, side, side, side)) < p
    mask[0, 0, 0, 0] = mask[0, -1, -1, -1] = mask[-1, 0, -1, 0] = True  # corners
    for b in empty:
        mask[b] = False
    dense = rng.standard_normal(mask.shape + (channels,)) * mask[..., None]
    return SparseTensor.from_dense(dense, mask), dense, mask


def at(coords, dense):
    return dense[coords[:, 0], coords[:, 1], coords[:, 2], coords[:, 3]]


# ---- forward: equal to dense -------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3, 5])
def test_submanifold_equals_dense_same_conv_at_active_sites(k):
    st, dense, mask = random_sparse()
    rng = np.random.default_rng(k)
    w = rng.standard_normal((k, k, k, 2, 3))
    bias = rng.standard_normal(3)
    layer = L.SubmanifoldConv3D(3, k, dtype="float64")
    layer.build((None, 2))
    layer.set_weights([w, bias])
    got = np.asarray(layer(st.features, st.neighbors(k)))
    expected = np.asarray(ops.conv(dense, w, padding="same")) + bias
    assert got.shape == (st.num_sites, 3)
    np.testing.assert_allclose(got, expected[mask], **TIGHT)


def test_submanifold_layer_matches_keras_conv3d_weights_directly():
    st, dense, mask = random_sparse(batch=1, empty=())
    conv = keras.layers.Conv3D(4, 3, padding="same", dtype="float64")
    conv.build((None, 6, 6, 6, 2))
    layer = L.SubmanifoldConv3D(4, 3, dtype="float64")
    layer.build((None, 2))
    layer.set_weights(conv.get_weights())  # same kernel layout (k, k, k, Cin, Cout)
    np.testing.assert_allclose(np.asarray(layer(st.features, st.neighbors(3))),
                               np.asarray(conv(dense))[mask], **TIGHT)


@pytest.mark.parametrize("k, s, side", [(2, 2, 6), (3, 2, 7), (3, 1, 5)])
def test_strided_conv_equals_dense_valid_conv_at_output_sites(k, s, side):
    st, dense, mask = random_sparse(side=side)
    coarse, table, tr = st.downsample(k, s)
    w = np.random.default_rng(0).standard_normal((k, k, k, 2, 3))
    layer = L.SparseConv3D(3, k, s, use_bias=False, dtype="float64")
    layer.build((None, 2))
    layer.set_weights([w])
    got = np.asarray(layer(st.features, table, tr))
    expected = np.asarray(ops.conv(dense, w, strides=s, padding="valid"))
    np.testing.assert_allclose(got, at(coarse.coords, expected), **TIGHT)
    # the output sites are exactly where the dense result can be non-zero
    assert coarse.num_sites == int(np.count_nonzero(
        np.asarray(ops.conv(mask[..., None].astype("float64"), np.ones((k, k, k, 1, 1)),
                            strides=s, padding="valid"))))


def test_inverse_conv_equals_dense_transposed_conv_at_fine_sites():
    st, dense, mask = random_sparse()
    coarse, table, tr = st.downsample(2)
    rng = np.random.default_rng(3)
    xc = rng.standard_normal((coarse.num_sites, 2))
    w = rng.standard_normal((2, 2, 2, 2, 3))  # (k, k, k, Cin, Cout)
    layer = L.SparseInverseConv3D(3, 2, use_bias=False, dtype="float64")
    layer.build((None, 2))
    layer.set_weights([w])
    got = np.asarray(layer(xc, tr, table))
    dense_t = keras.layers.Conv3DTranspose(3, 2, strides=2, use_bias=False, dtype="float64")
    dense_t.build((None, 3, 3, 3, 2))
    dense_t.set_weights([np.transpose(w, (0, 1, 2, 4, 3))])
    expected = np.asarray(dense_t(coarse.with_features(xc).to_dense()))
    np.testing.assert_allclose(got, expected[mask], **TIGHT)


def test_pooling_equals_dense_pooling_at_output_sites():
    st, dense, mask = random_sparse(empty=())
    coarse, table, tr = st.downsample(2)
    x32 = st.features.astype("float32")
    got_max = np.asarray(L.SparseMaxPool3D(2)(x32, table, tr))
    neg = np.where(mask[..., None], dense, -np.inf).astype("float32")
    exp_max = np.asarray(keras.layers.MaxPooling3D(2)(neg))
    np.testing.assert_allclose(got_max, at(coarse.coords, exp_max), rtol=1e-6)
    relu = np.maximum(dense, 0).astype("float32")  # with features >= 0, the zero grid is the same
    got = np.asarray(L.SparseMaxPool3D(2)(np.maximum(x32, 0), table, tr))
    np.testing.assert_allclose(got, at(coarse.coords, np.asarray(
        keras.layers.MaxPooling3D(2)(relu))), rtol=1e-6)
    got_avg = np.asarray(L.SparseAvgPool3D(2)(x32, table, tr))
    exp_avg = np.asarray(keras.layers.AveragePooling3D(2)(dense.astype("float32")))
    np.testing.assert_allclose(got_avg, at(coarse.coords, exp_avg), rtol=1e-5, atol=1e-6)


def test_global_pool_and_to_dense_keep_empty_samples():
    st, dense, mask = random_sparse(batch=3, empty=(1, 2))  # empty in the middle and at the end
    samples = np.arange(3, dtype="int32")
    for mode in ("avg", "max", "avg_max"):
        got = np.asarray(L.SparseGlobalPool3D(mode, dtype="float64")(
            st.features, st.batch_index, samples))
        x0 = st.features[st.batch_index == 0]
        ref0 = {"avg": x0.mean(0), "max": x0.max(0),
                "avg_max": np.concatenate([x0.mean(0), x0.max(0)])}[mode]
        assert got.shape == (3, len(ref0))
        np.testing.assert_allclose(got[0], ref0, **TIGHT)
        np.testing.assert_array_equal(got[1:], 0)
    out = np.asarray(L.SparseToDense((6, 6, 6), dtype="float64")(st.features, st.coords, samples))
    np.testing.assert_array_equal(out, dense)


def test_batch_norm_uses_active_sites_only():
    st, *_ = random_sparse(channels=3)
    bn = L.SparseBatchNormalization(epsilon=1e-3, dtype="float64")
    got = np.asarray(bn(st.features, training=True))
    x = st.features
    np.testing.assert_allclose(got, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), rtol=1e-5)
    with pytest.raises(ValueError, match="axis=-1"):
        L.SparseBatchNormalization(axis=0)


# ---- backward ------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3, 5])
def test_submanifold_gradients_equal_dense_masked_conv_gradients(k):
    st, dense, mask = random_sparse(seed=k)
    rng = np.random.default_rng(10 + k)
    w = rng.standard_normal((k, k, k, 2, 3))
    r = rng.standard_normal(mask.shape + (3,))  # a random upstream gradient

    def dense_loss(x, w):
        return ops.sum(ops.conv(x, w, padding="same") * (mask[..., None] * r))

    def sparse_loss(x, w):
        return ops.sum(L.sparse_conv(x, ops.reshape(w, (k**3, 2, 3)), st.neighbors(k)) * r[mask])

    gdx, gdw = grads(dense_loss, dense, w)
    gsx, gsw = grads(sparse_loss, st.features, w)
    np.testing.assert_allclose(gsx, gdx[mask], **TIGHT)
    np.testing.assert_allclose(gsw, gdw, **TIGHT)


def test_strided_conv_gradients_equal_dense():
    st, dense, mask = random_sparse(side=7)
    coarse, table, tr = st.downsample(3, 2)
    cmask = coarse.mask()
    rng = np.random.default_rng(5)
    w = rng.standard_normal((3, 3, 3, 2, 3))
    r = rng.standard_normal(cmask.shape + (3,))

    def dense_loss(x, w):
        return ops.sum(ops.conv(x, w, strides=2, padding="valid") * (cmask[..., None] * r))

    def sparse_loss(x, w):
        return ops.sum(L.sparse_conv(x, ops.reshape(w, (27, 2, 3)), table, tr) * r[cmask])

    gdx, gdw = grads(dense_loss, dense, w)
    gsx, gsw = grads(sparse_loss, st.features, w)
    np.testing.assert_allclose(gsx, gdx[mask], **TIGHT)
    np.testing.assert_allclose(gsw, gdw, **TIGHT)


def _small():
    st, *_ = random_sparse(batch=2, side=4, channels=2, p=0.25, seed=7, empty=())
    return st


def directional_check(fn, x, g, n=4, eps=1e-6, seed=0):
    """``<g, v>`` against the central difference of ``fn`` along random directions ``v``."""
    rng = np.random.default_rng(seed)
    fn = compiled(fn)
    for _ in range(n):
        v = rng.standard_normal(x.shape)
        numeric = (float(fn(x + eps * v)) - float(fn(x - eps * v))) / (2 * eps)
        assert np.isclose(np.sum(g * v), numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("what", ["submanifold", "strided", "inverse"])
def test_conv_gradients_match_finite_differences_float64(what):
    st = _small()
    rng = np.random.default_rng(1)
    if what == "submanifold":
        table, tr, n_in, n_out, kk = st.neighbors(3), None, st.num_sites, st.num_sites, 27
    else:
        coarse, down, up = st.downsample(2)
        if what == "strided":
            table, tr, n_in, n_out = down, up, st.num_sites, coarse.num_sites
        else:
            table, tr, n_in, n_out = up, down, coarse.num_sites, st.num_sites
        kk = 8
    x = rng.standard_normal((n_in, 2))
    w = rng.standard_normal((kk, 2, 2))
    r = rng.standard_normal((n_out, 2))

    def loss(x, w):
        return ops.sum(L.sparse_conv(x, w, table, tr) * r)

    gx, gw = grads(loss, x, w)
    np.testing.assert_allclose(gx, numeric_grad(lambda v: loss(v, w), x), rtol=1e-6, atol=1e-7)
    directional_check(lambda v: loss(x, v), w, gw)  # every entry of w: see the dense comparison


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool_gradients_match_finite_differences_float64(mode):
    st = _small()
    coarse, table, tr = st.downsample(2)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((st.num_sites, 2))
    r = rng.standard_normal((coarse.num_sites, 2))

    def loss(x):
        return ops.sum(sparse_ops.sparse_pool(x, table, tr, mode) * r)

    (gx,) = grads(loss, x)
    np.testing.assert_allclose(gx, numeric_grad(loss, x), rtol=1e-6, atol=1e-7)


# ---- structure: leaks, equivariance ----------------------------------------------------------

def test_samples_in_a_batch_never_leak():
    from cnncourse.sparse import network_inputs
    from cnncourse.sparse.net import _build_sparse_classifier as sparse_classifier

    st, *_ = random_sparse(batch=3, side=6, channels=1, empty=())
    keras.utils.set_random_seed(0)
    model = sparse_classifier(1, widths=(4, 4), dropout=0.0)
    together = model.predict_on_batch(network_inputs(st, 2))  # compiled: cheaper under JAX
    changed = st.features.copy()
    changed[st.batch_index == 0] += 5.0
    other = model.predict_on_batch(network_inputs(st.with_features(changed), 2))
    np.testing.assert_allclose(other[1:], together[1:], rtol=1e-5)  # inference: no coupling
    assert not np.allclose(other[0], together[0])
    keep = st.batch_index == 1  # a sample alone gives the same as in the batch
    c = st.coords[keep].copy()
    c[:, 0] = 0
    alone = SparseTensor(c, st.features[keep], st.spatial_shape, 1)
    np.testing.assert_allclose(model.predict_on_batch(network_inputs(alone, 2))[0], together[1],
                               rtol=1e-5)


def test_translation_equivariance():
    """Shifting all sites shifts the output sites and leaves their values unchanged."""
    st, *_ = random_sparse(batch=2, side=6, empty=())
    shift = np.array([0, 2, 4, 2])  # even, so that the pooling windows line up too
    moved = SparseTensor(st.coords + shift, st.features, (10, 10, 10), 2)
    layer = L.SubmanifoldConv3D(3, 3, dtype="float64")
    np.testing.assert_allclose(np.asarray(layer(st.features, st.neighbors(3))),
                               np.asarray(layer(moved.features, moved.neighbors(3))), **TIGHT)
    ca, ta, tra = st.downsample(2)
    cb, tb, trb = moved.downsample(2)
    np.testing.assert_array_equal(cb.coords, ca.coords + shift // 2)
    pool = L.SparseMaxPool3D(2, dtype="float64")
    np.testing.assert_allclose(np.asarray(pool(st.features, ta, tra)),
                               np.asarray(pool(moved.features, tb, trb)), **TIGHT)


# ---- configuration, serialisation, errors ----------------------------------------------------

LAYERS = [L.SubmanifoldConv3D(5, 3, use_bias=False), L.SparseConv3D(4, 3, 2),
          L.SparseInverseConv3D(4, 2), L.SparseMaxPool3D(2), L.SparseAvgPool3D(3, 1),
          L.SparseBatchNormalization(momentum=0.9), L.SparseGlobalPool3D("avg_max"),
          L.SparseToDense((4, 5, 6))]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: type(layer).__name__)
def test_get_config_round_trips(layer):
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == config


def test_model_saves_and_loads(tmp_path):
    from cnncourse.sparse import network_inputs
    from cnncourse.sparse.net import _build_sparse_classifier as sparse_classifier

    st, *_ = random_sparse(batch=2, side=6, channels=1, empty=())
    model = sparse_classifier(1, widths=(4, 4))
    inputs = network_inputs(st, 2)
    path = tmp_path / "sparse.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(np.asarray(loaded(inputs)), np.asarray(model(inputs)), rtol=1e-6)


def test_fit_runs_on_sparse_batches_and_trains_every_weight():
    from cnncourse.sparse import SparseBatches
    from cnncourse.sparse.net import _build_sparse_classifier as sparse_classifier

    rng = np.random.default_rng(0)
    blobs = [np.argwhere(rng.random((4, 4, 4)) < 0.3) + 2 for _ in range(8)]  # fit when rotated
    samples = [(c.astype("int32"), np.ones((len(c), 1), "float32")) for c in blobs]
    data = SparseBatches(samples, np.arange(8) % 2, (8, 8, 8), 8, 2, augment=True, shuffle=True)
    model = sparse_classifier(1, widths=(4, 4))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(data, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for w, w0 in zip(model.trainable_weights, before):  # gradients reached every weight
        assert not np.allclose(np.asarray(w), w0), w.path


def test_layer_errors_name_the_problem():
    st, *_ = random_sparse(batch=1, empty=())
    with pytest.raises(ValueError, match="odd kernel_size"):
        L.SubmanifoldConv3D(4, 2)
    with pytest.raises(ValueError, match="filters"):
        L.SubmanifoldConv3D(0)
    with pytest.raises(ValueError, match="kernel_size"):
        L.SparseConv3D(4, (2, 3, 2))
    with pytest.raises(ValueError, match="mode"):
        L.SparseGlobalPool3D("median")
    layer = L.SubmanifoldConv3D(4, 3)
    with pytest.raises(ValueError, match="125 columns but the kernel has 27"):
        layer(st.features.astype("float32"), st.neighbors(5))
    with pytest.raises(ValueError, match="integer table"):
        layer(st.features.astype("float32"), st.neighbors(3).astype("float32"))
    layer(st.features.astype("float32"), st.neighbors(3))
    with pytest.raises(ValueError, match="channels"):
        layer(np.ones((st.num_sites, 3), "float32"), st.neighbors(3))


# ---- algorithms, table checks, mixed precision ---------------------------------------------------

ALGOS = (["blocked", "hybrid", "pairs", "gather"] if BACKEND == "tensorflow"
         else ["blocked", "hybrid", "gather"])


@pytest.mark.parametrize("algorithm", ALGOS)
@pytest.mark.parametrize("what", ["submanifold", "strided", "inverse"])
def test_every_algorithm_equals_dense_values_and_gradients(algorithm, what):
    st, dense, mask = random_sparse(side=6, seed=3)
    rng = np.random.default_rng(4)
    if what == "submanifold":
        table, tr, k = st.neighbors(3), None, 3
        n_in, n_out = st.num_sites, st.num_sites
    else:
        coarse, down, up = st.downsample(2)
        k = 2
        table, tr = (down, up) if what == "strided" else (up, down)
        n_in, n_out = ((st.num_sites, coarse.num_sites) if what == "strided"
                       else (coarse.num_sites, st.num_sites))
    x = rng.standard_normal((n_in, 2))
    w = rng.standard_normal((k**3, 2, 3))
    r = rng.standard_normal((n_out, 3))

    def loss(x, w, algorithm):
        return ops.sum(sparse_algorithms.conv(x, w, table, tr, algorithm=algorithm) * r)

    ref = sparse_algorithms.conv(x, w, table, tr, algorithm="gather")  # the first version
    got = sparse_algorithms.conv(x, w, table, tr, algorithm=algorithm)
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), **TIGHT)
    gx, gw = grads(lambda x, w: loss(x, w, algorithm), x, w)
    rx, rw = grads(lambda x, w: loss(x, w, "gather"), x, w)
    np.testing.assert_allclose(gx, rx, **TIGHT)
    np.testing.assert_allclose(gw, rw, **TIGHT)
    if what == "submanifold":  # and against the dense convolution itself
        full = np.asarray(ops.conv(dense, w.reshape(3, 3, 3, 2, 3), padding="same"))
        got_d = sparse_algorithms.conv(st.features, w, table, algorithm=algorithm)
        np.testing.assert_allclose(np.asarray(got_d), full[mask], **TIGHT)


@pytest.mark.parametrize("what", ["submanifold", "strided"])
def test_blocked_spans_several_padded_blocks(monkeypatch, what):
    """With blocks of at most 256 rows, ~1000 sites make several blocks and a padded last one
    (rows that must neither reach the output nor the kernel's gradient)."""
    monkeypatch.setattr(sparse_ops, "BLOCK_VALUES", 1)
    assert sparse_ops.block_rows(27 * 2) == 256
    st, _, _ = random_sparse(batch=2, side=10, p=0.5, seed=2, empty=())  # 999 sites
    rows = sparse_ops.block_rows(27 * 2, st.num_sites)
    assert rows <= 256 and st.num_sites > 2 * rows and st.num_sites % rows
    if what == "submanifold":
        table, tr, k, n_out = st.neighbors(3), None, 27, st.num_sites
    else:
        coarse, table, tr = st.downsample(2)
        k, n_out = 8, coarse.num_sites
    rng = np.random.default_rng(5)
    x, w = st.features, rng.standard_normal((k, 2, 3))
    r = rng.standard_normal((n_out, 3))
    got = L.sparse_conv(x, w, table, tr, algorithm="blocked")
    np.testing.assert_allclose(np.asarray(got), np.asarray(
        sparse_algorithms.conv(x, w, table, tr, algorithm="gather")), **TIGHT)
    for algorithm_grads, ref_grads in zip(
            grads(lambda x, w: ops.sum(L.sparse_conv(x, w, table, tr, algorithm="blocked") * r),
                  x, w),
            grads(lambda x, w: ops.sum(sparse_algorithms.conv(x, w, table, tr,
                                                              algorithm="gather") * r),
                  x, w)):
        np.testing.assert_allclose(algorithm_grads, ref_grads, **TIGHT)


def test_algorithm_is_a_checked_keyword_kept_in_the_config():
    layer = L.SubmanifoldConv3D(4, 3, algorithm="blocked")
    assert L.SubmanifoldConv3D.from_config(layer.get_config()).algorithm == "blocked"
    with pytest.raises(ValueError, match="algorithm must be one of"):
        L.SubmanifoldConv3D(4, 3, algorithm="fast")
    with pytest.raises(ValueError, match="algorithm must be one of"):  # benchmark-only now
        L.SubmanifoldConv3D(4, 3, algorithm="pairs")
    assert L.default_algorithm() == "blocked"


def test_tables_that_do_not_belong_to_the_layer_raise():
    st, *_ = random_sparse(batch=2, side=6, empty=())
    x = st.features.astype("float32")
    subm = L.SubmanifoldConv3D(4, 3)
    coarse, down3, up3 = st.downsample(3, 3)  # 27 columns, like a k=3 submanifold table
    with pytest.raises(ValueError, match="rows but there are"):
        subm(x, down3)
    table = st.neighbors(3).copy()
    table[0, 0] = st.num_sites + 5
    with pytest.raises(ValueError, match=f"entry {st.num_sites + 5}, outside"):
        subm(x, table)
    swapped = st.neighbors(3)[:, ::-1].copy()  # right shape and range, centre not the site
    swapped[:, 13] = (np.arange(st.num_sites) + 1) % st.num_sites
    with pytest.raises(ValueError, match="not a submanifold neighbour table"):
        subm(x, swapped)
    lopsided = st.neighbors(3).copy()  # a neighbour seen from one side only
    i = int(np.flatnonzero((lopsided[:, 0] < st.num_sites))[0])
    lopsided[i, 0] = st.num_sites
    with pytest.raises(ValueError, match="not symmetric"):
        subm(x, lopsided)
    coarse, down, up = st.downsample(2)
    conv = L.SparseConv3D(4, 2)
    with pytest.raises(ValueError, match="rows but there are"):
        conv(x, up, down)  # the tables in the wrong order
    bad = down.copy()
    bad[[0, 1]] = bad[[1, 0]]
    with pytest.raises(ValueError, match="not the transpose"):
        conv(x, bad, up)
    pool = L.SparseMaxPool3D(2)
    with pytest.raises(ValueError, match="not the transpose"):
        pool(x, bad, up)
    inv = L.SparseInverseConv3D(4, 2)
    xc = np.ones((coarse.num_sites, 2), "float32")
    with pytest.raises(ValueError, match="rows but there are"):
        inv(xc, down, up)  # the downsampling order instead of (transposed, table)
    assert tuple(inv(xc, up, down).shape) == (st.num_sites, 4)
    assert tuple(conv(x, down, up).shape) == (coarse.num_sites, 4)


def test_mixed_precision_counts_and_sums_in_float32():
    from cnncourse.sparse import network_inputs
    from cnncourse.sparse.net import _build_sparse_classifier as sparse_classifier

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        # one sample with 3072 sites: a float16 count stops at 2048
        coords = np.argwhere(np.ones((1, 16, 16, 12), bool)).astype("int32")  # 3072
        feats = np.full((len(coords), 2), 0.5, "float32")
        pool = L.SparseGlobalPool3D("avg")
        out = pool(ops.cast(feats, "float16"), coords[:, 0], np.arange(1))
        assert keras.backend.standardize_dtype(out.dtype) == "float16"
        np.testing.assert_allclose(np.asarray(out, dtype="float32"), 0.5, rtol=1e-3)
        st = SparseTensor(coords, feats[:, :1], (16, 16, 12))
        model = sparse_classifier(1, widths=(4, 4))
        assert model.get_layer("subm_0_0").compute_dtype == "float16"
        assert model.get_layer("subm_0_0").kernel.dtype == "float32"
        model.compile(optimizer="adam", loss="binary_crossentropy")
        inputs = network_inputs(st, 2)
        loss = model.train_on_batch(inputs, np.ones((1,), "float32"))
        assert np.isfinite(float(np.asarray(loss).ravel()[0]))
        assert np.all(np.isfinite(np.asarray(model(inputs), dtype="float32")))
    finally:
        keras.mixed_precision.set_global_policy("float32")
