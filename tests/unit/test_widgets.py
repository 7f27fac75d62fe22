"""cnncourse.widgets: the explorers build, react to their controls headless, and plot."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from cnncourse import neurons, widgets  # noqa: E402

ipywidgets = pytest.importorskip("ipywidgets")


def _table(box):
    return [w for w in box.children[-1].children if isinstance(w, ipywidgets.HTML)][0].value


def test_perceptron_explorer_sliders_update_table():
    box = widgets.perceptron_explorer()
    sliders = {d: widgets.find_widget(box, d) for d in ("w1", "w2", "b")}
    assert all(isinstance(s, ipywidgets.FloatSlider) for s in sliders.values())
    assert [s.value for s in sliders.values()] == [-2.0, -2.0, 3.0]
    assert "computes: <b>NAND</b>" in _table(box)
    sliders["w1"].value, sliders["w2"].value, sliders["b"].value = 1.0, 1.0, -1.5
    assert "computes: <b>AND</b>" in _table(box)
    sliders["b"].value = -0.5
    assert "computes: <b>OR</b>" in _table(box)
    assert any(isinstance(w, ipywidgets.Output) for w in box.children[-1].children)
    assert plt.get_fignums() == []   # headless: figures are closed after drawing


def test_perceptron_explorer_bad_start_values():
    with pytest.raises(ValueError, match="w1: expected a number in"):
        widgets.perceptron_explorer(w1=10)


def test_plot_perceptron_handles_degenerate_weights():
    for w, b in (((-2, -2), 3), ((0, 0), 1), ((1, 0), -0.5), ((0, -1), 0.5)):
        fig = widgets.plot_perceptron(w, b)
        assert neurons.gate_name(neurons.perceptron(neurons.binary_inputs(2), w, b)) in \
            fig.axes[0].get_title()
        plt.close(fig)
    with pytest.raises(ValueError, match="w: expected two weights"):
        widgets.plot_perceptron((1, 2, 3), 0)
    with pytest.raises(TypeError, match="b: expected a number"):
        widgets.perceptron_table_html((1, 2), "x")


def test_activation_explorer_controls():
    box = widgets.activation_explorer()
    for name in ("sigmoid", "tanh", "relu", "leaky_relu"):
        assert isinstance(widgets.find_widget(box, name), ipywidgets.Checkbox)
    widgets.find_widget(box, "x").value = 0.0
    assert "<td>sigmoid</td><td>0.5</td><td>0.25</td>" in _table(box)
    widgets.find_widget(box, "x").value = -5.0
    widgets.find_widget(box, "alpha").value = 0.2
    assert "<td>leaky_relu</td><td>-1</td><td>0.2</td>" in _table(box)
    for name in ("sigmoid", "tanh", "relu", "leaky_relu"):
        widgets.find_widget(box, name).value = False
    assert "Tick at least one" in _table(box)
    with pytest.raises(KeyError, match="no widget described 'nope'"):
        widgets.find_widget(box, "nope")
    assert plt.get_fignums() == []


def test_activation_explorer_takes_own_functions():
    box = widgets.activation_explorer({"mine": (np.sin, np.cos)})
    widgets.find_widget(box, "x").value = 0.0
    assert "<td>mine</td><td>0</td><td>1</td>" in _table(box)
    with pytest.raises(TypeError, match=r"functions\['bad'\]: expected a pair"):
        widgets.activation_explorer({"bad": np.sin})


def test_plot_activations_panels():
    fig = widgets.plot_activations(mark=1.0)
    assert len(fig.axes) == 2 and len(fig.axes[0].get_legend().get_texts()) == 4
    plt.close(fig)
    with pytest.raises(ValueError, match="x_range"):
        widgets.plot_activations(x_range=0)


def test_draw_step_and_widget():
    fig = widgets.draw_conv_step(step=13)
    assert len(fig.axes) == 3
    fig = widgets.draw_conv_step(np.eye(4), np.ones((2, 2)), step=0)
    assert "running sum = 1" in " ".join(t.get_text() for t in fig.axes[1].texts)
    w = widgets.kernel_slider()
    assert w.children[0].children[1].max == 3 * 3 * 9 - 1
    with pytest.raises(ValueError, match="step: expected 0 .. 80"):
        widgets.draw_conv_step(step=81)
    with pytest.raises(ValueError, match="image: expected a small image"):
        widgets.kernel_slider(np.zeros((40, 40)))
