"""Sparse 3D convolutional networks (Graham 2015; submanifold convolutions, Graham & van der
Maaten 2017) in Keras 3, for CPU and GPU, TensorFlow or JAX backend.

* :class:`SparseTensor` (NumPy): active sites ``(batch, z, y, x)`` with a feature row each.
* :mod:`~cnncourse.sparse.rulebook` (NumPy): neighbour tables, built once per resolution.
* :mod:`~cnncourse.sparse.ops` (``keras.ops``): the convolution and pooling operations; a
  convolution is one gather and one GEMM per block of a few thousand sites (no (N, 27*C)
  matrix), with an exact hand-written backward pass.
* :mod:`~cnncourse.sparse.validation`: the checks that a table belongs to a layer.
* :mod:`~cnncourse.sparse.layers` (Keras): submanifold / strided / inverse convolutions, pooling,
  batch normalisation, global pooling, sparse-to-dense.
* :mod:`~cnncourse.sparse.net`: the inputs of a multi-level network, rotation
  augmentation and a batch generator for ``model.fit``.

Importing this package is cheap; the Keras layers load on first use.
"""
from __future__ import annotations

from cnncourse.sparse import rulebook
from cnncourse.sparse.rulebook import downsample_table, neighbor_table
from cnncourse.sparse.tensor import SparseTensor, validate_coords

_LAYERS = ("sparse_conv", "SubmanifoldConv3D", "SparseConv3D", "SparseInverseConv3D",
           "SparseMaxPool3D", "SparseAvgPool3D", "SparseBatchNormalization",
           "SparseGlobalPool3D", "SparseToDense")
_NET = ("network_inputs", "network_input_layers", "bucket_size", "pad_to_buckets",
        "rotate_sites",
        "rotate_batch", "random_rotations", "split_samples", "SparseBatches", "EpochTimer")

__all__ = ["SparseTensor", "validate_coords", "neighbor_table", "downsample_table", "rulebook",
           *_LAYERS, *_NET]


def __getattr__(name: str):
    import importlib

    if name in _LAYERS:
        return getattr(importlib.import_module(f"{__name__}.layers"), name)
    if name in _NET:
        return getattr(importlib.import_module(f"{__name__}.net"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
