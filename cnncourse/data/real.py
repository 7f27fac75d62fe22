"""Real biomedical images shipped with the course (no network, no download).

Each loader reads a small file from ``data/`` through :func:`cnncourse.data.path`, which checks it
against ``data/SHA256SUMS``: a missing or corrupted file raises
:class:`cnncourse.data.DataFileError` naming the file and saying how to restore it. Every call
returns fresh arrays, so a learner may modify them freely. Sources, licences and citations are in
``data/LICENSES.md``; ``data/build_real.py`` shows how each file was made.
"""
from __future__ import annotations

import numpy as np

from cnncourse import data

__all__ = ["load_nuclei"]


def _load_npz(name: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Arrays ``keys`` of the verified shipped file ``name`` (``allow_pickle=False``)."""
    file = data.path(name)
    with np.load(file, allow_pickle=False) as npz:
        missing = [k for k in keys if k not in npz.files]
        if missing:
            raise data.DataFileError(f"data file {file} lacks arrays {missing}: restore it with "
                                     f"`git checkout -- data/{name}`")
        return {k: npz[k] for k in keys}


def load_nuclei() -> tuple[np.ndarray, np.ndarray]:
    """Real fluorescence microscopy image of cell nuclei with a hand-made instance mask.

    One 512 x 512 field of DNA-stained nuclei from the 2018 Data Science Bowl (BBBC038), as
    bundled in the ``stardist`` package (``stardist/data/images/img2d.tif`` and ``mask2d.tif``).
    The image values are the original ones (0..235); the 125 annotated nuclei keep their original
    order but are renumbered without gaps.

    Returns
    -------
    image : ndarray of uint8, shape (512, 512)
        Fluorescence intensity (arbitrary units, original values 0..235; nuclei are bright).
    labels : ndarray of int32, shape (512, 512)
        Instance mask: 0 = background, 1..125 = one id per nucleus (ids are contiguous). One nucleus
        (id 87) touches its own two parts only diagonally (it is one 8-connected region).

    Raises
    ------
    cnncourse.data.DataFileError
        If ``data/nuclei.npz`` is missing or corrupted.

    Notes
    -----
    Licence CC0 (BBBC038); redistributed in stardist under BSD-3-Clause. Cite Caicedo et al.,
    "Nucleus segmentation across imaging experiments: the 2018 Data Science Bowl", Nature Methods
    16, 1247-1253 (2019), and Schmidt et al., "Cell Detection with Star-convex Polygons", MICCAI
    2018. See ``data/LICENSES.md``.

    Examples
    --------
    >>> image, labels = load_nuclei()
    >>> image.shape, image.dtype, labels.dtype, int(labels.max())
    ((512, 512), dtype('uint8'), dtype('int32'), 125)
    """
    arrays = _load_npz("nuclei.npz", ("image", "labels"))
    return arrays["image"].astype(np.uint8), arrays["labels"].astype(np.int32)
