"""The course's custom Keras objects, as module-level classes registered on import.

* :class:`RandomRot90` (notebook 06): random multiples of 90 degrees, for 2D patches;
* :class:`RandomRotation3D` (notebook 12): random 3D rotations and flips of volumes;
* :class:`BinaryFocalLoss` (notebook 10): the focal loss of Lin et al. (2017).

Each is registered with ``keras.saving.register_keras_serializable(package="cnncourse")``, so a
model holding one saves to ``.keras`` and loads with ``keras.saving.load_model`` in a fresh process
after ``import cnncourse`` (which imports this module as soon as Keras is loaded:
:mod:`cnncourse._keras_hook`). The sparse layers live in :mod:`cnncourse.sparse.layers`.

Importing this module imports Keras (and TensorFlow with the default backend); the topic modules
(:mod:`cnncourse.models`, :mod:`cnncourse.augment`, :mod:`cnncourse.detection`) hand these
classes out lazily, so importing them stays cheap.
"""
from __future__ import annotations

import numpy as np

from cnncourse.device import import_keras
from cnncourse.losses import binary_focal_loss
from cnncourse.rotations import _quaternion_to_matrix

keras = import_keras()
ops = keras.ops

PACKAGE = "cnncourse"

__all__ = ["RandomRot90", "RandomRotation3D", "BinaryFocalLoss"]


@keras.saving.register_keras_serializable(package=PACKAGE)
class RandomRot90(keras.layers.Layer):
    """Rotate each image of a batch by a random multiple of 90 degrees (training only).

    Input and output (N, H, W, C) with H == W. Exact (no interpolation): a nucleus has no
    preferred orientation, so every rotated patch is an equally valid example.

    Parameters
    ----------
    seed : int, optional
        Seed of the layer's random generator.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        if inputs.shape[1] is not None and inputs.shape[1] != inputs.shape[2]:
            raise ValueError(f"inputs: RandomRot90 needs square images, got shape {inputs.shape}")
        r1 = ops.flip(ops.transpose(inputs, (0, 2, 1, 3)), axis=1)   # 90 degrees
        r2 = ops.flip(inputs, axis=(1, 2))                             # 180
        r3 = ops.flip(ops.transpose(inputs, (0, 2, 1, 3)), axis=2)   # 270
        stack = ops.stack([inputs, r1, r2, r3], axis=1)               # (N, 4, H, W, C)
        k = keras.random.randint((ops.shape(inputs)[0],), 0, 4, seed=self.seed_generator)
        choose = ops.reshape(ops.one_hot(k, 4, dtype=inputs.dtype), (-1, 4, 1, 1, 1))
        return ops.sum(stack * choose, axis=1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def _matrices_from_random(q, coin=None):
    """Rotation matrices (B, 3, 3) from Gaussian numbers q (B, 4) (a uniform random rotation
    each), times a reflection of each axis where coin (B, 1, 3) in [0, 1) is below 0.5."""
    q = q / ops.sqrt(ops.sum(q * q, axis=1, keepdims=True))
    mats = _quaternion_to_matrix(q, ops)
    if coin is not None:
        mats = mats * ops.where(coin < 0.5, -1.0, 1.0)
    return mats


def _resample(x, mats):
    """Trilinear resampling of x (B, D, H, W, C) by matrices (B, 3, 3) about the centre."""
    b = ops.shape(x)[0]
    d, h, w, c = x.shape[1], x.shape[2], x.shape[3], x.shape[4]
    grid = np.stack(np.meshgrid(np.arange(d), np.arange(h), np.arange(w), indexing="ij"), -1)
    centre = (np.array([d, h, w], dtype=np.float32) - 1) / 2
    grid = (grid.reshape(-1, 3) - centre).astype(np.float32)  # (V, 3)
    # source position of each output voxel: R^T (p - c) + c; row-vector form p R
    src = ops.einsum("vi,bij->bvj", ops.convert_to_tensor(grid), ops.cast(mats, x.dtype))
    src = src + centre
    lo = ops.floor(src)
    frac = src - lo
    lo = ops.cast(lo, "int32")
    flat = ops.reshape(x, (-1, c))  # (B * D * H * W, C): one plain gather per corner
    offset = ops.expand_dims(ops.arange(b, dtype="int32") * (d * h * w), -1)  # (B, 1)
    # per axis: the two neighbouring indices (clipped: edge values outside), their linear
    # strides and their interpolation weights
    terms, weights = [], []
    for k, (n_k, stride) in enumerate(((d, h * w), (h, w), (w, 1))):
        i0 = ops.clip(lo[..., k], 0, n_k - 1)
        i1 = ops.clip(lo[..., k] + 1, 0, n_k - 1)
        terms.append((i0 * stride, i1 * stride))
        weights.append((1.0 - frac[..., k], frac[..., k]))
    out = None
    for cz, cy, cx in np.ndindex(2, 2, 2):
        lin = terms[0][cz] + terms[1][cy] + terms[2][cx] + offset  # (B, V)
        wt = weights[0][cz] * weights[1][cy] * weights[2][cx]
        term = ops.take(flat, lin, axis=0) * ops.expand_dims(wt, -1)  # (B, V, C)
        out = term if out is None else out + term
    return ops.reshape(out, (b, d, h, w, c))


@keras.saving.register_keras_serializable(package=PACKAGE)
class RandomRotation3D(keras.layers.Layer):
    """Rotate each volume of a batch by a uniformly random 3D rotation (and random flips).

    Input and output: (batch, D, H, W, C) float. Trilinear interpolation about the centre;
    outside the volume the nearest edge value is used (no black corners). Written with
    ``keras.ops``, so it runs under any Keras backend, on a GPU when there is one, inside a
    model (only while training: ``training=False`` returns the input unchanged) and mapped
    over batches in a ``tf.data`` pipeline (TensorFlow backend).

    Parameters
    ----------
    flips : bool
        Also mirror each axis with probability 1/2 (rotations and reflections together).
    seed : int, optional
        Seed of the layer's random generator.

    Examples
    --------
    >>> layer = RandomRotation3D(seed=0)                     # doctest: +SKIP
    >>> layer(np.zeros((2, 16, 16, 16, 1)), training=True)  # doctest: +SKIP
    """

    def __init__(self, flips: bool = True, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.flips = bool(flips)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if len(input_shape) != 5 or any(s is None for s in input_shape[1:4]):
            raise ValueError("RandomRotation3D: expected inputs of shape (batch, D, H, W, C) "
                             f"with known D, H, W, got {tuple(input_shape)}")
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape

    def random_matrices(self, batch):
        q = keras.random.normal((batch, 4), seed=self.seed_generator)
        coin = keras.random.uniform((batch, 1, 3), seed=self.seed_generator) if self.flips else None
        return _matrices_from_random(q, coin)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        x = ops.convert_to_tensor(inputs)
        return _resample(x, self.random_matrices(ops.shape(x)[0]))

    def get_config(self):
        return {**super().get_config(), "flips": self.flips, "seed": self.seed}

    #: the resampler and the random matrices, also used by cnncourse.cnn3d's tf.data pipeline
    resample = staticmethod(_resample)
    matrices_from_random = staticmethod(_matrices_from_random)


@keras.saving.register_keras_serializable(package=PACKAGE)
class BinaryFocalLoss(keras.losses.Loss):
    """Keras loss: :func:`binary_focal_loss` averaged over the last axis.

    Same numbers as ``keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True,
    alpha=alpha, gamma=gamma)``; written out here so the formula can be read.
    """

    def __init__(self, gamma=2.0, alpha=0.25, from_logits=False, name="binary_focal_loss",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        if gamma < 0:
            raise ValueError(f"gamma: expected a number >= 0, got {gamma!r}")
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha: expected a number in [0, 1], got {alpha!r}")
        self.gamma, self.alpha, self.from_logits = float(gamma), float(alpha), bool(from_logits)

    def call(self, y_true, y_pred):
        # Keras hands labels of shape (N,) with predictions of shape (N, 1): match the ranks
        y_true = keras.ops.cast(y_true, y_pred.dtype)
        if len(y_true.shape) == len(y_pred.shape) - 1:
            y_true = keras.ops.expand_dims(y_true, -1)
        loss = binary_focal_loss(y_true, y_pred, gamma=self.gamma, alpha=self.alpha,
                                 from_logits=self.from_logits)
        return keras.ops.mean(loss, axis=-1)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "alpha": self.alpha,
                "from_logits": self.from_logits}
