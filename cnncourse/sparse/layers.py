"""Keras layers for sparse 3D CNNs, written with ``keras.ops`` (TensorFlow and JAX backends).

Each layer takes the features of the active sites, ``(N, C)``, and the neighbour table(s) of
:mod:`cnncourse.sparse.rulebook` as integer tensors. No ``(N, k**3 * Cin)`` matrix is ever built.
The default, ``algorithm="blocked"`` (TensorFlow and JAX), goes through the output sites in
blocks of a few thousand rows: per block, one gather of all ``k**3`` neighbours (a missing
neighbour reads an appended zero row: static shapes, no scatter) into a ``(rows, k**3 * Cin)``
matrix of a few MiB, which stays in cache, and one GEMM deep enough (``k**3 * Cin``) to run near
the CPU's full rate. Its exact backward pass is hand-written and blockwise too: the transposed
table (for a submanifold table, the table itself with its offsets reversed) lists, per input
site, the output sites it feeds, so one gather of ``dy`` per block gives both ``dx`` and the
block's share of ``dW``. The alternatives, kept for ``cnncourse bench sparse``: ``"hybrid"``
(per offset, one gather of all rows and one ``(Cin, Cout)`` GEMM; same backward idea per
offset), ``"pairs"`` (TensorFlow only: per offset only the active neighbour pairs are
gathered, multiplied and scatter-added; on a thin surface about a third of the table is
missing) and ``"gather"`` (the first version: one ``(N, k**3 * Cin)`` gathered matrix). On a
2-core CPU the blocked algorithm was the fastest forward and forward + backward (README's
benchmark section): the zero rows it multiplies cost less than the scatter-adds that skipping
them needs, and its deep GEMMs run at twice the rate of the per-offset ones.

A table that does not belong to the layer raises a ValueError naming it: wrong shape or
number of rows always; entries out of range, a downsample table passed as a submanifold table,
or two tables that are not each other's transpose when the values are known (eager calls and
NumPy input; a traced training step cannot raise on values, and the tables from
:func:`~cnncourse.sparse.net.network_inputs` are right by construction).

Kernels have the layout of ``keras.layers.Conv3D``, ``(k, k, k, Cin, Cout)``, so dense weights
can be copied in (and the tests compare against ``Conv3D`` that way).
"""
from __future__ import annotations

import keras
from keras import ops

__all__ = ["sparse_conv", "default_algorithm", "check_submanifold_table", "check_strided_tables",
           "SubmanifoldConv3D", "SparseConv3D", "SparseInverseConv3D",
           "SparseMaxPool3D", "SparseAvgPool3D", "SparseBatchNormalization",
           "SparseGlobalPool3D", "SparseToDense"]

_PACKAGE = "cnncourse.sparse"


ALGORITHMS = ("auto", "blocked", "hybrid", "pairs", "gather")


def _take(x, indices):
    """Rows ``x[indices]`` (indices are never negative here)."""
    if keras.backend.backend() == "tensorflow":
        # keras.ops.take first rewrites negative indices (an extra pass over the whole table);
        # the tables never hold negative entries, so gather directly.
        import tensorflow as tf

        return tf.gather(x, indices)
    return ops.take(x, indices, axis=0)


def _append_row(x, value):
    """``x`` (N, C) with one more row filled with ``value``: the row missing neighbours read."""
    return ops.concatenate([x, ops.full((1, x.shape[1]), value, dtype=x.dtype)], axis=0)


def _gathered(x, table):
    """(N_out, K * C): row i holds x[table[i, 0]], ..., x[table[i, K-1]] (x's last row = zero)."""
    k, c = table.shape[1], x.shape[1]
    return ops.reshape(_take(_append_row(x, 0), table), (-1, k * c))


def _widened(x):
    """``x`` in float32 when it is float16 / bfloat16 (mixed precision), else unchanged."""
    wide = keras.backend.standardize_dtype(x.dtype) in ("float16", "bfloat16")
    return ops.cast(x, "float32") if wide else x


def _concrete(t):
    """``t`` as a NumPy array when its values are known now (eager), else None (traced)."""
    import numpy as np

    if isinstance(t, np.ndarray):
        return t
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if tf.executing_eagerly() and hasattr(t, "numpy"):
            return t.numpy()
        return None
    if keras.backend.backend() == "jax":
        import jax

        return None if isinstance(t, jax.core.Tracer) else np.asarray(t)
    return None


def _as_table(table, name, columns, layer):
    table = ops.convert_to_tensor(table)
    if len(table.shape) != 2:
        raise ValueError(f"{layer}: {name} must be a 2-D integer table (sites, {columns}); got "
                         f"shape {tuple(table.shape)}")
    if "int" not in str(table.dtype):
        raise ValueError(f"{layer}: {name} must be an integer table; got dtype {table.dtype}")
    if table.shape[1] is not None and table.shape[1] != columns:
        raise ValueError(f"{layer}: {name} has {table.shape[1]} columns but the kernel has "
                         f"{columns} offsets: build the table with the same kernel_size")
    return table


def _check_rows(table, name, rows, what, layer):
    if table.shape[0] is not None and rows is not None and table.shape[0] != rows:
        raise ValueError(f"{layer}: {name} has {table.shape[0]} rows but there are {rows} "
                         f"{what}: it was built for other sites")


def _check_entries(values, name, limit, what, layer):
    """Entries of a table must lie in [0, limit] (``limit`` = the 'missing' marker)."""
    low, high = int(values.min(initial=0)), int(values.max(initial=0))
    if low < 0 or high > limit:
        bad = low if low < 0 else high
        raise ValueError(f"{layer}: {name} holds the entry {bad}, outside [0, {limit}]: its "
                         f"entries index the {limit} {what} ({limit} = no site there); the "
                         f"table was built for other sites")


def check_submanifold_table(neighbors, n_sites: int | None, layer: str = "layer") -> None:
    """Raise ValueError unless ``neighbors`` can be the submanifold table of ``n_sites`` sites.

    Shape checks always; value checks (entries in ``[0, N]``, the centre column listing every
    site itself) when the values are known (eager calls, NumPy input), since a traced
    training step cannot raise on values.

    Parameters
    ----------
    neighbors : int tensor or ndarray, shape (N, k**3)
        A table of :func:`~cnncourse.sparse.rulebook.neighbor_table`.
    n_sites : int or None
        Number N of input sites; ``None`` (unknown while tracing) skips the checks.
    layer : str
        Name that starts the error messages.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        Another number of rows than ``n_sites``; entries outside ``[0, n_sites]``; a centre
        column that is not ``0, 1, ..., N-1`` (a downsample table or another set's table).

    Examples
    --------
    >>> import numpy as np
    >>> from cnncourse.sparse import neighbor_table
    >>> table = neighbor_table(np.array([[0, 1, 1, 1], [0, 1, 1, 2]]), (4, 4, 4), 1)
    >>> check_submanifold_table(table, 2)
    >>> check_submanifold_table(table, 3, "conv1")
    Traceback (most recent call last):
    ...
    ValueError: conv1: neighbors has 2 rows but there are 3 input sites: ...
    """
    _check_rows(neighbors, "neighbors", n_sites, "input sites", layer)
    values = _concrete(neighbors)
    if values is None or n_sites is None:
        return
    _check_entries(values, "neighbors", n_sites, "input sites", layer)
    centre = values.shape[1] // 2
    import numpy as np

    if values.shape[0] and not np.array_equal(values[:, centre], np.arange(values.shape[0])):
        raise ValueError(f"{layer}: neighbors is not a submanifold neighbour table: its centre "
                         f"column (offset {centre}) must list every site itself (0, 1, 2, ...); "
                         f"a downsample table or a table of other sites was passed")
    # the backward pass reads the table in reverse (j at offset o of i <=> i at offset K-1-o of j)
    rows, cols = np.nonzero(values < n_sites)
    if not np.array_equal(values[values[rows, cols], values.shape[1] - 1 - cols], rows):
        raise ValueError(f"{layer}: neighbors is not a submanifold neighbour table: it is not "
                         f"symmetric (site j at offset o of site i needs i at the opposite "
                         f"offset of j); build it with neighbor_table / SparseTensor.neighbors")


def check_strided_tables(table, transposed, n_in: int | None, layer: str = "layer",
                         names: tuple[str, str] = ("table", "transposed")) -> None:
    """Raise ValueError unless ``table`` (M, K) and ``transposed`` (N, K) are a downsample
    table pair of ``n_in`` = N input sites (see :func:`~cnncourse.sparse.rulebook.
    downsample_table`); value checks only when the values are known (eager).

    Parameters
    ----------
    table : int tensor or ndarray, shape (M, K)
        Input site at each offset of each output site, ``n_in`` where there is none.
    transposed : int tensor or ndarray, shape (N, K)
        Output site at each offset of each input site, ``M`` where there is none.
    n_in : int or None
        Number N of input sites; ``None`` (unknown while tracing) skips the checks.
    layer : str
        Name that starts the error messages.
    names : tuple of 2 str
        How the messages call the two tables (the inverse convolution swaps them).

    Returns
    -------
    None

    Raises
    ------
    ValueError
        ``transposed`` without ``n_in`` rows; entries out of range; two tables that are not
        each other's transpose (e.g. passed in the other order).

    Examples
    --------
    >>> import numpy as np
    >>> from cnncourse.sparse import downsample_table
    >>> coords = np.array([[0, 0, 0, 0], [0, 0, 0, 1], [0, 2, 2, 2]])
    >>> _, _, table, transposed = downsample_table(coords, (4, 4, 4), 1, 2)
    >>> check_strided_tables(table, transposed, 3)
    >>> check_strided_tables(transposed, table, 3)
    Traceback (most recent call last):
    ...
    ValueError: layer: transposed has 2 rows but there are 3 input sites: ...
    """
    _check_rows(transposed, names[1], n_in, "input sites", layer)
    t, tr = _concrete(table), _concrete(transposed)
    if t is None or tr is None or n_in is None:
        return
    import numpy as np

    m = t.shape[0]
    _check_entries(t, names[0], n_in, "input sites", layer)
    _check_entries(tr, names[1], m, "output sites", layer)
    rows, cols = np.nonzero(t < n_in)
    if int((tr < m).sum()) != rows.size or not np.array_equal(tr[t[rows, cols], cols], rows):
        raise ValueError(f"{layer}: {names[1]} is not the transpose of {names[0]} (pass the "
                         f"two tables of one downsample_table call, in the order the layer "
                         f"documents)")


def _pairs(table, n_in, columns):
    """Per offset: ``(out, inn)`` int64 index vectors of the active pairs (TensorFlow)."""
    import tensorflow as tf

    pairs = []
    for o in columns:
        col = table[:, o]
        out = tf.where(col < ops.cast(n_in, col.dtype))[:, 0]
        pairs.append((out, tf.cast(tf.gather(col, out), tf.int64)))
    return pairs


def _conv_pairs(x, kernel, table, submanifold):
    """Active pairs only (TensorFlow): per offset, gather the input rows that exist, one GEMM,
    and a scatter-add into the output; the backward pass reuses the same pairs."""
    import tensorflow as tf

    k = kernel.shape[0]
    centre = k // 2 if submanifold else None
    n_in, n_out = tf.shape(x)[0], tf.shape(table)[0]
    others = [o for o in range(k) if o != centre]

    @tf.custom_gradient
    def conv(x, kernel):
        pairs = _pairs(table, n_in, others)
        if centre is None:
            y = tf.zeros(tf.stack([n_out, kernel.shape[2]]), x.dtype)
        else:  # the centre offset pairs every site with itself
            y = tf.matmul(x, kernel[centre])
        for o, (out, inn) in zip(others, pairs):
            y = tf.tensor_scatter_nd_add(y, out[:, None], tf.matmul(tf.gather(x, inn),
                                                                   kernel[o]))

        def grad(dy):
            return _pairs_backward(x, kernel, pairs, dy, centre)

        return y, grad

    return conv(x, kernel)


def _pairs_backward(x, kernel, pairs, dy, centre):
    """The backward pass of ``pairs`` (TensorFlow): per offset, the active pairs only."""
    import tensorflow as tf

    k = kernel.shape[0]
    others = [o for o in range(k) if o != centre]
    dks = [None] * k
    if centre is None:
        dx = tf.zeros_like(x)
    else:
        dx = tf.matmul(dy, kernel[centre], transpose_b=True)
        dks[centre] = tf.matmul(x, dy, transpose_a=True)
    for o, (out, inn) in zip(others, pairs):
        dyo = tf.gather(dy, out)
        dx = tf.tensor_scatter_nd_add(dx, inn[:, None], tf.matmul(dyo, kernel[o], transpose_b=True))
        dks[o] = tf.matmul(tf.gather(x, inn), dyo, transpose_a=True)
    return dx, tf.stack(dks)


def _matmul_tn(a, b):
    """``a^T @ b`` without materialising ``a^T`` where the backend can avoid it."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.matmul(a, b, transpose_a=True)
    return ops.matmul(ops.transpose(a), b)


def _offset_sum(x, kernel, columns, centre):
    """``sum_o x[columns[o]] @ kernel[o]`` over all output rows (``x``'s appended last row is the
    zero row missing neighbours read); offset ``centre`` (if any) pairs every row with itself
    and needs no gather. One gather and one GEMM per offset, accumulated in place of a
    ``(N, K * C)`` matrix."""
    xe = _append_row(x, 0)
    y = None if centre is None else ops.matmul(x, kernel[centre])
    for o, col in enumerate(columns):
        if o == centre:
            continue
        term = ops.matmul(_take(xe, col), kernel[o])
        y = term if y is None else y + term
    return y


def _conv_hybrid(x, kernel, table, transposed):
    """Per offset over all output rows: one gather (missing neighbours read a zero row) and one
    ``(Cin, Cout)`` GEMM. Exact backward (custom gradient), gathers only, no scatter: a pair
    ``(i, j, o)`` (``table[i, o] == j``) is also ``tr[j, o'] == i`` with ``tr`` the transposed
    table and ``o' = o`` (for a submanifold table, ``tr`` is the table itself and ``o' = K - 1 -
    o``, the relation being symmetric). So ``G = dy[tr[:, o']]`` (zero rows where there is no
    pair) gives both ``dx += G @ W_o^T`` and ``dW_o = x^T @ G``.
    """
    k = kernel.shape[0]
    submanifold = transposed is None
    centre = k // 2 if submanifold else None
    # contiguous (N_out,) columns: one transpose instead of K strided slices
    columns = ops.unstack(ops.transpose(table), num=k, axis=0)

    @ops.custom_gradient
    def conv(x, kernel):
        y = _offset_sum(x, kernel, columns, centre)

        def grad(*args, upstream=None):
            dy = args[0] if upstream is None else upstream            # (N_out, Cout)
            back = (columns if submanifold
                    else ops.unstack(ops.transpose(transposed), num=k, axis=0))
            dye = _append_row(dy, 0)
            dx, dks = None, [None] * k
            for o in range(k):
                src = k - 1 - o if submanifold else o  # the column of tr listing o's pairs
                g = dy if o == centre else _take(dye, back[src])      # (N_in, Cout)
                term = ops.matmul(g, ops.transpose(kernel[o]))        # (N_in, Cin)
                dx = term if dx is None else dx + term
                dks[o] = _matmul_tn(x, g)                             # (Cin, Cout)
            return dx, ops.stack(dks)

        return y, grad

    return conv(x, kernel)


# Rows per block of the "blocked" algorithm: the block's gathered (rows, K * C) matrix holds at
# most about this many values (2**21: 8 MiB of float32), so it stays in cache.
BLOCK_VALUES = 2**21


def _block_rows(columns: int, n: int | None = None) -> int:
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
        return _conv_hybrid(x, kernel, table, transposed)
    submanifold = transposed is None
    # column o of `back` lists, per input site, the output site that offset o feeds
    back = ops.flip(table, axis=1) if submanifold else transposed

    @ops.custom_gradient
    def conv(x, kernel):
        xe = _append_row(x, 0)
        w = ops.reshape(kernel, (k * cin, cout))

        def forward(rows):                                        # (rows, K) -> (rows, Cout)
            return ops.matmul(ops.reshape(_take(xe, rows), (-1, k * cin)), w)

        y, n_out = _blockwise(forward, table, rows=_block_rows(k * cin, table.shape[0]))
        y = ops.reshape(y, (-1, cout))[:n_out]

        def grad(*args, upstream=None):
            dy = args[0] if upstream is None else upstream            # (N_out, Cout)
            dye = _append_row(dy, 0)
            wt = ops.reshape(ops.transpose(kernel, (0, 2, 1)), (k * cout, cin))

            def backward(rows, xb):                               # (rows, K), (rows, Cin)
                g = ops.reshape(_take(dye, rows), (-1, k * cout))     # (rows, K * Cout)
                return ops.matmul(g, wt), _matmul_tn(xb, g)           # dx block, dW share

            (dx, dws), n_in = _blockwise(backward, back, x,
                                         rows=_block_rows(k * cout, back.shape[0]))
            dx = ops.reshape(dx, (-1, cin))[:n_in]
            dw = ops.sum(_widened(dws), axis=0)  # the blocks' shares, summed in float32
            dw = ops.transpose(ops.reshape(dw, (cin, k, cout)), (1, 0, 2))
            return dx, ops.cast(dw, kernel.dtype)

        return y, grad

    return conv(x, kernel)


def _conv_gather(x, kernel, table, transposed):
    """The first version: one ``(N_out, K*Cin)`` gather and one GEMM, gather-only backward."""
    k, cin, cout = kernel.shape

    @ops.custom_gradient
    def conv(x, kernel):
        g = _gathered(x, table)                                   # (N_out, K*Cin)
        y = ops.matmul(g, ops.reshape(kernel, (k * cin, cout)))   # (N_out, Cout)

        def grad(*args, upstream=None):
            dy = args[0] if upstream is None else upstream        # (N_out, Cout)
            kt = ops.transpose(kernel, (0, 2, 1))                 # (K, Cout, Cin)
            if transposed is None:                                # submanifold: flip offsets
                kt, tr = ops.flip(kt, axis=0), table
            else:
                tr = transposed
            dx = ops.matmul(_gathered(dy, tr), ops.reshape(kt, (k * cout, cin)))  # (N_in, Cin)
            dk = ops.reshape(ops.matmul(ops.transpose(g), dy), (k, cin, cout))
            return dx, dk

        return y, grad

    return conv(x, kernel)


def default_algorithm() -> str:
    """The algorithm ``"auto"`` picks: ``"blocked"`` on every backend. In ``cnncourse bench
    sparse`` at 128^3, C=32 on a 2-core CPU it was the fastest forward and forward + backward
    on TensorFlow, for a thin shell and a filled ball alike; see README's benchmark section.

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
    algorithm : {"auto", "blocked", "hybrid", "pairs", "gather"}
        ``"blocked"``: per block of output rows, one gather of all K neighbours (a missing
        neighbour reads a zero row) and one ``(K*Cin, Cout)`` GEMM; the backward pass (custom
        gradient, exact) gathers ``dy`` through the transposed table once per block of input
        rows for both ``dx`` and ``dW``, no scatter. ``"hybrid"``: the same per offset (one
        gather of all ``N_out`` rows and one ``(Cin, Cout)`` GEMM each). ``"pairs"``
        (TensorFlow only): per offset, only the active neighbour pairs are gathered, multiplied
        and scatter-added; the backward pass reuses the pairs. ``"gather"``: the first version,
        one ``(N_out, K*Cin)`` gathered matrix and one GEMM (kept for the benchmark).
        ``"auto"``: :func:`default_algorithm`.

    Returns
    -------
    tensor, dtype of ``x``, shape (N_out, Cout)

    Raises
    ------
    ValueError
        An unknown ``algorithm``, or ``"pairs"`` under a backend other than TensorFlow. The
        tables are not checked here (the layers do: :func:`check_submanifold_table`,
        :func:`check_strided_tables`).

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
    if algorithm == "pairs" and keras.backend.backend() != "tensorflow":
        raise ValueError("algorithm='pairs' needs the TensorFlow backend (dynamic shapes); use "
                         "'blocked', 'hybrid' or 'gather' under JAX")
    if algorithm == "blocked":
        return _conv_blocked(x, kernel, table, transposed)
    if algorithm == "hybrid":
        return _conv_hybrid(x, kernel, table, transposed)
    if algorithm == "pairs":
        return _conv_pairs(x, kernel, table, transposed is None)
    return _conv_gather(x, kernel, table, transposed)


def _pool(x, table, transposed, mode):
    """Max or average pooling over each output site's window, with a gather-only backward."""
    k = table.shape[1]

    @ops.custom_gradient
    def pool(x):
        if mode == "max":
            neg = ops.convert_to_tensor(float("-inf"), dtype=x.dtype)
            g = _take(_append_row(x, neg), table)                    # (M, K, C)
            winner = ops.argmax(g, axis=1)                           # (M, C) offset of the max
            y = ops.max(g, axis=1)
            y = ops.where(ops.isinf(y), ops.zeros_like(y), y)  # an empty (padding) window: 0
            # site index of each max, plus a row of -1 for "no output site"
            site = ops.take_along_axis(table, ops.cast(winner, table.dtype), axis=1)
            site = ops.concatenate([site, ops.full((1, site.shape[1]), -1, site.dtype)], 0)
        else:
            wide = _widened(x)  # sums in float32 under mixed precision
            y = ops.cast(ops.sum(_take(_append_row(wide, 0), table), axis=1) / k, x.dtype)

        def grad(*args, upstream=None):
            dy = args[0] if upstream is None else upstream        # (M, C)
            dyg = _take(_append_row(dy, 0), transposed)           # (N, K, C)
            if mode == "max":
                me = ops.arange(ops.shape(x)[0], dtype=site.dtype)[:, None, None]
                won = ops.equal(_take(site, transposed), me)      # (N, K, C)
                return ops.sum(ops.where(won, dyg, ops.zeros_like(dyg)), axis=1)
            wide = _widened(dyg)
            return ops.cast(ops.sum(wide, axis=1) / k, dy.dtype)

        return y, grad

    return pool(x)


def _int_tuple_config(value, name):
    if isinstance(value, (tuple, list)):
        if len(value) != 3 or len(set(value)) != 1:
            raise ValueError(f"{name} must be one integer (cubic); got {value}")
        value = value[0]
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


class _SparseConvBase(keras.layers.Layer):
    """Shared part of the sparse convolutions: constructor arguments, weights, config.

    Not used directly: :class:`SubmanifoldConv3D`, :class:`SparseConv3D` and
    :class:`SparseInverseConv3D` add the neighbour tables of their ``call``. The weights have
    the layout of ``keras.layers.Conv3D``, so dense kernels can be copied in and out.

    Parameters
    ----------
    filters : int
        Number of output channels ``Cout`` (a positive integer).
    kernel_size : int or tuple of 3 equal int
        Side ``k`` of the cubic kernel; the tables passed to ``call`` must have ``k**3``
        columns.
    use_bias : bool
        Add a learned bias of shape ``(filters,)``.
    kernel_initializer, bias_initializer : str or keras.initializers.Initializer
        As in ``keras.layers.Conv3D`` (default ``"glorot_uniform"`` and ``"zeros"``).
    kernel_regularizer, bias_regularizer : str or keras.regularizers.Regularizer, optional
        As in ``keras.layers.Conv3D``.
    algorithm : {"auto", "blocked", "hybrid", "pairs", "gather"}
        How the convolution is computed (same numbers each way): see :func:`sparse_conv`;
        ``"auto"`` is :func:`default_algorithm`.
    **kwargs
        Base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ``trainable``, ...).

    Attributes
    ----------
    kernel : keras.Variable, float, shape (k, k, k, Cin, filters)
        Created by ``build`` from the features' last axis ``Cin``.
    bias : keras.Variable, float, shape (filters,), or None
        ``None`` when ``use_bias=False``.
    volume : int
        ``k**3``, the number of kernel offsets (columns of the tables).

    Raises
    ------
    ValueError
        At construction: ``filters`` or ``kernel_size`` not a positive integer (or a non-cubic
        tuple), an unknown ``algorithm``. At build: unknown number of input channels. At call:
        features with another number of channels than the layer was built for; a table that is
        not 2-D, not integer, has other than ``kernel_size**3`` columns or the wrong number of
        rows; and, when the values are known (eager / NumPy), entries that do not fit the layer
        (see each subclass).

    Examples
    --------
    >>> layer = SubmanifoldConv3D(4, 3, use_bias=False)   # a concrete subclass
    >>> layer.volume, layer.get_config()["algorithm"]
    (27, 'auto')
    >>> SubmanifoldConv3D(0)
    Traceback (most recent call last):
    ...
    ValueError: filters must be a positive integer; got 0
    """

    def __init__(self, filters, kernel_size, *, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 algorithm="auto", **kwargs):
        super().__init__(**kwargs)
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}; got {algorithm!r}")
        self.algorithm = algorithm
        if isinstance(filters, bool) or int(filters) != filters or filters < 1:
            raise ValueError(f"filters must be a positive integer; got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = _int_tuple_config(kernel_size, "kernel_size")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    @property
    def volume(self) -> int:
        return self.kernel_size ** 3

    def build(self, features_shape):
        cin = features_shape[-1]
        if cin is None:
            raise ValueError(f"{self.name}: the number of input channels must be known")
        k = self.kernel_size
        self.kernel = self.add_weight(name="kernel", shape=(k, k, k, int(cin), self.filters),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,),
                                     initializer=self.bias_initializer,
                                     regularizer=self.bias_regularizer)
                     if self.use_bias else None)

    def _conv(self, features, table, transposed):
        cin = self.kernel.shape[3]
        if features.shape[-1] is not None and features.shape[-1] != cin:
            raise ValueError(f"{self.name}: features have {features.shape[-1]} channels; the "
                             f"layer was built for {cin}")
        kernel = ops.reshape(ops.cast(self.kernel, features.dtype),
                             (self.volume, cin, self.filters))
        y = sparse_conv(features, kernel, table, transposed, algorithm=self.algorithm)
        if self.use_bias:
            y = y + ops.cast(self.bias, y.dtype)
        return y

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters, kernel_size=self.kernel_size, use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=keras.regularizers.serialize(self.bias_regularizer),
            algorithm=self.algorithm)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SubmanifoldConv3D(_SparseConvBase):
    """Submanifold sparse convolution (Graham & van der Maaten 2017): output sites = input sites.

    Equal to ``keras.layers.Conv3D(filters, kernel_size, padding="same")`` evaluated at the
    active sites of a grid that is zero elsewhere; inactive sites stay inactive, so a thin
    surface does not "dilate" layer after layer.

    Parameters
    ----------
    filters : int
        Number of output channels (a positive integer).
    kernel_size : int or tuple of 3 equal int
        Odd side ``k`` of the cubic kernel (default 3), centred on each site.
    use_bias : bool
        Add a learned bias of shape ``(filters,)``.
    kernel_initializer, bias_initializer : str or keras.initializers.Initializer
        As in ``keras.layers.Conv3D`` (default ``"glorot_uniform"`` and ``"zeros"``).
    kernel_regularizer, bias_regularizer : str or keras.regularizers.Regularizer, optional
        As in ``keras.layers.Conv3D``.
    algorithm : {"auto", "blocked", "hybrid", "pairs", "gather"}
        How the convolution is computed (same numbers each way): see :func:`sparse_conv`;
        ``"auto"`` is :func:`default_algorithm`.
    **kwargs
        Base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ``trainable``, ...).

    Call arguments
    --------------
    features : float tensor or ndarray, shape (N, Cin)
        One row per active site.
    neighbors : int tensor or ndarray, shape (N, k**3)
        The table of :func:`~cnncourse.sparse.rulebook.neighbor_table` (or
        ``SparseTensor.neighbors(k)``): the site at each offset of each site, ``N`` where
        there is none; column ``k**3 // 2`` lists every site itself.

    Input shape
    -----------
    ``(N, Cin)`` features and ``(N, k**3)`` int table.

    Output shape
    ------------
    ``(N, filters)``: the same sites, in the same order.

    Returns
    -------
    tensor, dtype of the features, shape (N, filters)
        ``y[i] = sum_o features[neighbors[i, o]] @ kernel[o] (+ bias)`` over the offsets ``o``
        whose neighbour exists.

    Raises
    ------
    ValueError
        At construction: ``filters`` or ``kernel_size`` not a positive integer (or a non-cubic
        tuple), an unknown ``algorithm``, an even ``kernel_size``. At build: unknown number of
        input channels. At call: features with another number of channels than the layer was
        built for; a table that is not 2-D, not integer, has other than ``kernel_size**3``
        columns or the wrong number of rows; and, when the values are known (eager / NumPy),
        entries outside ``[0, N]`` or a centre column that is not ``0, 1, ..., N-1`` (e.g. a
        downsample table passed instead).

    Examples
    --------
    >>> import numpy as np
    >>> from cnncourse.sparse import SparseTensor
    >>> st = SparseTensor([[0, 1, 1, 1], [0, 1, 1, 2]], np.ones((2, 4), "float32"), (4, 4, 4))
    >>> layer = SubmanifoldConv3D(8, 3)
    >>> tuple(layer(st.features, st.neighbors(3)).shape)
    (2, 8)
    >>> ones = SubmanifoldConv3D(1, 3, kernel_initializer="ones", use_bias=False)
    >>> np.asarray(ones(st.features, st.neighbors(3))).tolist()   # 4 channels x 2 sites each
    [[8.0], [8.0]]
    """

    def __init__(self, filters, kernel_size=3, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"SubmanifoldConv3D needs an odd kernel_size; got {self.kernel_size}")

    def call(self, features, neighbors):
        neighbors = _as_table(neighbors, "neighbors", self.volume, self.name)
        check_submanifold_table(neighbors, features.shape[0], self.name)
        return self._conv(features, neighbors, None)

    def compute_output_shape(self, features_shape, neighbors_shape):
        return (features_shape[0], self.filters)


class _StridedSparseConv(_SparseConvBase):
    """Shared by the down- and up-sampling convolutions: a ``strides`` that defaults to the kernel."""

    def __init__(self, filters, kernel_size=2, strides=None, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self.strides = self.kernel_size if strides is None else _int_tuple_config(strides,
                                                                                 "strides")

    def get_config(self):
        return {**super().get_config(), "strides": self.strides}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SparseConv3D(_StridedSparseConv):
    """Strided sparse convolution (downsampling) to the coarse sites of a downsample table.

    Equal to ``keras.layers.Conv3D(filters, kernel_size, strides, padding="valid")`` at the
    output sites (the coarse positions whose window holds at least one active site).

    Parameters
    ----------
    filters : int
        Number of output channels (a positive integer).
    kernel_size : int or tuple of 3 equal int
        Side ``k`` of the cubic kernel (default 2).
    strides : int or tuple of 3 equal int, optional
        Default: ``kernel_size``. Kept in the config; the geometry comes from the tables,
        so build them with the same ``kernel_size`` and ``stride``.
    use_bias : bool
        Add a learned bias of shape ``(filters,)``.
    kernel_initializer, bias_initializer : str or keras.initializers.Initializer
        As in ``keras.layers.Conv3D`` (default ``"glorot_uniform"`` and ``"zeros"``).
    kernel_regularizer, bias_regularizer : str or keras.regularizers.Regularizer, optional
        As in ``keras.layers.Conv3D``.
    algorithm : {"auto", "blocked", "hybrid", "pairs", "gather"}
        How the convolution is computed (same numbers each way): see :func:`sparse_conv`;
        ``"auto"`` is :func:`default_algorithm`.
    **kwargs
        Base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ``trainable``, ...).

    Call arguments
    --------------
    features : float tensor or ndarray, shape (N, Cin)
        Features of the N fine (input) sites.
    table : int tensor or ndarray, shape (M, k**3)
        The input site at each offset of each coarse output site, ``N`` where there is none.
    transposed : int tensor or ndarray, shape (N, k**3)
        Its transpose: the output site that reads input site ``j`` at offset ``o``, ``M``
        where there is none. Both come from one
        :func:`~cnncourse.sparse.rulebook.downsample_table` call (or
        ``SparseTensor.downsample``), in this order.

    Input shape
    -----------
    ``(N, Cin)`` features, ``(M, k**3)`` and ``(N, k**3)`` int tables.

    Output shape
    ------------
    ``(M, filters)``: one row per coarse site (the sites of ``downsample_table``'s ``coarse``).

    Returns
    -------
    tensor, dtype of the features, shape (M, filters)

    Raises
    ------
    ValueError
        At construction: ``filters`` or ``kernel_size`` not a positive integer (or a non-cubic
        tuple), an unknown ``algorithm``, a ``strides`` that is not a positive integer. At
        build: unknown number of input channels. At call: features with another number of
        channels than the layer was built for; a table that is not 2-D, not integer, has other
        than ``kernel_size**3`` columns or the wrong number of rows; and, when the values are
        known (eager / NumPy), entries out of range or two tables that are not each other's
        transpose (e.g. passed in the other order).

    Examples
    --------
    >>> import numpy as np
    >>> from cnncourse.sparse import SparseTensor
    >>> st = SparseTensor([[0, 0, 0, 0], [0, 0, 0, 1], [0, 2, 2, 2]],
    ...                   np.array([[1.0], [2.0], [4.0]], "float32"), (4, 4, 4))
    >>> coarse, table, transposed = st.downsample(2)
    >>> coarse.coords.tolist()                     # two 2x2x2 windows hold a site
    [[0, 0, 0, 0], [0, 1, 1, 1]]
    >>> down = SparseConv3D(1, 2, kernel_initializer="ones", use_bias=False)
    >>> np.asarray(down(st.features, table, transposed)).tolist()   # window sums
    [[3.0], [4.0]]
    """

    def call(self, features, table, transposed):
        table = _as_table(table, "table", self.volume, self.name)
        transposed = _as_table(transposed, "transposed", self.volume, self.name)
        check_strided_tables(table, transposed, features.shape[0], self.name)
        return self._conv(features, table, transposed)

    def compute_output_shape(self, features_shape, table_shape, transposed_shape):
        return (table_shape[0], self.filters)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SparseInverseConv3D(_StridedSparseConv):
    """Inverse of a :class:`SparseConv3D`: back from the coarse sites to the fine sites.

    Equal to ``keras.layers.Conv3DTranspose(filters, kernel_size, strides, padding="valid")``
    at the fine sites (with this layer's kernel ``(k, k, k, Cin, Cout)`` being
    Conv3DTranspose's ``(k, k, k, Cout, Cin)`` kernel transposed in its last two axes).

    Parameters
    ----------
    filters : int
        Number of output channels (a positive integer).
    kernel_size : int or tuple of 3 equal int
        Side ``k`` of the cubic kernel (default 2), that of the matching :class:`SparseConv3D`.
    strides : int or tuple of 3 equal int, optional
        Default: ``kernel_size``. Kept in the config; the geometry comes from the tables.
    use_bias : bool
        Add a learned bias of shape ``(filters,)``.
    kernel_initializer, bias_initializer : str or keras.initializers.Initializer
        As in ``keras.layers.Conv3D`` (default ``"glorot_uniform"`` and ``"zeros"``).
    kernel_regularizer, bias_regularizer : str or keras.regularizers.Regularizer, optional
        As in ``keras.layers.Conv3D``.
    algorithm : {"auto", "blocked", "hybrid", "pairs", "gather"}
        How the convolution is computed (same numbers each way): see :func:`sparse_conv`;
        ``"auto"`` is :func:`default_algorithm`.
    **kwargs
        Base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ``trainable``, ...).

    Call arguments
    --------------
    features : float tensor or ndarray, shape (M, Cin)
        Features of the M coarse (input) sites.
    transposed : int tensor or ndarray, shape (N, k**3)
        For each fine output site, the coarse site that covers it at each offset (``M``
        where none does).
    table : int tensor or ndarray, shape (M, k**3)
        Its transpose. The SAME two tables as the downsampling layer's, in the other order.

    Input shape
    -----------
    ``(M, Cin)`` features, ``(N, k**3)`` and ``(M, k**3)`` int tables.

    Output shape
    ------------
    ``(N, filters)``: one row per fine site, in the order of the fine sites.

    Returns
    -------
    tensor, dtype of the features, shape (N, filters)

    Raises
    ------
    ValueError
        At construction: ``filters`` or ``kernel_size`` not a positive integer (or a non-cubic
        tuple), an unknown ``algorithm``, a ``strides`` that is not a positive integer. At
        build: unknown number of input channels. At call: features with another number of
        channels than the layer was built for; a table that is not 2-D, not integer, has other
        than ``kernel_size**3`` columns or the wrong number of rows; and, when the values are
        known (eager / NumPy), entries out of range or two tables that are not each other's
        transpose (e.g. passed in the downsampling order).

    Examples
    --------
    >>> import numpy as np
    >>> from cnncourse.sparse import SparseTensor
    >>> st = SparseTensor([[0, 0, 0, 0], [0, 0, 0, 1], [0, 2, 2, 2]],
    ...                   np.ones((3, 1), "float32"), (4, 4, 4))
    >>> coarse, table, transposed = st.downsample(2)
    >>> up = SparseInverseConv3D(1, 2, kernel_initializer="ones", use_bias=False)
    >>> np.asarray(up(np.array([[10.0], [20.0]], "float32"), transposed, table)).tolist()
    [[10.0], [10.0], [20.0]]
    """

    def call(self, features, transposed, table):
        transposed = _as_table(transposed, "transposed", self.volume, self.name)
        table = _as_table(table, "table", self.volume, self.name)
        # here the coarse sites (M) are the inputs: ``transposed`` (N, K) lists them per fine
        # output site, and ``table`` (M, K) is its transpose
        check_strided_tables(transposed, table, features.shape[0], self.name,
                             names=("transposed", "table"))
        return self._conv(features, transposed, table)

    def compute_output_shape(self, features_shape, transposed_shape, table_shape):
        return (transposed_shape[0], self.filters)


class _SparsePool(keras.layers.Layer):
    mode = "max"

    def __init__(self, pool_size=2, strides=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _int_tuple_config(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else _int_tuple_config(strides,
                                                                               "strides")

    def call(self, features, table, transposed):
        table = _as_table(table, "table", self.pool_size ** 3, self.name)
        transposed = _as_table(transposed, "transposed", self.pool_size ** 3, self.name)
        check_strided_tables(table, transposed, features.shape[0], self.name)
        return _pool(features, table, transposed, self.mode)

    def compute_output_shape(self, features_shape, table_shape, transposed_shape):
        return (table_shape[0], features_shape[-1])

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SparseMaxPool3D(_SparsePool):
    """Max over the active sites of each window (inactive sites are not zeros here).

    Equal to ``keras.layers.MaxPooling3D(pool_size, strides)`` on a grid holding ``-inf`` at
    the inactive sites (and to it on a zero grid when the features are >= 0, e.g. after ReLU).
    The gradient goes to the site holding each maximum.

    Parameters
    ----------
    pool_size : int or tuple of 3 equal int
        Side ``k`` of the cubic window (default 2); the tables must have ``k**3`` columns.
    strides : int or tuple of 3 equal int, optional
        Default: ``pool_size``. Kept in the config; the geometry comes from the tables, so
        build them with the same ``kernel_size`` and ``stride``.
    **kwargs
        Base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Call arguments
    --------------
    features : float tensor or ndarray, shape (N, C)
    table : int tensor or ndarray, shape (M, k**3)
    transposed : int tensor or ndarray, shape (N, k**3)
        The two tables of one :func:`~cnncourse.sparse.rulebook.downsample_table` call (or
        ``SparseTensor.downsample``), in this order.

    Input shape
    -----------
    ``(N, C)`` features, ``(M, k**3)`` and ``(N, k**3)`` int tables.

    Output shape
    ------------
    ``(M, C)``: one row per coarse site.

    Returns
    -------
    tensor, dtype of the features, shape (M, C)
        Per channel, the largest feature of the window's active sites.

    Raises
    ------
    ValueError
        At construction: ``pool_size`` or ``strides`` not a positive integer. At call: a table
        that is not 2-D integer with ``pool_size**3`` columns and the right number of rows;
        when the values are known (eager / NumPy), entries out of range or two tables that
        are not each other's transpose.

    Examples
    --------
    >>> import numpy as np
    >>> from cnncourse.sparse import SparseTensor
    >>> st = SparseTensor([[0, 0, 0, 0], [0, 0, 0, 1], [0, 2, 2, 2]],
    ...                   np.array([[1.0], [2.0], [4.0]], "float32"), (4, 4, 4))
    >>> coarse, table, transposed = st.downsample(2)
    >>> np.asarray(SparseMaxPool3D(2)(st.features, table, transposed)).tolist()
    [[2.0], [4.0]]
    """

    mode = "max"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SparseAvgPool3D(_SparsePool):
    """Sum over each window divided by the window volume ``pool_size**3``.

    Equal to ``keras.layers.AveragePooling3D(pool_size, strides)`` on the zero-filled grid
    (inactive sites count as zeros; sums in float32 under mixed precision).

    Parameters
    ----------
    pool_size : int or tuple of 3 equal int
        Side ``k`` of the cubic window (default 2); the tables must have ``k**3`` columns.
    strides : int or tuple of 3 equal int, optional
        Default: ``pool_size``. Kept in the config; the geometry comes from the tables, so
        build them with the same ``kernel_size`` and ``stride``.
    **kwargs
        Base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Call arguments
    --------------
    features : float tensor or ndarray, shape (N, C)
    table : int tensor or ndarray, shape (M, k**3)
    transposed : int tensor or ndarray, shape (N, k**3)
        The two tables of one :func:`~cnncourse.sparse.rulebook.downsample_table` call (or
        ``SparseTensor.downsample``), in this order.

    Input shape
    -----------
    ``(N, C)`` features, ``(M, k**3)`` and ``(N, k**3)`` int tables.

    Output shape
    ------------
    ``(M, C)``: one row per coarse site.

    Returns
    -------
    tensor, dtype of the features, shape (M, C)
        The window's sum divided by ``pool_size**3``.

    Raises
    ------
    ValueError
        At construction: ``pool_size`` or ``strides`` not a positive integer. At call: a table
        that is not 2-D integer with ``pool_size**3`` columns and the right number of rows;
        when the values are known (eager / NumPy), entries out of range or two tables that
        are not each other's transpose.

    Examples
    --------
    >>> import numpy as np
    >>> from cnncourse.sparse import SparseTensor
    >>> st = SparseTensor([[0, 0, 0, 0], [0, 0, 0, 1], [0, 2, 2, 2]],
    ...                   np.array([[1.0], [2.0], [4.0]], "float32"), (4, 4, 4))
    >>> coarse, table, transposed = st.downsample(2)
    >>> np.asarray(SparseAvgPool3D(2)(st.features, table, transposed)).tolist()  # 3 / 8, 4 / 8
    [[0.375], [0.5]]
    """

    mode = "avg"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SparseBatchNormalization(keras.layers.BatchNormalization):
    """Batch normalisation over the active sites.

    The features of a sparse tensor are a ``(N, C)`` matrix holding only active sites, so the
    ordinary ``BatchNormalization`` over axis 0 already computes its statistics over active
    sites alone (a dense BatchNorm would count the zeros of the empty space). This subclass
    only fixes ``axis=-1`` and names the intent.

    Parameters
    ----------
    **kwargs
        The arguments of ``keras.layers.BatchNormalization`` (``momentum``, ``epsilon``,
        ``center``, ``scale``, initializers, regularizers, ``name``, ...). ``axis`` may only be
        ``-1`` (or ``1``, the same axis of a 2-D input).

    Call arguments
    --------------
    features : float tensor or ndarray, shape (N, C)
    training : bool, optional
        Batch statistics (and update the moving ones) when True, moving statistics otherwise.

    Input shape
    -----------
    ``(N, C)``.

    Output shape
    ------------
    ``(N, C)``.

    Returns
    -------
    tensor, dtype of the features, shape (N, C)
        ``gamma * (x - mean) / sqrt(var + epsilon) + beta`` per channel.

    Raises
    ------
    ValueError
        ``axis`` other than ``-1`` / ``1``.

    Examples
    --------
    >>> import numpy as np
    >>> bn = SparseBatchNormalization(epsilon=0.0)
    >>> x = np.array([[1.0], [2.0], [3.0]], "float32")   # three sites, one channel
    >>> [round(float(v), 3) for v in np.asarray(bn(x, training=True)).ravel()]
    [-1.225, 0.0, 1.225]
    >>> SparseBatchNormalization(axis=0)
    Traceback (most recent call last):
    ...
    ValueError: SparseBatchNormalization normalises channels (axis=-1); got axis=0
    """

    def __init__(self, **kwargs):
        axis = kwargs.pop("axis", -1)
        if axis not in (-1, 1, [-1], [1]):
            raise ValueError(f"SparseBatchNormalization normalises channels (axis=-1); got "
                             f"axis={axis}")
        super().__init__(axis=-1, **kwargs)

    def compute_mask(self, inputs, mask=None):
        # ``mask`` (the bucket padding's valid sites) only picks the rows the statistics count;
        # it is not a Keras sequence mask to pass on (the pooling layers after would warn).
        return None


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SparseGlobalPool3D(keras.layers.Layer):
    """Pool all sites of each sample: ``(N, C)`` -> ``(B, C)`` (a classification head's input).

    Parameters
    ----------
    mode : {"avg", "max", "avg_max"}
        Mean over a sample's sites, their max, or both concatenated (``(B, 2C)``). An empty
        sample gives zeros.
    **kwargs
        Base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Call arguments
    --------------
    features : float tensor or ndarray, shape (N, C)
    batch_index : int tensor or ndarray, shape (N,) or (N, 1)
        The sample of each site, in ``[0, B)`` (``SparseTensor.batch_index``).
    samples : tensor, shape (B, ...)
        Any tensor with one entry per sample (e.g. ``arange(B)``): its length gives B, so
        trailing empty samples are kept.

    Input shape
    -----------
    ``(N, C)`` features, ``(N,)`` int batch index, ``(B, ...)``.

    Output shape
    ------------
    ``(B, C)``, or ``(B, 2 C)`` for ``mode="avg_max"`` (means first, then maxima).

    Returns
    -------
    tensor, dtype of the features, shape (B, C) or (B, 2 C)

    Raises
    ------
    ValueError
        An unknown ``mode``.

    Examples
    --------
    >>> import numpy as np
    >>> features = np.array([[1.0], [3.0], [5.0]], "float32")
    >>> batch_index = np.array([0, 0, 2])                   # sample 1 has no site
    >>> pool = SparseGlobalPool3D("avg_max")
    >>> np.asarray(pool(features, batch_index, np.arange(3))).tolist()
    [[2.0, 3.0], [0.0, 0.0], [5.0, 5.0]]
    """

    def __init__(self, mode="avg", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("avg", "max", "avg_max"):
            raise ValueError(f"mode must be 'avg', 'max' or 'avg_max'; got {mode!r}")
        self.mode = mode

    def call(self, features, batch_index, samples):
        b = ops.shape(samples)[0]
        ids = ops.cast(ops.reshape(batch_index, (-1,)), "int32")
        # counts and sums in float32 (float16 counts stop at 2048 and lose sites beyond)
        wide = _widened(features)
        count = ops.segment_sum(ops.ones_like(wide[:, :1]), ids, num_segments=b)  # (B, 1)
        out = []
        if self.mode in ("avg", "avg_max"):
            total = ops.segment_sum(wide, ids, num_segments=b)
            out.append(ops.cast(total / ops.maximum(count, 1), features.dtype))
        if self.mode in ("max", "avg_max"):
            high = ops.segment_max(features, ids, num_segments=b)
            out.append(ops.where(count > 0, high, ops.zeros_like(high)))
        return out[0] if len(out) == 1 else ops.concatenate(out, axis=-1)

    def compute_output_shape(self, features_shape, batch_index_shape, samples_shape):
        c = features_shape[-1]
        return (samples_shape[0], None if c is None else c * (2 if self.mode == "avg_max" else 1))

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SparseToDense(keras.layers.Layer):
    """Place site features in a dense ``(B, D, H, W, C)`` grid (zeros elsewhere).

    Parameters
    ----------
    spatial_shape : tuple of 3 int
        ``(D, H, W)`` of the grid (positive integers).
    **kwargs
        Base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Call arguments
    --------------
    features : float tensor or ndarray, shape (N, C)
    coords : int tensor or ndarray, shape (N, 4)
        Rows ``(b, z, y, x)`` inside ``(B,) + spatial_shape``, no site twice (not checked
        here: :func:`~cnncourse.sparse.tensor.validate_coords` does).
    samples : tensor, shape (B, ...)
        Any tensor with one entry per sample (its length gives B).

    Input shape
    -----------
    ``(N, C)`` features, ``(N, 4)`` int coordinates, ``(B, ...)``.

    Output shape
    ------------
    ``(B, D, H, W, C)``.

    Returns
    -------
    tensor, dtype of the features, shape (B, D, H, W, C)
        ``features[i]`` at ``coords[i]``, zeros elsewhere.

    Raises
    ------
    ValueError
        ``spatial_shape`` not 3 positive integers.

    Examples
    --------
    >>> import numpy as np
    >>> to_dense = SparseToDense((4, 4, 4))
    >>> features = np.array([[1.0], [4.0]], "float32")
    >>> grid = to_dense(features, np.array([[0, 0, 0, 1], [1, 2, 2, 2]]), np.arange(2))
    >>> tuple(grid.shape), float(grid[0, 0, 0, 1, 0]), float(grid[1, 2, 2, 2, 0])
    ((2, 4, 4, 4, 1), 1.0, 4.0)
    """

    def __init__(self, spatial_shape, **kwargs):
        super().__init__(**kwargs)
        shape = tuple(int(s) for s in spatial_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"spatial_shape must be 3 positive integers; got {spatial_shape!r}")
        self.spatial_shape = shape

    def call(self, features, coords, samples):
        b = ops.shape(samples)[0]
        shape = (b,) + self.spatial_shape + (features.shape[-1],)
        return ops.scatter(ops.cast(coords, "int32"), features, shape)

    def compute_output_shape(self, features_shape, coords_shape, samples_shape):
        return (samples_shape[0],) + self.spatial_shape + (features_shape[-1],)

    def get_config(self):
        return {**super().get_config(), "spatial_shape": list(self.spatial_shape)}
