"""Uniformly random 3D rotations: the course's one sampler (NumPy only, imports nothing of the course).

Used by :mod:`cnncourse.augment` (re-exported there as ``augment.random_rotation_matrices``), by
the synthetic nuclei of :mod:`cnncourse.data.synthetic3d`, by :mod:`cnncourse.sparse.net` and, for
the quaternion-to-matrix formula written with ``keras.ops``, by
:class:`cnncourse.layers.RandomRotation3D`. Same seed, same matrices, wherever they are drawn.
"""
from __future__ import annotations

import numpy as np

__all__ = ["random_rotation_matrices"]


def random_rotation_matrices(n: int, *, seed=None) -> np.ndarray:
    """``n`` rotation matrices (n, 3, 3) float64, uniformly distributed over all 3D rotations.

    A uniform random unit quaternion (four Gaussian numbers, normalised) gives a uniform rotation;
    random Euler angles would not (they crowd near the poles).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected an int >= 0, got {n!r}")
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return _quaternion_to_matrix(q, np)


def _quaternion_to_matrix(q, xp):
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    return xp.stack([xp.stack(r, axis=-1) for r in rows], axis=1)
