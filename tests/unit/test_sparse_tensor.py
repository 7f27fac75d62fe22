"""SparseTensor and neighbour tables (NumPy only): validation, conversions, brute-force agreement."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncourse.sparse import SparseTensor, downsample_table, neighbor_table, rulebook
from cnncourse.sparse.tensor import validate_coords


def brute_neighbors(coords, kernel_size):
    """Reference: dict lookup of every (site, offset) pair."""
    where = {tuple(c): i for i, c in enumerate(coords.tolist())}
    n, p = len(coords), kernel_size // 2
    offsets = list(itertools.product(range(-p, p + 1), repeat=3))
    table = np.full((n, len(offsets)), n, dtype=np.int32)
    for i, (b, z, y, x) in enumerate(coords.tolist()):
        for o, (dz, dy, dx) in enumerate(offsets):
            table[i, o] = where.get((b, z + dz, y + dy, x + dx), n)
    return table


def brute_downsample(coords, shape, kernel_size, stride):
    out = [(s - kernel_size) // stride + 1 for s in shape]
    offsets = list(itertools.product(range(kernel_size), repeat=3))
    where = {tuple(c): i for i, c in enumerate(coords.tolist())}
    coarse = set()
    for b, z, y, x in coords.tolist():
        for dz, dy, dx in offsets:
            q = (z - dz, y - dy, x - dx)
            if all(v % stride == 0 and 0 <= v // stride < o for v, o in zip(q, out)):
                coarse.add((b,) + tuple(v // stride for v in q))
    coarse = sorted(coarse)
    n = len(coords)
    table = np.full((len(coarse), len(offsets)), n, dtype=np.int32)
    for m, (b, cz, cy, cx) in enumerate(coarse):
        for o, (dz, dy, dx) in enumerate(offsets):
            table[m, o] = where.get((b, cz * stride + dz, cy * stride + dy, cx * stride + dx), n)
    return np.array(coarse, dtype=np.int32).reshape(-1, 4), table


@st.composite
def site_sets(draw, max_side=7, max_batch=3):
    shape = tuple(draw(st.integers(1, max_side)) for _ in range(3))
    batch = draw(st.integers(1, max_batch))
    total = batch * int(np.prod(shape))
    flat = draw(st.lists(st.integers(0, total - 1), unique=True, max_size=min(total, 60)))
    coords = np.array(np.unravel_index(np.array(flat, dtype=np.int64), (batch,) + shape)).T
    return coords.reshape(-1, 4).astype(np.int32), shape, batch


@settings(max_examples=60, deadline=None)
@given(site_sets(), st.sampled_from([1, 3, 5]))
def test_neighbor_table_matches_brute_force(sites, k):
    coords, shape, batch = sites
    table = neighbor_table(coords, shape, batch, k)
    assert table.dtype == np.int32 and table.shape == (len(coords), k**3)
    np.testing.assert_array_equal(table, brute_neighbors(coords, k))


@settings(max_examples=40, deadline=None)
@given(site_sets(), st.sampled_from([3, 5]))
def test_neighbor_relation_is_symmetric(sites, k):
    coords, shape, batch = sites
    table = neighbor_table(coords, shape, batch, k)
    n, kk = table.shape
    assert np.array_equal(table[:, kk // 2], np.arange(n))     # the centre is the site itself
    i, o = np.nonzero(table < n)
    assert np.array_equal(table[table[i, o], kk - 1 - o], i)   # j = nbr(i, o)  <=>  i = nbr(j, -o)


@settings(max_examples=50, deadline=None)
@given(st.data(), st.sampled_from([(2, 2), (3, 1), (3, 2), (1, 1), (4, 2)]))
def test_downsample_table_matches_brute_force(data, ks):
    k, s = ks
    sides = [s * data.draw(st.integers(0, 3)) + k for _ in range(3)]
    batch = data.draw(st.integers(1, 2))
    total = batch * int(np.prod(sides))
    flat = data.draw(st.lists(st.integers(0, total - 1), unique=True, max_size=40))
    coords = np.array(np.unravel_index(np.array(flat, np.int64), (batch, *sides))).T
    coords = coords.reshape(-1, 4).astype(np.int32)
    coarse, shape, table, transposed = downsample_table(coords, sides, batch, k, s)
    ref_coarse, ref_table = brute_downsample(coords, sides, k, s)
    np.testing.assert_array_equal(coarse, ref_coarse)
    np.testing.assert_array_equal(table, ref_table)
    assert shape == tuple((v - k) // s + 1 for v in sides)
    # the transposed table inverts the table entry by entry
    n, m = len(coords), len(coarse)
    ref_t = np.full((n, k**3), m, np.int32)
    rows, cols = np.nonzero(table < n)
    ref_t[table[rows, cols], cols] = rows
    np.testing.assert_array_equal(transposed, ref_t)
    if k == s and n:  # non-overlapping windows: each site has exactly one output
        assert np.all((transposed < m).sum(axis=1) == 1)


def test_samples_of_a_batch_are_never_neighbours():
    # the same site in two samples, at the border of the grid: padding separates the samples
    coords = np.array([[0, 3, 3, 3], [1, 0, 0, 0], [1, 3, 3, 3], [0, 0, 0, 0]], np.int32)
    table = neighbor_table(coords, (4, 4, 4), 2, 3)
    assert set(table[0]) == {0, 4} and set(table[2]) == {2, 4}
    assert set(table[1]) == {1, 4} and set(table[3]) == {3, 4}
    coarse, _, down, _ = downsample_table(coords, (4, 4, 4), 2, 2)
    np.testing.assert_array_equal(coarse[:, 0], [0, 0, 1, 1])


def test_tables_are_reused_and_a_reused_grid_shows_no_old_site():
    coords = np.array([[0, 1, 1, 1], [0, 1, 1, 2]], np.int32)
    a = neighbor_table(coords, (4, 4, 4), 1)
    b = neighbor_table(coords[:1], (4, 4, 4), 1)  # a's grid buffer, reused: no site of a
    assert a[0, 14] == 1 and b[0, 13] == 0 and np.all(np.delete(b[0], 13) == 1)
    sp = SparseTensor(coords, np.ones((2, 1), np.float32), (4, 4, 4))
    assert sp.neighbors(3) is sp.neighbors(3)
    assert sp.with_features(np.zeros((2, 5), np.float32)).neighbors(3) is sp.neighbors(3)
    level, table, tr = sp.downsample(2)
    assert sp.downsample(2)[1] is table and level.coords.tolist() == [[0, 0, 0, 0], [0, 0, 0, 1]]
    rulebook.clear_cache()


def test_grid_pool_lends_the_smallest_buffer_that_fits():
    pool = rulebook._GridPool(max_bytes=2**20)
    grid = pool.take(1000)
    pool.give(grid)
    small = pool.take(10)  # the first 10 entries of the same buffer
    assert small.size == 10 and small.base is grid
    pool.give(small)
    assert pool.take(1000) is grid  # the whole buffer again, not a second one
    assert pool.take(2000).size == 2000  # none large enough: a new one


def test_from_dense_to_dense_round_trip_and_properties():
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((3, 4, 5, 6, 2)) * (rng.random((3, 4, 5, 6, 1)) < 0.2)
    dense[1] = 0  # an empty sample in the middle
    sp = SparseTensor.from_dense(dense)
    assert sp.batch_size == 3 and sp.spatial_shape == (4, 5, 6)
    np.testing.assert_array_equal(sp.to_dense(), dense)
    np.testing.assert_array_equal(sp.mask(), np.any(dense != 0, axis=-1))
    assert sp.counts()[1] == 0 and sp.num_sites == sp.counts().sum()
    assert sp.occupancy == pytest.approx(sp.num_sites / (3 * 4 * 5 * 6))
    assert "SparseTensor(sites=" in repr(sp)
    masked = SparseTensor.from_dense(np.zeros((1, 2, 2, 2)), mask=np.ones((1, 2, 2, 2), bool))
    assert masked.num_sites == 8 and masked.num_channels == 1  # zeros can be active sites


@pytest.mark.parametrize("coords, features, shape, batch, message", [
    ([[0, 1, 1, 1], [0, 1, 1, 1]], np.ones((2, 1)), (4, 4, 4), None, "more than once"),
    ([[0, 1, 1, 4]], np.ones((1, 1)), (4, 4, 4), None, "x = 4 is outside"),
    ([[0, -1, 1, 1]], np.ones((1, 1)), (4, 4, 4), None, "z = -1 is outside"),
    ([[2, 1, 1, 1]], np.ones((1, 1)), (4, 4, 4), 2, "batch = 2 is outside"),
    ([[0.0, 1, 1, 1]], np.ones((1, 1)), (4, 4, 4), None, "integer array"),
    ([[0, 1, 1]], np.ones((1, 1)), (4, 4, 4), None, r"shape \(N, 4\)"),
    ([0, 1, 1, 1], np.ones((1, 1)), (4, 4, 4), None, r"shape \(N, 4\)"),
    ([[0, 1, 1, 1]], np.ones((2, 1)), (4, 4, 4), None, "2 rows but coords has 1"),
    ([[0, 1, 1, 1]], np.ones(1), (4, 4, 4), None, r"shape \(N, C\)"),
    ([[0, 1, 1, 1]], np.ones((1, 1), int), (4, 4, 4), None, "floating-point"),
    ([[0, 1, 1, 1]], np.ones((1, 1)), (4, 4), None, "spatial_shape"),
    ([[0, 1, 1, 1]], np.ones((1, 1)), (4, 0, 4), None, "spatial_shape"),
    (np.zeros((0, 4), int), np.ones((0, 1)), (4, 4, 4), None, "batch_size is required"),
])
def test_invalid_sparse_tensors_raise_naming_the_problem(coords, features, shape, batch, message):
    with pytest.raises(ValueError, match=message):
        SparseTensor(np.asarray(coords), features, shape, batch)


def test_table_builders_validate_too():
    coords = np.array([[0, 1, 1, 1], [0, 1, 1, 1]], np.int32)
    with pytest.raises(ValueError, match="more than once"):
        neighbor_table(coords, (4, 4, 4), 1)
    with pytest.raises(ValueError, match="more than once"):
        downsample_table(coords, (4, 4, 4), 1)
    with pytest.raises(ValueError, match="y = 9 is outside"):
        neighbor_table(np.array([[0, 1, 9, 1]]), (4, 4, 4), 1)
    with pytest.raises(ValueError, match="odd kernel_size"):
        neighbor_table(coords[:1], (4, 4, 4), 1, 2)
    with pytest.raises(ValueError, match="border sites would be dropped"):
        downsample_table(coords[:1], (5, 4, 4), 1, 2)
    with pytest.raises(ValueError, match="stride"):
        downsample_table(coords[:1], (4, 4, 4), 1, 2, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        neighbor_table(coords[:1], (4, 4, 4), 1, 0)
    # nothing is built for an empty batch but the shapes are right
    assert neighbor_table(np.zeros((0, 4), np.int32), (4, 4, 4), 1).shape == (0, 27)
    coarse, shape, table, tr = downsample_table(np.zeros((0, 4), np.int32), (4, 4, 4), 1)
    assert coarse.shape == (0, 4) and table.shape == (0, 8) and tr.shape == (0, 8)


def test_validate_coords_returns_int32_and_batch_size():
    coords, shape, batch = validate_coords(np.array([[1, 0, 0, 0]], np.int64), [2, 2, 2])
    assert coords.dtype == np.int32 and shape == (2, 2, 2) and batch == 2
    assert rulebook.kernel_offsets(3)[13].tolist() == [0, 0, 0]
    assert rulebook.kernel_offsets(2, centered=False)[-1].tolist() == [1, 1, 1]


@settings(max_examples=40, deadline=None)
@given(site_sets(), st.sampled_from([1, 3, 5]), st.booleans())
def test_sorted_keys_and_dense_grid_build_the_same_tables(sites, k, shuffle):
    coords, shape, batch = sites
    if shuffle:
        coords = coords[np.random.default_rng(0).permutation(len(coords))]
    np.testing.assert_array_equal(neighbor_table(coords, shape, batch, k, method="sorted"),
                                  neighbor_table(coords, shape, batch, k, method="dense"))
    for kk, s in ((2, 2), (3, 2), (2, 1)):
        try:
            rulebook.downsample_output_shape(shape, kk, s)
        except ValueError:
            continue
        a = downsample_table(coords, shape, batch, kk, s, method="sorted")
        b = downsample_table(coords, shape, batch, kk, s, method="dense")
        for x, y in zip(a, b):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_table_memory_grows_with_the_sites_not_the_grid():
    import tracemalloc

    shell = np.argwhere(np.pad(np.ones((6, 6, 6), bool), 1) ^ np.pad(np.ones((4, 4, 4), bool), 2))
    coords = np.column_stack([np.repeat([0, 1], len(shell)),
                              np.tile(shell + 500, (2, 1))]).astype(np.int32)
    tracemalloc.start()
    table = neighbor_table(coords, (512, 512, 512), 2, 3)  # a dense grid would be 1 GiB
    _, _, down, _ = downsample_table(coords, (512, 512, 512), 2, 2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * table.nbytes + 2**20, peak
    shifted = (coords - [0, 500, 500, 500]).astype(np.int32)  # the same sites in a small grid
    np.testing.assert_array_equal(table, neighbor_table(shifted, (8, 8, 8), 2, 3))
    with pytest.raises(ValueError, match="method must be"):
        neighbor_table(coords, (512, 512, 512), 2, 3, method="hash")
    with pytest.raises(ValueError, match="more than once"):
        neighbor_table(np.concatenate([coords, coords[:1]]), (512, 512, 512), 2, 3)


def _table_in_child(args):
    coords, shape = args
    return neighbor_table(coords, shape, 2, 3, method="dense")


def test_large_tables_read_on_two_threads_match_and_work_after_a_fork():
    import multiprocessing

    rng = np.random.default_rng(0)
    coords = np.argwhere(rng.random((2, 40, 40, 40)) < 0.2).astype(np.int32)
    assert len(coords) * 27 >= rulebook._TWO_THREADS_MIN  # the two-thread path
    dense = neighbor_table(coords, (40, 40, 40), 2, 3, method="dense")
    np.testing.assert_array_equal(dense, neighbor_table(coords, (40, 40, 40), 2, 3,
                                                        method="sorted"))
    shuffled = coords[rng.permutation(len(coords))]
    np.testing.assert_array_equal(neighbor_table(shuffled, (40, 40, 40), 2, 3, method="dense"),
                                  neighbor_table(shuffled, (40, 40, 40), 2, 3, method="sorted"))
    # a forked child inherits the helper pool's state but not its thread: it makes its own
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply(_table_in_child, ((coords, (40, 40, 40)),))
    np.testing.assert_array_equal(child, dense)
