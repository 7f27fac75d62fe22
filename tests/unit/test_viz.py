"""Shared plots draw without error and reject bad input with named arguments."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cnncourse import viz  # noqa: E402


def test_plots_draw():
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    images = [rng.random((8, 8)), rng.random((8, 8, 3))]
    fig = viz.show_images(images, ["a", "b"])
    shown = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in shown] == ["a", "b"]
    for ax, image in zip(shown, images):
        np.testing.assert_array_equal(ax.images[0].get_array(), image)
    assert len(viz.show_images([images[0]] * 7, ncols=3).axes) == 9     # 3 rows of 3

    fig = viz.plot_history({"loss": [1, 0.5], "val_loss": [1.1, 0.7]})
    (ax,) = fig.axes
    curves = {line.get_label(): line.get_xydata().tolist() for line in ax.get_lines()}
    assert curves == {"training": [[1, 1], [2, 0.5]], "validation": [[1, 1.1], [2, 0.7]]}
    assert ax.get_ylabel() == "loss"

    y = np.array([0, 0, 1, 1])
    fig = viz.plot_roc({"model": (y, np.array([0.1, 0.6, 0.4, 0.9]))})
    model, chance = fig.axes[0].get_lines()
    assert model.get_label() == "model (AUC 0.750)" and chance.get_label() == "chance"
    np.testing.assert_allclose(model.get_xydata(), [[0, 0], [0, 0.5], [0.5, 0.5], [0.5, 1],
                                                    [1, 1]])

    fig = viz.plot_confusion(np.array([0, 0, 0, 1]), np.array([0, 1, 1, 1]), ["normal", "mitosis"])
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), [[1, 2], [0, 1]])  # rows: truth
    assert [t.get_text() for t in ax.texts] == ["1", "2", "0", "1"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["normal", "mitosis"]

    labels = np.zeros((8, 8), int)
    labels[2:4, 2:4] = 1
    image = 10 + np.arange(64.0).reshape(8, 8)
    fig = viz.overlay_labels(image, labels, title="nuclei")
    rgb = np.asarray(fig.axes[0].images[0].get_array())
    assert rgb.shape == (8, 8, 3) and fig.axes[0].get_title() == "nuclei"
    grey = np.repeat(((image - 10) / 63)[..., None], 3, axis=-1)          # stretched to [0, 1]
    # background: the grey image, blended with black at the default alpha 0.4
    np.testing.assert_allclose(rgb[labels == 0], 0.6 * grey[labels == 0], atol=1e-6)
    assert np.ptp(rgb[labels == 1], axis=-1).min() > 0.1                    # label 1: coloured
    plt.close("all")


def test_bad_input_names_argument():
    with pytest.raises(ValueError, match="titles: expected 1"):
        viz.show_images([np.zeros((4, 4))], ["a", "b"])
    with pytest.raises(ValueError, match=r"images\[0\]: expected shape"):
        viz.show_images([np.zeros(4)])
    with pytest.raises(ValueError, match="metrics:"):
        viz.plot_history({"loss": [1]}, ["accuracy"])
    with pytest.raises(ValueError, match="labels: expected shape"):
        viz.overlay_labels(np.zeros((4, 4)), np.zeros((3, 3), int))
