"""3D CNNs for volumes: a model builder, a ``tf.data`` input pipeline with 3D-rotation
augmentation, training helpers, and pictures of volumes (orthogonal slices, maximum projections,
isosurfaces, a slice-explorer widget).

Volumes are NumPy arrays (n, D, H, W) with axes (z, y, x); the models take (n, D, H, W, 1).
"""
from __future__ import annotations

import numpy as np

from cnncourse._validate import array
from cnncourse._validate import spacing as _spacing

__all__ = ["conv3d_params", "activation_memory", "make_dataset", "RotatedBatches", "DenseBatches",
           "train_cnn3d", "predict_scores", "show_slices", "show_projections", "show_isosurface",
           "slice_explorer"]


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


def activation_memory(shape, *, batch_size: int = 1, bytes_per_value: int = 4) -> int:
    """Bytes to store one layer's activations: ``batch * prod(shape) * bytes_per_value``.

    ``shape`` is one example's output shape, e.g. (32, 32, 32, 16) for 16 feature maps of 32^3.
    """
    shape = tuple(int(s) for s in shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"shape: expected positive sizes, got {shape}")
    return int(batch_size * np.prod(shape, dtype=np.int64) * bytes_per_value)


# --------------------------------------------------------------------------------------------
# Models and data


def _build_cnn3d(input_shape=(32, 32, 32, 1), filters=(8, 16, 32), dropout: float = 0.3, *,
                 augment: bool = False, seed: int | None = None, name: str = "cnn3d"):
    """The reference 3D CNN of notebook 12 (the learner writes ``build_cnn3d``; the checks and
    the benchmark use this one). Output: the probability of class 1, shape (batch, 1).

    Each block is Conv3D (3x3x3, "same", no bias) -> BatchNormalization -> ReLU ->
    MaxPooling3D(2); then a global average over the volume, dropout and a one-unit sigmoid layer.

    Parameters
    ----------
    input_shape : tuple
        (D, H, W, C) of one example.
    filters : sequence of int
        Filters per block; the volume halves in each dimension per pooling step.
    dropout : float in [0, 1)
    augment : bool
        Put :class:`cnncourse.augment.RandomRotation3D` first (random rotation + flips of every
        training batch, off at inference); used by the benchmark's in-model pipeline.
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


def make_dataset(volumes, y=None, *, batch_size: int = 32, augment: bool = False,
                 shuffle: bool = False, seed: int = 0):
    """A ``tf.data.Dataset`` of (batch (b, D, H, W, 1) float32, labels (b,) float32) batches.

    With ``augment``, every batch is rotated by random 3D rotations (and flipped) with the
    resampler of :class:`~cnncourse.augment.RandomRotation3D`, mapped over the batches with
    ``num_parallel_calls=AUTOTUNE``, and batches are prefetched, so augmentation of the next
    batches runs on other cores while the model trains on the current one. The random numbers
    come from a seeded stream, one stateless seed per batch: the same ``seed`` gives the same
    rotations, run after run.
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


def RotatedBatches(volumes, y, rotate, *, batch_size: int = 16, seed: int = 0, workers: int = 1):
    """Training batches for ``model.fit``, each volume rotated by its own uniformly random 3D
    rotation, drawn anew every epoch, with ``rotate(volume (D, H, W), matrix (3, 3))`` (e.g. the
    learner's resampler of notebook 12).

    Returns a ``keras.utils.PyDataset`` of (batch (b, D, H, W, 1) float32, labels (b,) float32);
    the order is reshuffled every epoch. The rotations and the order depend only on
    ``(seed, epoch, batch)``: the same seed gives the same batches, run after run.
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


def DenseBatches(sparse_batches):
    """The dense twin of a :class:`cnncourse.sparse.SparseBatches`: batch ``i`` of every epoch is
    the SAME sites with the SAME features (and, with ``augment``, the same rotations), placed in a
    zero grid (b, D, H, W, C) float32. A dense and a sparse network fed this way see exactly the
    same input voxels."""
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


def train_cnn3d(model, volumes, y, *, epochs: int = 10, batch_size: int = 16, rotate=None,
                augment: bool = False, learning_rate: float = 3e-3, seed: int = 0,
                validation=None, verbose=0, callbacks=()):
    """Compile ``model`` (Adam with a cosine-decaying learning rate, binary cross-entropy, AUC)
    and train it on ``volumes`` (n, D, H, W) float with labels ``y`` (n,) 0/1; return the history.

    Parameters
    ----------
    model : keras.Model
        Input (D, H, W, 1), output (batch, 1) probabilities (e.g. the learner's ``build_cnn3d``).
    rotate : callable, optional
        ``rotate(volume, matrix) -> volume``: rotate every training volume by a random 3D
        rotation, new every epoch (:func:`RotatedBatches`, NumPy).
    augment : bool
        Random 3D rotations and flips with :class:`~cnncourse.augment.RandomRotation3D`'s
        resampler in a ``tf.data`` pipeline (:func:`make_dataset`; TensorFlow backend only).
        At most one of ``rotate`` and ``augment``.
    validation : (volumes, y), optional
        Evaluated after every epoch (loss and AUC in the history).
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
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss="binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")])
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


def predict_scores(model, volumes, *, batch_size: int = 64) -> np.ndarray:
    """Scores (n,) float64 of a trained model on volumes (n, D, H, W) (no augmentation)."""
    volumes, _ = _check_xy(volumes, None)
    return np.asarray(model.predict(volumes, batch_size=batch_size, verbose=0), float).ravel()


# --------------------------------------------------------------------------------------------
# Pictures


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _check_volume(volume, name="volume"):
    return array(volume, name, ndim=3, shape="(D, H, W)")


def show_slices(volume, index=None, *, spacing=(1.0, 1.0, 1.0), cmap="gray", vmin=None, vmax=None,
                title=None, axes=None):
    """Three orthogonal slices through ``volume`` (D, H, W): xy (fixed z), xz (fixed y) and yz
    (fixed x), at ``index`` (z, y, x), default the centre. ``spacing`` sets the aspect ratio, so
    an anisotropic stack is drawn with its true proportions."""
    volume = _check_volume(volume)
    spacing = _spacing(spacing)
    if index is None:
        index = tuple(s // 2 for s in volume.shape)
    index = tuple(int(i) for i in index)
    if len(index) != 3 or any(not 0 <= i < s for i, s in zip(index, volume.shape)):
        raise ValueError(f"index: expected (z, y, x) inside {volume.shape}, got {index}")
    plt = _plt()
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    z, y, x = index
    sz, sy, sx = spacing
    vmin = float(volume.min()) if vmin is None else vmin
    vmax = float(volume.max()) if vmax is None else vmax
    panels = [(volume[z], f"xy at z={z}", sy / sx, "x", "y"),
              (volume[:, y], f"xz at y={y}", sz / sx, "x", "z"),
              (volume[:, :, x], f"yz at x={x}", sz / sy, "y", "z")]
    for ax, (img, label, aspect, xl, yl) in zip(axes, panels):
        ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax, aspect=aspect, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        axes[0].figure.suptitle(title)
    return axes[0].figure


def show_projections(volume, *, spacing=(1.0, 1.0, 1.0), cmap="magma", title=None, axes=None):
    """Maximum-intensity projections of ``volume`` (D, H, W) along z, y and x."""
    volume = _check_volume(volume)
    sz, sy, sx = _spacing(spacing)
    plt = _plt()
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    panels = [(volume.max(axis=0), "max over z (xy)", sy / sx),
              (volume.max(axis=1), "max over y (xz)", sz / sx),
              (volume.max(axis=2), "max over x (yz)", sz / sy)]
    for ax, (img, label, aspect) in zip(axes, panels):
        ax.imshow(img, cmap=cmap, aspect=aspect, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    if title:
        axes[0].figure.suptitle(title)
    return axes[0].figure


def show_isosurface(volume, level=0.5, *, spacing=(1.0, 1.0, 1.0), ax=None, title=None,
                    color="tab:orange", elev=20, azim=30, smooth=None):
    """Draw the ``level`` isosurface of ``volume`` (D, H, W) (a bool mask works, level 0.5) as a
    shaded 3D mesh (marching cubes from scikit-image, drawn with mpl_toolkits.mplot3d).

    ``smooth`` is the sigma (voxels) of a Gaussian applied first; by default 0.8 for a bool mask
    (hides the voxel staircase, as in :func:`cnncourse.morphometrics.mesh`) and 0 otherwise."""
    from scipy import ndimage
    from skimage.measure import marching_cubes

    volume = _check_volume(volume)
    spacing = _spacing(spacing)
    is_mask = volume.dtype == bool
    vol = np.pad(np.asarray(volume, dtype=np.float32), 2, mode="constant" if is_mask else "edge")
    smooth = (0.8 if is_mask else 0.0) if smooth is None else float(smooth)
    if smooth > 0:
        vol = ndimage.gaussian_filter(vol, smooth * spacing.min() / spacing)
    if not vol.min() < level < vol.max():
        raise ValueError(f"level: expected a value between the volume's min and max "
                         f"({vol.min():.3g}, {vol.max():.3g}), got {level}")
    verts, faces, _, _ = marching_cubes(vol, level, spacing=tuple(spacing))
    plt = _plt()
    if ax is None:
        fig = plt.figure(figsize=(3.5, 3.5))
        ax = fig.add_subplot(projection="3d")
    ax.plot_trisurf(verts[:, 2], verts[:, 1], faces, verts[:, 0], color=color, lw=0, shade=True)
    extent = np.array(vol.shape) * spacing
    ax.set_box_aspect(extent[::-1])
    ax.view_init(elev=elev, azim=azim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel("z")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_zticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax.figure


def slice_explorer(volume, mask=None, *, spacing=(1.0, 1.0, 1.0)):
    """An ipywidgets slice explorer: sliders for z, y, x move three orthogonal slices through
    ``volume`` (D, H, W); ``mask`` (D, H, W) bool, if given, is outlined in colour. Returns the
    widget (display it, or let the notebook show it as the cell's value)."""
    import ipywidgets as widgets

    volume = _check_volume(volume)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != volume.shape or mask.dtype != bool:
            raise ValueError(f"mask: expected a bool array of shape {volume.shape}, got "
                             f"{mask.dtype} {mask.shape}")
    plt = _plt()
    vmin, vmax = float(volume.min()), float(volume.max())

    def draw(z, y, x):
        fig = show_slices(volume, (z, y, x), spacing=spacing, vmin=vmin, vmax=vmax)
        if mask is not None:
            for ax, m in zip(fig.axes, (mask[z], mask[:, y], mask[:, :, x])):
                if m.any() and not m.all():
                    ax.contour(m, levels=[0.5], colors="tab:orange", linewidths=1)
        plt.show()

    sliders = {k: widgets.IntSlider(value=s // 2, min=0, max=s - 1, description=k,
                                    continuous_update=False)
               for k, s in zip("zyx", volume.shape)}
    out = widgets.interactive_output(draw, sliders)
    return widgets.VBox([widgets.HBox(list(sliders.values())), out])


#: (n_train, size) used by the 3D CNN notebook in fast and full mode (and by the benchmark).
FAST_SIZE = (320, 24)
FULL_SIZE = (800, 32)
