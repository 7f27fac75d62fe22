"""Multiple-instance learning (notebook 11): synthetic bags of H&E-like patches, fields, maps.

A *bag* is a field of view cut into a grid of ``n_instances`` patches (the *instances*). Only the
bag carries a label: 1 when at least one patch shows a mitotic figure, 0 otherwise. The patch labels
are kept for evaluation (instance-level AUC, maps) and never used to train the MIL models.

The pooling layers and the model that applies one patch network to every instance are the
lesson's exercises; their reference versions live in :mod:`cnncourse.checks.mil`. This module has
the data, the evaluation and the pictures.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from cnncourse._validate import integer, unit
from cnncourse.data.synthetic2d import make_mitosis_patches

if TYPE_CHECKING:  # annotations only
    import keras
    import matplotlib.figure

__all__ = ["make_bags", "tile_field", "train", "predict_instances", "bag_auc", "instance_auc",
           "show_instance_maps"]


def make_bags(n_bags: int, n_instances: int = 9, *, patch_size: int = 32, seed: int = 0,
              difficulty: float = 0.3, positive_fraction: float = 0.5,
              max_witnesses: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic bags: fields of ``n_instances`` H&E-like patches, labelled only at field level.

    The patches come from :func:`cnncourse.data.synthetic2d.make_mitosis_patches` (one call, so
    the same seed gives the same bags). A positive bag holds between 1 and ``max_witnesses``
    mitotic patches (the *witnesses*) at random positions; a negative bag holds none. Mitoses are
    rare, as in a real field: most patches of a positive bag are negative.

    Parameters
    ----------
    n_bags : int
        Number of bags, >= 1.
    n_instances : int
        Patches per bag, >= 1 (9 makes a 3 x 3 field).
    patch_size : int
        Patch height and width in pixels, >= 16.
    seed : int
        Seed of ``np.random.default_rng``.
    difficulty : float in [0, 1]
        Passed to ``make_mitosis_patches``.
    positive_fraction : float in [0, 1]
        Fraction of positive bags (exactly ``round(n_bags * positive_fraction)``, random order).
    max_witnesses : int
        Largest number of mitotic patches in a positive bag, 1 <= max_witnesses <= n_instances.

    Returns
    -------
    x : ndarray, float32, shape (n_bags, n_instances, patch_size, patch_size, 3)
        RGB in [0, 1].
    y : ndarray, int64, shape (n_bags,)
        Bag labels: 1 = the field contains a mitosis.
    y_instance : ndarray, int64, shape (n_bags, n_instances)
        Hidden patch labels (for evaluation only); ``y == y_instance.max(axis=1)``.

    Raises
    ------
    ValueError
        A count below its minimum (``n_bags``, ``n_instances``, ``max_witnesses`` >= 1,
        ``patch_size`` >= 16); ``max_witnesses > n_instances``; ``positive_fraction`` or
        ``difficulty`` outside [0, 1].
    TypeError
        A count that is not an integer, or a fraction that is not a number.

    Examples
    --------
    >>> x, y, y_inst = make_bags(4, 9, seed=0)
    >>> x.shape, y.tolist(), bool((y_inst.max(1) == y).all())
    ((4, 9, 32, 32, 3), [0, 1, 1, 0], True)
    """
    n_bags = integer(n_bags, "n_bags", minimum=1)
    k = integer(n_instances, "n_instances", minimum=1)
    integer(patch_size, "patch_size", minimum=16)
    max_witnesses = integer(max_witnesses, "max_witnesses", minimum=1)
    if max_witnesses > k:
        raise ValueError(f"max_witnesses: expected at most n_instances={k}, got {max_witnesses}")
    positive_fraction = unit(positive_fraction, "positive_fraction")
    rng = np.random.default_rng(seed)
    y = np.zeros(n_bags, np.int64)
    y[: int(round(n_bags * positive_fraction))] = 1
    rng.shuffle(y)
    witnesses = np.where(y == 1, rng.integers(1, max_witnesses + 1, n_bags), 0)   # (n_bags,)
    y_instance = np.zeros((n_bags, k), np.int64)
    for b in np.flatnonzero(witnesses):
        y_instance[b, rng.choice(k, witnesses[b], replace=False)] = 1
    # one call to the patch generator with exactly the number of positives needed, then the
    # positive and negative patches are dealt out to the places chosen above
    n_patches, n_pos = n_bags * k, int(witnesses.sum())
    patches, labels = make_mitosis_patches(n_patches, patch_size, seed=int(rng.integers(2**31)),
                                           difficulty=difficulty,
                                           positive_fraction=n_pos / n_patches)
    flat = np.empty((n_patches, patch_size, patch_size, 3), np.float32)
    where_pos = np.flatnonzero(y_instance.ravel() == 1)
    where_neg = np.flatnonzero(y_instance.ravel() == 0)
    flat[where_pos] = patches[labels == 1]
    flat[where_neg] = patches[labels == 0]
    flat /= 255.0
    return flat.reshape(n_bags, k, patch_size, patch_size, 3), y, y_instance


def tile_field(bag: np.ndarray, grid: tuple[int, int] | None = None) -> np.ndarray:
    """Put the patches of one bag side by side: the field of view they were cut from.

    Parameters
    ----------
    bag : array, shape (n_instances, H, W, C)
    grid : (rows, cols), optional
        Default: the squarest grid with rows * cols == n_instances.

    Returns
    -------
    ndarray, shape (rows * H, cols * W, C), same dtype as ``bag``.
        Instance ``i`` at grid row ``i // cols``, column ``i % cols``.

    Raises
    ------
    ValueError
        ``bag`` not 4-D; a ``grid`` that does not hold ``n_instances`` patches.

    Examples
    --------
    >>> bag = np.arange(4).reshape(4, 1, 1, 1)                # four 1 x 1 patches
    >>> tile_field(bag)[..., 0].tolist()
    [[0, 1], [2, 3]]
    >>> tile_field(bag, (1, 4))[..., 0].tolist()
    [[0, 1, 2, 3]]
    """
    bag = np.asarray(bag)
    if bag.ndim != 4:
        raise ValueError(f"bag: expected shape (n_instances, H, W, C), got {bag.shape}")
    rows, cols = grid if grid is not None else _grid(len(bag))
    if rows * cols != len(bag):
        raise ValueError(f"grid: {rows} x {cols} does not hold {len(bag)} instances")
    h, w, c = bag.shape[1:]
    return bag.reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)


def _grid(n: int) -> tuple[int, int]:
    rows = int(np.floor(np.sqrt(n)))
    while n % rows:
        rows -= 1
    return rows, n // rows


def train(model: keras.Model, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int = 16,
          learning_rate: float = 3e-3,
          validation_data: tuple[np.ndarray, np.ndarray] | None = None,
          seed: int = 0) -> keras.callbacks.History:
    """Fit ``model`` with Adam and binary cross-entropy; keep the weights of the best epoch.

    With ``validation_data`` the weights of the epoch with the lowest validation loss are kept
    (a choice made on validation data, never on the test set); without it, the last ones.
    Shuffling and dropout are seeded by ``seed``.

    Parameters
    ----------
    model : keras.Model
        One sigmoid output per example, shape (n, 1).
    x : ndarray, float32
        Bags (n, K, H, W, C) for a MIL model, or patches (n, H, W, C) for an instance model.
    y : ndarray of 0/1, shape (n,)
    epochs, batch_size : int
    learning_rate : float
    validation_data : (x_val, y_val), optional
        Shapes as ``x`` and ``y``.
    seed : int

    Returns
    -------
    keras.callbacks.History
        ``loss`` per epoch (and ``val_loss`` with ``validation_data``); the model holds the
        kept weights afterwards.

    Raises
    ------
    ValueError
        ``y`` not a 1-D array of 0/1 with one label per example; ``epochs`` or ``batch_size``
        not a positive integer.
    TypeError
        ``epochs`` or ``batch_size`` not an integer.
    """
    from cnncourse.device import import_keras

    keras = import_keras()
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x) or not np.isin(y, (0, 1)).all():
        raise ValueError(f"y: expected {len(x)} labels 0/1 in a 1-D array, got shape {y.shape}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    callbacks = []
    if validation_data is not None:
        x_val, y_val = validation_data
        validation_data = (x_val, np.asarray(y_val, np.float32))
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=epochs,
                                                       restore_best_weights=True))
    keras.utils.set_random_seed(seed)
    return model.fit(x, y.astype(np.float32), epochs=integer(epochs, "epochs", minimum=1),
                     batch_size=integer(batch_size, "batch_size", minimum=1), validation_data=validation_data,
                     callbacks=callbacks, shuffle=True, verbose=0)


def predict_instances(net: keras.Model, x: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
    """Run an instance network on every instance of every bag.

    Parameters
    ----------
    net : keras.Model
        Patch (H, W, C) -> (D,) outputs (D = 1 for a probability).
    x : ndarray, shape (n_bags, K, H, W, C)

    batch_size : int
        Patches per call of ``net``.

    Returns
    -------
    ndarray, float32, shape (n_bags, K) when D == 1, else (n_bags, K, D).

    Raises
    ------
    ValueError
        ``x`` not 5-D.
    """
    x = np.asarray(x)
    if x.ndim != 5:
        raise ValueError(f"x: expected bags of shape (n_bags, K, H, W, C), got {x.shape}")
    n, k = x.shape[:2]
    flat = x.reshape(n * k, *x.shape[2:])
    out = np.concatenate([np.asarray(net(flat[i:i + batch_size], training=False))
                          for i in range(0, len(flat), batch_size)])
    out = out.reshape(n, k, -1).astype(np.float32)
    return out[..., 0] if out.shape[-1] == 1 else out


def _auc(y, score, name_y, name_score) -> float:
    from sklearn.metrics import roc_auc_score

    y, score = np.asarray(y).ravel(), np.asarray(score, dtype=float).ravel()
    if y.shape != score.shape:
        raise ValueError(f"{name_score}: {score.size} scores for {y.size} labels in {name_y}")
    if not np.all(np.isfinite(score)):
        raise ValueError(f"{name_score}: contains nan or inf")
    if len(np.unique(y)) != 2:
        raise ValueError(f"{name_y}: needs both classes (0 and 1) to define an AUC")
    return float(roc_auc_score(y, score))


def bag_auc(y: np.ndarray | Sequence[int], bag_scores: np.ndarray | Sequence[float]) -> float:
    """ROC AUC of bag scores, shape (n_bags,) or (n_bags, 1), against bag labels (n_bags,).

    Parameters
    ----------
    y : int array of 0/1, shape (n_bags,)
    bag_scores : float array, shape (n_bags,) or (n_bags, 1)

    Returns
    -------
    float in [0, 1]

    Raises
    ------
    ValueError
        Another number of scores than labels; a nan or inf score; only one class in ``y``.

    Examples
    --------
    >>> bag_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    return _auc(y, bag_scores, "y", "bag_scores")


def instance_auc(y_instance: np.ndarray, instance_scores: np.ndarray) -> float:
    """ROC AUC of instance scores against the hidden instance labels, over all patches of all
    bags (both arrays of shape (n_bags, n_instances), or anything with that many elements).

    Parameters
    ----------
    y_instance : int array of 0/1, shape (n_bags, n_instances)
    instance_scores : float array, same number of elements

    Returns
    -------
    float in [0, 1]

    Raises
    ------
    ValueError
        Another number of scores than labels; a nan or inf score; only one class.
    """
    return _auc(y_instance, instance_scores, "y_instance", "instance_scores")


def show_instance_maps(x: np.ndarray, scores: np.ndarray, y_instance: np.ndarray, *,
                       titles: Sequence[str] | None = None, score_label: str = "instance score",
                       vmax: float | None = None, ncols: int = 4) -> matplotlib.figure.Figure:
    """Fields with each patch's score as a coloured overlay; true mitoses outlined in white.

    Parameters
    ----------
    x : array, shape (n, n_instances, H, W, 3)
        Bags to show (a few).
    scores : array, shape (n, n_instances)
        What a network says about each patch (probability, attention weight, ...).
    y_instance : array, shape (n, n_instances)
        Hidden patch labels, drawn as white squares around the mitotic patches.
    titles : list of str, optional
    score_label : str
        Colour-bar label.
    vmax : float, optional
        Top of the colour scale (default: the largest score shown).
    ncols : int
        Fields per row.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per bag (the tiled field, then the score overlay, a white square per mitotic
        patch and each patch's score as text), then the colour bar.

    Raises
    ------
    ValueError
        ``x`` not 5-D, or ``scores`` / ``y_instance`` not of shape ``x.shape[:2]``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    x, scores, y_instance = np.asarray(x), np.asarray(scores, float), np.asarray(y_instance)
    if x.ndim != 5 or scores.shape != x.shape[:2] or y_instance.shape != x.shape[:2]:
        raise ValueError(f"x {x.shape}, scores {scores.shape}, y_instance {y_instance.shape}: "
                         "expected (n, n_instances, H, W, 3), (n, n_instances), (n, n_instances)")
    n, k, h, w = x.shape[:4]
    rows, cols = _grid(k)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 3.2 * nrows), squeeze=False)
    vmax = float(scores.max()) if vmax is None else vmax
    image = None
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(tile_field(x[i], (rows, cols)))
        heat = scores[i].reshape(rows, cols)
        image = ax.imshow(heat, cmap="magma", alpha=0.45, vmin=0.0, vmax=vmax,
                          extent=(-0.5, cols * w - 0.5, rows * h - 0.5, -0.5),
                          interpolation="nearest")
        for j in np.flatnonzero(y_instance[i]):
            r, c = divmod(int(j), cols)
            ax.add_patch(Rectangle((c * w - 0.5, r * h - 0.5), w, h, fill=False, ec="white",
                                   lw=2.5))
        for j in range(k):
            r, c = divmod(j, cols)
            ax.text(c * w + 2, r * h + 2, f"{scores[i, j]:.2f}", color="cyan", fontsize=7,
                    va="top")
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.7, label=score_label)
    return fig
