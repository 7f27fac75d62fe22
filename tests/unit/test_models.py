"""Keras builders: LeNet-5's 61,706 parameters, MLP / small CNN sizes, RandomRot90, feature maps."""
import numpy as np
import pytest

from cnncourse import models


@pytest.fixture(scope="module")
def keras():
    from cnncourse.device import import_keras

    return import_keras()


def test_lenet5_has_61706_parameters():
    model = models.lenet5()
    assert model.count_params() == 61_706
    assert models.layer_params(model) == {**models.LENET5_PARAMS, "flatten": 0}
    assert sum(models.LENET5_PARAMS.values()) == 61_706
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["C1"] == (28, 28, 6) and shapes["S2"] == (14, 14, 6)
    assert shapes["C3"] == (10, 10, 16) and shapes["S4"] == (5, 5, 16) and shapes["C5"] == (1, 1, 120)
    assert model.output_shape == (None, 10)


def test_lenet5_variants(keras):
    rgb = models.lenet5((32, 32, 3), 2, activation="relu", pooling="max")
    assert rgb.count_params() == 61_706 - 156 + (5 * 5 * 3 + 1) * 6 - 850 + 85 * 2
    assert isinstance(rgb.get_layer("S2"), keras.layers.MaxPooling2D)
    p = rgb.predict(np.zeros((3, 32, 32, 3), np.float32), verbose=0)
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-6)
    assert models.lenet5(n_classes=1).output_shape == (None, 1)
    # a larger input makes C5's maps larger than 1x1, hence F6 larger
    assert models.lenet5((36, 36, 1)).get_layer("F6").count_params() == (120 * 4 + 1) * 84


def test_mlp_and_small_cnn_sizes():
    assert models.mlp((32, 32, 3), (20,), 2).count_params() == 3073 * 20 + 21 * 2
    assert models.mlp((4,), (), 3).count_params() == 15
    assert models.mlp((8, 8, 1), (5, 4), 1, dropout=0.5).count_params() == 65 * 5 + 6 * 4 + 5
    cnn = models.small_cnn((16, 16, 1), 3, filters=(4, 8), dense=6, batch_norm=True, dropout=0.2)
    assert cnn.output_shape == (None, 3)
    assert cnn.get_layer("conv1").count_params() == 9 * 4      # no bias before batch norm
    assert models.small_cnn((8, 8, 2), 2, filters=(3,), dense=0).count_params() == 18 * 3 + 3 + 4 * 2


def test_random_rot90(keras):
    layer = models.RandomRot90(seed=1)
    x = np.arange(2 * 3 * 3 * 1, dtype=np.float32).reshape(2, 3, 3, 1)
    x = np.repeat(x, 8, axis=0)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    out = np.asarray(layer(x, training=True))
    seen = set()
    for a, b in zip(x, out):
        ks = [k for k in range(4) if np.array_equal(np.rot90(a, k, axes=(0, 1)), b)]
        assert ks, "each output is an exact rotation by a multiple of 90 degrees"
        seen.update(ks)
    assert len(seen) >= 3
    clone = models.RandomRot90.from_config(layer.get_config())
    assert clone.seed == 1
    aug = models.augmentation(seed=0)
    assert [lay.name for lay in aug.layers] == ["flip", "rot90"]
    with pytest.raises(ValueError, match="inputs: RandomRot90 needs square images"):
        layer(np.zeros((1, 4, 3, 1), np.float32), training=True)


def test_feature_maps():
    model = models.lenet5()
    maps = models.feature_maps(model, np.zeros((2, 32, 32, 1), np.float32))
    assert {k: v.shape for k, v in maps.items()} == {"C1": (2, 28, 28, 6), "C3": (2, 10, 10, 16),
                                                     "C5": (2, 1, 1, 120)}
    maps = models.feature_maps(model, np.zeros((1, 32, 32, 1), np.float32), ["S2"])
    assert maps["S2"].shape == (1, 14, 14, 6)
    with pytest.raises(ValueError, match="layers: 'C9' is not a layer"):
        models.feature_maps(model, np.zeros((1, 32, 32, 1)), ["C9"])


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="input_shape: LeNet-5 needs at least 32x32"):
        models.lenet5((28, 28, 1))
    with pytest.raises(ValueError, match=r"input_shape: expected \(height, width, channels\)"):
        models.lenet5((32, 32))
    with pytest.raises(ValueError, match="n_classes: expected an int >= 1"):
        models.lenet5(n_classes=0)
    with pytest.raises(ValueError, match="pooling: expected 'avg' or 'max'"):
        models.lenet5(pooling="min")
    with pytest.raises(ValueError, match="hidden: expected positive ints"):
        models.mlp((4,), (0,))
    with pytest.raises(ValueError, match="dropout: expected a rate"):
        models.mlp((4,), (3,), dropout=1.0)
    with pytest.raises(ValueError, match="input_shape: 4x4 is too small for 3"):
        models.small_cnn((4, 4, 1), filters=(2, 2, 2))
    with pytest.raises(ValueError, match="at least one augmentation"):
        models.augmentation(flips=False, rot90=False)
