"""A contact sheet of the course data: real images next to the synthetic sets, so a learner sees
what each data set looks like before training on it."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only
    import matplotlib.figure

__all__ = ["contact_sheet"]


def _outlined(image: np.ndarray, labels: np.ndarray, color=(1.0, 0.35, 0.2)) -> np.ndarray:
    """Grey image (H, W) scaled to [0, 1] by its 0.5 / 99.8 percentiles, as RGB with the instance
    outlines of ``labels`` drawn in ``color``."""
    from skimage.segmentation import find_boundaries

    img = image.astype(np.float32)
    lo, hi = np.percentile(img, [0.5, 99.8])
    img = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = np.repeat(img[..., None], 3, axis=-1)
    rgb[find_boundaries(labels, mode="inner")] = color
    return rgb


def _panel(ax, image, title, **kwargs):
    ax.imshow(image, **kwargs)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def contact_sheet(*, seed: int = 0, difficulty: float = 0.5) -> matplotlib.figure.Figure:
    """Draw real and synthetic samples of the course data on one figure.

    Rows: real images shipped in ``data/`` (fluorescence nuclei with their instance outlines,
    an H&E region, a CT slice in a soft-tissue window); synthetic 2D nuclei with their labels;
    synthetic H&E patches, mitotic vs not (with the kind of each); and maximum projections of
    synthetic 3D nuclei of both shape classes.

    Parameters
    ----------
    seed : int
        Seed of the synthetic samples (and of the crops chosen from the real images).
    difficulty : float in [0, 1]
        Difficulty of the synthetic samples.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from cnncourse.data import real, synthetic2d, synthetic3d

    rng = np.random.default_rng(seed)
    fig = plt.figure(figsize=(12, 10.8), layout="constrained")
    rows = fig.subfigures(4, 1, height_ratios=[1.15, 1.0, 1.25, 0.85])

    # ---- real ---------------------------------------------------------------------------------
    rows[0].suptitle("Real images (data/, no download)", fontsize=11, fontweight="bold", x=0.01,
                     ha="left")
    axes = rows[0].subplots(1, 5)
    image, labels = real.load_nuclei()
    _panel(axes[0], _outlined(image, labels), f"fluorescence nuclei, 512x512\n"
                                              f"{labels.max()} instances outlined")
    y0, x0 = rng.integers(0, 512 - 128, 2)
    crop = (slice(y0, y0 + 128), slice(x0, x0 + 128))
    _panel(axes[1], _outlined(image[crop], labels[crop]), "the same, 128x128 crop")
    he = real.load_he()
    _panel(axes[2], he, f"H&E region, {he.shape[0]}x{he.shape[1]}")
    _panel(axes[3], he[380:444, 300:364], "H&E, 64x64 crop (epithelium)")
    hu, spacing = real.load_ct()
    h, w = hu.shape
    _panel(axes[4], hu, "CT slice, soft-tissue window\n(-160 to 240 HU)", cmap="gray", vmin=-160,
           vmax=240, extent=(0, w * spacing[1], h * spacing[0], 0))

    # ---- synthetic 2D nuclei ------------------------------------------------------------------
    rows[1].suptitle("Synthetic fluorescence nuclei: make_nuclei_2d (image | instance labels)",
                     fontsize=11, fontweight="bold", x=0.01, ha="left")
    images, labels = synthetic2d.make_nuclei_2d(3, 128, seed=seed, difficulty=difficulty)
    axes = rows[1].subplots(1, 5)
    for i in range(2):
        lo, hi = np.percentile(images[i], [0.5, 99.8])
        _panel(axes[2 * i], images[i], f"image {i}, 128x128", cmap="gray", vmin=lo, vmax=hi)
        _panel(axes[2 * i + 1], _outlined(images[i], labels[i]), f"{labels[i].max()} nuclei outlined")
    from skimage.color import label2rgb

    _panel(axes[4], label2rgb(labels[2], bg_label=0), f"labels of image 2 ({labels[2].max()} ids)")

    # ---- synthetic H&E mitosis patches --------------------------------------------------------
    rows[2].suptitle("Synthetic H&E patches: make_mitosis_patches (32x32; top: mitotic = 1, "
                     "bottom: not mitotic = 0)", fontsize=11, fontweight="bold", x=0.01, ha="left")
    x, y, sub = synthetic2d._mitosis(200, 32, seed=seed, difficulty=difficulty)
    names = {0: "interphase", 1: "pyknotic", 2: "metaphase", 3: "anaphase", 4: "hard mitosis"}
    axes = rows[2].subplots(2, 9)
    for row, kinds in enumerate([(2, 2, 2, 3, 3, 3, 4, 4, 4), (0, 0, 0, 0, 0, 1, 1, 1, 1)]):
        used = set()
        for ax, k in zip(axes[row], kinds):
            i = next(j for j in np.flatnonzero(sub == k) if j not in used)
            used.add(i)
            _panel(ax, x[i], f"{names[k]} (y={y[i]})")

    # ---- synthetic 3D nuclei ------------------------------------------------------------------
    rows[3].suptitle("Synthetic 3D nuclei: make_nuclei_3d, maximum projections along z "
                     "(0 = smooth, 1 = lobulated / cleft)", fontsize=11, fontweight="bold",
                     x=0.01, ha="left")
    vols, _, y3 = synthetic3d.make_nuclei_3d(12, 32, seed=seed, difficulty=difficulty)
    axes = rows[3].subplots(1, 8)
    order = np.concatenate([np.flatnonzero(y3 == 0)[:4], np.flatnonzero(y3 == 1)[:4]])
    for ax, i in zip(axes, order):
        _panel(ax, vols[i].max(axis=0), f"class {y3[i]}", cmap="magma", vmin=0, vmax=1)
    return fig
