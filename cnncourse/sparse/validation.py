"""Checks of the neighbour tables a sparse layer is given, and of the layers' size arguments.

A table that does not belong to the layer raises a ValueError naming it: wrong shape or number
of rows always; entries out of range, a downsample table passed as a submanifold table, or two
tables that are not each other's transpose when the values are known (eager calls and NumPy
input; a traced training step cannot raise on values, and the tables from
:func:`~cnncourse.sparse.net.network_inputs` are right by construction).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = ["check_submanifold_table", "check_strided_tables", "as_table", "int_tuple_config"]


def _concrete(t):
    """``t`` as a NumPy array when its values are known now (eager), else None (traced)."""
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


def as_table(table, name, columns, layer):
    """``table`` as an integer tensor of shape (sites, ``columns``), or a ValueError naming
    ``name`` and ``layer`` (not 2-D, not integer, another number of columns)."""
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
    m = t.shape[0]
    _check_entries(t, names[0], n_in, "input sites", layer)
    _check_entries(tr, names[1], m, "output sites", layer)
    rows, cols = np.nonzero(t < n_in)
    if int((tr < m).sum()) != rows.size or not np.array_equal(tr[t[rows, cols], cols], rows):
        raise ValueError(f"{layer}: {names[1]} is not the transpose of {names[0]} (pass the "
                         f"two tables of one downsample_table call, in the order the layer "
                         f"documents)")




def int_tuple_config(value, name):
    """A layer's cubic size argument (``kernel_size``, ``strides``, ``pool_size``) as one
    positive int: ``3`` and ``(3, 3, 3)`` give 3; anything else raises a ValueError naming
    ``name``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 3 or len(set(value)) != 1:
            raise ValueError(f"{name} must be one integer (cubic); got {value}")
        value = value[0]
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


