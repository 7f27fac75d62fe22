"""Synthetic 2D biomedical images, deterministic by seed and vectorised with NumPy/SciPy.

* :func:`make_nuclei_2d`: fluorescence-like images of cell nuclei with instance label images
  (for segmentation, e.g. a U-Net).
* :func:`make_mitosis_patches`: H&E-like RGB patches centred on a nucleus, mitotic (1) or not (0)
  (for classification / detection, e.g. LeNet). Darkness alone does not separate the classes:
  negatives include dark pyknotic nuclei and positives include small, blurred mitotic figures
  (cut tangentially or partly out of focus), as dark as the others, so a classifier has to look at
  shape and texture.

Both take a ``difficulty`` in [0, 1] (0 = easy, 1 = hard; 0.5 is the default used in the course).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from cnncourse._validate import integer, unit

__all__ = ["make_nuclei_2d", "make_mitosis_patches"]



# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _smooth_noise(rng, shape, sigma, dtype=np.float32):
    """Gaussian-filtered white noise over the last two axes, rescaled to unit standard deviation."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    sig = (0,) * (len(shape) - 2) + (sigma, sigma)
    out = ndimage.gaussian_filter(noise, sig, mode="wrap", truncate=3.0)
    out /= out.std(axis=(-2, -1), keepdims=True) + 1e-6
    return out.astype(dtype, copy=False)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


# --------------------------------------------------------------------------------------------
# star-convex shapes: r(phi) = R * (1 + sum_k Re(c_k e^{ik phi})), evaluated on a grid
# --------------------------------------------------------------------------------------------
def _boundary(cos_phi, sin_phi, coeffs):
    """1 + sum_k Re(c_k z^k), z = e^{i phi}; ``coeffs`` (..., K) complex, k = 1..K, broadcast
    against the grid (..., H, W). Uses powers of z (no trigonometric calls per harmonic)."""
    z = (cos_phi + 1j * sin_phi).astype(np.complex64)
    zk = z
    out = np.ones(cos_phi.shape, np.float32)
    for k in range(coeffs.shape[-1]):
        c = coeffs[..., k, None, None]
        if np.any(c != 0):
            out += (c * zk).real
        if k + 1 < coeffs.shape[-1]:
            zk = zk * z
    return out


def _harmonics(rng, n, kmax, amp, decay=1.0, kmin=2):
    """Random complex Fourier coefficients (n, kmax) for k = 1..kmax with |c_k| ~ amp / k^decay
    for k >= kmin and zero below; ``amp`` scalar or (n,)."""
    k = np.arange(1, kmax + 1)
    scale = np.where(k >= kmin, 1.0 / k ** decay, 0.0)
    amp = np.broadcast_to(np.asarray(amp, float), (n,))[:, None]
    mag = amp * scale * rng.uniform(0.3, 1.0, (n, kmax))
    phase = rng.uniform(0, 2 * np.pi, (n, kmax))
    return (mag * np.exp(1j * phase)).astype(np.complex64)


_BLOB_CHUNK = 512   # blobs drawn at once: bounds _blob's ten-odd (n, H, W) temporaries


def _blob(yy, xx, cy, cx, ry, rx, theta, coeffs, edge):
    """Soft star-convex blob on grids ``yy, xx`` (n, H, W). Per-blob parameters are (n,).

    Returns ``(mask, depth)``: ``mask`` in [0, 1] (sigmoid of the signed distance in pixels over
    ``edge``), ``depth`` = signed distance to the boundary in pixels (positive inside).
    """
    n = len(cy)
    if n > _BLOB_CHUNK:   # blob by blob the same numbers; a chunk's temporaries at a time
        shape = np.broadcast_shapes(np.shape(yy)[1:], np.shape(xx)[1:])
        mask, depth = np.empty((n, *shape), np.float32), np.empty((n, *shape), np.float32)
        for i in range(0, n, _BLOB_CHUNK):
            j = slice(i, i + _BLOB_CHUNK)
            mask[j], depth[j] = _blob(yy, xx, cy[j], cx[j], ry[j], rx[j], theta[j], coeffs[j], edge[j])
        return mask, depth
    e = lambda a: np.asarray(a, np.float32)[:, None, None]  # noqa: E731
    dy, dx = yy - e(cy), xx - e(cx)
    c, s = e(np.cos(theta)), e(np.sin(theta))
    u = (c * dx + s * dy) / e(rx)      # along the major axis, in units of the radius
    v = (-s * dx + c * dy) / e(ry)
    r = np.sqrt(u * u + v * v) + 1e-6
    f = _boundary(u / r, v / r, coeffs)
    depth = (f - r) * e(np.minimum(rx, ry))
    return _sigmoid(depth / e(edge)), depth


# --------------------------------------------------------------------------------------------
# 2D fluorescence nuclei
# --------------------------------------------------------------------------------------------
def make_nuclei_2d(n_images: int, size: int = 128, *, seed: int = 0,
                   difficulty: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Fluorescence-like images of cell nuclei (DAPI/Hoechst style) with instance labels.

    Nuclei are star-convex shapes (an ellipse with a random radial profile of a few Fourier
    harmonics) of varied size, eccentricity and boundary roughness, some touching; inside, a
    smoothed-noise chromatin texture with a few bright chromocentres. The image is blurred by a
    Gaussian PSF, sits on a smooth background gradient and gets Poisson (shot) + Gaussian (read)
    noise. Scale follows the real sample (:func:`cnncourse.data.load_nuclei`): radii of about
    6-16 px, whatever ``size`` is, so larger images hold more nuclei.

    Parameters
    ----------
    n_images : int
        Number of images, >= 1.
    size : int
        Height and width in pixels, >= 32.
    seed : int
        Seed of ``np.random.default_rng``; the same seed gives identical arrays.
    difficulty : float in [0, 1]
        Raises boundary roughness, the fraction of touching nuclei, the spread of brightness
        (dim nuclei), blur and noise.

    Returns
    -------
    images : ndarray, float32, shape (n_images, size, size)
        Intensities in [0, 1].
    labels : ndarray, int32, shape (n_images, size, size)
        0 = background, 1..k = nucleus instances of that image (ids contiguous, one id per nucleus;
        where nuclei touch, every pixel belongs to exactly one of them).

    Raises
    ------
    ValueError
        ``n_images < 1``; ``size < 32``; ``difficulty`` outside [0, 1].
    TypeError
        A count that is not an integer, or a difficulty that is not a number.

    Examples
    --------
    >>> images, labels = make_nuclei_2d(2, 64, seed=1)
    >>> images.shape, images.dtype, labels.dtype
    ((2, 64, 64), dtype('float32'), dtype('int32'))
    """
    n_images = integer(n_images, "n_images", minimum=1)
    size = integer(size, "size", minimum=32)
    difficulty = unit(difficulty, "difficulty")
    d = difficulty
    rng = np.random.default_rng(seed)

    signal = np.zeros((n_images, size, size), np.float32)
    labels = np.zeros((n_images, size, size), np.int32)
    # chromatin texture: fine blotches (sigma ~1 px) and coarser domains (~2.5 px)
    tex = 0.6 * _smooth_noise(rng, (n_images, size, size), 1.0) \
        + 0.4 * _smooth_noise(rng, (n_images, size, size), 2.5)

    area = size * size
    for i in range(n_images):
        density = rng.uniform(0.15, 0.32) + 0.12 * d         # fraction of area covered
        mean_r = rng.uniform(9.0, 12.5)
        n_target = max(1, int(round(density * area / (np.pi * mean_r ** 2 * 1.1))))
        score = np.zeros((size, size), np.float32)           # best "insideness" so far
        centres, radii = [], []
        tries = 0
        while len(centres) < n_target and tries < 40 * n_target:
            tries += 1
            bright = rng.random() < 0.06                       # small, condensed, bright
            r = float(np.clip(rng.normal(mean_r, 0.18 * mean_r), 5.0, 17.0))
            ecc = float(np.clip(rng.normal(0.65, 0.13), 0.35, 1.0))  # minor / major axis
            if bright:
                r, ecc = 0.6 * r, 0.5 * ecc + 0.2
            rx, ry = r / np.sqrt(ecc), r * np.sqrt(ecc)
            touch = centres and rng.random() < 0.1 + 0.4 * d
            if touch:                                          # next to an existing nucleus
                j = rng.integers(len(centres))
                ang = rng.uniform(0, 2 * np.pi)
                dist = (radii[j] + r) * rng.uniform(0.78, 0.95)
                cy, cx = centres[j][0] + dist * np.sin(ang), centres[j][1] + dist * np.cos(ang)
            else:
                cy, cx = rng.uniform(-0.3 * r, size + 0.3 * r, 2)
            # overlap budget: touching allowed, heavy overlap rejected
            ok = True
            for (py, px), pr in zip(centres, radii):
                if np.hypot(cy - py, cx - px) < 0.78 * (pr + r):
                    ok = False
                    break
            if not ok:
                continue
            rough = (0.04 + 0.10 * d) * rng.uniform(0.4, 1.4)
            coeffs = _harmonics(rng, 1, 8, rough, decay=0.7)
            half = int(np.ceil(max(rx, ry) * (1 + 3 * rough) + 2))
            y0, y1 = max(0, int(cy) - half), min(size, int(cy) + half + 2)
            x0, x1 = max(0, int(cx) - half), min(size, int(cx) + half + 2)
            if y1 <= y0 or x1 <= x0:
                continue
            yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
            _, depth = _blob(yy[None], xx[None], [cy], [cx], [ry], [rx],
                             [rng.uniform(0, np.pi)], coeffs, [1.0])
            depth = depth[0]
            inside = depth / np.float32(min(rx, ry))          # 0 at boundary, ~1 at centre
            win = (inside > 0) & (inside > score[y0:y1, x0:x1])
            if win.sum() < 12:
                continue
            label_id = len(centres) + 1
            # brightness: per-nucleus level, texture, slightly brighter rim-free interior, spots
            level = rng.lognormal(0.0, 0.22 + 0.2 * d) * (rng.uniform(2.2, 3.2) if bright else 1.0)
            t = tex[i, y0:y1, x0:x1]
            value = level * (0.78 + 0.16 * t + 0.10 * np.clip(inside * 3, 0, 1))
            for _ in range(rng.poisson(2.0)):                 # bright chromocentres
                sy, sx = cy + rng.normal(0, 0.35 * ry), cx + rng.normal(0, 0.35 * rx)
                value = value + 0.35 * level * np.exp(-((yy - sy) ** 2 + (xx - sx) ** 2)
                                                      / (2 * rng.uniform(0.8, 1.5) ** 2))
            sl = (i, slice(y0, y1), slice(x0, x1))
            signal[sl] = np.where(win, value, signal[sl])
            labels[sl] = np.where(win, label_id, labels[sl])
            score[y0:y1, x0:x1] = np.where(win, inside, score[y0:y1, x0:x1])
            centres.append((cy, cx))
            radii.append(r)
        # ids of nuclei that lost every pixel to later ones would leave gaps: relabel contiguously
        present = np.unique(labels[i])
        present = present[present > 0]
        if len(present) and present[-1] != len(present):
            lut = np.zeros(present[-1] + 1, np.int32)
            lut[present] = np.arange(1, len(present) + 1)
            labels[i] = lut[labels[i]]

    # optics: PSF blur, background gradient, shot and read noise
    psf = 1.5 + 0.8 * d
    signal = ndimage.gaussian_filter(signal, (0, psf, psf))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    g = rng.uniform(-1, 1, (n_images, 2)).astype(np.float32)
    background = (rng.uniform(0.04, 0.10, n_images)[:, None, None]
                  + (0.03 + 0.05 * d) * (g[:, 0, None, None] * yy + g[:, 1, None, None] * xx))
    background = np.clip(background, 0.01, None).astype(np.float32)
    scale = rng.uniform(0.22, 0.32, n_images).astype(np.float32)[:, None, None]
    clean = background + scale * signal
    photons = 150.0 * (1.0 - 0.6 * d)                           # photons at intensity 1
    noisy = rng.poisson(clean * photons).astype(np.float32) / photons
    noisy += rng.normal(0.0, 0.01 + 0.015 * d, noisy.shape).astype(np.float32)
    images = np.clip(noisy, 0.0, 1.0).astype(np.float32)     # detector range
    return images, labels


# --------------------------------------------------------------------------------------------
# H&E mitosis patches
# --------------------------------------------------------------------------------------------
_NEG_TYPES = ("interphase", "pyknotic")
_POS_TYPES = ("metaphase", "anaphase", "hard")


def _subtypes(rng, y, difficulty):
    """Subtype per patch: 0 interphase, 1 pyknotic (negatives); 2 metaphase, 3 anaphase,
    4 hard mitosis (small, tangentially cut or partly out of focus) (positives). Harder data has
    more dark negatives and more hard positives."""
    n = len(y)
    p_pyk = 0.30 + 0.30 * difficulty
    p_pro = 0.15 + 0.25 * difficulty
    u = rng.random(n)
    neg = np.where(u < p_pyk, 1, 0)
    pos = np.where(u < p_pro, 4, np.where(u < p_pro + (1 - p_pro) * 0.6, 2, 3))
    return np.where(y == 1, pos, neg)


def make_mitosis_patches(n: int, size: int = 32, *, seed: int = 0, difficulty: float = 0.5,
                         positive_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """H&E-like RGB patches centred on a nucleus: mitotic figure (1) or not (0).

    Hematoxylin and eosin optical-density maps are drawn and turned into colour with
    ``skimage.color.combine_stains`` (Ruifrok-Johnston stain vectors), then blurred and noised.

    * background: eosin-pink stroma / cytoplasm with wavy fibres and pale clefts, and parts of
      neighbouring interphase nuclei near the border;
    * negatives (0): interphase nuclei (round/oval, vesicular chromatin, nuclear rim, a visible
      nucleolus) and dark round pyknotic nuclei (small, dense, smooth);
    * positives (1): mitotic figures with irregular, spiky, clumped chromosome aggregates:
      metaphase plates (an elongated bar), anaphase (two parallel bars) and *hard* mitoses of the
      kind pathologists find hard to call: a small, short clump of chromatin (a figure cut
      tangentially, so only part of it is in the section) that is partly out of focus (blurred by
      1-2 pixels), as hyperchromatic as the other figures. Very early prophase, which is usually
      not counted as a mitosis, is not drawn.

    Mean darkness alone (mean optical density or mean intensity, best threshold) classifies these
    at about 55% accuracy (2000 patches, seed 0, any difficulty): shape and texture carry the rest.
    A LeNet-5 on 2000-3000 patches reaches a validation ROC AUC of about 0.95 (RGB) or 0.91-0.93
    (grey) in 4-6 epochs, provided the inputs are standardised (subtract the training mean, divide
    by its standard deviation); raw [0, 1] grey inputs train much more slowly.

    Parameters
    ----------
    n : int
        Number of patches, >= 1.
    size : int
        Patch height and width in pixels, >= 16 (objects scale with ``size / 32``).
    seed : int
        Seed of ``np.random.default_rng``; the same seed gives identical arrays.
    difficulty : float in [0, 1]
        Raises the share of dark pyknotic negatives and hard (small, blurred) positives, lowers the
        spikiness of mitotic figures, and raises stain variation, blur and noise.
    positive_fraction : float in [0, 1]
        Fraction of mitotic patches (exactly ``round(n * positive_fraction)`` of them, in random
        order).

    Returns
    -------
    patches : ndarray, uint8, shape (n, size, size, 3)
        RGB.
    y : ndarray, int64, shape (n,)
        1 = mitotic figure, 0 = not.

    Raises
    ------
    ValueError
        ``n < 1``; ``size < 16``; ``difficulty`` or ``positive_fraction`` outside [0, 1].
    TypeError
        A count that is not an integer, or a fraction that is not a number.

    Examples
    --------
    >>> x, y = make_mitosis_patches(8, seed=0)
    >>> x.shape, x.dtype, y.dtype, int(y.sum())
    ((8, 32, 32, 3), dtype('uint8'), dtype('int64'), 4)
    """
    x, y, _ = _mitosis(n, size, seed=seed, difficulty=difficulty,
                       positive_fraction=positive_fraction)
    return x, y


def _combine_hed(H, E, D):
    """RGB in [0, 1] from hematoxylin, eosin and residual optical densities (n, H, W) by
    Beer-Lambert with scikit-image's ``rgb_from_hed`` stain vectors: the same numbers as
    ``skimage.color.combine_stains(np.stack([H, E, D], -1) / -log(1e-6), rgb_from_hed)``,
    computed in float32 without its float64 copy (3x faster)."""
    from skimage.color import rgb_from_hed

    vec = rgb_from_hed.astype(np.float32)                 # (3, 3): OD per unit H, E, D
    od = np.stack([H, E, D], axis=-1, dtype=np.float32) @ vec  # (..., 3) per RGB channel
    np.exp(-od, out=od)
    return np.minimum(od, 1.0, out=od)


def _mitosis(n, size=32, *, seed=0, difficulty=0.5, positive_fraction=0.5):
    """:func:`make_mitosis_patches` plus the subtype of each patch (see :func:`_subtypes`)."""
    n = integer(n, "n", minimum=1)
    size = integer(size, "size", minimum=16)
    difficulty = unit(difficulty, "difficulty")
    positive_fraction = unit(positive_fraction, "positive_fraction")
    d = difficulty
    rng = np.random.default_rng(seed)
    S = size / 32.0                                      # object scale
    f32 = np.float32

    n_pos = int(round(n * positive_fraction))
    y = np.zeros(n, np.int64)
    y[:n_pos] = 1
    rng.shuffle(y)
    sub = _subtypes(rng, y, d)

    grid = (np.arange(size, dtype=f32) - (size - 1) / 2)
    yy1, xx1 = grid[None, :, None], grid[None, None, :]      # (1, size, 1), (1, 1, size)

    # ---- background: purple cytoplasm and pink stroma with wavy fibres, white clefts ----------
    # optical densities calibrated on the real H&E sample (cnncourse.data.load_he, decomposed
    # with skimage.color.rgb2hed): cytoplasm H ~0.6 E ~0.3, stroma H ~0.2 E ~0.65, nuclei H 1.3-3
    warp = _smooth_noise(rng, (n, size, size), 3.0 * S)
    th = rng.uniform(0, np.pi, n).astype(f32)[:, None, None]
    lam = rng.uniform(3.0, 6.0, n).astype(f32)[:, None, None] * S
    fib = np.sin(2 * np.pi * (xx1 * np.cos(th) + yy1 * np.sin(th)) / lam + 2.5 * warp)
    low = _smooth_noise(rng, (n, size, size), 5.0 * S)
    fine = _smooth_noise(rng, (n, size, size), 0.7)
    mix = _sigmoid(2.5 * (warp + rng.uniform(-2.0, 2.0, n).astype(f32)[:, None, None]))
    cleft = _sigmoid(4.0 * (low - rng.uniform(1.0, 2.2, n).astype(f32)[:, None, None]))
    tissue = 1.0 - 0.9 * cleft
    H = (0.18 + 0.42 * mix) * (1.0 + 0.25 * fine) * tissue
    E = (0.3 + 0.35 * (1.0 - mix) * (1.0 + 0.4 * fib)) * (1.0 + 0.1 * fine) * tissue
    D = (0.45 + 0.25 * (1.0 - mix)) * tissue      # the residual (third) stain of rgb2hed

    # ---- neighbouring interphase nuclei near the border --------------------------------------
    for _ in range(2):
        idx = np.flatnonzero(rng.random(n) < 0.3 + 0.2 * d)
        m_ = len(idx)
        ang = rng.uniform(0, 2 * np.pi, m_)
        dist = rng.uniform(0.55, 0.8, m_) * size
        r = rng.uniform(5.0, 8.0, m_) * S
        ecc = rng.uniform(0.65, 1.0, m_)
        m, _ = _blob(yy1, xx1, dist * np.sin(ang), dist * np.cos(ang), r * ecc, r,
                     rng.uniform(0, np.pi, m_), _harmonics(rng, m_, 4, 0.04), np.full(m_, 0.7))
        od = rng.uniform(1.0, 1.6, m_).astype(f32)[:, None, None]
        H[idx] += m * od * (0.85 + 0.25 * fine[idx])
        D[idx] += 0.2 * m

    # ---- the central object --------------------------------------------------------------------
    jit = rng.normal(0, 1.2 * S, (n, 2))
    cy, cx = jit[:, 0], jit[:, 1]
    theta = rng.uniform(0, np.pi, n)
    clump = _smooth_noise(rng, (n, size, size), 0.9)     # chromosome clumps

    # radii (along theta / across), roughness, OD per subtype
    r_major = np.select([sub == 0, sub == 1, sub == 2, sub == 3, sub == 4],
                        [rng.uniform(7.0, 10.0, n), rng.uniform(3.2, 5.0, n),
                         rng.uniform(1.6, 2.8, n), rng.uniform(1.3, 2.2, n),
                         rng.uniform(1.9, 3.0, n)]) * S
    r_minor_ratio = np.select([sub == 0, sub == 1, sub == 2, sub == 3, sub == 4],
                              [rng.uniform(0.6, 1.0, n), rng.uniform(0.85, 1.0, n),
                               rng.uniform(2.2, 3.6, n), rng.uniform(2.4, 3.6, n),
                               rng.uniform(1.0, 1.8, n)])
    # for the bars (metaphase/anaphase) "r_major" is the half-width across, and the half-length
    # along the plate is r_major * ratio; rotate so the plate runs along theta + 90 degrees
    ra, rb = r_major, r_major * r_minor_ratio
    spiky = (0.6 - 0.35 * d) * rng.uniform(0.6, 1.3, n)  # irregularity of mitotic figures
    rough = np.select([sub == 0, sub == 1, sub >= 2],
                      [np.full(n, 0.035), np.full(n, 0.02), 0.18 * spiky + 0.08])
    coeffs = _harmonics(rng, n, 12, rough, decay=0.35, kmin=2)
    smooth_c = _harmonics(rng, n, 3, 0.03)
    coeffs[sub < 2] = 0
    coeffs[sub < 2, :3] = smooth_c[sub < 2]

    # anaphase: two bars separated along theta; others: one object at the centre
    sep = np.where(sub == 3, rng.uniform(3.5, 5.5, n) * S, 0.0)
    oy, ox = sep * np.sin(theta), sep * np.cos(theta)
    mask, depth = _blob(yy1, xx1, cy + oy, cx + ox, rb, ra, theta, coeffs, np.full(n, 0.6))
    ana = np.flatnonzero(sub == 3)                       # the second bar of each anaphase
    m2, d2 = _blob(yy1, xx1, (cy - oy)[ana], (cx - ox)[ana], rb[ana], ra[ana], theta[ana],
                   _harmonics(rng, len(ana), 12, rough[ana], decay=0.35, kmin=2),
                   np.full(len(ana), 0.6))
    mask[ana] = np.maximum(mask[ana], m2)
    depth[ana] = np.maximum(depth[ana], d2)

    col = lambda a: np.asarray(a, f32)[:, None, None]  # noqa: E731  per-patch value -> (m, 1, 1)
    h_od = col(np.select([sub == 0, sub == 1, sub == 2, sub == 3, sub == 4],
                         [rng.uniform(1.1, 1.6, n), rng.uniform(2.6, 3.4, n),
                          rng.uniform(2.6, 3.6, n), rng.uniform(2.6, 3.6, n),
                          rng.uniform(2.6, 3.6, n)]))
    obj = np.zeros((n, size, size), f32)                 # hematoxylin pattern of the object
    cover = mask.copy()                                  # where the object displaces cytoplasm
    # interphase: vesicular chromatin (granules), a darker nuclear rim, a nucleolus
    i = np.flatnonzero(sub == 0)
    ny, nx = rng.normal(0, 0.3, (2, len(i))) * r_major[i]
    nuc_r = rng.uniform(0.9, 1.4, len(i)) * S
    nucleolus = np.exp(-((yy1 - col(cy[i] + ny)) ** 2 + (xx1 - col(cx[i] + nx)) ** 2)
                       / col(2 * nuc_r ** 2))
    rim = np.exp(-((depth[i] - 0.8) / 0.9) ** 2)
    obj[i] = mask[i] * (0.8 + 0.25 * np.clip(fine[i], -1.5, 2.0) + 0.4 * rim + 1.0 * nucleolus)
    # pyknotic: dense and homogeneous
    i = np.flatnonzero(sub == 1)
    obj[i] = mask[i] * (1.0 + 0.05 * fine[i])
    # metaphase / anaphase: clumped chromosomes with arms sticking out (thresholded fine noise
    # just outside the outline)
    i = np.flatnonzero((sub == 2) | (sub == 3))
    halo = _sigmoid((depth[i] + 2.2 * S) / 0.6) * (1 - mask[i])
    arms = _sigmoid((clump[i] - 0.9 + 0.6 * col(spiky[i])) * 5.0) * halo
    obj[i] = np.maximum(mask[i] * (0.75 + 0.3 * clump[i]), 0.9 * arms)
    cover[i] = np.minimum(mask[i] + arms, 1.0)
    # hard mitoses: a small, clumped, hyperchromatic fragment (tangential cut), partly out of
    # focus: blurred by 1-2 pixels, more on one side (the defocus varies across the figure)
    i = np.flatnonzero(sub == 4)
    lumps = _smooth_noise(rng, (len(i), size, size), 1.2)
    obj[i] = mask[i] * (0.8 + 0.2 * clump[i] + 0.1 * np.clip(lumps, -1, 1))
    cover[i] = mask[i]
    # a child generator: the main stream, and so every other patch, stays as it was
    focus = rng.spawn(1)[0].uniform(1.0, 2.0, len(i)) * S     # defocus blur (px)
    for j, sigma in zip(i, focus):
        sharp, soft = obj[j], ndimage.gaussian_filter(obj[j], sigma)
        ramp = _sigmoid((xx1[0] * np.cos(theta[j]) + yy1[0] * np.sin(theta[j])) / (2.0 * S))
        soft *= sharp.max() / max(float(soft.max()), 1e-6)  # blurred, but as dark at its core
        obj[j] = (1 - ramp) * sharp + ramp * soft
        cover[j] = np.maximum(cover[j], ndimage.gaussian_filter(cover[j], sigma))

    H += h_od * obj
    E *= 1 - 0.3 * cover
    D += 0.2 * cover
    # a pale cytoplasmic halo around mitotic figures, eosinophilic shrinkage around pyknotic ones
    i = np.flatnonzero(sub >= 1)
    ring = _sigmoid((depth[i] + 3.5 * S) / 1.0) * (1 - cover[i])
    E[i] *= 1 + ring * col(np.where(sub[i] == 1, 0.5, -0.35))

    # retraction artefact: a white crescent beside some nuclei of every kind (not a class cue)
    i = np.flatnonzero(rng.random(n) < 0.35)
    alpha = col(rng.uniform(0, 2 * np.pi, len(i)))
    towards = np.clip(np.cos(alpha) * (xx1 - col(cx[i])) + np.sin(alpha) * (yy1 - col(cy[i])), 0, None)
    band = _sigmoid((depth[i] + 2.0 * S) / 0.5) * (1 - cover[i])
    clear = 1.0 - 0.85 * band * np.minimum(towards / (2.0 * S), 1.0)
    H[i] *= clear
    E[i] *= clear
    D[i] *= clear

    # the (n, size, size) maps of the drawing are done with: free them before the last stage
    # holds four more copies of the stains (halves the peak memory of a large n)
    del warp, fib, low, fine, mix, cleft, tissue, clump, mask, depth, obj, cover, nucleolus, rim
    del halo, arms, lumps, ring, towards, band, clear, m, m2, d2
    # ---- staining variation, optics, camera ---------------------------------------------------
    H *= rng.uniform(0.9 - 0.1 * d, 1.1 + 0.1 * d, n).astype(f32)[:, None, None]
    E *= rng.uniform(0.85, 1.15, n).astype(f32)[:, None, None]
    blur = 0.5 + 0.4 * d
    stains = np.stack([H, E, D])
    del H, E, D
    rgb = _combine_hed(*ndimage.gaussian_filter(stains, (0, 0, blur, blur), truncate=3.0))
    del stains
    # camera noise, drawn in slices: the same values as one draw of rgb.size (the generator's
    # stream continues), without a float64 copy of the whole batch
    flat, sd = rgb.reshape(-1), 0.012 + 0.015 * d
    for start in range(0, flat.size, 1 << 20):
        part = flat[start:start + (1 << 20)]
        part += rng.normal(0, sd, part.size).astype(f32)
    patches = np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)
    return patches, y, sub
