"""cnncourse.deeper: brute-force receptive fields, the loss surface, the stacks and their training."""
import numpy as np
import pytest

from cnncourse import deeper


def test_receptive_field_by_gradient_known_values():
    assert deeper.receptive_field_by_gradient([]) == 1
    assert deeper.receptive_field_by_gradient([(3, 1)]) == 3
    assert deeper.receptive_field_by_gradient([(3, 1), (3, 1)]) == 5
    assert deeper.receptive_field_by_gradient([(3, 1), (2, 2), (3, 1)]) == 8


@pytest.mark.parametrize("bad", [[(3,)], [(0, 1)], [(3, 0)], "abc"])
def test_receptive_field_by_gradient_rejects_bad_layers(bad):
    with pytest.raises(ValueError, match="layers"):
        deeper.receptive_field_by_gradient(bad)


def test_bowl_gradient_matches_finite_differences():
    w = np.array([0.7, -1.3])
    loss, grad = deeper.bowl(w)
    h = 1e-6
    num = [(deeper.bowl(w + h * e)[0] - deeper.bowl(w - h * e)[0]) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(grad, num, rtol=1e-5)
    assert deeper.bowl(np.zeros(2))[0] == 0.0 and loss > 0
    with pytest.raises(ValueError, match="w"):
        deeper.bowl(np.zeros(3))
    with pytest.raises(ValueError, match="scale"):
        deeper.bowl(np.zeros(2), scale=0)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_build_stack_depth_and_shapes(batch_norm):
    import keras

    model = deeper.build_stack(deeper.plain_block, 3, (16, 16, 3), width=4, batch_norm=batch_norm)
    weighted = [l for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense))]
    assert len(weighted) == 1 + 2 * 3 + 1
    assert model.output_shape == (None, 2)
    has_bn = any(isinstance(l, keras.layers.BatchNormalization) for l in model.layers)
    assert has_bn == batch_norm
    p = np.asarray(model(np.zeros((2, 16, 16, 3), "float32")))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="n_blocks"):
        deeper.build_stack(deeper.plain_block, -1)


def test_train_losses_is_deterministic_and_validates():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8, 8, 3)).astype("float32")
    y = (x[:, :, :, 0].mean(axis=(1, 2)) > 0).astype(int)
    import keras

    runs = []
    for _ in range(2):
        keras.utils.set_random_seed(3)
        model = deeper.build_stack(deeper.plain_block, 1, (8, 8, 3), width=4)
        runs.append(deeper.train_losses(model, x, y, epochs=2, seed=3))
    assert runs[0].shape == (2,)
    np.testing.assert_allclose(runs[0], runs[1])
    with pytest.raises(ValueError, match="x and y"):
        deeper.train_losses(deeper.build_stack(deeper.plain_block, 1, (8, 8, 3)), x, y[:10],
                            epochs=1, seed=0)
