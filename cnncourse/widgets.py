"""Interactive widgets of notebooks 01, 02 and 05, and the plots they redraw.

* :func:`perceptron_explorer`: sliders ``w1``, ``w2``, ``b`` redraw a perceptron's decision line in
  the input plane and its truth table (notebook 01);
* :func:`activation_explorer`: check boxes and sliders to compare activation functions and their
  derivatives (notebook 02);
* :func:`kernel_slider`: a kernel sliding over a small image one multiply-add at a time, drawn by
  :func:`draw_conv_step` (notebook 05).

Each returns an ``ipywidgets`` container whose sliders and check boxes carry the descriptions
named above (so a browser test can find them). They also work headless: without a Jupyter kernel
the plots are drawn and closed, and the HTML tables are still updated. The drawing functions
:func:`plot_perceptron` and :func:`plot_activations` can be used on their own.
"""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from cnncourse import conv, neurons
from cnncourse._validate import array
from cnncourse.viz import show_slices

if TYPE_CHECKING:  # annotations only
    import ipywidgets
    import matplotlib.axes
    import matplotlib.figure

__all__ = ["plot_perceptron", "perceptron_table_html", "perceptron_explorer", "plot_activations",
           "activation_table_html", "activation_explorer", "find_widget", "draw_conv_step",
           "kernel_slider", "slice_explorer"]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def _show(fig) -> None:
    """Display ``fig`` when a notebook kernel runs (e.g. inside an Output widget), then close it."""
    if _in_kernel():
        from IPython.display import display

        display(fig)
    _plt().close(fig)


def _redraw(out, draw: Callable[[], object]) -> None:
    """Replace the contents of Output widget ``out`` by the figure ``draw()`` returns."""
    with out:
        if _in_kernel():
            out.clear_output(wait=True)
        _show(draw())


def find_widget(root: ipywidgets.Widget, description: str) -> ipywidgets.Widget:
    """The first widget below ``root`` (depth first) whose ``description`` is ``description``.

    Raises ``KeyError`` naming the descriptions found when there is none.

    Parameters
    ----------
    root : ipywidgets.Widget
        Searched with its ``children``, recursively (``root`` itself first).
    description : str

    Returns
    -------
    ipywidgets.Widget

    Raises
    ------
    KeyError
        No widget with that description (the message lists those found).

    Examples
    --------
    >>> import ipywidgets
    >>> box = ipywidgets.VBox([ipywidgets.FloatSlider(description="w1")])
    >>> find_widget(box, "w1").description
    'w1'
    """
    found = []
    stack = [root]
    while stack:
        w = stack.pop(0)
        desc = getattr(w, "description", None)
        if desc == description:
            return w
        if desc:
            found.append(desc)
        stack[:0] = list(getattr(w, "children", ()))
    raise KeyError(f"description: no widget described {description!r}; found {found}")


# --------------------------------------------------------------------------------------------
# Perceptron


def _weights(w, b):
    w = np.asarray(w, dtype=float)
    if w.shape != (2,):
        raise ValueError(f"w: expected two weights (w1, w2), got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"w: expected finite weights, got {w.tolist()}")
    try:
        b = float(b)
    except (TypeError, ValueError):
        raise TypeError(f"b: expected a number, got {type(b).__name__}") from None
    if not np.isfinite(b):
        raise ValueError(f"b: expected a finite number, got {b}")
    return w, b


def plot_perceptron(w: ArrayLike = neurons.NAND_WEIGHTS, b: float = neurons.NAND_BIAS, *,
                    ax: matplotlib.axes.Axes | None = None, title: str | None = None,
                    lim: tuple[float, float] = (-0.5, 1.5)) -> matplotlib.figure.Figure:
    """Draw a two-input perceptron in its input plane.

    The region where it outputs 1 is shaded, the decision line ``w1 x1 + w2 x2 + b = 0`` drawn,
    and the four binary inputs marked (filled: output 1, open: output 0) with their weighted sums.

    Parameters
    ----------
    w : array_like, shape (2,)
        Weights ``(w1, w2)``.
    b : float
        Bias.
    ax : matplotlib Axes, optional
    title : str, optional
        Default: the weights, the bias and the logic function computed.
    lim : (float, float)
        Range of both axes.

    Returns
    -------
    matplotlib Figure

    Raises
    ------
    ValueError
        ``w`` not two numbers or ``b`` not one number.
    """
    w, b = _weights(w, b)
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.4, 4.4), layout="constrained")
    grid = np.linspace(lim[0], lim[1], 201)
    g1, g2 = np.meshgrid(grid, grid)
    out = neurons.perceptron(np.stack([g1, g2], axis=-1), w, b)      # (201, 201) of 0/1
    ax.imshow(out, origin="lower", extent=(lim[0], lim[1], lim[0], lim[1]), cmap="coolwarm",
              vmin=-0.6, vmax=1.6, alpha=0.35, interpolation="nearest", aspect="equal")
    xs = np.array(lim)
    if abs(w[1]) > 1e-12:
        ax.plot(xs, -(w[0] * xs + b) / w[1], "k-", lw=2, label="w·x + b = 0")
    elif abs(w[0]) > 1e-12:
        ax.axvline(-b / w[0], color="k", lw=2, label="w·x + b = 0")
    inputs = neurons.binary_inputs(2)
    sums = neurons.weighted_sum(inputs, w, b)
    outputs = neurons.step(sums)
    for (x1, x2), z, o in zip(inputs, sums, outputs):
        ax.scatter([x1], [x2], s=160, zorder=3, edgecolors="k", linewidths=1.5,
                   facecolors="tab:red" if o else "white")
        right = x1 > 0.5
        ax.annotate(f"sum {z:g} → {o}", (x1, x2), textcoords="offset points",
                    xytext=(-10 if right else 10, 9), ha="right" if right else "left", fontsize=9)
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ticks = np.arange(np.ceil(lim[0] * 2) / 2, lim[1] + 1e-9, 0.5)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("input A (x1)")
    ax.set_ylabel("input B (x2)")
    if title is None:
        title = (f"w = ({w[0]:g}, {w[1]:g}), b = {b:g}: {neurons.gate_name(outputs)}")
    ax.set_title(title, fontsize=10)
    from matplotlib.patches import Patch

    cmap = plt.get_cmap("coolwarm")
    handles = [Patch(color=cmap(0.0), alpha=0.35, label="output 0"),
               Patch(color=cmap(1.0), alpha=0.35, label="output 1")]
    if abs(w).max() > 1e-12:
        handles = ax.get_legend_handles_labels()[0] + handles
    ax.legend(handles=handles, loc="lower left", fontsize=8)
    return ax.figure


def perceptron_table_html(w: ArrayLike, b: float) -> str:
    """HTML truth table of a two-input perceptron: inputs, weighted sum, output, gate name.

    Parameters
    ----------
    w : array_like, shape (2,)
    b : float

    Returns
    -------
    str
        A ``<table>`` with one row per input 00, 01, 10, 11 and the line "computes: <b>NAME</b>".

    Raises
    ------
    ValueError
        ``w`` not two numbers or ``b`` not one number.

    Examples
    --------
    >>> "computes: <b>NAND</b>" in perceptron_table_html([-2, -2], 3)
    True
    """
    w, b = _weights(w, b)
    inputs = neurons.binary_inputs(2)
    sums = neurons.weighted_sum(inputs, w, b)
    outputs = neurons.step(sums)
    rows = "".join(f"<tr><td>{a}</td><td>{c}</td><td>{z:g}</td><td><b>{o}</b></td></tr>"
                   for (a, c), z, o in zip(inputs, sums, outputs))
    return ("<table style='border-collapse: collapse; text-align: center'>"
            "<tr><th>A</th><th>B</th><th>w1·A + w2·B + b</th><th>output</th></tr>"
            f"{rows}</table><p>computes: <b>{neurons.gate_name(outputs)}</b></p>")


def perceptron_explorer(w1: float = -2.0, w2: float = -2.0, b: float = 3.0) -> ipywidgets.VBox:
    """Sliders ``w1``, ``w2``, ``b`` that redraw a perceptron's decision line and truth table.

    Parameters
    ----------
    w1, w2, b : float
        Start values (default: the talk's NAND perceptron), each in [-4, 4].

    Returns
    -------
    ipywidgets.VBox
        Children: an HBox of the three ``FloatSlider`` (descriptions "w1", "w2", "b"), then an
        HBox of the plot (``Output``) and the truth table (``HTML``). Display it, or just leave it
        as the last expression of a cell.

    Examples
    --------
    >>> box = perceptron_explorer()
    >>> find_widget(box, "w1").value = 2.0     # the table and the plot follow  # doctest: +SKIP
    """
    import ipywidgets as widgets

    for name, v in (("w1", w1), ("w2", w2), ("b", b)):
        if not isinstance(v, (int, float, np.number)) or not -4 <= float(v) <= 4:
            raise ValueError(f"{name}: expected a number in [-4, 4], got {v!r}")
    sliders = [widgets.FloatSlider(value=float(v), min=-4.0, max=4.0, step=0.5, description=name,
                                   continuous_update=True)
               for name, v in (("w1", w1), ("w2", w2), ("b", b))]
    plot = widgets.Output()
    table = widgets.HTML()
    box = widgets.VBox([widgets.HBox(sliders), widgets.HBox([plot, table])])

    def update(change=None):
        w, bias = (sliders[0].value, sliders[1].value), sliders[2].value
        table.value = perceptron_table_html(w, bias)
        _redraw(plot, lambda: plot_perceptron(w, bias))

    for s in sliders:
        s.observe(update, names="value")
    update()
    return box


# --------------------------------------------------------------------------------------------
# Activation functions


def _default_functions() -> dict[str, tuple[Callable, Callable]]:
    return {k: v for k, v in neurons.ACTIVATIONS.items() if k != "step"}


def _takes_alpha(f) -> bool:
    try:
        return "alpha" in inspect.signature(f).parameters
    except (TypeError, ValueError):
        return False


def _evaluate(f, x, alpha):
    return np.asarray(f(x, alpha=alpha) if _takes_alpha(f) else f(x), dtype=float)


def _check_functions(functions) -> dict:
    if functions is None:
        return _default_functions()
    if not isinstance(functions, Mapping) or not functions:
        raise TypeError("functions: expected a non-empty dict name -> (function, derivative)")
    for name, pair in functions.items():
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(map(callable, pair))):
            raise TypeError(f"functions[{name!r}]: expected a pair (function, derivative), got {pair!r}")
    return dict(functions)


def plot_activations(functions: Mapping[str, tuple[Callable, Callable]] | None = None, *,
                     x_range: float = 6.0, alpha: float = 0.1,
                     mark: float | None = None) -> matplotlib.figure.Figure:
    """Two panels: activation functions (left) and their derivatives (right).

    Parameters
    ----------
    functions : dict name -> (f, df), optional
        Default: sigmoid, tanh, relu and leaky_relu from :mod:`cnncourse.neurons`. A function with
        an ``alpha`` argument gets ``alpha``.
    x_range : float
        The x axis spans [-x_range, x_range].
    alpha : float
        Negative slope for leaky ReLU (the default 0.01 would be hard to see).
    mark : float, optional
        Draw a vertical line and dots at this x.

    Returns
    -------
    matplotlib Figure
        Two axes, one line per function each, with a legend.

    Raises
    ------
    ValueError
        ``x_range <= 0``.
    TypeError
        ``functions`` empty or not name -> (f, df) pairs of callables.
    """
    functions = _check_functions(functions)
    if not x_range > 0:
        raise ValueError(f"x_range: expected a positive number, got {x_range}")
    plt = _plt()
    fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(10, 3.6))
    x = np.linspace(-x_range, x_range, 801)
    styles = ("-", "-", "--", "-.", ":")
    for i, (name, (f, df)) in enumerate(functions.items()):
        ls = styles[i % len(styles)]
        line, = ax_f.plot(x, _evaluate(f, x, alpha), lw=2, ls=ls, label=name)
        ax_d.plot(x, _evaluate(df, x, alpha), lw=2, ls=ls, color=line.get_color(), label=name)
        if mark is not None:
            m = np.array([float(mark)])
            ax_f.plot(m, _evaluate(f, m, alpha), "o", color=line.get_color())
            ax_d.plot(m, _evaluate(df, m, alpha), "o", color=line.get_color())
    for ax, title in ((ax_f, "activation f(x)"), (ax_d, "derivative f'(x)")):
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axvline(0, color="0.6", lw=0.8)
        if mark is not None:
            ax.axvline(float(mark), color="k", ls=":", lw=1)
        ax.set_xlabel("x")
        ax.set_title(title)
        ax.legend(fontsize=8)
    ax_f.set_ylim(-1.5, min(x_range, 3.0) + 0.2)
    ax_d.set_ylim(-0.15, 1.15)
    fig.tight_layout()
    return fig


def activation_table_html(functions: Mapping[str, tuple[Callable, Callable]] | None, x: float,
                          alpha: float = 0.1) -> str:
    """HTML table: each function's value and derivative at ``x``.

    Parameters
    ----------
    functions : dict name -> (f, df), or None
        None: sigmoid, tanh, relu and leaky_relu of :mod:`cnncourse.neurons`.
    x : float
    alpha : float
        Passed to functions that take an ``alpha``.

    Returns
    -------
    str
        A ``<table>`` with one row ``name, f(x), f'(x)`` per function.

    Examples
    --------
    >>> "<td>sigmoid</td><td>0.5</td><td>0.25</td>" in activation_table_html(None, 0.0)
    True
    """
    functions = _check_functions(functions)
    xv = np.array([float(x)])
    rows = "".join(
        f"<tr><td>{name}</td><td>{_evaluate(f, xv, alpha)[0]:.4g}</td>"
        f"<td>{_evaluate(df, xv, alpha)[0]:.4g}</td></tr>"
        for name, (f, df) in functions.items())
    return ("<table style='border-collapse: collapse; text-align: right'>"
            f"<tr><th>at x = {float(x):g}</th><th>f(x)</th><th>f'(x)</th></tr>{rows}</table>")


def activation_explorer(functions: Mapping[str, tuple[Callable, Callable]] | None = None
                        ) -> ipywidgets.VBox:
    """Compare activation functions and their derivatives interactively.

    Parameters
    ----------
    functions : dict name -> (f, df), optional
        Default: sigmoid, tanh, relu, leaky_relu from :mod:`cnncourse.neurons`; pass your own
        implementations to see them.

    Returns
    -------
    ipywidgets.VBox
        One ``Checkbox`` per function (description: its name), ``FloatSlider`` "x" (where the
        table reads the values), "alpha" (leaky ReLU's slope) and "x range"; then the plot
        (``Output``) and the table (``HTML``).
    """
    import ipywidgets as widgets

    functions = _check_functions(functions)
    boxes = {name: widgets.Checkbox(value=True, description=name, indent=False,
                                    layout=widgets.Layout(width="auto"))
             for name in functions}
    x_slider = widgets.FloatSlider(value=2.0, min=-10.0, max=10.0, step=0.1, description="x")
    alpha_slider = widgets.FloatSlider(value=0.1, min=0.0, max=0.5, step=0.01, description="alpha")
    range_slider = widgets.FloatSlider(value=6.0, min=1.0, max=20.0, step=0.5, description="x range")
    plot = widgets.Output()
    table = widgets.HTML()
    box = widgets.VBox([widgets.HBox(list(boxes.values())),
                        widgets.HBox([x_slider, alpha_slider, range_slider]),
                        widgets.HBox([plot, table])])

    def update(change=None):
        chosen = {n: functions[n] for n, cb in boxes.items() if cb.value}
        if not chosen:
            table.value = "<p>Tick at least one function.</p>"
            with plot:
                if _in_kernel():
                    plot.clear_output()
            return
        table.value = activation_table_html(chosen, x_slider.value, alpha_slider.value)
        _redraw(plot, lambda: plot_activations(chosen, x_range=range_slider.value,
                                               alpha=alpha_slider.value, mark=x_slider.value))

    for w in [*boxes.values(), x_slider, alpha_slider, range_slider]:
        w.observe(update, names="value")
    update()
    return box


# --------------------------------------------------------------------------------------------
# Sliding-kernel picture and widget


def draw_conv_step(image: ArrayLike | None = None, kernel: ArrayLike | None = None, step: int = 0,
                   *, fig: matplotlib.figure.Figure | None = None) -> matplotlib.figure.Figure:
    """Draw one multiply-add of a 'valid' cross-correlation: the window on the image, the running
    sum of products at that position, and the output map filled so far.

    Parameters
    ----------
    image : ndarray (H, W), optional
        Small image (default: the talk's 5x5 example).
    kernel : ndarray (KH, KW), optional
        Default: the talk's 3x3 kernel.
    step : int
        Index of the multiply-add, ``0 .. H_out * W_out * KH * KW - 1``: position
        ``step // (KH*KW)`` in row-major order, term ``step % (KH*KW) + 1`` of that position's sum.
    fig : matplotlib Figure, optional
        Drawn into (cleared first); a new one otherwise.

    Returns
    -------
    matplotlib Figure
        Three axes: the image with the window, the products and running sum, the output map.

    Raises
    ------
    ValueError
        ``image`` or ``kernel`` not 2-D, or a kernel larger than the image; ``step`` out of range.
    TypeError
        A non-numeric image or kernel.
    """
    from matplotlib.patches import Rectangle

    plt = _plt()

    image = conv._as_2d(conv.TALK_IMAGE if image is None else image, "image")
    kernel = conv._as_2d(conv.TALK_KERNEL if kernel is None else kernel, "kernel")
    result = conv.correlate2d(image, kernel)
    ho, wo = result.shape
    kh, kw = kernel.shape
    n_terms = kh * kw
    n_steps = ho * wo * n_terms
    if not 0 <= int(step) < n_steps:
        raise ValueError(f"step: expected 0 .. {n_steps - 1}, got {step!r}")
    pos, term = divmod(int(step), n_terms)
    i, j = divmod(pos, wo)
    n_done = term + 1
    window = image[i:i + kh, j:j + kw]
    products = (window * kernel).ravel()
    running = products[:n_done].sum()

    if fig is None:
        fig = plt.figure(figsize=(11, 3.6))
    fig.clf()
    ax_img, ax_txt, ax_out = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1.1, 1]})
    fmt = (lambda v: f"{v:g}")
    # image with the window and the kernel weights in small print
    ax_img.imshow(image, cmap="Greys", vmin=min(image.min(), 0), vmax=max(image.max(), 1) * 2.5)
    for (r, c), v in np.ndenumerate(image):
        inside = i <= r < i + kh and j <= c < j + kw
        if inside:
            u, q = r - i, c - j
            done = u * kw + q < n_done
            ax_img.text(c, r + 0.05, fmt(v), ha="center", va="center", fontsize=13,
                        fontweight="bold" if done else "normal")
            ax_img.text(c + 0.3, r + 0.35, f"×{fmt(kernel[u, q])}", ha="center", va="center",
                        fontsize=8, color="tab:red")
        else:
            ax_img.text(c, r, fmt(v), ha="center", va="center", fontsize=13, color="0.45")
    ax_img.add_patch(Rectangle((j - 0.5, i - 0.5), kw, kh, fill=False, lw=2.5, ec="tab:red"))
    ax_img.set_title(f"image, kernel at row {i}, column {j}")
    ax_img.set_xticks([]), ax_img.set_yticks([])
    # the running sum
    ax_txt.axis("off")
    lines = []
    for t in range(n_terms):
        u, q = divmod(t, kw)
        if t < n_done:
            lines.append(f"{fmt(window[u, q])} × {fmt(kernel[u, q])} = {fmt(products[t])}")
    ax_txt.text(0.02, 0.98, "products so far:\n" + "\n".join(lines), va="top", ha="left",
                family="monospace", fontsize=9, transform=ax_txt.transAxes)
    ax_txt.text(0.02, 0.02, f"running sum = {fmt(running)}" + ("  (done)" if n_done == n_terms else ""),
                va="bottom", ha="left", fontsize=12, color="tab:red", transform=ax_txt.transAxes)
    ax_txt.set_title(f"term {n_done} of {n_terms}")
    # the output map filled so far
    shown = np.full((ho, wo), np.nan)
    flat = shown.ravel()
    flat[:pos] = result.ravel()[:pos]
    ax_out.imshow(np.where(np.isnan(shown), 0, shown), cmap="Blues",
                  vmin=min(result.min(), 0), vmax=max(result.max(), 1) * 1.6)
    for (r, c), v in np.ndenumerate(result):
        k = r * wo + c
        if k < pos:
            ax_out.text(c, r, fmt(v), ha="center", va="center", fontsize=14)
        elif k == pos:
            ax_out.text(c, r, fmt(running), ha="center", va="center", fontsize=14, color="tab:red",
                        fontweight="bold")
    ax_out.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2.5, ec="tab:red"))
    ax_out.set_title(f"convolved feature ({ho}x{wo})")
    ax_out.set_xticks([]), ax_out.set_yticks([])
    fig.tight_layout()
    return fig


def kernel_slider(image: ArrayLike | None = None,
                  kernel: ArrayLike | None = None) -> ipywidgets.VBox:
    """Widget: slide ``kernel`` over ``image`` one multiply-add at a time (slider or ▶ play)
    and watch the running sum fill the output map. Defaults to the talk's 5x5 example.

    Returns
    -------
    ipywidgets.VBox
        Display it (it is the value of a notebook cell, or ``IPython.display.display(w)``).
    """
    import ipywidgets as widgets

    plt = _plt()
    image = conv._as_2d(conv.TALK_IMAGE if image is None else image, "image")
    kernel = conv._as_2d(conv.TALK_KERNEL if kernel is None else kernel, "kernel")
    if image.size > 15 * 15:
        raise ValueError(f"image: expected a small image (at most 15x15 pixels) to draw the "
                         f"numbers, got {image.shape}")
    if kernel.shape[0] > image.shape[0] or kernel.shape[1] > image.shape[1]:
        raise ValueError(f"kernel: shape {kernel.shape} is larger than the image {image.shape}")
    ho, wo = image.shape[0] - kernel.shape[0] + 1, image.shape[1] - kernel.shape[1] + 1
    last = ho * wo * kernel.size - 1
    step = widgets.IntSlider(value=kernel.size - 1, min=0, max=last, description="step",
                             continuous_update=False, layout=widgets.Layout(width="60%"))
    play = widgets.Play(value=step.value, min=0, max=last, interval=400, description="play")
    widgets.jslink((play, "value"), (step, "value"))

    def show(step):
        fig = draw_conv_step(image, kernel, step)
        plt.show()
        plt.close(fig)

    out = widgets.interactive_output(show, {"step": step})
    return widgets.VBox([widgets.HBox([play, step]), out])


def slice_explorer(volume: np.ndarray, mask: np.ndarray | None = None, *,
                   spacing: Sequence[float] = (1.0, 1.0, 1.0)) -> ipywidgets.VBox:
    """An ipywidgets slice explorer: sliders for z, y, x move three orthogonal slices through
    ``volume`` (D, H, W); ``mask`` (D, H, W) bool, if given, is outlined in colour. Returns the
    widget (display it, or let the notebook show it as the cell's value).

    Parameters
    ----------
    volume : ndarray, shape (D, H, W)
    mask : bool ndarray, shape (D, H, W), optional
    spacing : tuple of 3 float
        Voxel size (z, y, x), e.g. in µm; sets the aspect ratio of each panel.

    Returns
    -------
    ipywidgets.VBox
        A row of three ``IntSlider`` (z, y, x) above the output of
        :func:`cnncourse.viz.show_slices`.

    Raises
    ------
    ValueError
        ``volume`` not 3-D; ``mask`` not bool or of another shape.
    """
    import ipywidgets as widgets

    volume = array(volume, "volume", ndim=3, shape="(D, H, W)")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != volume.shape or mask.dtype != bool:
            raise ValueError(f"mask: expected a bool array of shape {volume.shape}, got "
                             f"{mask.dtype} {mask.shape}")
    plt = _plt()
    vmin, vmax = float(volume.min()), float(volume.max())

    def draw(z, y, x):
        fig = show_slices(volume, (z, y, x), spacing=spacing, vmin=vmin, vmax=vmax)
        if mask is not None:
            for ax, m in zip(fig.axes, (mask[z], mask[:, y], mask[:, :, x])):
                if m.any() and not m.all():
                    ax.contour(m, levels=[0.5], colors="tab:orange", linewidths=1)
        plt.show()

    sliders = {k: widgets.IntSlider(value=s // 2, min=0, max=s - 1, description=k,
                                    continuous_update=False)
               for k, s in zip("zyx", volume.shape)}
    out = widgets.interactive_output(draw, sliders)
    return widgets.VBox([widgets.HBox(list(sliders.values())), out])

