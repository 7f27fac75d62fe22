"""cnncourse.mil: bags of patches (determinism, labels), fields, AUCs, training and prediction."""
import matplotlib
import numpy as np
import pytest

from cnncourse import mil

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def bags():
    return mil.make_bags(12, 9, patch_size=16, seed=4, max_witnesses=3)


def test_make_bags_shapes_labels_and_determinism(bags):
    x, y, yi = bags
    assert x.shape == (12, 9, 16, 16, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y.dtype == np.int64 and yi.shape == (12, 9)
    assert int(y.sum()) == 6                                   # positive_fraction 0.5, exact
    np.testing.assert_array_equal(yi.max(axis=1), y)           # positive iff a witness inside
    assert yi[y == 1].sum(axis=1).max() <= 3
    again = mil.make_bags(12, 9, patch_size=16, seed=4, max_witnesses=3)
    for a, b in zip(bags, again):
        np.testing.assert_array_equal(a, b)
    other = mil.make_bags(12, 9, patch_size=16, seed=5, max_witnesses=3)
    assert not np.array_equal(other[0], x)


def test_make_bags_patches_follow_their_labels(bags):
    from cnncourse.data.synthetic2d import make_mitosis_patches

    x, y, yi = bags
    # the mitotic patches hold more dark (hematoxylin-rich) pixels on average than the others
    dark = (x.mean(axis=-1) < 0.45).mean(axis=(2, 3))          # (12, 9)
    assert dark[yi == 1].mean() > dark[yi == 0].mean()
    assert make_mitosis_patches(2, 16)[0].shape == (2, 16, 16, 3)


@pytest.mark.parametrize("kwargs, word", [
    (dict(n_bags=0), "n_bags"), (dict(n_bags=4, n_instances=0), "n_instances"),
    (dict(n_bags=4, max_witnesses=10), "max_witnesses"), (dict(n_bags=4, patch_size=8), "patch_size"),
    (dict(n_bags=4, positive_fraction=1.5), "positive_fraction"),
])
def test_make_bags_bad_input(kwargs, word):
    with pytest.raises(ValueError, match=word):
        mil.make_bags(**kwargs)


def test_tile_field_layout():
    bag = np.arange(6 * 2 * 2 * 1).reshape(6, 2, 2, 1)
    field = mil.tile_field(bag)                                 # 2 x 3 grid
    assert field.shape == (4, 6, 1)
    np.testing.assert_array_equal(field[:2, 2:4], bag[1])
    np.testing.assert_array_equal(field[2:, :2], bag[3])
    with pytest.raises(ValueError, match="grid"):
        mil.tile_field(bag, (4, 4))
    with pytest.raises(ValueError, match="bag"):
        mil.tile_field(bag[0])


def test_aucs_and_errors():
    assert mil.bag_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert mil.instance_auc(np.array([[0, 1], [0, 0]]), np.array([[0.1, 0.9], [0.2, 0.3]])) == 1.0
    with pytest.raises(ValueError, match="y"):
        mil.bag_auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="bag_scores"):
        mil.bag_auc([0, 1], [0.2, np.nan])


def test_train_and_predict_instances(bags):
    from cnncourse.checks import mil as C

    keras = C.keras
    x, y, yi = bags
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(),
                            keras.layers.Dense(1, activation="sigmoid")])
    model = C._build_mil_model(net, C._max_pooling, 9)
    history = mil.train(model, x, y, epochs=2, batch_size=4, validation_data=(x, y))
    assert len(history.history["val_loss"]) == 2
    p = mil.predict_instances(net, x, batch_size=20)
    assert p.shape == (12, 9)
    np.testing.assert_allclose(p.max(axis=1), np.asarray(model(x))[:, 0], rtol=1e-5)
    with pytest.raises(ValueError, match="y"):
        mil.train(model, x, y[:3], epochs=1)
    with pytest.raises(ValueError, match="x"):
        mil.predict_instances(net, x[0])


def test_show_instance_maps(bags):
    x, y, yi = bags
    fig = mil.show_instance_maps(x[:3], yi[:3] * 0.8, yi[:3], titles=["a", "b", "c"])
    fields = fig.axes[:3]                                   # then the colour bar
    assert [ax.get_title() for ax in fields] == ["a", "b", "c"]
    assert fig.axes[-1].get_ylabel() == "instance score"
    for i, ax in enumerate(fields):
        tiles, heat = ax.images                             # the field, then the score overlay
        np.testing.assert_array_equal(tiles.get_array(), mil.tile_field(x[i]))
        np.testing.assert_allclose(np.asarray(heat.get_array()).ravel(), yi[i] * 0.8)
        assert len(ax.patches) == yi[i].sum()               # a white square per mitosis
        assert [t.get_text() for t in ax.texts] == [f"{s:.2f}" for s in yi[i] * 0.8]
    with pytest.raises(ValueError, match="scores"):
        mil.show_instance_maps(x[:3], yi[:2], yi[:3])
