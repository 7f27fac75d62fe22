"""The sparse convolution algorithms kept only to be measured against the library's blocked one
(:func:`cnncourse.sparse.ops.sparse_conv`) by ``cnncourse bench sparse``, and as the tests'
independent reference (``"gather"``, the first version).

* ``"hybrid"``: per offset, one gather of all rows (missing neighbours read a zero row) and one
  ``(Cin, Cout)`` GEMM; the same gather-only backward idea per offset.
* ``"pairs"`` (TensorFlow only): per offset only the active neighbour pairs are gathered,
  multiplied and scatter-added (on a thin surface about a third of the table is missing).
* ``"gather"``: one ``(N, k**3 * Cin)`` gathered matrix and one GEMM.

All are exact (custom gradients), with the arguments of :func:`conv`.
"""
from __future__ import annotations

import keras
from keras import ops

from cnncourse.sparse.ops import append_row, gather_rows, matmul_tn, sparse_conv

__all__ = ["ALGORITHMS", "conv"]

#: Every algorithm :func:`conv` runs: the library's first, then the alternatives.
ALGORITHMS = ("blocked", "hybrid", "pairs", "gather")


def _gathered(x, table):
    """(N_out, K * C): row i holds x[table[i, 0]], ..., x[table[i, K-1]] (x's last row = zero)."""
    k, c = table.shape[1], x.shape[1]
    return ops.reshape(gather_rows(append_row(x, 0), table), (-1, k * c))




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


def _offset_sum(x, kernel, columns, centre):
    """``sum_o x[columns[o]] @ kernel[o]`` over all output rows (``x``'s appended last row is the
    zero row missing neighbours read); offset ``centre`` (if any) pairs every row with itself
    and needs no gather. One gather and one GEMM per offset, accumulated in place of a
    ``(N, K * C)`` matrix."""
    xe = append_row(x, 0)
    y = None if centre is None else ops.matmul(x, kernel[centre])
    for o, col in enumerate(columns):
        if o == centre:
            continue
        term = ops.matmul(gather_rows(xe, col), kernel[o])
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
            dye = append_row(dy, 0)
            dx, dks = None, [None] * k
            for o in range(k):
                src = k - 1 - o if submanifold else o  # the column of tr listing o's pairs
                g = dy if o == centre else gather_rows(dye, back[src])      # (N_in, Cout)
                term = ops.matmul(g, ops.transpose(kernel[o]))        # (N_in, Cin)
                dx = term if dx is None else dx + term
                dks[o] = matmul_tn(x, g)                             # (Cin, Cout)
            return dx, ops.stack(dks)

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




def conv(x, kernel, table, transposed=None, *, algorithm: str):
    """``y[i] = sum_o x[table[i, o]] @ kernel[o]`` computed by ``algorithm``.

    Parameters
    ----------
    x, kernel, table, transposed
        As in :func:`cnncourse.sparse.ops.sparse_conv`: ``(N_in, Cin)`` features, a
        ``(K, Cin, Cout)`` kernel, the ``(N_out, K)`` int table and its ``(N_in, K)`` transpose
        (``None`` for a submanifold table).
    algorithm : {"blocked", "hybrid", "pairs", "gather"}
        ``"blocked"`` is the library's :func:`~cnncourse.sparse.ops.sparse_conv`.

    Returns
    -------
    tensor, dtype of ``x``, shape (N_out, Cout)

    Raises
    ------
    ValueError
        An unknown ``algorithm``, or ``"pairs"`` under a backend other than TensorFlow.

    Examples
    --------
    >>> import numpy as np
    >>> from cnncourse.sparse import SparseTensor
    >>> st = SparseTensor([[0, 0, 0, 0], [0, 0, 0, 1], [0, 2, 2, 2]],
    ...                   np.array([[1.0], [2.0], [4.0]], "float32"), (4, 4, 4))
    >>> coarse, table, transposed = st.downsample(2)   # two 2x2x2 windows hold a site
    >>> kernel = np.ones((8, 1, 1), "float32")
    >>> [np.asarray(conv(st.features, kernel, table, transposed, algorithm=a)).ravel().tolist()
    ...  for a in ("blocked", "hybrid", "gather")]      # the window sums, each way
    [[3.0, 4.0], [3.0, 4.0], [3.0, 4.0]]
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}; got {algorithm!r}")
    if algorithm == "pairs" and keras.backend.backend() != "tensorflow":
        raise ValueError("algorithm='pairs' needs the TensorFlow backend (dynamic shapes); use "
                         "'blocked', 'hybrid' or 'gather' under JAX")
    if algorithm == "blocked":
        return sparse_conv(x, kernel, table, transposed)
    if algorithm == "hybrid":
        return _conv_hybrid(x, kernel, table, transposed)
    if algorithm == "pairs":
        return _conv_pairs(x, kernel, table, transposed is None)
    return _conv_gather(x, kernel, table, transposed)
