"""Whole synthetic H&E-like fields for mitosis *detection* (many nuclei, few mitoses).

A field is stitched from the patches of :func:`cnncourse.data.make_mitosis_patches` (the same
nuclei, stroma and stain): one 32 x 32 patch per node of a jittered grid, blended where the
patches overlap with a smooth window in optical-density space (Beer-Lambert: stains add up in
optical density), so no seams show. Each patch holds one nucleus near its centre; the centres of
the mitotic ones are the ground truth. Synthetic data built for this course, not a real slide.
"""
from __future__ import annotations

import numpy as np

__all__ = ["make_mitosis_field"]

_PATCH = 32


def make_mitosis_field(size: int = 256, *, seed: int = 0, spacing: int = 24,
                       positive_fraction: float = 0.08,
                       difficulty: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An H&E-like field with nuclei on a jittered grid, a few of them mitotic figures.

    Parameters
    ----------
    size : int
        Height and width of the field in pixels, >= 64.
    seed : int
        Seed of ``np.random.default_rng``; the same seed gives identical arrays.
    spacing : int
        Distance between grid nodes in pixels, 16 to 32 (nuclei are up to about 20 pixels wide).
    positive_fraction : float in [0, 1]
        Fraction of the nuclei that are mitotic figures (rounded to a whole number, at least one
        when the fraction is above 0).
    difficulty : float in [0, 1]
        Passed to :func:`cnncourse.data.make_mitosis_patches`.

    Returns
    -------
    field : ndarray, uint8, shape (size, size, 3)
        RGB.
    centres : ndarray, float64, shape (K, 2)
        (row, column) of every nucleus (the centre of its patch; the nucleus itself sits within
        about 1-2 pixels of it).
    y : ndarray, int64, shape (K,)
        1 = mitotic figure, 0 = not.

    Raises
    ------
    ValueError
        ``size`` not an integer >= 64; ``spacing`` outside its range; ``positive_fraction`` or
        ``difficulty`` outside [0, 1].

    Examples
    --------
    >>> field, centres, y = make_mitosis_field(128, seed=0)
    >>> field.shape, field.dtype, centres.shape == (len(y), 2)
    ((128, 128, 3), dtype('uint8'), True)
    """
    from cnncourse.data.synthetic2d import make_mitosis_patches

    if int(size) != size or size < 64:
        raise ValueError(f"size: expected an integer >= 64, got {size!r}")
    if int(spacing) != spacing or not 16 <= spacing <= _PATCH:
        raise ValueError(f"spacing: expected an integer in [16, {_PATCH}], got {spacing!r}")
    if not 0 <= positive_fraction <= 1:
        raise ValueError(f"positive_fraction: expected a number in [0, 1], got {positive_fraction!r}")
    size, spacing = int(size), int(spacing)
    rng = np.random.default_rng(seed)
    half = _PATCH // 2
    jitter = max(1, (spacing - 16) // 3)
    # grid nodes at least `half` pixels inside the padded canvas, so that every patch fits
    nodes_1d = np.arange(spacing // 2, size, spacing)
    gy, gx = np.meshgrid(nodes_1d, nodes_1d, indexing="ij")
    centres = np.stack([gy.ravel(), gx.ravel()], 1) + rng.integers(-jitter, jitter + 1,
                                                                   (gy.size, 2))
    centres = np.clip(centres, 4, size - 5)              # (K, 2) int
    k = len(centres)
    n_pos = int(round(k * positive_fraction))
    if positive_fraction > 0:
        n_pos = max(n_pos, 1)
    patches, y = make_mitosis_patches(k, seed=int(rng.integers(2**31)), difficulty=difficulty,
                                      positive_fraction=n_pos / k)   # (K, 32, 32, 3) uint8

    od = -np.log(np.maximum(patches.astype(np.float32) / 255.0, 1 / 255.0))   # (K, 32, 32, 3)
    ramp = np.sin(np.pi * (np.arange(_PATCH, dtype=np.float32) + 0.5) / _PATCH) ** 2
    window = ramp[:, None] * ramp[None, :] + 1e-3                          # (32, 32)
    acc = np.zeros((size + _PATCH, size + _PATCH, 3), np.float32)          # padded canvas
    weight = np.zeros((size + _PATCH, size + _PATCH, 1), np.float32)
    for (r, c), tile in zip(centres + half, od):
        acc[r - half:r + half, c - half:c + half] += window[..., None] * tile
        weight[r - half:r + half, c - half:c + half] += window[..., None]
    crop = (slice(half, half + size), slice(half, half + size))
    mean_od = acc[crop] / np.maximum(weight[crop], 1e-6)
    field = np.clip(np.round(np.exp(-mean_od) * 255), 0, 255).astype(np.uint8)
    # patch centre (15.5, 15.5) in patch pixels lands at field pixel centre - 0.5
    return field, centres.astype(np.float64) - 0.5, y.astype(np.int64)
