"""Shared plots draw without error and reject bad input with named arguments."""
import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cnncourse import viz  # noqa: E402


def test_plots_draw():
    rng = np.random.default_rng(0)
    assert viz.show_images([rng.random((8, 8)), rng.random((8, 8, 3))], ["a", "b"])
    assert viz.plot_history({"loss": [1, 0.5], "val_loss": [1.1, 0.7]})
    y = rng.integers(0, 2, 50)
    assert viz.plot_roc({"model": (y, y + rng.random(50))})
    assert viz.plot_confusion(y, 1 - y, ["normal", "mitosis"])
    assert viz.overlay_labels(rng.random((8, 8)), np.eye(8, dtype=int))


def test_bad_input_names_argument():
    with pytest.raises(ValueError, match="titles: expected 1"):
        viz.show_images([np.zeros((4, 4))], ["a", "b"])
    with pytest.raises(ValueError, match=r"images\[0\]: expected shape"):
        viz.show_images([np.zeros(4)])
    with pytest.raises(ValueError, match="metrics:"):
        viz.plot_history({"loss": [1]}, ["accuracy"])
    with pytest.raises(ValueError, match="labels: expected shape"):
        viz.overlay_labels(np.zeros((4, 4)), np.zeros((3, 3), int))
