"""Plots shared by several notebooks: image grids, training curves, ROC curves, confusion matrices,
label overlays, and views of 3D volumes (orthogonal slices, projections, isosurface). Each
function draws with matplotlib and returns the ``Figure``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from cnncourse._validate import array
from cnncourse._validate import spacing as _spacing

if TYPE_CHECKING:  # annotations only
    import matplotlib.axes
    import matplotlib.figure


#: Okabe & Ito's colour-blind-safe palette (hex), in the order categories get it: blue, orange,
#: bluish green, vermillion, reddish purple, sky blue, yellow, black.
CATEGORICAL = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
               "#000000")
#: One line style per category, cycled with :data:`CATEGORICAL`: two curves differ in style as
#: well as in colour, so neither colour vision nor a grey print is needed to tell them apart.
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1)),
              (0, (8, 3)))
#: One scatter marker per category (pass ``marker=MARKERS[k]`` for class ``k``).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def use_style() -> None:
    """Make every later matplotlib axes cycle through :data:`CATEGORICAL` colours together with
    :data:`LINESTYLES` (``axes.prop_cycle``). :func:`cnncourse.setup` calls it, so every notebook
    draws its categories colour-blind-safe and distinguishable without colour.

    Examples
    --------
    >>> import matplotlib
    >>> use_style()
    >>> cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()
    >>> cycle["color"][:2], cycle["linestyle"][:2]
    (['#0072B2', '#E69F00'], ['-', '--'])
    """
    import matplotlib
    from cycler import cycler

    matplotlib.rcParams["axes.prop_cycle"] = cycler(color=list(CATEGORICAL)) + cycler(
        linestyle=list(LINESTYLES))


def _plt():
    import matplotlib.pyplot as plt

    return plt


def show_images(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, *, ncols: int = 6,
                cmap: str = "gray", size: float = 2.0, vmin: float | None = None,
                vmax: float | None = None,
                suptitle: str | None = None) -> matplotlib.figure.Figure:
    """Show 2D images, shape (H, W) or (H, W, 3), in a grid.

    Parameters
    ----------
    images : sequence of ndarray
        Each (H, W) (drawn with ``cmap``) or (H, W, 3) RGB (uint8 or float in [0, 1]).
    titles : sequence of str, optional
        One per image.
    ncols : int
        Images per row (at most the number of images); as many rows as needed.
    cmap : str
        Colour map of the 2D images.
    size : float
        Inches per image.
    vmin, vmax : float, optional
        Colour range of every image; default each image's own min and max.
    suptitle : str, optional
        Title over the figure.

    Returns
    -------
    matplotlib.figure.Figure
        ``rows x ncols`` axes without ticks; axes beyond the last image stay empty.

    Raises
    ------
    ValueError
        No image; ``titles`` of another length; an image that is not 2-D or 3-D.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> fig = show_images([np.zeros((4, 4))] * 3, ["a", "b", "c"], ncols=2)
    >>> len(fig.axes), [ax.get_title() for ax in fig.axes]
    (4, ['a', 'b', 'c', ''])
    """
    images = list(images)
    if not images:
        raise ValueError("images: expected at least one image, got none")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles: expected {len(images)} titles (one per image), got {len(titles)}")
    plt = _plt()
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, (ax, im) in enumerate(zip(axes.ravel(), images)):
        im = np.asarray(im)
        if im.ndim not in (2, 3):
            raise ValueError(f"images[{i}]: expected shape (H, W) or (H, W, 3), got {im.shape}")
        ax.imshow(im, cmap=None if im.ndim == 3 else cmap, vmin=vmin, vmax=vmax)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_history(history, metrics: Sequence[str] = ("loss",), *,
                 title: str | None = None) -> matplotlib.figure.Figure:
    """Training curves from a Keras ``History`` (or its ``.history`` dict): one panel per metric,
    the training curve and, when present, the ``val_`` curve.

    Parameters
    ----------
    history : keras.callbacks.History or dict of str -> sequence of float
        Per-epoch values, e.g. ``{"loss": [...], "val_loss": [...]}``.
    metrics : sequence of str
        Keys to plot, one panel each.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes per metric, x = epoch 1, 2, ..., lines labelled "training" and "validation".

    Raises
    ------
    ValueError
        A metric that is not in the history (the message lists the keys there are).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> fig = plot_history({"loss": [1.0, 0.5], "val_loss": [1.2, 0.8]})
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['training', 'validation']
    """
    hist = getattr(history, "history", history)
    missing = [m for m in metrics if m not in hist]
    if missing:
        raise ValueError(f"metrics: {missing} not in the history; it has {sorted(hist)}")
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.2), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        epochs = np.arange(1, len(hist[m]) + 1)
        ax.plot(epochs, hist[m], label="training")
        if f"val_{m}" in hist:
            ax.plot(epochs, hist[f"val_{m}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(m)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_roc(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], *, title: str = "ROC curves",
             ax: matplotlib.axes.Axes | None = None) -> matplotlib.figure.Figure:
    """ROC curves of several classifiers on one plot, AUC in the legend.

    Parameters
    ----------
    curves : mapping
        ``{label: (y_true, score)}`` with ``y_true`` (N,) in {0, 1} and ``score`` (N,) float.
    title : str
    ax : matplotlib Axes, optional
        Where to draw; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        One line per curve labelled ``"label (AUC 0.xxx)"``, then the dotted "chance" diagonal.

    Raises
    ------
    ValueError
        From scikit-learn: labels with only one class, or scores of another length.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    for label, (y_true, score) in curves.items():
        fpr, tpr, _ = roc_curve(y_true, score)
        ax.plot(fpr, tpr, label=f"{label} (AUC {roc_auc_score(y_true, score):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=1, label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    return ax.figure


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], *,
                   title: str = "confusion matrix",
                   ax: matplotlib.axes.Axes | None = None) -> matplotlib.figure.Figure:
    """Confusion matrix with counts in the cells (rows: truth, columns: prediction).

    Parameters
    ----------
    y_true, y_pred : int array, shape (N,)
        Class indices ``0 .. len(labels) - 1``.
    labels : sequence of str
        Class names, in index order.
    title : str
    ax : matplotlib Axes, optional
        Where to draw; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The count matrix as an image with the counts written in the cells.

    Raises
    ------
    ValueError
        From scikit-learn: ``y_true`` and ``y_pred`` of different lengths.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> fig = plot_confusion(np.array([0, 0, 1]), np.array([0, 1, 1]), ["normal", "mitosis"])
    >>> [text.get_text() for text in fig.axes[0].texts]
    ['1', '1', '0', '1']
    """
    from sklearn.metrics import confusion_matrix

    plt = _plt()
    cm = confusion_matrix(y_true, y_pred, labels=list(range(len(labels))))
    if ax is None:
        _, ax = plt.subplots(figsize=(3.5, 3.5))
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center",
                color="white" if v > cm.max() / 2 else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return ax.figure


def overlay_labels(image: np.ndarray, labels: np.ndarray, *, alpha: float = 0.4,
                   ax: matplotlib.axes.Axes | None = None,
                   title: str | None = None) -> matplotlib.figure.Figure:
    """Draw a grey image (H, W) with an integer label image (H, W) coloured on top (0 = none).

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Any real dtype; stretched to [0, 1].
    labels : int ndarray, shape (H, W)
        0 = background, each other value one object (one colour each).
    alpha : float in [0, 1]
        Opacity of the colours (the background is darkened by the same blend).
    ax : matplotlib Axes, optional
        Where to draw; default a new figure.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        ``labels`` of another shape than the image's first two axes.
    """
    from skimage.color import label2rgb

    image, labels = np.asarray(image), np.asarray(labels)
    if image.shape[:2] != labels.shape:
        raise ValueError(f"labels: expected shape {image.shape[:2]} (the image's), got {labels.shape}")
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    img = image.astype(float)
    img = (img - img.min()) / (np.ptp(img) or 1.0)
    ax.imshow(label2rgb(labels, image=img, alpha=alpha, bg_label=0))
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax.figure


# --------------------------------------------------------------------------------------------
# Volumes (D, H, W): slices, projections, isosurface (notebooks 12 and 13)


def _check_volume(volume, name="volume"):
    return array(volume, name, ndim=3, shape="(D, H, W)")


def show_slices(volume: np.ndarray, index: Sequence[int] | None = None, *,
                spacing: Sequence[float] = (1.0, 1.0, 1.0), cmap: str = "gray",
                vmin: float | None = None, vmax: float | None = None, title: str | None = None,
                axes: Sequence[matplotlib.axes.Axes] | None = None) -> matplotlib.figure.Figure:
    """Three orthogonal slices through ``volume`` (D, H, W): xy (fixed z), xz (fixed y) and yz
    (fixed x), at ``index`` (z, y, x), default the centre. ``spacing`` sets the aspect ratio, so
    an anisotropic stack is drawn with its true proportions.

    Parameters
    ----------
    volume : ndarray, shape (D, H, W)
        Any real dtype (bool masks too).
    index : tuple of 3 int, optional
        ``(z, y, x)`` inside the volume; default ``(D // 2, H // 2, W // 2)``.
    spacing : tuple of 3 float
        Voxel size (z, y, x), e.g. in µm; sets the aspect ratio of each panel.
    cmap : str
    vmin, vmax : float, optional
        Colour range shared by the three panels; default the volume's min and max.
    title : str, optional
        Title over the figure.
    axes : sequence of 3 matplotlib Axes, optional
        Where to draw; default a new 1 x 3 figure.

    Returns
    -------
    matplotlib.figure.Figure
        Panels titled ``"xy at z=.."``, ``"xz at y=.."``, ``"yz at x=.."`` showing
        ``volume[z]``, ``volume[:, y]``, ``volume[:, :, x]``.

    Raises
    ------
    ValueError
        ``volume`` not 3-D; ``spacing`` not 3 positive numbers; ``index`` outside the volume.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> fig = show_slices(np.arange(24.0).reshape(2, 3, 4), (1, 2, 3))
    >>> [ax.get_title() for ax in fig.axes]
    ['xy at z=1', 'xz at y=2', 'yz at x=3']
    >>> fig.axes[2].images[0].get_array().tolist()             # volume[:, :, 3]
    [[3.0, 7.0, 11.0], [15.0, 19.0, 23.0]]
    """
    volume = _check_volume(volume)
    spacing = _spacing(spacing)
    if index is None:
        index = tuple(s // 2 for s in volume.shape)
    index = tuple(int(i) for i in index)
    if len(index) != 3 or any(not 0 <= i < s for i, s in zip(index, volume.shape)):
        raise ValueError(f"index: expected (z, y, x) inside {volume.shape}, got {index}")
    plt = _plt()
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    z, y, x = index
    sz, sy, sx = spacing
    vmin = float(volume.min()) if vmin is None else vmin
    vmax = float(volume.max()) if vmax is None else vmax
    panels = [(volume[z], f"xy at z={z}", sy / sx, "x", "y"),
              (volume[:, y], f"xz at y={y}", sz / sx, "x", "z"),
              (volume[:, :, x], f"yz at x={x}", sz / sy, "y", "z")]
    for ax, (img, label, aspect, xl, yl) in zip(axes, panels):
        ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, aspect=aspect, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        axes[0].figure.suptitle(title)
    return axes[0].figure


def show_projections(volume: np.ndarray, *, spacing: Sequence[float] = (1.0, 1.0, 1.0),
                     cmap: str = "magma", title: str | None = None,
                     axes: Sequence[matplotlib.axes.Axes] | None = None
                     ) -> matplotlib.figure.Figure:
    """Maximum-intensity projections of ``volume`` (D, H, W) along z, y and x.

    Parameters
    ----------
    volume : ndarray, shape (D, H, W)
    spacing : tuple of 3 float
        Voxel size (z, y, x), e.g. in µm; sets the aspect ratio of each panel.
    cmap : str
    title : str, optional
        Title over the figure.
    axes : sequence of 3 matplotlib Axes, optional
        Where to draw; default a new 1 x 3 figure.

    Returns
    -------
    matplotlib.figure.Figure
        Panels ``volume.max(axis=0)``, ``.max(axis=1)``, ``.max(axis=2)``.

    Raises
    ------
    ValueError
        ``volume`` not 3-D; ``spacing`` not 3 positive numbers.
    """
    volume = _check_volume(volume)
    sz, sy, sx = _spacing(spacing)
    plt = _plt()
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    panels = [(volume.max(axis=0), "max over z (xy)", sy / sx),
              (volume.max(axis=1), "max over y (xz)", sz / sx),
              (volume.max(axis=2), "max over x (yz)", sz / sy)]
    for ax, (img, label, aspect) in zip(axes, panels):
        ax.imshow(img, cmap=cmap, aspect=aspect, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    if title:
        axes[0].figure.suptitle(title)
    return axes[0].figure


def show_isosurface(volume: np.ndarray, level: float = 0.5, *,
                    spacing: Sequence[float] = (1.0, 1.0, 1.0),
                    ax: matplotlib.axes.Axes | None = None, title: str | None = None,
                    color: str = "tab:orange", elev: float = 20, azim: float = 30,
                    smooth: float | None = None) -> matplotlib.figure.Figure:
    """Draw the ``level`` isosurface of ``volume`` (D, H, W) (a bool mask works, level 0.5) as a
    shaded 3D mesh (marching cubes from scikit-image, drawn with mpl_toolkits.mplot3d).

    ``smooth`` is the sigma (voxels) of a Gaussian applied first; by default 0.8 for a bool mask
    (hides the voxel staircase, as in :func:`cnncourse.morphometrics.mesh`) and 0 otherwise.

    Parameters
    ----------
    volume : ndarray, shape (D, H, W)
        Float intensities or a bool mask.
    level : float
        Strictly between the (smoothed, padded) volume's min and max.
    spacing : tuple of 3 float
        Voxel size (z, y, x), e.g. in µm; sets the aspect ratio of each panel.
    ax : matplotlib 3D Axes, optional
        Where to draw (``projection="3d"``); default a new figure.
    title, color : str
    elev, azim : float
        View angles in degrees.
    smooth : float, optional
        Gaussian sigma in voxels (see above).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        ``volume`` not 3-D; ``spacing`` not 3 positive numbers; ``level`` not inside the
        volume's range (e.g. an empty mask).
    """
    from scipy import ndimage
    from skimage.measure import marching_cubes

    volume = _check_volume(volume)
    spacing = _spacing(spacing)
    is_mask = volume.dtype == bool
    vol = np.pad(np.asarray(volume, dtype=np.float32), 2, mode="constant" if is_mask else "edge")
    smooth = (0.8 if is_mask else 0.0) if smooth is None else float(smooth)
    if smooth > 0:
        vol = ndimage.gaussian_filter(vol, smooth * spacing.min() / spacing)
    if not vol.min() < level < vol.max():
        raise ValueError(f"level: expected a value between the volume's min and max "
                         f"({vol.min():.3g}, {vol.max():.3g}), got {level}")
    verts, faces, _, _ = marching_cubes(vol, level, spacing=tuple(spacing))
    plt = _plt()
    if ax is None:
        fig = plt.figure(figsize=(3.5, 3.5))
        ax = fig.add_subplot(projection="3d")
    ax.plot_trisurf(verts[:, 2], verts[:, 1], faces, verts[:, 0], color=color, lw=0, shade=True)
    extent = np.array(vol.shape) * spacing
    ax.set_box_aspect(extent[::-1])
    ax.view_init(elev=elev, azim=azim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel("z")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_zticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax.figure
