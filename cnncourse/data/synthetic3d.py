"""Synthetic 3D cell nuclei in two shape classes, and their sparse (coordinate list) form.

Each nucleus is an implicit surface: a randomly shaped ellipsoid whose radius is modulated by bumps
on the sphere (von Mises-Fisher kernels, a cheap stand-in for spherical harmonics), randomly rotated
in 3D and imaged like a confocal stack: partial-volume edges, chromatin texture, a blur that is worse
along z than in x and y, and noise.

* class 0, **smooth**: an ellipsoid with a few broad bulges and dents, and round dark nucleoli
  inside;
* class 1, **lobulated / cleft**: the same outline with small lobes on the surface, and two to four
  **folds** (clefts of the nuclear envelope) that cut in from the surface, part way around the
  nucleus, instead of the nucleoli. The folds are thin: in the image they are dark sheets, but a
  segmentation closes over them, so the masks show the lobes and not the folds.

Both classes draw their volume from the same distribution (each nucleus is scaled to a target
volume), so volume alone does not tell them apart; both hold the same fraction of dark structure
(folds or nucleoli) and the same total signal, so the mean brightness does not either, and the spread
of intensities only weakly. The lobes change global shape measures (sphericity, solidity, ...) only
a little compared with the shape variation of both classes: seven such measures of the masks
(:mod:`cnncourse.morphometrics`) + logistic regression reach a held-out ROC AUC of about 0.75 at
the default ``difficulty``. A 3D CNN that looks at the image itself can also tell sheets from
blobs and does much better: the situation of the talk (morphometric measures 75% AUC, a sparse 3D
CNN 85%), where the hand-made measures could only describe the outline ("topology-limited to genus
zero 2-manifolds").
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from cnncourse._validate import integer
from cnncourse.rotations import random_rotation_matrices

__all__ = ["make_nuclei_3d", "to_sparse", "CLASS_NAMES"]

CLASS_NAMES = ("smooth", "lobulated")

_CHUNK_VOXELS = 1 << 22  # voxels evaluated at once (bounds memory at large sizes)


def _unit(rng: np.random.Generator, shape) -> np.ndarray:
    v = rng.normal(size=(*shape, 3))
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _fibonacci_sphere(m: int) -> np.ndarray:
    i = np.arange(m) + 0.5
    phi = np.arccos(1 - 2 * i / m)
    theta = np.pi * (1 + 5 ** 0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], -1)


# Shape and imaging parameters. Pairs are uniform ranges. "strength" (scales the lobes and the
# folds' contrast), "noise" and "blur_z" go linearly from their first value at difficulty 0 to their
# second at difficulty 1. Lengths in voxels are for size 32 and scale with the grid.
_PARAMS = {
    "axis_sigma": 0.14,                   # log-normal spread of the ellipsoid's axes
    "r_eq": (0.46, 0.56),                 # equivalent-sphere radius / half the grid
    # both classes: broad bulges and dents (K bumps of angular width ~ 1/sqrt(kappa) radians)
    "broad_k": 4, "broad_amp": (-0.16, 0.20), "broad_kappa": (1.5, 4.0),
    # class 1: small lobes (each present with probability lobe_p)
    "lobe_k": 10, "lobe_amp": (0.04, 0.10), "lobe_kappa": (15.0, 30.0), "lobe_p": 0.8,
    # dark structure inside every nucleus, the same amount in both classes (a fraction of the
    # nucleus' signal): class 1: folds, sheets from the surface inwards (depth: fraction of the
    # radius); class 0: nucleoli, round blobs (sigma in voxels)
    "dark_fraction": (0.08, 0.13),
    "fold_n": (2, 4), "fold_depth": (0.4, 0.9), "fold_kappa": (0.5, 2.0), "fold_thickness": (1.0, 1.4),
    "nucleoli_n": (4, 7), "nucleoli_sigma": (1.4, 2.1), "nucleoli_radius": 0.6,
    "strength": (1.35, 0.35),
    "noise": (0.04, 0.10), "blur_z": (1.6, 1.6), "blur_xy": 0.7, "texture": 0.12,
}


def _lerp(pair, t):
    return pair[0] + (pair[1] - pair[0]) * t


class _Shapes:
    """Random shapes of n nuclei: radial perturbations g(u) of the unit sphere, and folds.

    g is a sum of bumps ``amp * exp(kappa * (u . dir - 1))`` (positive amp: a bulge or lobe,
    negative: a dent). A fold j is a sheet through the centre with normal ``n_j``, reaching from the
    surface to ``depth_j`` of the radius, along part of a great circle (window
    ``exp(kappa_j * (u . a_j - 1))``), seen in the image as a loss of signal ``contrast_j``.
    """

    def __init__(self, rng: np.random.Generator, y: np.ndarray, difficulty: float):
        n, p = len(y), _PARAMS
        strength = max(_lerp(p["strength"], difficulty), 0.0)
        k = p["broad_k"]
        broad = (_unit(rng, (n, k)), rng.uniform(*p["broad_amp"], size=(n, k)),
                 rng.uniform(*p["broad_kappa"], size=(n, k)))
        k = p["lobe_k"]
        lobes = (_unit(rng, (n, k)), strength * rng.uniform(*p["lobe_amp"], size=(n, k))
                 * (rng.random((n, k)) < p["lobe_p"]) * (y == 1)[:, None],
                 rng.uniform(*p["lobe_kappa"], size=(n, k)))
        self.bumps = [broad, lobes]  # each (dirs (n, K, 3), amp (n, K), kappa (n, K))
        f = p["fold_n"][1]
        count = rng.integers(p["fold_n"][0], p["fold_n"][1] + 1, size=n)
        normal = _unit(rng, (n, f))
        along = _unit(rng, (n, f))
        along -= (along * normal).sum(-1, keepdims=True) * normal
        along /= np.maximum(np.linalg.norm(along, axis=-1, keepdims=True), 1e-12)
        present = (y == 1)[:, None] & (np.arange(f)[None] < count[:, None])
        self.folds = (normal, along, rng.uniform(*p["fold_depth"], size=(n, f)),
                      rng.uniform(*p["fold_kappa"], size=(n, f)), present,
                      rng.uniform(*p["fold_thickness"], size=(n, f)))
        b = p["nucleoli_n"][1]
        count = rng.integers(p["nucleoli_n"][0], p["nucleoli_n"][1] + 1, size=n)
        where = _unit(rng, (n, b)) * (p["nucleoli_radius"] * rng.random((n, b, 1)) ** (1 / 3))
        present = (y == 0)[:, None] & (np.arange(b)[None] < count[:, None])
        self.nucleoli = (where, rng.uniform(*p["nucleoli_sigma"], size=(n, b)), present)
        self.dark_fraction = strength * rng.uniform(*p["dark_fraction"], size=n)

    def radius(self, u: np.ndarray, idx: slice) -> np.ndarray:
        """1 + g(u) for unit vectors ``u`` (b, m, 3) of nuclei ``idx``; returns (b, m) float32."""
        u = np.asarray(u, dtype=np.float32)
        g = np.ones(u.shape[:-1], dtype=np.float32)
        for dirs, amp, kap in self.bumps:
            for j in range(amp.shape[1]):
                if not np.any(amp[idx, j]):
                    continue
                arg = _dot(u, dirs[idx, j]) - 1.0
                arg *= _col(kap, idx, j)
                g += _col(amp, idx, j) * np.exp(arg, out=arg)
        return g

    def dark_pattern(self, u, rho, r, body_voxels, idx) -> np.ndarray:
        """Where the nuclei ``idx`` hold dark structure: (b, m) float32 in [0, 1], 1 = fully dark.

        Folds (class 1) or nucleoli (class 0) at unit contrast; ``u`` (b, m, 3) unit directions in
        the body frame, ``rho`` (b, m) normalised radius, ``r`` (b, m) the surface radius
        1 + g(u) there, ``body_voxels`` (b, 3) voxels per normalised unit along the body axes
        (lengths in _PARAMS are voxels at size 32: pass voxels / zoom).
        """
        out = np.zeros(rho.shape, dtype=np.float32)
        vox = body_voxels.astype(np.float32)
        normal, along, depth, kap, present, thick = self.folds
        mean_vox = np.exp(np.log(vox).mean(1))[:, None]
        for j in range(present.shape[1]):
            if not np.any(present[idx, j]):
                continue
            dist = rho * _dot(u, normal[idx, j]) * mean_vox / _col(thick, idx, j)  # thicknesses
            inner = np.clip((rho - (1.0 - _col(depth, idx, j)) * r) * 8.0, 0.0, 1.0)
            sheet = np.exp(_col(kap, idx, j) * (_dot(u, along[idx, j]) - 1.0) - 0.5 * dist * dist)
            out += sheet * inner * _col(present, idx, j)
        where, sigma, present = self.nucleoli
        for k in range(present.shape[1]):
            if not np.any(present[idx, k]):
                continue
            c = where[idx, k].astype(np.float32)  # (b, 3) body-frame normalised position
            d2 = np.zeros(rho.shape, dtype=np.float32)
            for ax in range(3):
                d = (u[..., ax] * rho - c[:, None, ax]) * vox[:, None, ax]
                d2 += d * d
            out += np.exp(-0.5 * d2 / _col(sigma, idx, k) ** 2) * _col(present, idx, k)
        return np.minimum(out, 1.0, out=out)


def _align_folds(shapes: _Shapes) -> None:
    """Turn every fold into a sheet with its normal along x (body axis 2), in place."""
    normal, along, depth, kap, present, thick = shapes.folds
    normal = np.zeros_like(normal)
    normal[..., 2] = 1.0
    along = along.copy()
    along[..., 2] = 0.0  # the arc's direction lies in the sheet (the zy plane)
    norm = np.linalg.norm(along, axis=-1, keepdims=True)
    along = np.where(norm > 1e-6, along / np.maximum(norm, 1e-12), np.array([1.0, 0.0, 0.0]))
    shapes.folds = (normal, along, depth, kap, present, thick)


def _dot(u, vec):
    """u (b, m, 3) . vec (b, 3) -> (b, m) float32."""
    v = vec.astype(np.float32)
    return u[..., 0] * v[:, None, 0] + u[..., 1] * v[:, None, 1] + u[..., 2] * v[:, None, 2]


def _col(x, idx, j):
    """Column j of the (n, K) parameter array x for the nuclei idx, as (b, 1) float32."""
    return x[idx, j].astype(np.float32)[:, None]


def make_nuclei_3d(n: int, size: int = 32, *, seed: int = 0, difficulty: float = 0.5,
                   pose: str = "random") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Volumes of single 3D nuclei, smooth (0) or lobulated / cleft (1), randomly rotated.

    Parameters
    ----------
    n : int
        Number of nuclei (>= 1). Classes alternate after a shuffle: exactly ``n // 2`` are class 1.
    size : int
        Edge of the cubic grid in voxels (16 to 256); voxels are isotropic, the blur is not.
    seed : int
        Seed: the same ``(n, size, seed, difficulty)`` gives identical arrays, and the same
        ``(n, seed, difficulty)`` gives the same shapes at every ``size`` (only the texture and
        the noise differ), so one set of nuclei can be compared at several resolutions.
    difficulty : float in [0, 1]
        0: pronounced lobes and high-contrast folds, mild noise; 1: faint ones, strong noise.
        The default 0.5 is calibrated so that seven morphometric measures of the masks
        (:mod:`cnncourse.morphometrics`) + logistic regression reach a held-out ROC AUC of about
        0.75 at size 32 (about 0.65 at 24, where the measures are coarser).
    pose : {"random", "aligned"}
        "random" (default): every nucleus in a uniformly random orientation. "aligned": every
        nucleus in one pose, as if the cells had been grown on a patterned substrate: the
        ellipsoid's axes along the grid axes and every fold of class 1 a sheet perpendicular to
        x (its normal along x). The shapes are otherwise those of "random" with the same seed
        (the same random numbers are drawn), so a model trained on aligned nuclei can be tested on
        randomly posed ones: what rotation augmentation is for.

    Returns
    -------
    volumes : ndarray of float32, shape (n, size, size, size), axes (z, y, x), values in [0, 1]
        The imaged nuclei: blurred (sigma 1.6 voxels in z, 0.7 in y and x at size 32, scaled with
        ``size``), textured, noisy, clipped to [0, 1].
    masks : ndarray of bool, shape (n, size, size, size)
        The shape of each nucleus as a segmentation gives it: the outline with the lobes, the
        thin folds of class 1 closed over (filled).
    y : ndarray of int64, shape (n,)
        0 = smooth / ellipsoidal, 1 = lobulated / cleft (see ``CLASS_NAMES``).

    Raises
    ------
    ValueError
        ``n < 1``; ``size`` outside 16..256; a negative ``seed``; ``difficulty`` outside
        [0, 1]; an unknown ``pose``.
    TypeError
        ``n``, ``size`` or ``seed`` not an int; ``difficulty`` not a number.

    Examples
    --------
    >>> volumes, masks, y = make_nuclei_3d(4, size=24, seed=1)
    >>> volumes.shape, volumes.dtype, masks.dtype, y.tolist()
    ((4, 24, 24, 24), dtype('float32'), dtype('bool'), [0, 1, 1, 0])
    """
    n = integer(n, "n", minimum=1)
    size = integer(size, "size", minimum=16)
    if size > 256:
        raise ValueError(f"size: expected an int from 16 to 256, got {size}")
    seed = integer(seed, "seed", minimum=0)
    if isinstance(difficulty, (bool, np.bool_)) or not isinstance(difficulty, (int, float, np.number)):
        raise TypeError(f"difficulty: expected a float in [0, 1], got {type(difficulty).__name__}")
    difficulty = float(difficulty)
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty: expected a float in [0, 1], got {difficulty}")
    if pose not in ("random", "aligned"):
        raise ValueError(f"pose: expected 'random' or 'aligned', got {pose!r}")

    rng = np.random.default_rng([seed, 3, n])  # shapes do not depend on size
    y = np.zeros(n, dtype=np.int64)
    y[: n // 2] = 1
    rng.shuffle(y)
    shapes = _Shapes(rng, y, difficulty)
    if pose == "aligned":
        _align_folds(shapes)

    # Ellipsoid axes (product 1) and rotations, same distributions for both classes.
    axes = np.exp(rng.normal(0.0, _PARAMS["axis_sigma"], size=(n, 3)))
    axes /= np.prod(axes, axis=1, keepdims=True) ** (1 / 3)
    rot = random_rotation_matrices(n, seed=rng)
    if pose == "aligned":
        rot = np.broadcast_to(np.eye(3), (n, 3, 3))
    # Target volumes: equivalent-sphere radius (fraction of the half-size), same for both classes.
    half = size / 2.0
    # Stratified within each class (a random permutation of n_c equal-width strata), so that the
    # two classes' volume distributions agree closely even for a few hundred nuclei.
    strata = np.empty(n)
    for c in (0, 1):
        members = np.flatnonzero(y == c)
        strata[members] = (rng.permutation(len(members)) + rng.random(len(members))) / max(len(members), 1)
    lo, hi = _PARAMS["r_eq"]
    r_eq = half * (lo + (hi - lo) * strata)
    # Volume of the star-shaped body in normalised coordinates: (1/3) * integral of r(u)^3 dOmega.
    sphere = _fibonacci_sphere(2000)
    r_dirs = shapes.radius(np.broadcast_to(sphere, (n, *sphere.shape)), slice(None))
    unit_volume = (4 * np.pi / 3) * np.mean(r_dirs ** 3, axis=1)  # times abc (= 1)
    scale = r_eq * ((4 * np.pi / 3) / unit_volume) ** (1 / 3)  # voxels per normalised unit
    # Keep every nucleus one voxel clear of the border: the farthest surface point (in voxels)
    # must fit; the rare nucleus that does not is shrunk, and the centre jitter uses what is left.
    reach = scale * np.max(np.linalg.norm(sphere[None] * axes[:, None, :], axis=-1) * r_dirs, axis=1)
    limit = (size - 1) / 2.0 - 1.0
    shrink = np.minimum(1.0, limit / reach)
    scale, reach = scale * shrink, reach * shrink
    jitter = np.minimum(0.04 * size, limit - reach)
    centre = (size - 1) / 2.0 + rng.uniform(-1.0, 1.0, size=(n, 3)) * jitter[:, None]
    # 1 / (scale * axes) maps voxel offsets (body frame) to normalised coordinates.
    inv = rot / (scale[:, None, None] * axes[:, None, :])  # (n, 3, 3): q = (R^T x) / (s a)

    brightness = rng.uniform(0.55, 0.8, size=(n, 1, 1, 1)).astype(np.float32)
    texture_amp = (_PARAMS["texture"] * rng.uniform(0.5, 1.5, size=(n, 1, 1, 1))).astype(np.float32)
    zoom = size / 32.0  # lengths in _PARAMS are voxels at size 32
    grid = np.stack(np.meshgrid(*[np.arange(size, dtype=np.float32)] * 3, indexing="ij"), -1)
    grid = grid.reshape(-1, 3)  # (size^3, 3) voxel centres (z, y, x)
    occupancy = np.empty((n, size ** 3), dtype=np.float32)
    masks = np.empty((n, size ** 3), dtype=bool)
    step = max(1, _CHUNK_VOXELS // size ** 3)
    by_class = np.argsort(y, kind="stable")  # chunks of one class skip the other class's features
    for start in range(0, n, step):
        sl = by_class[start:start + step]
        c = centre[sl].astype(np.float32)
        m = inv[sl].astype(np.float32)  # (b, 3, 3)
        xs = [grid[None, :, i] - c[:, i, None] for i in range(3)]  # 3 x (b, V)
        q = np.stack([xs[0] * m[:, 0, j, None] + xs[1] * m[:, 1, j, None]
                      + xs[2] * m[:, 2, j, None] for j in range(3)], axis=-1)  # (b, V, 3)
        rho = np.sqrt((q * q).sum(-1))
        q /= np.maximum(rho, 1e-6)[..., None]
        r = shapes.radius(q, sl)
        # signed distance to the surface, approximately in voxels (radial direction)
        dist = (r - rho) * (scale[sl] * np.exp(np.log(axes[sl]).mean(1))).astype(np.float32)[:, None]
        masks[sl] = dist >= 0
        occ = np.clip(dist + 0.5, 0.0, 1.0)
        # dark structure, the same fraction of each nucleus' signal in both classes:
        # contrast c so that sum(occ * c * pattern) = dark_fraction * sum(occ)
        pattern = occ * shapes.dark_pattern(q, rho, r, scale[sl, None] * axes[sl] / zoom, sl)
        c = shapes.dark_fraction[sl] * occ.sum(1) / np.maximum(pattern.sum(1), 1e-6)
        c = np.minimum(c, 0.95).astype(np.float32)
        darkened = occ - c[:, None] * pattern
        # a fold or a nucleolus moves dye, it does not remove it: same total signal
        # (otherwise mean brightness alone would tell the classes apart)
        occupancy[sl] = darkened * (occ.sum(1) / darkened.sum(1))[:, None]
    masks = masks.reshape(n, size, size, size)
    occupancy = occupancy.reshape(n, size, size, size)

    # Imaging: chromatin texture, anisotropic blur (worse in z), background, noise.
    texture = ndimage.gaussian_filter(rng.standard_normal(occupancy.shape, dtype=np.float32),
                                      sigma=(0, 1.2 * zoom, 1.2 * zoom, 1.2 * zoom))
    texture *= texture_amp / max(float(texture.std()), 1e-6)
    signal = occupancy * (brightness + texture * brightness)
    signal = ndimage.gaussian_filter(signal, sigma=(0, _lerp(_PARAMS["blur_z"], difficulty) * zoom,
                                                   _PARAMS["blur_xy"] * zoom, _PARAMS["blur_xy"] * zoom))
    noise = _lerp(_PARAMS["noise"], difficulty)
    volumes = signal + rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(noise)
    volumes += np.float32(0.08)
    volumes = np.clip(volumes, 0.0, 1.0, out=volumes).astype(np.float32, copy=False)
    return volumes, masks, y


def to_sparse(masks: np.ndarray, *, mode: str = "surface",
              volumes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Active voxels of a batch of 3D masks as a coordinate list (the input of a sparse CNN).

    Parameters
    ----------
    masks : ndarray of bool, shape (n, D, H, W)
        Binary masks, e.g. from :func:`make_nuclei_3d`.
    mode : {"surface", "foreground"}
        ``"foreground"``: every voxel of the mask; ``"surface"``: mask voxels with at least one of
        their 6 face neighbours outside the mask (the grid border counts as outside).
    volumes : ndarray of float, shape (n, D, H, W), optional
        If given, the feature of each active voxel is its intensity; otherwise it is 1.0.

    Returns
    -------
    coords : ndarray of int32, shape (N, 4)
        Rows ``(batch, z, y, x)``, sorted lexicographically.
    features : ndarray of float32, shape (N, 1)

    Raises
    ------
    ValueError
        ``masks`` not 4-D; an unknown ``mode``; ``volumes`` of another shape.
    TypeError
        ``masks`` not bool; ``volumes`` not numeric.

    Examples
    --------
    >>> m = np.zeros((1, 3, 3, 3), bool); m[0, 1, 1, 1] = True
    >>> coords, feats = to_sparse(m)
    >>> coords.tolist(), feats.tolist()
    ([[0, 1, 1, 1]], [[1.0]])
    """
    masks = np.asarray(masks)
    if masks.dtype != bool:
        raise TypeError(f"masks: expected a bool array, got dtype {masks.dtype} "
                        "(use masks > 0 to make one)")
    if masks.ndim != 4:
        raise ValueError(f"masks: expected shape (n, D, H, W), got {masks.shape}")
    if mode not in ("surface", "foreground"):
        raise ValueError(f"mode: expected 'surface' or 'foreground', got {mode!r}")
    if volumes is not None:
        volumes = np.asarray(volumes)
        if volumes.shape != masks.shape:
            raise ValueError(f"volumes: expected shape {masks.shape} (the masks'), got {volumes.shape}")
        if volumes.dtype.kind not in "biuf":
            raise TypeError(f"volumes: expected a numeric array, got dtype {volumes.dtype}")
    active = masks
    if mode == "surface":
        padded = np.pad(masks, ((0, 0), (1, 1), (1, 1), (1, 1)), constant_values=False)
        interior = masks.copy()
        for axis in (1, 2, 3):
            for shift in (0, 2):
                sl = [slice(None), slice(1, -1), slice(1, -1), slice(1, -1)]
                sl[axis] = slice(shift, shift + masks.shape[axis])
                interior &= padded[tuple(sl)]
        active = masks & ~interior
    idx = np.nonzero(active)  # C order: already lexicographic in (batch, z, y, x)
    coords = np.stack(idx, axis=1).astype(np.int32)
    if volumes is None:
        features = np.ones((len(coords), 1), dtype=np.float32)
    else:
        features = volumes[idx].astype(np.float32)[:, None]
    return coords, features
