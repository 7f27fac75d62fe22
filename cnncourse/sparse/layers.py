"""Keras layers for sparse 3D CNNs, written with ``keras.ops`` (TensorFlow and JAX backends).

Each layer takes the features of the active sites, ``(N, C)``, and the neighbour table(s) of
:mod:`cnncourse.sparse.rulebook` as integer tensors, checks the tables
(:mod:`cnncourse.sparse.validation`: a table that does not belong to the layer raises a
ValueError naming it) and computes with :mod:`cnncourse.sparse.ops` (the blocked gather + GEMM
convolution, with its exact hand-written backward pass; no ``(N, k**3 * Cin)`` matrix is ever
built).

Kernels have the layout of ``keras.layers.Conv3D``, ``(k, k, k, Cin, Cout)``, so dense weights
can be copied in (and the tests compare against ``Conv3D`` that way).
"""
from __future__ import annotations

import keras
from keras import ops

# The modules, not their names: the Keras import hook (cnncourse._keras_hook) imports this module
# as soon as Keras is loaded, which may be half-way through importing ops or validation (they
# import Keras first); their functions are looked up when a layer is built or called.
from cnncourse.sparse import ops as sparse_ops
from cnncourse.sparse import validation

__all__ = ["sparse_conv", "default_algorithm", "check_submanifold_table", "check_strided_tables",
           "SubmanifoldConv3D", "SparseConv3D", "SparseInverseConv3D",
           "SparseMaxPool3D", "SparseAvgPool3D", "SparseBatchNormalization",
           "SparseGlobalPool3D", "SparseToDense"]

_PACKAGE = "cnncourse.sparse"
# this module's names for functions that live in ops / validation (kept for the notebooks)
_ELSEWHERE = {"sparse_conv": sparse_ops, "default_algorithm": sparse_ops,
              "check_submanifold_table": validation, "check_strided_tables": validation}


def __getattr__(name: str):
    if name in _ELSEWHERE:
        return getattr(_ELSEWHERE[name], name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    algorithm : {"auto", "blocked"}
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
        if algorithm not in sparse_ops.ALGORITHMS:
            raise ValueError(f"algorithm must be one of {sparse_ops.ALGORITHMS}; got "
                             f"{algorithm!r}")
        self.algorithm = algorithm
        if isinstance(filters, bool) or int(filters) != filters or filters < 1:
            raise ValueError(f"filters must be a positive integer; got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = validation.int_tuple_config(kernel_size, "kernel_size")
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
        y = sparse_ops.sparse_conv(features, kernel, table, transposed, algorithm=self.algorithm)
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
    algorithm : {"auto", "blocked"}
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
        neighbors = validation.as_table(neighbors, "neighbors", self.volume, self.name)
        validation.check_submanifold_table(neighbors, features.shape[0], self.name)
        return self._conv(features, neighbors, None)

    def compute_output_shape(self, features_shape, neighbors_shape):
        return (features_shape[0], self.filters)


class _StridedSparseConv(_SparseConvBase):
    """Shared by the down- and up-sampling convolutions: a ``strides`` that defaults to the kernel."""

    def __init__(self, filters, kernel_size=2, strides=None, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self.strides = (self.kernel_size if strides is None
                        else validation.int_tuple_config(strides, "strides"))

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
    algorithm : {"auto", "blocked"}
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
        table = validation.as_table(table, "table", self.volume, self.name)
        transposed = validation.as_table(transposed, "transposed", self.volume, self.name)
        validation.check_strided_tables(table, transposed, features.shape[0], self.name)
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
    algorithm : {"auto", "blocked"}
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
        transposed = validation.as_table(transposed, "transposed", self.volume, self.name)
        table = validation.as_table(table, "table", self.volume, self.name)
        # here the coarse sites (M) are the inputs: ``transposed`` (N, K) lists them per fine
        # output site, and ``table`` (M, K) is its transpose
        validation.check_strided_tables(transposed, table, features.shape[0], self.name,
                                        names=("transposed", "table"))
        return self._conv(features, transposed, table)

    def compute_output_shape(self, features_shape, transposed_shape, table_shape):
        return (transposed_shape[0], self.filters)


class _SparsePool(keras.layers.Layer):
    mode = "max"

    def __init__(self, pool_size=2, strides=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = validation.int_tuple_config(pool_size, "pool_size")
        self.strides = (self.pool_size if strides is None
                        else validation.int_tuple_config(strides, "strides"))

    def call(self, features, table, transposed):
        table = validation.as_table(table, "table", self.pool_size ** 3, self.name)
        transposed = validation.as_table(transposed, "transposed", self.pool_size ** 3, self.name)
        validation.check_strided_tables(table, transposed, features.shape[0], self.name)
        return sparse_ops.sparse_pool(features, table, transposed, self.mode)

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
        wide = sparse_ops.widened(features)
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
