"""Checks for the sparse convolution notebook (13): multiply-add counts, a rulebook by hand, and a
submanifold convolution as gather + matrix product."""
from __future__ import annotations

import itertools

import numpy as np

from cnncourse.checks import Case, Mistake, check_function, check_value

# ---- exercise: multiply-adds of one layer, dense vs sparse ---------------------------------------


def multiply_adds(answer, *, grid: int, sites: int, kernel_size: int = 3, cin: int = 16,
                  cout: int = 16):
    """Check ``(dense, sparse)`` multiply-adds of one 3D convolution layer.

    Dense: every one of the ``grid**3`` positions computes ``k**3 * cin * cout`` products; sparse
    (submanifold, gather + GEMM): only the ``sites`` active positions do.
    """
    per_site = kernel_size**3 * cin * cout
    expected = (grid**3 * per_site, sites * per_site)
    return check_value(
        answer, expected, name="multiply_adds", rtol=0, atol=0.5,
        mistakes=[
            Mistake("the kernel has k**3 = 27 offsets in 3D, not k**2 = 9 (that is 2D).",
                    wrong=(grid**3 * kernel_size**2 * cin * cout, sites * kernel_size**2 * cin * cout)),
            Mistake("each output channel sums over every input channel: multiply by cin AND cout.",
                    wrong=(grid**3 * kernel_size**3 * cout, sites * kernel_size**3 * cout)),
            Mistake("the grid is grid**3 positions (a cube), not grid**2.",
                    wrong=(grid**2 * per_site, sites * per_site)),
            Mistake("the pair is (dense, sparse), in that order.", wrong=expected[::-1]),
        ],
        hint="per output position: k**3 offsets x cin inputs x cout outputs; dense has grid**3 "
             "positions, sparse only the active sites.")


# ---- exercise: the rulebook by hand ------------------------------------------------------------


def _offsets(k, centered=True, order="zyx"):
    r = range(-(k // 2), k // 2 + 1) if centered else range(k)
    offs = list(itertools.product(r, r, r))
    if order == "xyz":  # x slowest instead of z
        offs = [(dz, dy, dx) for dx, dy, dz in offs]
    return offs


def _rulebook(coords, kernel_size=3, *, centered=True, batch=True, centre=True, missing=None,
              order="zyx"):
    coords = np.asarray(coords)
    n = len(coords)
    missing = n if missing is None else missing
    key = (lambda c: tuple(c)) if batch else (lambda c: tuple(c[1:]))
    where = {key(c): i for i, c in enumerate(coords.tolist())}
    offs = [o for o in _offsets(kernel_size, centered, order) if centre or any(o)]
    table = np.full((n, len(offs)), missing, dtype=np.int64)
    for i, (b, z, y, x) in enumerate(coords.tolist()):
        for j, (dz, dy, dx) in enumerate(offs):
            table[i, j] = where.get(key((b, z + dz, y + dy, x + dx)), missing)
    return table


def _reference_rulebook(coords, kernel_size=3):
    return _rulebook(coords, kernel_size)


_RULEBOOK_CASES = [
    Case((np.array([[0, 1, 1, 1], [0, 1, 1, 2]]),), label="two neighbours along x, one sample"),
    Case((np.array([[0, 0, 0, 0], [0, 1, 1, 1], [0, 0, 1, 0], [0, 2, 2, 2], [0, 1, 0, 1]]),),
         label="five sites with diagonal neighbours"),
    Case((np.array([[0, 2, 2, 2], [0, 2, 2, 3], [1, 2, 2, 2], [1, 3, 2, 2]]),),
         label="two samples with a site at the same (z, y, x)"),
    Case((np.array([[0, 0, 0, 0], [0, 0, 0, 2], [0, 0, 0, 1]]), 5), label="kernel_size=5"),
    Case((np.array([[0, 4, 4, 4], [1, 4, 4, 4]]), 1), label="kernel_size=1"),
]


def build_rulebook(fn):
    """Check ``build_rulebook(coords, kernel_size=3)`` -> int (N, k**3) neighbour table."""
    return check_function(
        fn, _reference_rulebook, _RULEBOOK_CASES, name="build_rulebook",
        mistakes=[
            Mistake("the offsets run from 0 to k-1: an off-by-one. For a submanifold convolution "
                    "the output site is the kernel's CENTRE, so offsets run from -(k//2) to k//2.",
                    wrong=lambda c, k=3: _rulebook(c, k, centered=False)),
            Mistake("sites of different samples became neighbours: look a neighbour up by "
                    "(batch, z, y, x), not by (z, y, x) alone.",
                    wrong=lambda c, k=3: _rulebook(c, k, batch=False)),
            Mistake("the centre offset (0, 0, 0) is missing: the site itself is one of its k**3 "
                    "neighbours (it carries the kernel's centre weight).",
                    wrong=lambda c, k=3: _rulebook(c, k, centre=False)),
            Mistake("a missing neighbour must be N (the index of the zero row), not -1: -1 "
                    "would read the LAST site's features.",
                    wrong=lambda c, k=3: _rulebook(c, k, missing=-1)),
            Mistake("the offsets are in the wrong order: z must vary slowest and x fastest, "
                    "like the kernel's (kd, kh, kw) axes.",
                    wrong=lambda c, k=3: _rulebook(c, k, order="xyz")),
        ],
        hint="for each site i and each offset (dz, dy, dx) in itertools.product(r, r, r) with "
             "r = range(-(k//2), k//2 + 1), look up (b, z+dz, y+dy, x+dx) in a dict of sites.")


# ---- exercise: submanifold convolution = gather + GEMM --------------------------------------------


def _reference_conv(features, table, kernel):
    features = np.asarray(features, dtype=np.float64)
    n, cin = features.shape
    cout = kernel.shape[-1]
    padded = np.vstack([features, np.zeros((1, cin))])      # row n = the zero row
    gathered = padded[table].reshape(len(table), -1)          # (N, k^3 * cin)
    return gathered @ np.asarray(kernel).reshape(-1, cout)    # (N, cout)


def _conv_flipped(features, table, kernel):
    return _reference_conv(features, table, np.asarray(kernel)[::-1, ::-1, ::-1])


def _conv_clip(features, table, kernel):
    features = np.asarray(features, dtype=np.float64)
    g = np.take(features, table, axis=0, mode="clip").reshape(len(table), -1)
    return g @ np.asarray(kernel).reshape(-1, kernel.shape[-1])


def _conv_channel_major(features, table, kernel):
    k = np.asarray(kernel)
    cin, cout = k.shape[3], k.shape[4]
    padded = np.vstack([np.asarray(features, float), np.zeros((1, cin))])
    g = padded[table].transpose(0, 2, 1).reshape(len(table), -1)  # (N, cin * k^3)
    return g @ k.reshape(-1, cin, cout).reshape(-1, cout)


def _conv_cases():
    from cnncourse.sparse import neighbor_table

    rng = np.random.default_rng(0)
    cases = []
    for n_sites, cin, cout, k, side in [(6, 1, 1, 3, 3), (12, 2, 3, 3, 4), (10, 3, 2, 1, 4),
                                        (15, 2, 2, 3, 5)]:
        flat = rng.choice(side**3, size=n_sites, replace=False)
        coords = np.column_stack([np.zeros(n_sites, int),
                                  np.array(np.unravel_index(flat, (side,) * 3)).T])
        table = neighbor_table(coords, (side,) * 3, 1, k)
        cases.append(Case((rng.standard_normal((n_sites, cin)), table,
                           rng.standard_normal((k, k, k, cin, cout))),
                          label=f"{n_sites} sites, cin={cin}, cout={cout}, k={k}"))
    return cases


def submanifold_conv(fn):
    """Check ``submanifold_conv(features, table, kernel)`` -> (N, cout) (gather + one GEMM)."""
    return check_function(
        fn, _reference_conv, _conv_cases(), name="submanifold_conv",
        mistakes=[
            Mistake("you flipped the kernel: that is a true convolution. CNN layers (Keras Conv3D "
                    "too) compute cross-correlation: offset o of the table uses kernel[o].",
                    wrong=_conv_flipped),
            Mistake("missing neighbours (index N) must read a row of ZEROS: append one to the "
                    "features (np.vstack) instead of clipping the index to the last site.",
                    wrong=_conv_clip),
            Mistake("the gathered rows and the kernel are flattened in different orders: reshape "
                    "(N, k^3, cin) to (N, k^3 * cin) and the kernel to (k^3 * cin, cout), both "
                    "offset-major.",
                    wrong=_conv_channel_major),
        ],
        hint="padded = np.vstack([features, zeros((1, cin))]); "
             "padded[table].reshape(N, -1) @ kernel.reshape(-1, cout).")
