"""A multi-level sparse 3D CNN: its inputs, a classifier, rotation augmentation, batches.

A sparse network at several resolutions needs, per batch, the features and the neighbour
tables of every level; :func:`network_inputs` builds them (NumPy, once per level) as a dict of
arrays whose keys match the ``keras.Input`` names of :func:`network_input_layers`, so a
functional Keras model takes them directly (``model.fit`` / ``predict`` / ``.keras`` files).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from cnncourse.device import import_keras
from cnncourse.rotations import random_rotation_matrices
from cnncourse.sparse.tensor import SparseTensor

keras = import_keras()  # this module is loaded on first use (cnncourse.sparse.__getattr__)

__all__ = ["network_inputs", "network_input_layers", "bucket_size", "pad_to_buckets",
           "rotate_sites",
           "rotate_batch", "random_rotations", "split_samples", "SparseBatches", "EpochTimer"]


def _levels(levels) -> int:
    if isinstance(levels, bool) or int(levels) != levels or levels < 1:
        raise ValueError(f"levels must be a positive integer; got {levels!r}")
    return int(levels)


def network_inputs(st: SparseTensor, levels: int, *, kernel_size: int = 3,
                   pool_size: int = 2,
                   buckets: bool | dict | None = None) -> dict[str, np.ndarray]:
    """Arrays a ``levels``-level sparse network takes for the batch ``st``.

    ``buckets``: None (default) for the exact site counts; ``True`` (or a dict of keyword
    arguments of :func:`bucket_size`) to pad every level to a bucket size with
    :func:`pad_to_buckets`, which also adds the ``"valid_l"`` masks.

    Returns
    -------
    dict
        ``"features"`` float32 (N0, C); ``"neighbors_l"`` int32 (N_l, k**3) for each level l;
        ``"down_l"`` int32 (N_{l+1}, p**3) and ``"up_l"`` int32 (N_l, p**3) between levels l
        and l + 1 (``SparseTensor.downsample(p)``); ``"batch_index"`` int32 (N_{L-1},) the
        sample of each coarsest site; ``"samples"`` int32 (B,) = ``arange(B)``.
    """
    levels = _levels(levels)
    if st.features is None:
        raise ValueError("st has no features: a network needs a feature row per site")
    out = {"features": np.asarray(st.features, dtype=np.float32)}
    level = st
    for lev in range(levels):
        out[f"neighbors_{lev}"] = level.neighbors(kernel_size)
        if lev < levels - 1:
            level, table, transposed = level.downsample(pool_size)
            out[f"down_{lev}"], out[f"up_{lev}"] = table, transposed
    out["batch_index"] = level.coords[:, 0].copy()
    out["samples"] = np.arange(st.batch_size, dtype=np.int32)
    if buckets is not None and buckets is not False:
        out = pad_to_buckets(out, levels, **({} if buckets is True else dict(buckets)))
    return out


def bucket_size(n: int, *, minimum: int = 256, growth: float = 2 ** 0.5) -> int:
    """The smallest bucket ``ceil(minimum * growth**i)`` (i = 0, 1, ...) holding ``n`` sites.

    With the default growth, padding adds at most 41% and batches of 1,000 to 1,000,000 sites
    fall into about 20 buckets, so a compiled training step is traced a few times, not once per
    batch.

    Examples
    --------
    >>> [bucket_size(n) for n in (1, 256, 257, 1000)]
    [256, 256, 363, 1025]
    """
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer; got {n!r}")
    if minimum < 1 or growth <= 1:
        raise ValueError(f"minimum must be >= 1 and growth > 1; got {minimum}, {growth}")
    size, i = int(minimum), 0
    while size < n:
        i += 1
        size = math.ceil(minimum * growth ** i)
    return size


def _pad_table(table, rows, missing_old, missing_new, centre=None):
    """``table`` with its 'missing' marker renumbered and ``rows`` rows in all; the added rows
    are empty (all missing), except their own index at column ``centre`` if given."""
    n, k = table.shape
    out = np.full((rows, k), missing_new, dtype=np.int32)
    out[:n] = np.where(table == missing_old, missing_new, table)
    if centre is not None:
        out[n:, centre] = np.arange(n, rows, dtype=np.int32)
    return out


def pad_to_buckets(inputs: dict, levels: int, **bucket_kwargs) -> dict:
    """Pad the arrays of :func:`network_inputs` so that every site count is a bucket size.

    Padding sites have zero features, no neighbours (a submanifold table row holds only the
    site itself), no coarse or fine partners, and the batch index -1, which global pooling
    drops; so they never change a real site's value or gradient. Batch normalisation must not
    count them: the returned dict adds ``"valid_l"`` float32 (N_l,) masks (1 = real site), to be
    passed as ``SparseBatchNormalization(...)(x, mask=valid_l)`` (the layers of
    :func:`network_input_layers` with ``buckets=True``).

    Returns
    -------
    dict
        A new dict with the same keys plus ``"valid_l"``; ``inputs`` is not modified.
    """
    levels = _levels(levels)
    out = dict(inputs)
    sizes = [inputs[f"neighbors_{lev}"].shape[0] for lev in range(levels)]
    if inputs["features"].shape[0] != sizes[0]:
        raise ValueError(f"features has {inputs['features'].shape[0]} rows but neighbors_0 has "
                         f"{sizes[0]}: these are not the inputs of one batch")
    padded = [bucket_size(n, **bucket_kwargs) for n in sizes]
    feats = inputs["features"]
    out["features"] = np.concatenate(
        [feats, np.zeros((padded[0] - sizes[0], feats.shape[1]), feats.dtype)])
    for lev in range(levels):
        n, n_pad = sizes[lev], padded[lev]
        nb = inputs[f"neighbors_{lev}"]
        out[f"neighbors_{lev}"] = _pad_table(nb, n_pad, n, n_pad, centre=nb.shape[1] // 2)
        out[f"valid_{lev}"] = (np.arange(n_pad) < n).astype(np.float32)
        if lev < levels - 1:
            m, m_pad = sizes[lev + 1], padded[lev + 1]
            out[f"down_{lev}"] = _pad_table(inputs[f"down_{lev}"], m_pad, n, n_pad)
            out[f"up_{lev}"] = _pad_table(inputs[f"up_{lev}"], n_pad, m, m_pad)
    bi = inputs["batch_index"]
    out["batch_index"] = np.concatenate([bi, np.full(padded[-1] - sizes[-1], -1, bi.dtype)])
    return out


def network_input_layers(levels: int, channels: int, *, kernel_size: int = 3,
                         pool_size: int = 2, buckets: bool = False) -> dict:
    """``keras.Input`` tensors named like the keys of :func:`network_inputs` (with
    ``buckets=True``, also the ``"valid_l"`` masks of :func:`pad_to_buckets`)."""
    levels = _levels(levels)
    k3, p3 = kernel_size**3, pool_size**3
    inputs = {"features": keras.Input(shape=(channels,), name="features")}
    for lev in range(levels):
        inputs[f"neighbors_{lev}"] = keras.Input(shape=(k3,), dtype="int32",
                                                 name=f"neighbors_{lev}")
        if lev < levels - 1:
            inputs[f"down_{lev}"] = keras.Input(shape=(p3,), dtype="int32", name=f"down_{lev}")
            inputs[f"up_{lev}"] = keras.Input(shape=(p3,), dtype="int32", name=f"up_{lev}")
        if buckets:
            inputs[f"valid_{lev}"] = keras.Input(shape=(), dtype="float32", name=f"valid_{lev}")
    inputs["batch_index"] = keras.Input(shape=(), dtype="int32", name="batch_index")
    inputs["samples"] = keras.Input(shape=(), dtype="int32", name="samples")
    return inputs


def _build_sparse_classifier(in_channels: int, *, widths: Sequence[int] = (16, 32, 64),
                              convs_per_level: int = 1, kernel_size: int = 3, pool_size: int = 2,
                              dropout: float = 0.3, head: str = "avg_max",
                              name: str = "sparse_cnn") -> keras.Model:
    """Binary classifier: per level ``convs_per_level`` x (SubmanifoldConv3D, BatchNorm, ReLU),
    then sparse max pooling to the next level; global pooling, dropout, one sigmoid unit.

    The library's reference network of notebook 13's exercise ``build_sparse_classifier``
    (private: the learner builds it; tests, round-trips and checks use this one).

    Parameters
    ----------
    in_channels : int
        Feature channels per input site.
    widths : sequence of int
        Filters per level; ``len(widths)`` is the number of levels.

    Returns
    -------
    keras.Model
        Inputs: the dict of :func:`network_inputs` (``levels = len(widths)``); output:
        probability of class 1, shape (B, 1).
    """
    from cnncourse.sparse import layers as L

    levels = len(widths)
    inputs = network_input_layers(levels, in_channels, kernel_size=kernel_size,
                                  pool_size=pool_size)
    x = inputs["features"]
    for lev, width in enumerate(widths):
        for j in range(convs_per_level):
            x = L.SubmanifoldConv3D(width, kernel_size, use_bias=False,
                                    name=f"subm_{lev}_{j}")(x, inputs[f"neighbors_{lev}"])
            x = L.SparseBatchNormalization(momentum=0.9, name=f"bn_{lev}_{j}")(x)
            x = keras.layers.ReLU(name=f"relu_{lev}_{j}")(x)
        if lev < levels - 1:
            x = L.SparseMaxPool3D(pool_size, name=f"pool_{lev}")(
                x, inputs[f"down_{lev}"], inputs[f"up_{lev}"])
    x = L.SparseGlobalPool3D(head, name="global_pool")(x, inputs["batch_index"],
                                                       inputs["samples"])
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    return keras.Model(inputs, out, name=name)


def split_samples(coords: np.ndarray, features: np.ndarray,
                  n_samples: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split batched sites into per-sample ``(coords (n_i, 3) int32, features (n_i, C))`` pairs.

    ``coords`` int (N, 4) rows ``(batch, z, y, x)``; ``n_samples`` defaults to the largest
    batch index + 1 (samples without sites give empty arrays).

    Parameters
    ----------
    coords : int ndarray, shape (N, 4)
    features : ndarray, shape (N, C)
    n_samples : int, optional

    Returns
    -------
    list of (ndarray of int32 (n_i, 3), ndarray (n_i, C))
        One pair per sample ``0 .. n_samples - 1``, sites in their original order.

    Raises
    ------
    ValueError
        ``coords`` not (N, 4); ``features`` not (N, C).

    Examples
    --------
    >>> parts = split_samples(np.array([[1, 0, 0, 1], [0, 2, 2, 2]]), np.array([[5.0], [7.0]]))
    >>> [(c.tolist(), f.tolist()) for c, f in parts]
    [([[2, 2, 2]], [[7.0]]), ([[0, 0, 1]], [[5.0]])]
    """
    coords = np.asarray(coords)
    features = np.asarray(features)
    if coords.ndim != 2 or coords.shape[1] != 4:
        raise ValueError(f"coords must have shape (N, 4); got {coords.shape}")
    if features.ndim != 2 or features.shape[0] != coords.shape[0]:
        raise ValueError(f"features must have shape ({coords.shape[0]}, C); got "
                         f"{features.shape}")
    if n_samples is None:
        n_samples = int(coords[:, 0].max()) + 1 if len(coords) else 0
    order = np.argsort(coords[:, 0], kind="stable")
    cs, fs = coords[order], features[order]
    bounds = np.searchsorted(cs[:, 0], np.arange(n_samples + 1))
    return [(cs[a:b, 1:].astype(np.int32), fs[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def random_rotations(n: int, rng=None) -> np.ndarray:
    """``n`` uniformly distributed 3D rotation matrices, float64 (n, 3, 3), drawn from ``rng`` (a
    seed or a ``numpy.random.Generator``) by the course's one sampler,
    :func:`cnncourse.rotations.random_rotation_matrices`."""
    return random_rotation_matrices(int(n), seed=rng)


def rotate_sites(coords, features, spatial_shape, rotation=None, *, rng=None):
    """Rotate one sample's sites about (the voxel nearest) their centroid, resampling them.

    One sample's version of :func:`rotate_batch` (which see).

    Parameters
    ----------
    coords : ndarray of int, shape (n, 3)
        ``(z, y, x)`` of one sample's sites.
    features : ndarray, shape (n, C)
    spatial_shape : tuple of 3 int
    rotation : ndarray, shape (3, 3), optional
        Rotation matrix (acting on column vectors ``(z, y, x)``); default a uniformly random one
        drawn from ``rng``.
    rng : numpy.random.Generator, optional

    Returns
    -------
    coords : ndarray of int32, shape (n', 3), sorted lexicographically
    features : ndarray, shape (n', C)

    Examples
    --------
    >>> quarter = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]])  # 90 degrees about z: x -> y
    >>> line = np.array([[1, 1, 0], [1, 1, 1], [1, 1, 2]])        # along x
    >>> c, f = rotate_sites(line, np.array([[1.0], [2.0], [3.0]]), (4, 4, 4), quarter)
    >>> c.tolist(), f.ravel().tolist()                            # along y, reversed
    ([[1, 0, 1], [1, 1, 1], [1, 2, 1]], [3.0, 2.0, 1.0])
    """
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] != 3 or coords.dtype.kind not in "iu":
        raise ValueError(f"coords must be an integer array of shape (n, 3) with rows (z, y, x); "
                         f"got {coords.dtype} {coords.shape}")
    if rotation is None:
        rotation = random_rotations(1, rng if rng is not None else np.random.default_rng())[0]
    batched = np.column_stack([np.zeros(len(coords), np.int64), coords])
    out, feats = rotate_batch(batched, features, spatial_shape, np.asarray(rotation)[None],
                              batch_size=1)
    return out[:, 1:], feats


def rotate_batch(coords, features, spatial_shape, rotations=None, *, batch_size=None, rng=None):
    """Rotate every sample of a batch about (the voxel nearest) its centroid, resampling it.

    Every voxel near a rotated object takes the features of the site found by rotating it back
    and rounding (the sparse version of ``scipy.ndimage.affine_transform(order=0)``), so a
    rotated solid has no holes and nothing is averaged. The cost grows with the objects'
    bounding boxes, not with the grid. A rotated object is shifted, if needed, to stay inside
    the grid.

    Parameters
    ----------
    coords : ndarray of int, shape (N, 4)
        Rows ``(batch, z, y, x)``.
    features : ndarray, shape (N, C)
    spatial_shape : tuple of 3 int
    rotations : ndarray, shape (B, 3, 3), optional
        One rotation matrix per sample (acting on column vectors ``(z, y, x)``); default
        uniformly random ones drawn from ``rng``.
    batch_size : int, optional
        B; default ``len(rotations)``, else the largest batch index + 1.
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    coords : ndarray of int32, shape (N', 4), sorted lexicographically
    features : ndarray, shape (N', C)

    Raises
    ------
    ValueError
        If a rotated object is larger than the grid (it cannot be placed without cutting).
    """
    coords = np.asarray(coords)
    features = np.asarray(features)
    if coords.ndim != 2 or coords.shape[1] != 4 or coords.dtype.kind not in "iu":
        raise ValueError(f"coords must be an integer array of shape (N, 4) with rows "
                         f"(batch, z, y, x); got {coords.dtype} {coords.shape}")
    if features.shape[:1] != coords.shape[:1]:
        raise ValueError(f"features must have {coords.shape[0]} rows; got {features.shape}")
    if batch_size is None:
        batch_size = (len(rotations) if rotations is not None
                      else int(coords[:, 0].max()) + 1 if len(coords) else 0)
    if rotations is None:
        rotations = random_rotations(batch_size, rng) if batch_size else np.zeros((0, 3, 3))
    rotations = np.asarray(rotations, dtype=np.float64)
    if rotations.shape != (batch_size, 3, 3) or not np.allclose(
            rotations @ rotations.transpose(0, 2, 1), np.eye(3), atol=1e-6):
        raise ValueError(f"rotations must be {batch_size} orthogonal 3x3 matrices; got shape "
                         f"{rotations.shape}")
    if coords.shape[0] == 0:
        return coords.astype(np.int32), features
    if coords[:, 0].min() < 0 or coords[:, 0].max() >= batch_size:
        raise ValueError(f"coords has batch indices outside [0, {batch_size}) (batch_size, or "
                         "one rotation per sample)")
    shape = np.array(spatial_shape, dtype=np.int64)
    order = np.argsort(coords[:, 0], kind="stable")
    coords, features = coords[order].astype(np.int64), features[order]
    bounds = np.searchsorted(coords[:, 0], np.arange(batch_size + 1))
    out_c, out_f = [], []
    for b in range(batch_size):
        lo, hi = bounds[b], bounds[b + 1]
        if hi > lo:
            c, f = _rotate_one(coords[lo:hi, 1:], features[lo:hi], rotations[b], shape, b)
            out_c.append(np.column_stack([np.full(len(c), b, np.int64), c]))
            out_f.append(f)
    out = np.concatenate(out_c).astype(np.int32)
    return out, np.concatenate(out_f)


def _rotate_one(src, features, rotation, shape, sample):
    """Nearest-neighbour resampling of one object (int64 (n, 3) sites) rotated about a voxel."""
    centre = np.rint(src.mean(axis=0))  # a voxel: quarter turns then map voxels onto voxels
    # candidates: every voxel of the bounding box of the forward-rotated object
    ahead = (src - centre) @ rotation.T + centre
    low = np.floor(ahead.min(axis=0)).astype(np.int64) - 1
    high = np.ceil(ahead.max(axis=0)).astype(np.int64) + 1
    axes = [np.arange(a, b + 1) for a, b in zip(low, high)]
    cand = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    # rotate each candidate back and look it up in an index grid of the sites' bounding box
    back = np.rint((cand - centre) @ rotation + centre).astype(np.int64)
    s_low = src.min(axis=0)
    s_span = src.max(axis=0) - s_low + 1
    grid = np.full(int(np.prod(s_span)), -1, dtype=np.int64)
    rel = src - s_low
    grid[(rel[:, 0] * s_span[1] + rel[:, 1]) * s_span[2] + rel[:, 2]] = np.arange(len(src))
    rel = back - s_low
    inside = np.all((rel >= 0) & (rel < s_span), axis=1)
    rel = rel[inside]
    found = grid[(rel[:, 0] * s_span[1] + rel[:, 1]) * s_span[2] + rel[:, 2]]
    hit = found >= 0
    new, feats = cand[inside][hit], features[found[hit]]
    if new.shape[0] == 0:  # a degenerate object (e.g. one site) keeps its sites
        new, feats = src, features
    low, high = new.min(axis=0), new.max(axis=0)
    if np.any(high - low >= shape):
        raise ValueError(f"the rotated sample {sample} spans "
                         f"{tuple(int(v) for v in high - low + 1)} voxels, more than the grid "
                         f"{tuple(int(v) for v in shape)}: pad the grid")
    return new - (np.minimum(low, 0) + np.maximum(high - (shape - 1), 0)), feats


class SparseBatches(keras.utils.PyDataset):
    """Batches for ``model.fit``: ``(network_inputs(...), y)`` per batch.

    Parameters
    ----------
    samples : list of (coords (n_i, 3) int, features (n_i, C))
        One entry per sample (see :func:`split_samples`).
    y : array_like, shape (n_samples,)
        Labels.
    spatial_shape : tuple of 3 int
    batch_size : int
    levels : int
        Levels of the network (as in :func:`_build_sparse_classifier`).
    augment : bool
        Random 3D rotation of every sample, drawn anew each epoch (:func:`rotate_batch`).
    shuffle : bool
        Reshuffle the samples at the start of every epoch after the first.
    seed : int
        The rotations and the order depend only on ``(seed, epoch, batch)``, so results are the
        same whatever the number of workers.
    workers : int
        Threads preparing batches (rotations, neighbour tables) while the model trains.
    buckets : None, True or dict
        As in :func:`network_inputs`: pad every level to a bucket size (for a compiled,
        ``jit_compile=True`` training step that is then traced once per bucket).
    """

    def __init__(self, samples, y, spatial_shape, batch_size, levels, *, augment=False,
                 shuffle=False, seed=0, kernel_size=3, pool_size=2, workers=1, buckets=None):
        super().__init__(workers=int(workers), use_multiprocessing=False)
        self.samples = list(samples)
        self.y = np.asarray(y)
        if self.y.shape[0] != len(self.samples):
            raise ValueError(f"y has {self.y.shape[0]} labels for {len(self.samples)} samples")
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
        self.spatial_shape = tuple(int(s) for s in spatial_shape)
        self.batch_size, self.levels = int(batch_size), _levels(levels)
        self.augment, self.shuffle = bool(augment), bool(shuffle)
        self.kernel_size, self.pool_size = kernel_size, pool_size
        self.buckets = buckets
        self.seed, self.epoch = int(seed), 0
        self.order = np.arange(len(self.samples))

    def __len__(self):
        return math.ceil(len(self.samples) / self.batch_size)

    def _ids(self, index):
        return self.order[index * self.batch_size:(index + 1) * self.batch_size]

    def batch(self, index: int) -> SparseTensor:
        """The SparseTensor of batch ``index`` of the current epoch (rotated when ``augment``)."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range [0, {len(self)})")
        ids = self._ids(index)
        coords = np.concatenate([np.column_stack([np.full(len(self.samples[i][0]), b, np.int32),
                                                  self.samples[i][0]])
                                 for b, i in enumerate(ids)])
        feats = np.concatenate([self.samples[i][1] for i in ids]).astype(np.float32)
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            coords, feats = rotate_batch(coords, feats, self.spatial_shape,
                                         batch_size=len(ids), rng=rng)
        return SparseTensor(coords.astype(np.int32), feats, self.spatial_shape,
                            batch_size=len(ids))

    def __getitem__(self, index):
        st = self.batch(index)
        inputs = network_inputs(st, self.levels, kernel_size=self.kernel_size,
                                pool_size=self.pool_size, buckets=self.buckets)
        return inputs, self.y[self._ids(index)].astype(np.float32)

    def on_epoch_end(self):
        self.epoch += 1
        if self.shuffle:
            self.order = np.random.default_rng([self.seed, self.epoch]).permutation(
                len(self.samples))


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of every training epoch, in ``self.seconds`` (a list).

    ``seconds_per_epoch(skip_first=True)`` is the median after the first epoch, which also pays
    for tracing / compiling the training step.
    """

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        import time

        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        import time

        self.seconds.append(time.perf_counter() - self._start)

    def seconds_per_epoch(self, skip_first: bool = True) -> float:
        times = self.seconds[1:] if skip_first and len(self.seconds) > 1 else self.seconds
        if not times:
            raise ValueError("no epoch was timed yet")
        return float(np.median(times))
