"""The sparse convolution and pooling operations under the layers, written with ``keras.ops``
(TensorFlow and JAX backends).

The convolution, :func:`sparse_conv`, goes through the output sites in blocks of a few thousand
rows: per block, one gather of all ``k**3`` neighbours (a missing neighbour reads an appended
zero row: static shapes, no scatter) into a ``(rows, k**3 * Cin)`` matrix of a few MiB, which
stays in cache, and one GEMM deep enough (``k**3 * Cin``) to run near the CPU's full rate. No
``(N, k**3 * Cin)`` matrix is ever built. Its exact backward pass is hand-written and blockwise
too: the transposed table (for a submanifold table, the table itself with its offsets
reversed) lists, per input site, the output sites it feeds, so one gather of ``dy`` per block
gives both ``dx`` and the block's share of ``dW``.

The alternatives measured against it (per offset, active pairs only with scatter-adds, one
whole gathered matrix) live beside the benchmark, in
:mod:`cnncourse.tools.bench.sparse.alternatives`; on a 2-core CPU the blocked algorithm was the
fastest forward and forward + backward (docs/benchmarks.md): the zero rows it
multiplies cost less than the scatter-adds that skipping them needs, and its deep GEMMs run at
twice the rate of per-offset ones.

The tables are not checked here: the layers do (:mod:`cnncourse.sparse.validation`).
"""
from __future__ import annotations

import keras
from keras import ops

__all__ = ["sparse_conv", "sparse_pool", "default_algorithm", "ALGORITHMS", "BLOCK_VALUES",
           "block_rows", "gather_rows", "append_row", "widened", "matmul_tn"]

#: The values of ``algorithm`` the layers and :func:`sparse_conv` accept.
ALGORITHMS = ("auto", "blocked")


def gather_rows(x, indices):
    """Rows ``x[indices]`` (indices are never negative here)."""
    if keras.backend.backend() == "tensorflow":
        # keras.ops.take first rewrites negative indices (an extra pass over the whole table);
        # the tables never hold negative entries, so gather directly.
        import tensorflow as tf

        return tf.gather(x, indices)
    return ops.take(x, indices, axis=0)


def append_row(x, value):
    """``x`` (N, C) with one more row filled with ``value``: the row missing neighbours read."""
    return ops.concatenate([x, ops.full((1, x.shape[1]), value, dtype=x.dtype)], axis=0)


def widened(x):
    """``x`` in float32 when it is float16 / bfloat16 (mixed precision), else unchanged."""
    wide = keras.backend.standardize_dtype(x.dtype) in ("float16", "bfloat16")
    return ops.cast(x, "float32") if wide else x



def matmul_tn(a, b):
    """``a^T @ b`` without materialising ``a^T`` where the backend can avoid it."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.matmul(a, b, transpose_a=True)
    return ops.matmul(ops.transpose(a), b)



# Rows per block of the "blocked" algorithm: the block's gathered (rows, K * C) matrix holds at
# most about this many values (2**21: 8 MiB of float32), so it stays in cache.
BLOCK_VALUES = 2**21


def block_rows(columns: int, n: int | None = None) -> int:
    """Rows per block for a gathered matrix of ``columns`` columns: at most a power of two in
    [256, 8192] (the cache budget); with ``n`` rows known, the fewest blocks of that size, made
    even, so the last block pads fewer rows than there are blocks."""
    rows = 256
    while rows < 8192 and 2 * rows * columns <= BLOCK_VALUES:
        rows *= 2
    if n:
        rows = -(-n // -(-n // rows))
    return rows


def _blockwise(fn, table, *others, rows):
    """Apply ``fn(table_block, *other_blocks)`` to blocks of ``rows`` rows (the last block padded
    with zeros: padded rows must not matter to the caller) and stack the results: returns
    ``(n_blocks, ...)`` per output of ``fn``, and the number of rows before padding."""
    n = ops.shape(table)[0]
    pad = (rows - n % rows) % rows

    def blocks(t):
        t = ops.pad(t, [[0, pad]] + [[0, 0]] * (len(t.shape) - 1))
        return ops.reshape(t, (-1, rows) + tuple(t.shape[1:]))

    return ops.map(lambda args: fn(*args), tuple(blocks(t) for t in (table,) + others)), n


def _conv_blocked(x, kernel, table, transposed):
    """Row blocks: per block of output rows, one gather of all K neighbours ``(rows, K * Cin)``
    (missing ones read a zero row) and one GEMM with the ``(K * Cin, Cout)`` kernel; no
    ``(N, K * Cin)`` matrix, and GEMMs deep enough (K * Cin) to run near the CPU's full rate.
    Exact backward (custom gradient), blockwise over input rows: one gather of ``dy`` through
    the transposed table gives ``dx`` (one GEMM) and the block's share of ``dW`` (another)."""
    k, cin, cout = kernel.shape
    if table.shape[0] == 0 or x.shape[0] == 0:  # no output or no input sites: nothing to map
        return _conv_empty(x, kernel, table.shape[0])
    submanifold = transposed is None
    # column o of `back` lists, per input site, the output site that offset o feeds
    back = ops.flip(table, axis=1) if submanifold else transposed

    @ops.custom_gradient
    def conv(x, kernel):
        xe = append_row(x, 0)
        w = ops.reshape(kernel, (k * cin, cout))

        def forward(rows):                                        # (rows, K) -> (rows, Cout)
            return ops.matmul(ops.reshape(gather_rows(xe, rows), (-1, k * cin)), w)

        y, n_out = _blockwise(forward, table, rows=block_rows(k * cin, table.shape[0]))
        y = ops.reshape(y, (-1, cout))[:n_out]

        def grad(*args, upstream=None):
            dy = args[0] if upstream is None else upstream            # (N_out, Cout)
            dye = append_row(dy, 0)
            wt = ops.reshape(ops.transpose(kernel, (0, 2, 1)), (k * cout, cin))

            def backward(rows, xb):                               # (rows, K), (rows, Cin)
                g = ops.reshape(gather_rows(dye, rows), (-1, k * cout))     # (rows, K * Cout)
                return ops.matmul(g, wt), matmul_tn(xb, g)           # dx block, dW share

            (dx, dws), n_in = _blockwise(backward, back, x,
                                         rows=block_rows(k * cout, back.shape[0]))
            dx = ops.reshape(dx, (-1, cin))[:n_in]
            dw = ops.sum(widened(dws), axis=0)  # the blocks' shares, summed in float32
            dw = ops.transpose(ops.reshape(dw, (cin, k, cout)), (1, 0, 2))
            return dx, ops.cast(dw, kernel.dtype)

        return y, grad

    return conv(x, kernel)


def _conv_empty(x, kernel, n_out):
    """The convolution where there are no output or no input sites: zeros, zero gradients."""

    @ops.custom_gradient
    def conv(x, kernel):
        def grad(*args, upstream=None):
            return ops.zeros_like(x), ops.zeros_like(kernel)

        return ops.zeros((n_out, kernel.shape[2]), dtype=x.dtype), grad

    return conv(x, kernel)


def default_algorithm() -> str:
    """The algorithm ``"auto"`` picks: ``"blocked"`` on every backend. In ``cnncourse bench
    sparse`` at 128^3, C=32 on a 2-core CPU it was the fastest forward and forward + backward
    on TensorFlow, for a thin shell and a filled ball alike; see docs/benchmarks.md.

    Returns
    -------
    str
        ``"blocked"``.

    Examples
    --------
    >>> default_algorithm()
    'blocked'
    """
    return "blocked"


def sparse_conv(x, kernel, table, transposed=None, *, algorithm: str = "auto"):
    """Sparse convolution ``y[i] = sum_o x[table[i, o]] @ kernel[o]`` (missing = no term).

    Parameters
    ----------
    x : tensor, shape (N_in, Cin)
        Input features.
    kernel : tensor, shape (K, Cin, Cout)
        One ``(Cin, Cout)`` matrix per kernel offset (K = k**3).
    table : int tensor, shape (N_out, K)
        Input site at each offset of each output site; ``N_in`` where there is none.
    transposed : int tensor, shape (N_in, K), optional
        Output site ``i`` with ``table[i, o] == j`` at ``[j, o]``; ``N_out`` where there is none.
        ``None`` for a submanifold table (then offset ``K // 2`` pairs every site with itself).
    algorithm : {"auto", "blocked"}
        ``"blocked"``: per block of output rows, one gather of all K neighbours (a missing
        neighbour reads a zero row) and one ``(K*Cin, Cout)`` GEMM; the backward pass (custom
        gradient, exact) gathers ``dy`` through the transposed table once per block of input
        rows for both ``dx`` and ``dW``, no scatter. ``"auto"``: :func:`default_algorithm`.
        (The alternatives measured against it: :mod:`cnncourse.tools.bench.sparse.alternatives`.)

    Returns
    -------
    tensor, dtype of ``x``, shape (N_out, Cout)

    Raises
    ------
    ValueError
        An unknown ``algorithm``. The tables are not checked here (the layers do, with
        :func:`~cnncourse.sparse.validation.check_submanifold_table` and
        :func:`~cnncourse.sparse.validation.check_strided_tables`).

    Examples
    --------
    >>> import numpy as np
    >>> from cnncourse.sparse import SparseTensor
    >>> st = SparseTensor([[0, 1, 1, 1], [0, 1, 1, 2]], np.array([[1.0], [2.0]], "float32"),
    ...                   (4, 4, 4))
    >>> kernel = np.zeros((27, 1, 1), "float32")
    >>> kernel[13], kernel[14] = 1.0, 10.0      # the site itself, and its neighbour at x + 1
    >>> np.asarray(sparse_conv(st.features, kernel, st.neighbors(3))).tolist()
    [[21.0], [2.0]]
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}; got {algorithm!r}")
    if algorithm == "auto":
        algorithm = default_algorithm()
    return _conv_blocked(x, kernel, table, transposed)


def sparse_pool(x, table, transposed, mode):
    """Max or average pooling over each output site's window, with a gather-only backward.

    Parameters
    ----------
    x : tensor, shape (N, C)
        Features of the fine sites.
    table, transposed : int tensors, shapes (M, K) and (N, K)
        The two tables of one :func:`~cnncourse.sparse.rulebook.downsample_table` call.
    mode : {"max", "avg"}
        Max over the window's active sites (an empty window gives 0), or the window's sum
        divided by ``K`` (in float32 under mixed precision).

    Returns
    -------
    tensor, dtype of ``x``, shape (M, C)
    """
    k = table.shape[1]

    @ops.custom_gradient
    def pool(x):
        if mode == "max":
            neg = ops.convert_to_tensor(float("-inf"), dtype=x.dtype)
            g = gather_rows(append_row(x, neg), table)              # (M, K, C)
            winner = ops.argmax(g, axis=1)                           # (M, C) offset of the max
            y = ops.max(g, axis=1)
            y = ops.where(ops.isinf(y), ops.zeros_like(y), y)  # an empty (padding) window: 0
            # site index of each max, plus a row of -1 for "no output site"
            site = ops.take_along_axis(table, ops.cast(winner, table.dtype), axis=1)
            site = ops.concatenate([site, ops.full((1, site.shape[1]), -1, site.dtype)], 0)
        else:
            wide = widened(x)  # sums in float32 under mixed precision
            y = ops.cast(ops.sum(gather_rows(append_row(wide, 0), table), axis=1) / k, x.dtype)

        def grad(*args, upstream=None):
            dy = args[0] if upstream is None else upstream        # (M, C)
            dyg = gather_rows(append_row(dy, 0), transposed)   # (N, K, C)
            if mode == "max":
                me = ops.arange(ops.shape(x)[0], dtype=site.dtype)[:, None, None]
                won = ops.equal(gather_rows(site, transposed), me)  # (N, K, C)
                return ops.sum(ops.where(won, dyg, ops.zeros_like(dyg)), axis=1)
            wide = widened(dyg)
            return ops.cast(ops.sum(wide, axis=1) / k, dy.dtype)

        return y, grad

    return pool(x)


