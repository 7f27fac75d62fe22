"""Hand-made features measured on a 2D nuclei image, for the single-neuron and MLP notebooks.

Two kinds of samples come out of one annotated image (``cnncourse.data.load_nuclei()``):

* **objects**: :func:`group_touching` merges annotated nuclei that touch into the connected objects a
  simple foreground segmentation would return, and counts the nuclei in each; :func:`nuclei_features`
  measures each object (area, solidity, ...) with ``skimage.measure.regionprops``;
* **pixels**: :func:`pixel_features` gives each pixel two numbers (smoothed intensity and gradient
  magnitude) and :func:`pixel_classes` its class from the annotation (background, nucleus interior,
  nucleus boundary); :func:`sample_per_class` draws a class-balanced sample of pixels.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from cnncourse._validate import array

__all__ = ["NUCLEUS_PROPERTIES", "PIXEL_CLASSES", "PIXEL_FEATURES", "group_touching",
           "nuclei_features", "pixel_features", "pixel_classes", "sample_per_class"]

#: Default region properties measured by :func:`nuclei_features`.
NUCLEUS_PROPERTIES = ("area", "perimeter", "solidity", "eccentricity", "extent", "intensity_mean")
#: Class names of :func:`pixel_classes`, in label order.
PIXEL_CLASSES = ("background", "interior", "boundary")
#: Feature names of :func:`pixel_features`, in channel order.
PIXEL_FEATURES = ("intensity", "gradient")


def _image(image, name: str = "image") -> np.ndarray:
    return array(image, name, ndim=2, shape="(H, W) (a grey image)", kinds="uif", what="a numeric image")


def _labels(labels, shape=None, name: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"{name}: expected a 2D label image of shape (H, W), got shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer instance ids (0 = background), got dtype "
                        f"{labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"{name}: expected ids >= 0 (0 = background), got {labels.min()}")
    if shape is not None and labels.shape != shape:
        raise ValueError(f"{name}: expected shape {shape} (the image's), got {labels.shape}")
    return labels


def group_touching(labels: ArrayLike, *,
                   connectivity: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Merge touching nuclei into objects and count the annotated nuclei in each.

    A segmentation that only separates foreground from background (a threshold, then connected
    components) returns touching nuclei as one object. This function builds exactly those objects
    from an instance annotation, so each object's true number of nuclei is known.

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
        Instance ids, 0 = background.
    connectivity : {1, 2}
        Pixel neighbourhood for "touching": 1 = edges only, 2 = edges and corners.

    Returns
    -------
    objects : ndarray of int32, shape (H, W)
        Object ids 1..M (0 = background), in raster order of their first pixel.
    n_nuclei : ndarray of int64, shape (M,)
        ``n_nuclei[j]`` = number of annotated nuclei inside object ``j + 1``.

    Raises
    ------
    ValueError
        ``labels`` not 2-D or holding a negative id; ``connectivity`` other than 1 or 2.
    TypeError
        ``labels`` not an integer array.

    Examples
    --------
    >>> labels = np.array([[1, 2, 0, 3]])
    >>> objects, n = group_touching(labels)
    >>> objects.tolist(), n.tolist()
    ([[1, 1, 0, 2]], [2, 1])
    """
    from skimage.measure import label

    labels = _labels(labels)
    if connectivity not in (1, 2):
        raise ValueError(f"connectivity: expected 1 or 2, got {connectivity!r}")
    objects = label(labels > 0, connectivity=connectivity).astype(np.int32)
    fg = labels > 0
    pairs = np.unique(np.stack([objects[fg], labels[fg]]), axis=1)   # (2, P): (object, nucleus)
    n_nuclei = np.bincount(pairs[0], minlength=int(objects.max()) + 1)[1:]
    return objects, n_nuclei.astype(np.int64)


def nuclei_features(image: ArrayLike, labels: ArrayLike,
                    properties: Sequence[str] = NUCLEUS_PROPERTIES) -> dict[str, np.ndarray]:
    """Measure every labelled object of a 2D image with ``skimage.measure.regionprops``.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Grey intensity image (used by intensity properties such as ``"intensity_mean"``).
    labels : ndarray of int, shape (H, W)
        Object ids, 0 = background.
    properties : sequence of str
        Scalar region properties of scikit-image (``"area"``, ``"solidity"``, ``"eccentricity"``,
        ``"intensity_mean"``, ...).

    Returns
    -------
    dict of str -> ndarray of float64, shape (M,)
        One entry per property plus ``"label"`` (int64, the object ids), one value per object in
        increasing id order.

    Raises
    ------
    ValueError
        ``image`` not 2-D; ``labels`` not 2-D, of another shape than the image or holding a
        negative id; no property, an unknown one or one that is not a scalar.
    TypeError
        A non-numeric image; non-integer labels.

    Examples
    --------
    >>> image = np.zeros((5, 5)); labels = np.zeros((5, 5), int); labels[1:4, 1:3] = 7
    >>> f = nuclei_features(image, labels, ["area", "solidity"])
    >>> f["label"].tolist(), f["area"].tolist(), f["solidity"].tolist()
    ([7], [6.0], [1.0])
    """
    from skimage.measure import regionprops_table

    image = _image(image)
    labels = _labels(labels, image.shape)
    properties = list(properties)
    if not properties or not all(isinstance(p, str) for p in properties):
        raise ValueError(f"properties: expected a non-empty list of property names, got {properties}")
    try:
        table = regionprops_table(labels, intensity_image=image, properties=["label"] + properties)
    except (AttributeError, ValueError) as exc:
        raise ValueError(f"properties: {exc}") from None
    out = {"label": np.asarray(table["label"], dtype=np.int64)}
    for p in properties:
        if p not in table:
            raise ValueError(f"properties: {p!r} is not a scalar region property")
        out[p] = np.asarray(table[p], dtype=np.float64)
    return out


def pixel_features(image: ArrayLike, *, sigma: float = 1.0) -> np.ndarray:
    """Two features per pixel: smoothed intensity and gradient magnitude.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Grey image; integer images are scaled to [0, 1] by their dtype's range (uint8: / 255).
    sigma : float
        Standard deviation (pixels) of the Gaussian smoothing applied first, > 0.

    Returns
    -------
    ndarray of float64, shape (H, W, 2)
        Channel 0: Gaussian-smoothed intensity; channel 1: Sobel gradient magnitude of it
        (names in :data:`PIXEL_FEATURES`).

    Raises
    ------
    ValueError
        ``image`` not 2-D; ``sigma <= 0``.
    TypeError
        A non-numeric image.

    Examples
    --------
    >>> pixel_features(np.ones((4, 5))).shape
    (4, 5, 2)
    """
    from skimage.filters import gaussian, sobel
    from skimage.util import img_as_float64

    image = _image(image)
    if not sigma > 0:
        raise ValueError(f"sigma: expected a positive smoothing scale, got {sigma}")
    smooth = gaussian(img_as_float64(image), sigma=sigma)
    return np.stack([smooth, sobel(smooth)], axis=-1)


def pixel_classes(labels: ArrayLike) -> np.ndarray:
    """Per-pixel class from an instance annotation: 0 background, 1 interior, 2 boundary.

    Boundary pixels are the nucleus pixels on the outline of their own nucleus
    (``skimage.segmentation.find_boundaries(mode="inner")``), so touching nuclei are separated
    by boundary pixels. This is the three-class target used by many nucleus-segmentation networks.

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
        Instance ids, 0 = background.

    Returns
    -------
    ndarray of int64, shape (H, W), values in {0, 1, 2} (names in :data:`PIXEL_CLASSES`).

    Raises
    ------
    ValueError
        ``labels`` not 2-D or holding a negative id.
    TypeError
        ``labels`` not an integer array.
    """
    from skimage.segmentation import find_boundaries

    labels = _labels(labels)
    boundary = find_boundaries(labels, mode="inner") & (labels > 0)
    return np.where(labels == 0, 0, np.where(boundary, 2, 1)).astype(np.int64)


def sample_per_class(classes: ArrayLike, n_per_class: int, *, seed: int = 0) -> np.ndarray:
    """Draw the same number of pixels from every class, without replacement, in random order.

    Parameters
    ----------
    classes : ndarray of int, any shape
        Class of each pixel (0..K-1), e.g. from :func:`pixel_classes`.
    n_per_class : int
        Pixels per class, >= 1 and at most the size of the smallest class.
    seed : int

    Returns
    -------
    ndarray of int64, shape (K * n_per_class,)
        Indices into ``classes.ravel()``, shuffled.

    Raises
    ------
    ValueError
        ``n_per_class`` not a positive integer, or more than the smallest class has.
    TypeError
        ``classes`` not integer.

    Examples
    --------
    >>> idx = sample_per_class(np.array([0, 0, 1, 1, 1]), 2)
    >>> sorted(np.array([0, 0, 1, 1, 1])[idx].tolist())
    [0, 0, 1, 1]
    """
    classes = np.asarray(classes)
    if classes.dtype.kind not in "iu":
        raise TypeError(f"classes: expected integer class ids, got dtype {classes.dtype}")
    if isinstance(n_per_class, bool) or int(n_per_class) != n_per_class or n_per_class < 1:
        raise ValueError(f"n_per_class: expected a positive integer, got {n_per_class!r}")
    flat = classes.ravel()
    counts = np.bincount(flat) if flat.size else np.zeros(0, int)
    if counts.size == 0 or counts.min() < n_per_class:
        raise ValueError(f"n_per_class: {n_per_class} is more than the smallest class has "
                         f"(class sizes {counts.tolist()})")
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(flat == k), int(n_per_class), replace=False)
                          for k in range(counts.size)])
    return rng.permutation(idx).astype(np.int64)
