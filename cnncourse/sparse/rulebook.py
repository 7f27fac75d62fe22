"""Neighbour tables ("rulebooks") of sparse 3D convolutions, in O(N k**3) time and memory.

A convolution on sparse sites needs, for every output site and every kernel offset, the input
site found there (if any). These tables are plain NumPy, built once per resolution and reused by
every layer at that resolution:

``neighbor_table``  submanifold convolution (stride 1, output sites = input sites): int32
                    ``(N, k**3)``; entry ``[i, o]`` is the site at ``coords[i] + offset[o]``, or
                    ``N`` (the index of a zero row the layer appends) where there is none.
``downsample_table`` strided convolution / pooling (kernel ``k``, stride ``s``, no padding): the
                    coarse output sites, ``table`` int32 ``(M, k**3)`` (missing = ``N``) and its
                    transpose ``(N, k**3)`` (missing = ``M``), used by the backward pass and by
                    the inverse (upsampling) convolution.

Offsets are ordered like the kernel of ``keras.layers.Conv3D``, ``(kd, kh, kw)`` row-major, so a
Conv3D kernel reshaped to ``(k**3 * Cin, Cout)`` is the sparse layer's kernel.

Two vectorised constructions give the same tables:

* **sorted keys** (any grid size): every site gets a key, its position in a padded C-ordered
  ``(B, D+2p, H+2p, W+2p)`` grid; the keys are sorted once and each of the ``k**2`` neighbouring
  *rows* ``(dz, dy)`` is found by one ``searchsorted``; the ``k`` sites of a row segment
  ``x - p .. x + p`` are consecutive in the sorted keys, so they are read off by comparison.
  Time O(N log N + N k**3), memory O(N k**3): the grid's volume never matters.
* **dense index grid** (small grids only): the padded grid (one int32 per position, its buffer
  kept between calls) is filled with ``N`` and the site indices are written into it; the table
  is read from it in blocks of sites (on two threads for a large table). This is faster when
  the grid holds at most ``DENSE_GRID_FACTOR * N * k**3`` positions, so its memory stays within
  a constant factor of the table's own.

The padding of at least ``k // 2`` around every sample keeps samples of a batch from ever
seeing each other. ``neighbor_table``'s grid spans only the sites' bounding box (padded), not
the whole ``(D, H, W)``: only relative positions matter, and a nucleus fills a small part of its
grid.
"""
from __future__ import annotations

import functools
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["linear_index", "kernel_offsets", "neighbor_table", "downsample_table",
           "check_coords", "clear_cache"]

DENSE_GRID_FACTOR = 4  # dense grid only when it has <= this * N * k**3 positions (and <= 64 Mi)
_DENSE_GRID_MAX = 64 * 2**20
_TWO_THREADS_MIN = 2**18  # table entries from which a second thread pays for itself
_BLOCK_ENTRIES = 2**16  # table entries read per block (their int64 indices: 512 KiB, a core's L2)


def kernel_offsets(kernel_size: int, *, centered: bool = True) -> np.ndarray:
    """int64 ``(k**3, 3)`` offsets ``(dz, dy, dx)`` in kernel order.

    ``centered=True`` (submanifold): offsets run from ``-(k // 2)`` to ``k // 2``; offset index
    ``k**3 // 2`` is the centre. ``centered=False`` (strided): offsets run from 0 to ``k - 1``.

    Examples
    --------
    >>> kernel_offsets(3)[[0, 13, 26]].tolist()
    [[-1, -1, -1], [0, 0, 0], [1, 1, 1]]
    """
    return _offsets(_kernel_size(kernel_size), bool(centered)).copy()


@functools.lru_cache(maxsize=None)
def _offsets(k: int, centered: bool) -> np.ndarray:
    """Read-only :func:`kernel_offsets` (kept: rebuilding them costs ~0.1 ms per table)."""
    r = np.arange(k) - (k // 2 if centered else 0)
    out = np.array(list(itertools.product(r, r, r)), dtype=np.int64).reshape(k**3, 3)
    out.flags.writeable = False
    return out


def linear_index(coords: np.ndarray, spatial_shape, pad: int = 0) -> np.ndarray:
    """int64 (N,) position of each ``(b, z, y, x)`` row in a C-ordered ``(B, D+2p, H+2p, W+2p)``
    grid (``p = pad``)."""
    d, h, w = (int(s) + 2 * pad for s in spatial_shape)
    c = coords.astype(np.int64, copy=False)
    return ((c[:, 0] * d + (c[:, 1] + pad)) * h + (c[:, 2] + pad)) * w + (c[:, 3] + pad)


def _kernel_size(kernel_size) -> int:
    if isinstance(kernel_size, (tuple, list)):
        if len(set(kernel_size)) != 1 or len(kernel_size) != 3:
            raise ValueError(f"kernel_size must be one integer (a cubic kernel); got {kernel_size}")
        kernel_size = kernel_size[0]
    if isinstance(kernel_size, bool) or int(kernel_size) != kernel_size or kernel_size < 1:
        raise ValueError(f"kernel_size must be a positive integer; got {kernel_size!r}")
    return int(kernel_size)


def _spatial_shape(spatial_shape) -> tuple[int, int, int]:
    try:
        shape = tuple(int(s) for s in spatial_shape)
    except (TypeError, ValueError):
        raise ValueError(f"spatial_shape must be 3 positive integers (D, H, W); got "
                         f"{spatial_shape!r}") from None
    if len(shape) != 3 or any(s < 1 for s in shape) or any(
            s != float(t) for s, t in zip(shape, spatial_shape)):
        raise ValueError(f"spatial_shape must be 3 positive integers (D, H, W); got "
                         f"{spatial_shape!r}")
    if any(s >= 2**30 for s in shape):
        raise ValueError(f"spatial_shape {shape} is too large (each side must be < 2**30)")
    return shape


def validate_coords(coords, spatial_shape, batch_size=None, *, name: str = "coords"):
    """Check site coordinates and return them as a C-contiguous int32 array.

    Parameters
    ----------
    coords : array_like of int, shape (N, 4)
        Rows ``(batch, z, y, x)``; any integer dtype (returned as int32).
    spatial_shape : tuple of 3 int
        ``(D, H, W)``; every ``z`` must lie in ``[0, D)`` and so on.
    batch_size : int, optional
        Number of samples; every batch index must lie in ``[0, batch_size)``. Default: the
        largest batch index + 1 (required when there are no sites).
    name : str
        Argument name used in error messages.

    Returns
    -------
    coords : ndarray of int32, shape (N, 4)
    spatial_shape : tuple of 3 int
    batch_size : int

    Raises
    ------
    ValueError
        Wrong rank or number of columns, a non-integer dtype, a coordinate outside the grid or
        the batch, or a site listed twice. Nothing is clipped or dropped.
    """
    spatial_shape = _spatial_shape(spatial_shape)
    arr = np.asarray(coords)
    if arr.dtype == bool or arr.dtype.kind not in "iu":
        if arr.size == 0 and arr.dtype.kind == "f" and arr.ndim == 2 and arr.shape[1] == 4:
            arr = arr.astype(np.int32)  # np.zeros((0, 4)) is a harmless empty site list
        else:
            raise ValueError(f"{name} must be an integer array of (batch, z, y, x) rows; got "
                             f"dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) with rows (batch, z, y, x); got shape "
                         f"{arr.shape}")
    n = arr.shape[0]
    if batch_size is None:
        if n == 0:
            raise ValueError(f"batch_size is required when {name} is empty")
        batch_size = int(arr[:, 0].max()) + 1
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 0:
        raise ValueError(f"batch_size must be a non-negative integer; got {batch_size!r}")
    batch_size = int(batch_size)
    if n:
        upper = np.array((batch_size,) + spatial_shape, dtype=np.int64)
        wide = arr.astype(np.int64, copy=False)
        bad = (wide < 0) | (wide >= upper)
        if bad.any():
            row = int(np.flatnonzero(bad.any(axis=1))[0])
            col = int(np.flatnonzero(bad[row])[0])
            axis = ("batch", "z", "y", "x")[col]
            raise ValueError(f"{name}[{row}] = {tuple(int(v) for v in arr[row])}: {axis} = "
                             f"{int(arr[row, col])} is outside [0, {int(upper[col])}) "
                             f"(batch_size={batch_size}, spatial_shape={spatial_shape})")
    coords32 = np.ascontiguousarray(arr, dtype=np.int32)
    if n > 1:
        lin = linear_index(coords32, spatial_shape)
        order = np.argsort(lin, kind="stable")
        dup = np.flatnonzero(lin[order][1:] == lin[order][:-1])
        if dup.size:
            first, second = int(order[dup[0]]), int(order[dup[0] + 1])
            raise ValueError(f"{name} lists the site {tuple(int(v) for v in coords32[first])} "
                             f"more than once (rows {first} and {second}); a site may appear "
                             f"only once ({dup.size} duplicate row(s) in all)")
    return coords32, spatial_shape, batch_size


def check_coords(coords, spatial_shape, batch_size) -> np.ndarray:
    """Cheap checks (dtype, shape, range; O(N)) before a table is built; returns int32 coords.

    Duplicates are detected while the table is built. The full check with the first offending
    row named is :func:`validate_coords`.
    """
    return _checked(coords, spatial_shape, batch_size)[0]


def _checked(coords, spatial_shape, batch_size):
    """:func:`check_coords`'s int32 coords and the rows' bounds ``(lo, hi)``, int64 ``(4,)`` each
    (None when there are no rows)."""
    arr = np.asarray(coords)
    if arr.dtype == bool or arr.dtype.kind not in "iu" or arr.ndim != 2 or arr.shape[1] != 4:
        arr = validate_coords(arr, spatial_shape, batch_size)[0]  # raises with details
    if not arr.shape[0]:
        return np.asarray(arr, dtype=np.int32), None
    # column by column: arr.min(axis=0) on a C-ordered (N, 4) array is ~40x slower
    lo = np.array([arr[:, j].min() for j in range(4)], dtype=np.int64)
    hi = np.array([arr[:, j].max() for j in range(4)], dtype=np.int64)
    if (lo < 0).any() or (hi >= np.array((batch_size,) + tuple(spatial_shape))).any():
        validate_coords(arr, spatial_shape, batch_size)  # raises, naming the row
    return np.asarray(arr, dtype=np.int32), (lo, hi)  # any memory order (np.argwhere's is Fortran)


class _GridPool:
    """Reusable int32 index grids (allocating a fresh 2.5 MB grid costs more than filling one).

    A grid is taken out while in use and given back after, so threads never share one; its
    content is undefined. A request gets the first ``size`` entries of the smallest kept buffer
    that is large enough (grids follow the sites' bounding box, so their sizes vary).
    """

    def __init__(self, max_bytes: int = 256 * 2**20):
        self._buffers: list[np.ndarray] = []
        self._lock = threading.Lock()
        self.max_bytes = max_bytes

    def take(self, size: int) -> np.ndarray:
        with self._lock:
            fits = [i for i, b in enumerate(self._buffers) if b.size >= size]
            if fits:
                buffer = self._buffers.pop(min(fits, key=lambda i: self._buffers[i].size))
                return buffer if buffer.size == size else buffer[:size]
        return np.empty(size, dtype=np.int32)

    def give(self, grid: np.ndarray) -> None:
        buffer = grid if grid.base is None else grid.base
        with self._lock:
            if sum(b.nbytes for b in self._buffers) + buffer.nbytes <= self.max_bytes:
                self._buffers.append(buffer)

    def clear(self) -> None:
        with self._lock:
            self._buffers.clear()


_POOL = _GridPool()


def clear_cache() -> None:
    """Free the index grids kept between calls."""
    _POOL.clear()


def _index_grid(lin: np.ndarray, size: int, coords: np.ndarray) -> np.ndarray:
    """Grid (from the pool) with ``grid[lin[i]] = i`` and ``N`` everywhere else, so a read is a
    table entry as it is; raises ValueError if two rows share a position."""
    n = lin.shape[0]
    grid = _POOL.take(size)
    grid.fill(n)  # every call: cheaper than resetting the written entries and clamping the reads
    ids = np.arange(n, dtype=np.int32)
    grid[lin] = ids
    if n < 2 or (lin[1:] > lin[:-1]).all():  # strictly increasing (e.g. argwhere): no duplicate
        return grid
    back = grid[lin]
    if not np.array_equal(back, ids):
        bad = int(np.flatnonzero(back != ids)[0])
        other = int(back[bad])
        _POOL.give(grid)
        raise ValueError(f"coords lists the site {tuple(int(v) for v in coords[bad])} more than "
                         f"once (rows {bad} and {other}); a site may appear only once")
    return grid


def _grid_lookup(grid: np.ndarray, base: np.ndarray, off: np.ndarray) -> np.ndarray:
    """int32 ``(M, K)``: ``grid[base[i] + off[o]]`` (intp ``base`` and ``off``).

    Read in blocks of sites whose int64 indices fit in a core's L2 cache. At 128^3, the whole
    ``(M, K)`` index matrix at once (through memory) was ~8% slower, and reading column by column
    (one index vector per kernel row, shifted by ``dx``) then transposing ~25% slower. A large
    table is built in two halves of its rows on two threads (NumPy releases the GIL in reads).
    """
    m, kk = base.shape[0], off.shape[0]
    out = np.empty((m, kk), dtype=np.int32)
    rows = max(1, _BLOCK_ENTRIES // kk)

    def part(start, stop):  # the table's rows start:stop
        idx = np.empty((min(rows, stop - start), kk), dtype=np.intp)
        for s in range(start, stop, rows):
            e = min(s + rows, stop)
            np.add(base[s:e, None], off, out=idx[:e - s])
            np.take(grid, idx[:e - s], out=out[s:e], mode="clip")  # in range by construction

    if m * kk < _TWO_THREADS_MIN or (os.cpu_count() or 1) < 2:
        part(0, m)
    else:
        _in_two_threads(part, (0, m // 2), (m // 2, m))
    return out


_HELPER = {"pid": None, "pool": None}
_HELPER_LOCK = threading.Lock()


def _in_two_threads(fn, first: tuple, second: tuple) -> None:
    """``fn(*first)`` here and ``fn(*second)`` on a helper thread (made again after a fork)."""
    with _HELPER_LOCK:
        if _HELPER["pid"] != os.getpid():
            _HELPER.update(pid=os.getpid(), pool=ThreadPoolExecutor(
                1, thread_name_prefix="cnncourse-rulebook"))
        pool = _HELPER["pool"]
    other = pool.submit(fn, *second)
    try:
        fn(*first)
    finally:
        other.result()


def _use_dense_grid(grid_size: int, n: int, volume: int, method: str) -> bool:
    if method not in ("auto", "dense", "sorted"):
        raise ValueError(f"method must be 'auto', 'dense' or 'sorted'; got {method!r}")
    if method != "auto":
        return method == "dense"
    return grid_size <= min(DENSE_GRID_FACTOR * max(n, 1) * volume, _DENSE_GRID_MAX)


def _sorted_keys(lin: np.ndarray, coords: np.ndarray):
    """``(keys, order)``: ``keys = lin[order]`` strictly increasing (``order`` None when ``lin``
    already is); raises ValueError naming two rows that share a site."""
    n = lin.shape[0]
    if n < 2:
        return lin, None
    step = np.diff(lin)
    if (step > 0).all():
        return lin, None
    order = np.argsort(lin, kind="stable")
    keys = lin[order]
    dup = np.flatnonzero(keys[1:] == keys[:-1])
    if dup.size:
        a, b = sorted((int(order[dup[0]]), int(order[dup[0] + 1])))
        raise ValueError(f"coords lists the site {tuple(int(v) for v in coords[a])} more than "
                         f"once (rows {a} and {b}); a site may appear only once")
    return keys, order


def _row_lookup(keys: np.ndarray, first: np.ndarray, k: int, hw: int, w: int) -> np.ndarray:
    """int32 (M, k**3): sorted position of the site at key ``first + dz*hw + dy*w + dx``
    (``dz, dy, dx`` in ``0..k-1``, kernel order), or ``len(keys)`` where there is none.

    ``keys`` must be strictly increasing and the ``k`` keys of a row segment must not wrap onto
    the next grid row (the grid padding guarantees it). One ``searchsorted`` per row ``(dz,
    dy)``; the sites of a segment are consecutive in ``keys``, so they are matched in order.
    """
    n, m = keys.shape[0], first.shape[0]
    out = np.empty((k**3, m), dtype=np.int32)
    if n == 0:
        out.fill(0)
        return np.ascontiguousarray(out.T)
    last = n - 1
    for dz in range(k):
        for dy in range(k):
            q = first + (dz * hw + dy * w)
            cur = np.searchsorted(keys, q)
            for dx in range(k):
                found = keys[np.minimum(cur, last)] == q + dx
                out[(dz * k + dy) * k + dx] = np.where(found, cur, n)
                cur += found
    return np.ascontiguousarray(out.T)


def _to_original_order(table_sorted: np.ndarray, order, n_rows_order, missing: int):
    """Rows and entries of a table built in sorted order, mapped back to the caller's order.

    ``order`` maps sorted entry positions to original site indices (None: identity);
    ``n_rows_order`` does the same for the rows (None: identity).
    """
    table = table_sorted
    if order is not None:
        table = np.append(order.astype(np.int32), np.int32(missing))[table]
    if n_rows_order is not None:
        out = np.empty_like(table)
        out[n_rows_order] = table
        table = out
    return table


def neighbor_table(coords, spatial_shape, batch_size, kernel_size: int = 3, *,
                   method: str = "auto") -> np.ndarray:
    """Submanifold neighbour table.

    Parameters
    ----------
    coords : ndarray of int, shape (N, 4)
        Sites ``(batch, z, y, x)``, each at most once.
    spatial_shape : tuple of 3 int
        ``(D, H, W)``.
    batch_size : int
        Number of samples B (batch indices lie in ``[0, B)``).
    kernel_size : int
        Odd kernel size k.
    method : {"auto", "sorted", "dense"}
        Construction (same result): sorted keys, or a dense index grid; "auto" takes the dense
        grid only when it is small (see the module docstring).

    Returns
    -------
    ndarray of int32, shape (N, k**3)
        ``table[i, o]`` = index of the site at ``coords[i] + kernel_offsets(k)[o]`` in the same
        sample, or ``N`` where there is none (outside the grid included). ``table[i, k**3 // 2]
        == i``. The relation is symmetric: ``table[i, o] == j`` iff ``table[j, k**3 - 1 - o] == i``.

    Examples
    --------
    >>> t = neighbor_table(np.array([[0, 0, 0, 0], [0, 0, 0, 1]]), (2, 2, 2), 1, 3)
    >>> [int(t[0, 13]), int(t[0, 14]), int(t[1, 12]), int(t[0, 12])]  # centre, x+1, x-1, x-1
    [0, 1, 0, 2]
    """
    k = _kernel_size(kernel_size)
    if k % 2 == 0:
        raise ValueError(f"a submanifold convolution needs an odd kernel_size (the output site is "
                         f"the kernel centre); got {k}")
    spatial_shape = tuple(int(s) for s in spatial_shape)
    coords, bounds = _checked(coords, spatial_shape, batch_size)
    n = coords.shape[0]
    p = k // 2
    # Only relative positions matter: the grid spans the sites' bounding box, padded by p (a
    # nucleus fills a small part of its grid; the 2% shell at 128^3, an 84^3 box).
    lo, hi = bounds if bounds is not None else (np.zeros(4, np.int64), np.zeros(4, np.int64))
    d, h, w = (int(v) + 2 * p for v in hi[1:] - lo[1:] + 1)
    shift = p - lo[1:]  # added to (z, y, x)
    size = int(batch_size) * d * h * w
    dense = _use_dense_grid(size, n, k**3, method)
    # each site's position in the box; int32 arithmetic on the int32 coords (a third of int64's
    # time) for a dense grid that allows it
    c = coords if dense and size < 2**31 else coords.astype(np.int64)
    sz, sy, sx = (c.dtype.type(v) for v in shift)
    lin = ((c[:, 0] * d + (c[:, 1] + sz)) * h + (c[:, 2] + sy)) * w + (c[:, 3] + sx)
    if not dense:
        keys, order = _sorted_keys(lin, coords)
        table = _row_lookup(keys, keys - (p * h * w + p * w + p), k, h * w, w)
        return _to_original_order(table, order, order, n)
    off = _offsets(k, True) @ np.array([h * w, w, 1], dtype=np.int64)  # (K,)
    lin = lin.astype(np.intp)  # once: each fancy index with int32 would convert it again
    grid = _index_grid(lin, size, coords)
    try:
        return _grid_lookup(grid, lin, off)
    finally:
        _POOL.give(grid)


def downsample_output_shape(spatial_shape, kernel_size: int, stride: int) -> tuple[int, int, int]:
    """Grid shape after a strided convolution / pooling without padding (``"valid"``).

    Raises ValueError unless ``(D - k)`` is a multiple of ``s`` on every axis, since otherwise
    sites near the far border would belong to no output and be silently dropped.
    """
    k, s = _kernel_size(kernel_size), _kernel_size(stride)
    if s > k:
        raise ValueError(f"stride ({s}) larger than kernel_size ({k}) would skip sites")
    out = []
    for axis, size in zip("zyx", spatial_shape):
        if size < k or (size - k) % s:
            raise ValueError(f"spatial size {size} along {axis} does not fit kernel_size={k}, "
                             f"stride={s}: (size - kernel_size) must be a non-negative multiple "
                             f"of the stride, otherwise border sites would be dropped")
        out.append((size - k) // s + 1)
    return tuple(out)


def downsample_table(coords, spatial_shape, batch_size, kernel_size: int = 2,
                     stride: int | None = None, *, method: str = "auto"):
    """Output sites and tables of a strided sparse convolution or pooling.

    An output site ``c`` (on the coarse grid) covers the input positions ``c * s + o`` for the
    offsets ``o`` in ``kernel_offsets(k, centered=False)``, as ``keras.layers.Conv3D(k,
    strides=s, padding="valid")`` does. The output sites are those covering at least one input
    site.

    Parameters
    ----------
    coords : ndarray of int, shape (N, 4)
    spatial_shape : tuple of 3 int
    batch_size : int
    kernel_size : int
    stride : int, optional
        Defaults to ``kernel_size``.
    method : {"auto", "sorted", "dense"}
        As in :func:`neighbor_table`.

    Returns
    -------
    coarse : ndarray of int32, shape (M, 4)
        Output sites, sorted lexicographically.
    coarse_shape : tuple of 3 int
    table : ndarray of int32, shape (M, k**3)
        Input site at each offset of each output site, or ``N``.
    transposed : ndarray of int32, shape (N, k**3)
        ``transposed[j, o] = m`` where ``table[m, o] == j``, else ``M``.
    """
    k = _kernel_size(kernel_size)
    s = k if stride is None else _kernel_size(stride)
    spatial_shape = tuple(int(v) for v in spatial_shape)
    out_shape = downsample_output_shape(spatial_shape, k, s)
    coords = check_coords(coords, spatial_shape, batch_size)
    n = coords.shape[0]
    xyz = coords[:, 1:].astype(np.int64)
    if k == s:
        cand_b, cand = coords[:, 0].astype(np.int64), xyz // s
    else:
        parts_b, parts = [], []
        for o in kernel_offsets(k, centered=False):
            q = xyz - o
            ok = np.all((q % s == 0) & (q >= 0) & (q // s < np.array(out_shape)), axis=1)
            parts_b.append(coords[ok, 0].astype(np.int64))
            parts.append(q[ok] // s)
        cand_b, cand = np.concatenate(parts_b), np.concatenate(parts)
    od, oh, ow = out_shape
    lin_c = ((cand_b * od + cand[:, 0]) * oh + cand[:, 1]) * ow + cand[:, 2]
    lin_c = np.unique(lin_c)
    m = lin_c.shape[0]
    coarse = np.empty((m, 4), dtype=np.int32)
    rest, coarse[:, 3] = np.divmod(lin_c, ow)
    rest, coarse[:, 2] = np.divmod(rest, oh)
    coarse[:, 0], coarse[:, 1] = np.divmod(rest, od)
    d, h, w = spatial_shape
    if _use_dense_grid(int(batch_size) * d * h * w, n, k**3, method):
        lin_f = linear_index(coords, spatial_shape)
        base = linear_index(np.concatenate([coarse[:, :1], coarse[:, 1:] * s], axis=1),
                            spatial_shape)
        off = _offsets(k, False) @ np.array([h * w, w, 1], dtype=np.int64)
        grid = _index_grid(lin_f, int(batch_size) * d * h * w, coords)
        try:
            table = _grid_lookup(grid, base, off)
        finally:
            _POOL.give(grid)
    else:
        # pad by k on the far side of every axis so that a window never wraps onto the next row
        pshape = (d + k, h + k, w + k)
        lin_f = linear_index(coords, pshape)
        keys, order = _sorted_keys(lin_f, coords)
        base = linear_index(np.concatenate([coarse[:, :1], coarse[:, 1:] * s], axis=1), pshape)
        table = _to_original_order(_row_lookup(keys, base, k, pshape[1] * pshape[2], pshape[2]),
                                   order, None, n)
    transposed = np.full((n, k**3), m, dtype=np.int32)
    rows, cols = np.nonzero(table < n)
    transposed[table[rows, cols], cols] = rows.astype(np.int32)
    return coarse, out_shape, table, transposed
