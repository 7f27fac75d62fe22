"""3D data augmentation: rotations by arbitrary angles and flips of volumes.

Shape classes of nuclei do not depend on how a nucleus lies in the microscope, so a rotated
nucleus is a new, equally valid training example ("heavy augmentation by 3D rotation" in the talk).

Two implementations of the same resampling (rotation about the volume's centre, trilinear
interpolation, edge values outside):

* NumPy / SciPy for arrays: ``_rotate_volume`` (one volume, a given matrix) and
  ``_random_rotate`` (a batch, random rotations, optional flips): private, because notebook 12's
  learners write the resampler themselves (these are the references its checks use);
* :class:`RandomRotation3D`, a Keras layer written with ``keras.ops`` only: put it first in a model
  (active in training only) or map it over batches in a ``tf.data`` pipeline.
"""
from __future__ import annotations

import numpy as np

from cnncourse._validate import array
from cnncourse.rotations import random_rotation_matrices

__all__ = ["random_rotation_matrices", "rotation_matrix", "random_flip", "RandomRotation3D"]


def rotation_matrix(axis, angle: float) -> np.ndarray:
    """Rotation matrix (3, 3) float64 by ``angle`` radians about ``axis`` (3,) (in (z, y, x) order).

    Examples
    --------
    >>> np.round(rotation_matrix([1, 0, 0], np.pi / 2) @ [0, 1, 0], 6).tolist()  # about z: y -> x
    [0.0, 0.0, 1.0]
    """
    axis = np.asarray(axis, dtype=float)
    if axis.shape != (3,) or not np.linalg.norm(axis) > 0:
        raise ValueError(f"axis: expected a non-zero vector of 3 numbers, got {axis.tolist()}")
    a = axis / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def _check_volume(volume, name="volume", ndim=3) -> np.ndarray:
    return array(volume, name, ndim=ndim, shape="(D, H, W)" if ndim == 3 else "(n, D, H, W)",
                 kinds="biuf", what="a numeric or bool array")


def _rotate_volume(volume, matrix, *, order: int = 1, mode: str = "nearest") -> np.ndarray:
    """Rotate a volume (D, H, W) about its centre by ``matrix`` (3, 3), with SciPy.

    Output voxel ``p`` takes the input value at ``matrix.T @ (p - c) + c`` (``c`` the centre), so the
    content moves by ``matrix``. ``order`` 1 is trilinear, 0 nearest (use it for masks: a bool
    volume comes back bool).
    """
    from scipy import ndimage

    volume = _check_volume(volume)
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (3, 3):
        raise ValueError(f"matrix: expected shape (3, 3), got {matrix.shape}")
    if not np.allclose(matrix @ matrix.T, np.eye(3), atol=1e-6):
        raise ValueError("matrix: expected an orthogonal matrix (a rotation, possibly with flips)")
    is_bool = volume.dtype == bool
    src = volume.astype(np.float32) if is_bool or volume.dtype.kind in "iu" else volume
    centre = (np.array(volume.shape) - 1) / 2.0
    inv = matrix.T
    out = ndimage.affine_transform(src, inv, offset=centre - inv @ centre, order=order, mode=mode)
    return out > 0.5 if is_bool else out.astype(volume.dtype, copy=False)


def random_flip(volumes, *, seed=None) -> np.ndarray:
    """Flip each volume of a batch (n, D, H, W) along each axis with probability 1/2."""
    volumes = _check_volume(volumes, "volumes", ndim=4)
    rng = np.random.default_rng(seed)
    flips = rng.random((len(volumes), 3)) < 0.5
    out = volumes.copy()
    for i, f in enumerate(flips):
        axes = tuple(int(a) for a in np.flatnonzero(f))
        if axes:
            out[i] = np.flip(volumes[i], axis=axes)
    return out


def _random_rotate(volumes, *, seed=None, flips: bool = True, order: int = 1) -> np.ndarray:
    """Rotate every volume of a batch (n, D, H, W) by its own uniformly random 3D rotation
    (and flip it at random when ``flips``), with SciPy. Same dtype and shape as ``volumes``."""
    volumes = _check_volume(volumes, "volumes", ndim=4)
    rng = np.random.default_rng(seed)
    mats = random_rotation_matrices(len(volumes), seed=rng)
    if flips:
        mats = mats * np.where(rng.random((len(volumes), 1, 3)) < 0.5, -1.0, 1.0)
    return np.stack([_rotate_volume(v, m, order=order) for v, m in zip(volumes, mats)]) \
        if len(volumes) else volumes.copy()


def __getattr__(name: str):
    # The Keras layer is a module-level class of cnncourse.layers (registered for .keras files);
    # it is handed out from here on first use, so importing cnncourse.augment stays cheap.
    if name == "RandomRotation3D":
        from cnncourse.layers import RandomRotation3D

        return RandomRotation3D
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
