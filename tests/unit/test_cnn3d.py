"""3D CNN builder, tf.data pipeline, training helper, counting helpers and volume pictures."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cnncourse import cnn3d, viz, widgets  # noqa: E402
from cnncourse.data.synthetic3d import make_nuclei_3d  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    volumes, masks, y = make_nuclei_3d(12, 16, seed=0)
    return volumes, masks, y


def test_counting_helpers():
    assert cnn3d.conv3d_params(3, 1, 16) == 27 * 16 + 16
    assert cnn3d.conv3d_params(7, 1, 16) == 343 * 16 + 16
    assert cnn3d.conv3d_params(3, 8, 8, bias=False) == 27 * 64
    assert cnn3d.activation_memory((100, 100, 100, 16), batch_size=8) == 8 * 16 * 10 ** 6 * 4
    with pytest.raises(ValueError, match="kernel_size: expected a positive int"):
        cnn3d.conv3d_params(0, 1, 1)
    with pytest.raises(ValueError, match="shape: expected positive sizes"):
        cnn3d.activation_memory((0, 4))


def test_reference_build_matches_parameter_formula():
    model = cnn3d._build_cnn3d((16, 16, 16, 1), filters=(4, 8))
    assert model.output_shape == (None, 1)
    conv = {layer.name: layer.count_params() for layer in model.layers if layer.name.startswith("conv")}
    assert conv == {"conv1": cnn3d.conv3d_params(3, 1, 4, bias=False),
                    "conv2": cnn3d.conv3d_params(3, 4, 8, bias=False)}
    assert model.get_layer("pool2").output.shape == (None, 4, 4, 4, 8)   # 16 -> 8 -> 4
    with_aug = cnn3d._build_cnn3d((16, 16, 16, 1), filters=(4, 8), augment=True)
    assert with_aug.layers[1].name == "rotate3d"
    assert with_aug.count_params() == model.count_params()
    assert "build_cnn3d" not in cnn3d.__all__  # the learners write it (notebook 12)


def test_reference_build_bad_arguments():
    with pytest.raises(ValueError, match="input_shape: expected"):
        cnn3d._build_cnn3d((16, 16, 16))
    with pytest.raises(ValueError, match="too small"):
        cnn3d._build_cnn3d((8, 8, 8, 1), filters=(4, 4, 4, 4))
    with pytest.raises(ValueError, match="dropout"):
        cnn3d._build_cnn3d(dropout=1.0)


def test_dataset_batches(tiny):
    volumes, _, y = tiny
    ds = cnn3d.make_dataset(volumes, y, batch_size=5, augment=True, shuffle=True)
    batches = list(ds)
    assert [b[0].shape[0] for b in batches] == [5, 5, 2]
    assert batches[0][0].shape[1:] == (16, 16, 16, 1) and batches[0][1].dtype.name == "float32"
    plain = list(cnn3d.make_dataset(volumes, batch_size=12))
    np.testing.assert_allclose(plain[0].numpy()[..., 0], volumes)
    with pytest.raises(ValueError, match=r"y: expected shape \(12,\)"):
        cnn3d.make_dataset(volumes, y[:3])
    with pytest.raises(TypeError, match="volumes: expected a float array"):
        cnn3d.make_dataset(volumes > 0.5, y)
    with pytest.raises(ValueError, match="batch_size"):
        cnn3d.make_dataset(volumes, y, batch_size=0)


@pytest.mark.parametrize("how", ["plain", "tf.data", "rotate"])
def test_train_and_predict(tiny, how):
    from cnncourse.augment import _rotate_volume

    volumes, _, y = tiny
    model = cnn3d._build_cnn3d((16, 16, 16, 1), filters=(4, 8))
    kwargs = {"plain": {}, "tf.data": {"augment": True}, "rotate": {"rotate": _rotate_volume}}[how]
    history = cnn3d.train_cnn3d(model, volumes, y, epochs=1, batch_size=6,
                                validation=(volumes, y), **kwargs)
    assert set(history.history) >= {"loss", "auc", "val_loss", "val_auc"}
    scores = cnn3d.predict_scores(model, volumes)
    assert scores.shape == (12,) and np.all((scores >= 0) & (scores <= 1))
    with pytest.raises(ValueError, match="at most one"):
        cnn3d.train_cnn3d(model, volumes, y, epochs=1, augment=True, rotate=_rotate_volume)


def test_rotated_batches_are_seeded_and_use_the_given_function(tiny):
    volumes, _, y = tiny
    calls = []

    def rotate(volume, matrix):
        calls.append(matrix)
        return volume[::-1].copy()

    batches = cnn3d.RotatedBatches(volumes, y, rotate, batch_size=5, seed=3)
    x0, y0 = batches[0]
    assert len(batches) == 3 and x0.shape == (5, 16, 16, 16, 1) and y0.dtype == np.float32
    ids = batches.order[:5]
    np.testing.assert_allclose(x0[..., 0], volumes[ids, ::-1])
    again = cnn3d.RotatedBatches(volumes, y, rotate, batch_size=5, seed=3)
    again[0]
    np.testing.assert_allclose(calls[0], calls[5])          # same seed, same rotations
    batches.on_epoch_end()
    batches[0]
    assert not np.allclose(calls[0], calls[-5])              # a new epoch, new rotations
    with pytest.raises(ValueError, match="rotate: returned"):
        cnn3d.RotatedBatches(volumes, y, lambda v, m: v[:4], batch_size=5)[0]
    with pytest.raises(TypeError, match="rotate"):
        cnn3d.RotatedBatches(volumes, y, None)


def test_dense_batches_hold_the_sparse_sites(tiny):
    from cnncourse import data, sparse

    volumes, masks, y = tiny
    coords, feats = data.to_sparse(masks, mode="foreground", volumes=volumes)
    samples = sparse.split_samples(coords, feats, len(y))
    sb = sparse.SparseBatches(samples, y, (16, 16, 16), batch_size=5, levels=2, augment=True,
                              shuffle=True, seed=1)
    db = cnn3d.DenseBatches(sparse.SparseBatches(samples, y, (16, 16, 16), batch_size=5,
                                                 levels=2, augment=True, shuffle=True, seed=1))
    for epoch in range(2):
        st = sb.batch(1)
        x, labels = db[1]
        assert x.shape == (5, 16, 16, 16, 1)
        np.testing.assert_allclose(x, st.to_dense())
        np.testing.assert_array_equal(labels, sb[1][1])
        sb.on_epoch_end()
        db.on_epoch_end()


def _panels(fig):
    """Per axes of ``fig``: (title, the data of its first image, its aspect)."""
    return [(ax.get_title(), np.asarray(ax.images[0].get_array()), ax.get_aspect())
            for ax in fig.axes]


def test_pictures(tiny):
    import matplotlib.pyplot as plt

    volumes, masks, _ = tiny
    v = volumes[0]                                              # (16, 16, 16)
    # slices: the three planes through the index, in the order xy, xz, yz, with the spacing's
    # aspect ratios (z is twice as thick: the xz and yz panels are twice as tall per row)
    fig = viz.show_slices(v, (3, 5, 7), spacing=(2, 1, 1), title="nucleus")
    panels = _panels(fig)
    assert [p[0] for p in panels] == ["xy at z=3", "xz at y=5", "yz at x=7"]
    for (_, shown, _), expected in zip(panels, (v[3], v[:, 5], v[:, :, 7])):
        np.testing.assert_array_equal(shown, expected)
    assert [p[2] for p in panels] == [1.0, 2.0, 2.0]
    assert fig._suptitle.get_text() == "nucleus"
    # the default index is the centre, and the three panels share one colour range
    centre = _panels(viz.show_slices(v))
    np.testing.assert_array_equal(centre[0][1], v[8])
    assert {fig.axes[i].images[0].get_clim() for i in range(3)} == {(float(v.min()), float(v.max()))}
    # projections: the maximum along z, y and x
    proj = _panels(viz.show_projections(v, spacing=(2, 1, 1)))
    assert [p[0] for p in proj] == ["max over z (xy)", "max over y (xz)", "max over x (yz)"]
    for (_, shown, _), axis in zip(proj, (0, 1, 2)):
        np.testing.assert_array_equal(shown, v.max(axis=axis))
    # isosurfaces: one 3D axes holding one mesh; without smoothing, the level-0.5 surface of a
    # mask spans exactly the mask's voxels, stretched by the spacing (x, y, z on the axes)
    zs, ys, xs = np.nonzero(masks[0])
    iso = viz.show_isosurface(masks[0], smooth=0, spacing=(2, 1, 1), title="surface")
    (ax,) = iso.axes
    assert ax.name == "3d" and ax.get_title() == "surface" and len(ax.collections) == 1
    extent = (ax.xy_dataLim.width, ax.xy_dataLim.height, ax.zz_dataLim.width)
    np.testing.assert_allclose(extent, (np.ptp(xs) + 1, np.ptp(ys) + 1, 2 * (np.ptp(zs) + 1)))
    # smoothed (the default for a mask) and a float volume: a surface of about the same size
    for volume, kwargs in ((masks[0], {}), (v, {"level": 0.4})):
        ax = viz.show_isosurface(volume, **kwargs).axes[0]
        extent = (ax.xy_dataLim.width, ax.xy_dataLim.height, ax.zz_dataLim.width)
        np.testing.assert_allclose(extent, (np.ptp(xs) + 1, np.ptp(ys) + 1, np.ptp(zs) + 1),
                                   atol=1.5)
    # the explorer: three sliders z, y, x at the centre with the volume's ranges, then the output
    widget = widgets.slice_explorer(v, masks[0])
    sliders, out = widget.children
    assert [(s.description, s.value, s.min, s.max) for s in sliders.children] == [
        ("z", 8, 0, 15), ("y", 8, 0, 15), ("x", 8, 0, 15)]
    assert type(out).__name__ == "Output"
    plt.close("all")
    with pytest.raises(ValueError, match=r"volume: expected shape \(D, H, W\)"):
        viz.show_slices(volumes)
    with pytest.raises(ValueError, match="index"):
        viz.show_slices(volumes[0], index=(0, 0, 99))
    with pytest.raises(ValueError, match="level"):
        viz.show_isosurface(volumes[0], level=5.0)
    with pytest.raises(ValueError, match="mask: expected a bool array"):
        widgets.slice_explorer(volumes[0], masks[0, :4])
    with pytest.raises(ValueError, match="spacing"):
        viz.show_projections(volumes[0], spacing=(1, 1))


def test_nuclei_in_one_pose():
    v_one, m_one, y_one = make_nuclei_3d(6, 16, seed=2, pose="aligned")
    v_any, m_any, y_any = make_nuclei_3d(6, 16, seed=2)
    np.testing.assert_array_equal(y_one, y_any)                 # the same nuclei ...
    np.testing.assert_allclose(m_one.sum((1, 2, 3)), m_any.sum((1, 2, 3)), rtol=0.1)  # same sizes
    assert not np.array_equal(m_one, m_any)                     # ... in another pose
    np.testing.assert_array_equal(make_nuclei_3d(6, 16, seed=2, pose="aligned")[0], v_one)
    with pytest.raises(ValueError, match="pose"):
        make_nuclei_3d(2, 16, pose="upright")
