"""Plots shared by several notebooks: image grids, training curves, ROC curves, confusion matrices,
label overlays. Each function draws with matplotlib and returns the ``Figure``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # annotations only
    import matplotlib.axes
    import matplotlib.figure


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
