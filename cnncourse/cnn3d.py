"""3D CNNs for volumes: counting (parameters, activation memory), the reference model builder, a
``tf.data`` input pipeline with 3D-rotation augmentation, training and prediction helpers.
Pictures of volumes are in :mod:`cnncourse.viz` (slices, projections, isosurface) and
:mod:`cnncourse.widgets` (the slice explorer).

Volumes are NumPy arrays (n, D, H, W) with axes (z, y, x); the models take (n, D, H, W, 1).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

if TYPE_CHECKING:  # annotations only
    import keras
    import tensorflow as tf

    from cnncourse.sparse.net import SparseBatches

__all__ = ["conv3d_params", "activation_memory", "make_dataset", "RotatedBatches", "DenseBatches",
           "train_cnn3d", "predict_scores"]


# --------------------------------------------------------------------------------------------
# Counting


def conv3d_params(kernel_size: int, in_channels: int, filters: int, *, bias: bool = True) -> int:
    """Trainable parameters of a Conv3D layer: ``k^3 * in_channels * filters (+ filters)``.

    Examples
    --------
    >>> conv3d_params(3, 1, 16), conv3d_params(7, 1, 16)
    (448, 5504)
    """
    for name, v in (("kernel_size", kernel_size), ("in_channels", in_channels), ("filters", filters)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}: expected a positive int, got {v!r}")
    return int(kernel_size ** 3 * in_channels * filters + (filters if bias else 0))


def activation_memory(shape: Sequence[int], *, batch_size: int = 1,
                      bytes_per_value: int = 4) -> int:
    """Bytes to store one layer's activations: ``batch * prod(shape) * bytes_per_value``.

    ``shape`` is one example's output shape, e.g. (32, 32, 32, 16) for 16 feature maps of 32^3.

    Parameters
    ----------
    shape : sequence of int
        One example's activation shape, e.g. ``(D, H, W, C)``; positive sizes.
    batch_size : int
        Examples held at once.
    bytes_per_value : int
        4 for float32, 2 for float16.

    Returns
    -------
    int
        Bytes (int64 arithmetic, no overflow for large volumes).

    Raises
    ------
    ValueError
        An empty ``shape`` or a size < 1.

    Examples
    --------
    >>> activation_memory((32, 32, 32, 16), batch_size=8) / 2**20   # MiB
    16.0
    """
    shape = tuple(int(s) for s in shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"shape: expected positive sizes, got {shape}")
    return int(batch_size * np.prod(shape, dtype=np.int64) * bytes_per_value)


# --------------------------------------------------------------------------------------------
# Models and data


def _build_cnn3d(input_shape: Sequence[int] = (32, 32, 32, 1),
                 filters: Sequence[int] = (8, 16, 32), dropout: float = 0.3, *,
                 augment: bool = False, seed: int | None = None,
                 name: str = "cnn3d") -> keras.Model:
    """The reference 3D CNN of notebook 12 (the learner writes ``build_cnn3d``; the checks and
    the benchmark use this one). Output: the probability of class 1, shape (batch, 1).

    Each block is Conv3D (3x3x3, "same", no bias) -> BatchNormalization -> ReLU ->
    MaxPooling3D(2); then a global average over the volume, dropout and a one-unit sigmoid layer.

    Parameters
    ----------
    input_shape : tuple of 4 int
        (D, H, W, C) of one example; D, H, W at least ``2**len(filters)``.
    filters : sequence of int
        Filters per block (positive); the volume halves in each dimension per pooling step.
    dropout : float in [0, 1)
        Rate of the dropout before the output layer.
    augment : bool
        Put :class:`cnncourse.augment.RandomRotation3D` first (random rotation + flips of every
        training batch, off at inference); used by the benchmark's in-model pipeline.
    seed : int, optional
        Seed of the rotation layer and the dropout.
    name : str
        Name of the model.

    Input shape
    -----------
    ``(batch, D, H, W, C)`` float (the model's input layer is named ``"volume"``).

    Output shape
    ------------
    ``(batch, 1)`` float32 (the output layer ``"p_lobulated"`` computes in float32 also under
    mixed precision).

    Returns
    -------
    keras.Model
        Not compiled; layers ``conv1, bn1, relu1, pool1, ...``, ``global_avg``, ``dropout``,
        ``p_lobulated`` (and ``rotate3d`` first with ``augment``).

    Raises
    ------
    ValueError
        ``input_shape`` not of length 4, or too small for ``len(filters)`` poolings; ``filters``
        empty or holding a value < 1; ``dropout`` outside ``[0, 1)``.

    Examples
    --------
    >>> model = _build_cnn3d((16, 16, 16, 1), filters=(4, 8))
    >>> model.input_shape, model.output_shape
    ((None, 16, 16, 16, 1), (None, 1))
    >>> [layer.name for layer in model.layers[1:5]], model.count_params()
    (['conv1', 'bn1', 'relu1', 'pool1'], 1029)
    >>> _build_cnn3d((4, 4, 4, 1), filters=(4, 8, 16))
    Traceback (most recent call last):
    ...
    ValueError: input_shape: (4, 4, 4) is too small for 3 pooling steps
    """
    from cnncourse.device import import_keras

    keras = import_keras()
    layers = keras.layers
    input_shape = tuple(input_shape)
    if len(input_shape) != 4:
        raise ValueError(f"input_shape: expected (D, H, W, C), got {input_shape}")
    if not filters or any(int(f) < 1 for f in filters):
        raise ValueError(f"filters: expected a non-empty sequence of positive ints, got {filters}")
    if min(input_shape[:3]) < 2 ** len(filters):
        raise ValueError(f"input_shape: {input_shape[:3]} is too small for {len(filters)} "
                         "pooling steps")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout: expected a rate in [0, 1), got {dropout}")
    inputs = keras.Input(input_shape, name="volume")
    x = inputs
    if augment:
        from cnncourse.augment import RandomRotation3D

        x = RandomRotation3D(seed=seed, name="rotate3d")(x)
    for i, f in enumerate(filters):
        x = layers.Conv3D(int(f), 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i + 1}")(x)
        x = layers.ReLU(name=f"relu{i + 1}")(x)
        x = layers.MaxPooling3D(2, name=f"pool{i + 1}")(x)
    x = layers.GlobalAveragePooling3D(name="global_avg")(x)
    x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="p_lobulated", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def _check_xy(volumes, y):
    volumes = np.asarray(volumes)
    if volumes.ndim == 4:
        volumes = volumes[..., None]
    if volumes.ndim != 5:
        raise ValueError(f"volumes: expected shape (n, D, H, W) or (n, D, H, W, C), got {volumes.shape}")
    if volumes.dtype.kind != "f":
        raise TypeError(f"volumes: expected a float array, got dtype {volumes.dtype}")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (len(volumes),):
            raise ValueError(f"y: expected shape ({len(volumes)},), got {y.shape}")
    return volumes.astype(np.float32, copy=False), y


def make_dataset(volumes: np.ndarray, y: np.ndarray | None = None, *, batch_size: int = 32,
                 augment: bool = False, shuffle: bool = False, seed: int = 0) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of (batch (b, D, H, W, 1) float32, labels (b,) float32) batches.

    With ``augment``, every batch is rotated by random 3D rotations (and flipped) with the
    resampler of :class:`~cnncourse.augment.RandomRotation3D`, mapped over the batches with
    ``num_parallel_calls=AUTOTUNE``, and batches are prefetched, so augmentation of the next
    batches runs on other cores while the model trains on the current one. The random numbers
    come from a seeded stream, one stateless seed per batch: the same ``seed`` gives the same
    rotations, run after run.

    Parameters
    ----------
    volumes : float ndarray, shape (n, D, H, W) or (n, D, H, W, 1)
        Cast to float32.
    y : ndarray, shape (n,), optional
        Labels (0/1), cast to float32. ``None``: the dataset yields volumes only.
    batch_size : int
        Volumes per batch (the last batch may be smaller).
    augment : bool
        Rotate and flip every batch at random (see above).
    shuffle : bool
        Reshuffle the volumes every epoch (seeded by ``seed``).
    seed : int
        Seed of the shuffling and of the rotations.

    Returns
    -------
    tf.data.Dataset
        Batches ``(b, D, H, W, 1)`` float32, with labels ``(b,)`` float32 when ``y`` is given.

    Raises
    ------
    ValueError
        ``volumes`` not (n, D, H, W) or (n, D, H, W, C); ``y`` not of shape (n,);
        ``batch_size`` not a positive int.
    TypeError
        ``volumes`` not a float array.

    Examples
    --------
    >>> ds = make_dataset(np.zeros((5, 4, 4, 4), "float32"), np.arange(5) % 2, batch_size=2)
    >>> [(tuple(v.shape), y.numpy().tolist()) for v, y in ds]
    [((2, 4, 4, 4, 1), [0.0, 1.0]), ((2, 4, 4, 4, 1), [0.0, 1.0]), ((1, 4, 4, 4, 1), [0.0])]
    """
    from cnncourse.device import import_tensorflow

    tf = import_tensorflow()
    volumes, y = _check_xy(volumes, y)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    items = volumes if y is None else (volumes, y.astype(np.float32))
    ds = tf.data.Dataset.from_tensor_slices(items)
    if shuffle:
        ds = ds.shuffle(len(volumes), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augment:
        from cnncourse.augment import RandomRotation3D

        # Each batch gets its own stateless random seed from a seeded stream (new numbers every
        # epoch), so the rotations are reproducible even though batches are augmented in parallel.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds))

        def rotate(v, s):
            b = tf.shape(v)[0]
            q = tf.random.stateless_normal((b, 4), seed=s)
            coin = tf.random.stateless_uniform((b, 1, 3), seed=s[::-1])
            mats = RandomRotation3D.matrices_from_random(q, coin)
            return RandomRotation3D.resample(v, mats)

        if y is None:
            ds = ds.map(rotate, num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = ds.map(lambda vt, s: (rotate(vt[0], s), vt[1]), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _pydataset():
    from cnncourse.device import import_keras

    return import_keras().utils.PyDataset


def RotatedBatches(volumes: np.ndarray, y: np.ndarray,
                   rotate: Callable[[np.ndarray, np.ndarray], np.ndarray], *,
                   batch_size: int = 16, seed: int = 0,
                   workers: int = 1) -> keras.utils.PyDataset:
    """Training batches for ``model.fit``, each volume rotated by its own uniformly random 3D
    rotation, drawn anew every epoch, with ``rotate(volume (D, H, W), matrix (3, 3))`` (e.g. the
    learner's resampler of notebook 12).

    Returns a ``keras.utils.PyDataset`` of (batch (b, D, H, W, 1) float32, labels (b,) float32);
    the order is reshuffled every epoch. The rotations and the order depend only on
    ``(seed, epoch, batch)``: the same seed gives the same batches, run after run.

    Parameters
    ----------
    volumes : float ndarray, shape (n, D, H, W) or (n, D, H, W, 1)
    y : ndarray, shape (n,)
        Labels (0/1).
    rotate : callable
        ``rotate(volume (D, H, W) float32, matrix (3, 3) float) -> (D, H, W)``.
    batch_size : int
        Volumes per batch; ``ceil(n / batch_size)`` batches per epoch.
    seed : int
        Seed of the order and the rotations.
    workers : int
        Threads that prepare batches (``keras.utils.PyDataset``'s ``workers``).

    Returns
    -------
    keras.utils.PyDataset
        Item ``i``: ``(b, D, H, W, 1)`` float32 volumes and ``(b,)`` float32 labels.

    Raises
    ------
    ValueError
        ``volumes`` not (n, D, H, W) or (n, D, H, W, C); ``y`` not of shape (n,);
        ``batch_size`` not a positive int; when a batch is made, ``rotate`` returning
        another shape than (D, H, W).
    TypeError
        ``volumes`` not a float array; ``rotate`` not callable.

    Examples
    --------
    >>> flip = lambda volume, matrix: volume[::-1]          # ignores the matrix
    >>> batches = RotatedBatches(np.zeros((5, 4, 4, 4), "float32"), np.ones(5), flip,
    ...                          batch_size=2)
    >>> len(batches), batches[0][0].shape, batches[0][1].tolist()
    (3, (2, 4, 4, 4, 1), [1.0, 1.0])
    """
    volumes, y = _check_xy(volumes, y)
    if not callable(rotate):
        raise TypeError(f"rotate: expected a function (volume, matrix) -> volume, got "
                        f"{type(rotate).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    from cnncourse.augment import random_rotation_matrices

    class _Rotated(_pydataset()):
        def __init__(self):
            super().__init__(workers=int(workers), use_multiprocessing=False)
            self.epoch = 0
            self.order = np.random.default_rng([seed, 0]).permutation(len(volumes))

        def __len__(self):
            return -(-len(volumes) // batch_size)

        def __getitem__(self, index):
            ids = self.order[index * batch_size:(index + 1) * batch_size]
            mats = random_rotation_matrices(len(ids), seed=[seed, self.epoch, index])
            out = np.stack([np.asarray(rotate(volumes[i, ..., 0], m), dtype=np.float32)
                            for i, m in zip(ids, mats)])
            if out.shape != (len(ids), *volumes.shape[1:4]):
                raise ValueError(f"rotate: returned volumes of shape {out.shape[1:]}, expected "
                                 f"{volumes.shape[1:4]}")
            return out[..., None], y[ids].astype(np.float32)

        def on_epoch_end(self):
            self.epoch += 1
            self.order = np.random.default_rng([seed, self.epoch]).permutation(len(volumes))

    return _Rotated()


def DenseBatches(sparse_batches: SparseBatches) -> keras.utils.PyDataset:
    """The dense twin of a :class:`cnncourse.sparse.SparseBatches`: batch ``i`` of every epoch is
    the SAME sites with the SAME features (and, with ``augment``, the same rotations), placed in a
    zero grid (b, D, H, W, C) float32. A dense and a sparse network fed this way see exactly the
    same input voxels.

    Parameters
    ----------
    sparse_batches : cnncourse.sparse.SparseBatches
        The sparse batches to mirror (their epoch advances with this dataset's).

    Returns
    -------
    keras.utils.PyDataset
        Item ``i``: ``(b, D, H, W, C)`` float32 grids and ``(b,)`` float32 labels, one item per
        batch of ``sparse_batches``.
    """
    class _Dense(_pydataset()):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.source = sparse_batches

        def __len__(self):
            return len(self.source)

        def __getitem__(self, index):
            st = self.source.batch(index)
            ids = self.source._ids(index)
            return st.to_dense().astype(np.float32), self.source.y[ids].astype(np.float32)

        def on_epoch_end(self):
            self.source.on_epoch_end()

    return _Dense()


def train_cnn3d(model: keras.Model, volumes: np.ndarray, y: np.ndarray, *, epochs: int = 10,
                batch_size: int = 16,
                rotate: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                augment: bool = False, learning_rate: float = 3e-3, seed: int = 0,
                validation: tuple[np.ndarray, np.ndarray] | None = None, verbose: int = 0,
                callbacks: Sequence[keras.callbacks.Callback] = ()) -> keras.callbacks.History:
    """Compile ``model`` (Adam with a cosine-decaying learning rate, binary cross-entropy, AUC)
    and train it on ``volumes`` (n, D, H, W) float with labels ``y`` (n,) 0/1; return the history.

    Parameters
    ----------
    model : keras.Model
        Input (D, H, W, 1), output (batch, 1) probabilities (e.g. the learner's ``build_cnn3d``).
        Compiled here (any earlier compile is replaced).
    volumes : float ndarray, shape (n, D, H, W) or (n, D, H, W, 1)
    y : ndarray, shape (n,)
        Labels 0/1.
    epochs, batch_size : int
    learning_rate : float
        Initial learning rate of the cosine decay (to 5 % of it at the end).
    seed : int
        Seed of the order of the batches and of the rotations.
    rotate : callable, optional
        ``rotate(volume, matrix) -> volume``: rotate every training volume by a random 3D
        rotation, new every epoch (:func:`RotatedBatches`, NumPy).
    augment : bool
        Random 3D rotations and flips with :class:`~cnncourse.augment.RandomRotation3D`'s
        resampler in a ``tf.data`` pipeline (:func:`make_dataset`; TensorFlow backend only).
        At most one of ``rotate`` and ``augment``.
    validation : (volumes, y), optional
        Evaluated after every epoch (loss and AUC in the history). Without it only the loss is
        tracked (an AUC metric costs time in every step).
    verbose : int
        Passed to ``model.fit``.
    callbacks : sequence of keras.callbacks.Callback

    Returns
    -------
    keras.callbacks.History
        ``history.history`` holds ``loss`` per epoch (and ``auc``, ``val_loss``, ``val_auc``
        with ``validation``).

    Raises
    ------
    ValueError
        ``volumes`` not (n, D, H, W) or (n, D, H, W, C); ``y`` not of shape (n,) (also for
        ``validation``); both ``rotate`` and ``augment`` given.
    TypeError
        ``volumes`` not a float array.
    """
    from cnncourse.device import import_keras

    keras = import_keras()
    volumes, y = _check_xy(volumes, y)
    if rotate is not None and augment:
        raise ValueError("rotate, augment: give at most one of them")
    # cosine decay of the learning rate: big steps first, small ones at the end, so the model
    # that training ends with does not depend much on the last few batches
    steps = epochs * -(-len(volumes) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, max(steps, 1), alpha=0.05)
    metrics = [] if validation is None else [keras.metrics.AUC(name="auc")]
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="binary_crossentropy",
                  metrics=metrics)
    val = None
    if validation is not None:
        vv, vy = _check_xy(*validation)
        val = (vv, vy.astype(np.float32))
    if augment:
        train = make_dataset(volumes, y, batch_size=batch_size, augment=True, shuffle=True,
                             seed=seed)
        return model.fit(train, validation_data=val, epochs=epochs, verbose=verbose,
                         shuffle=False, callbacks=list(callbacks))  # the dataset shuffles itself
    if rotate is not None:
        train = RotatedBatches(volumes, y, rotate, batch_size=batch_size, seed=seed)
        return model.fit(train, validation_data=val, epochs=epochs, verbose=verbose,
                         callbacks=list(callbacks))
    return model.fit(volumes, y.astype(np.float32), batch_size=batch_size, epochs=epochs,
                     shuffle=True, validation_data=val, verbose=verbose, callbacks=list(callbacks))


def predict_scores(model: keras.Model, volumes: np.ndarray, *,
                   batch_size: int = 64) -> np.ndarray:
    """Scores (n,) float64 of a trained model on volumes (n, D, H, W) (no augmentation).

    Parameters
    ----------
    model : keras.Model
        Output (batch, 1) (or any shape with one value per volume).
    volumes : float ndarray, shape (n, D, H, W) or (n, D, H, W, 1)
    batch_size : int

    Returns
    -------
    ndarray of float64, shape (n,)

    Raises
    ------
    ValueError
        ``volumes`` not (n, D, H, W) or (n, D, H, W, C).
    TypeError
        ``volumes`` not a float array.
    """
    from cnncourse.device import import_keras

    keras = import_keras()
    volumes, _ = _check_xy(volumes, None)
    # model(x) rather than model.predict: no tf.function to trace for every fresh model (and
    # no retracing warning when a notebook scores several models in a loop)
    out = [keras.ops.convert_to_numpy(model(volumes[i:i + batch_size], training=False))
           for i in range(0, len(volumes), batch_size)]
    return np.concatenate(out).astype(float).ravel() if out else np.zeros(0)


#: (n_train, size) used by the 3D CNN notebook in fast and full mode (and by the benchmark).
FAST_SIZE = (320, 24)
FULL_SIZE = (800, 32)
