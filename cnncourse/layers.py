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
        Seed of the layer's random generator (one rotation per image per call).
    **kwargs
        Base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Call arguments
    --------------
    inputs : float tensor or ndarray, shape (N, H, W, C), H == W
    training : bool, optional
        Rotate only when True (as inside ``model.fit``); otherwise return ``inputs``.

    Input shape
    -----------
    ``(N, H, W, C)`` with square images.

    Output shape
    ------------
    ``(N, H, W, C)``, same dtype.

    Returns
    -------
    tensor, shape and dtype of ``inputs``
        Each image rotated by 0, 90, 180 or 270 degrees (chosen independently per image).

    Raises
    ------
    ValueError
        Non-square images (H != W) while training.

    Examples
    --------
    >>> x = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)
    >>> layer = RandomRot90(seed=0)
    >>> np.asarray(layer(x, training=False))[0, :, :, 0].tolist()   # inference: unchanged
    [[0.0, 1.0], [2.0, 3.0]]
    >>> rotations = [np.rot90(x[0, :, :, 0], k).tolist() for k in range(4)]
    >>> np.asarray(layer(x, training=True))[0, :, :, 0].tolist() in rotations
    True
    >>> try:                                  # Keras wraps errors raised in ``call``
    ...     layer(np.zeros((1, 2, 3, 1), "float32"), training=True)
    ... except ValueError as error:
    ...     print("needs square images, got shape (1, 2, 3, 1)" in str(error))
    True
    """

    def __init__(self, seed: int | None = None, **kwargs):
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
    **kwargs
        Base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Call arguments
    --------------
    inputs : float tensor or ndarray, shape (batch, D, H, W, C)
    training : bool, optional
        Rotate only when True (as inside ``model.fit``); otherwise return ``inputs``.

    Input shape
    -----------
    ``(batch, D, H, W, C)`` with D, H, W known (the batch may be unknown).

    Output shape
    ------------
    ``(batch, D, H, W, C)``, same dtype.

    Returns
    -------
    tensor, shape and dtype of ``inputs``
        Each volume resampled by its own random rotation (and flips); values stay within the
        input's range (trilinear interpolation).

    Raises
    ------
    ValueError
        At build: inputs that are not 5-D or whose D, H, W are unknown.

    Examples
    --------
    >>> layer = RandomRotation3D(seed=0)
    >>> cube = np.zeros((2, 8, 8, 8, 1), "float32")
    >>> cube[:, 2:6, 2:6, 2:6] = 1.0
    >>> out = np.asarray(layer(cube, training=True))
    >>> out.shape, bool(out.min() >= 0.0 and out.max() <= 1.0 + 1e-6)
    ((2, 8, 8, 8, 1), True)
    >>> bool(np.allclose(layer(np.ones((1, 8, 8, 8, 1), "float32"), training=True), 1.0))
    True
    >>> np.array_equal(layer(cube, training=False), cube)   # inference: unchanged
    True
    >>> RandomRotation3D()(np.zeros((8, 8, 8, 1), "float32"), training=True)
    Traceback (most recent call last):
    ...
    ValueError: RandomRotation3D: expected inputs of shape (batch, D, H, W, C) ... (8, 8, 8, 1)
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

    Parameters
    ----------
    gamma : float >= 0
        Focusing parameter: ``(1 - p_t)**gamma`` shrinks the loss of easy examples
        (``gamma = 0``: weighted cross-entropy).
    alpha : float in [0, 1]
        Weight of the positive class (``1 - alpha`` for negatives).
    from_logits : bool
        ``y_pred`` holds logits instead of probabilities.
    name : str
        Name of the loss.
    **kwargs
        Base ``keras.losses.Loss`` arguments (``reduction``, ``dtype``).

    Call arguments
    --------------
    y_true : array or tensor, shape (N,) or (N, 1), 0/1 labels
        Labels of shape (N,) are matched to predictions of shape (N, 1).
    y_pred : float array or tensor, shape (N, 1)
        Probabilities (logits when ``from_logits``).

    Returns
    -------
    float scalar tensor
        The mean over the batch (with the default ``reduction``) of :func:`binary_focal_loss`
        averaged over the last axis.

    Raises
    ------
    ValueError
        ``gamma < 0`` or ``alpha`` outside ``[0, 1]``.

    Examples
    --------
    >>> loss = BinaryFocalLoss(gamma=0.0, alpha=0.5)       # half the binary cross-entropy
    >>> round(float(loss(np.array([1.0]), np.array([[0.5]]))), 4), round(float(0.5 * np.log(2)), 4)
    (0.3466, 0.3466)
    >>> y, p = np.array([1.0, 0.0]), np.array([[0.9], [0.1]])
    >>> focal = float(BinaryFocalLoss(gamma=2.0, alpha=0.25)(y, p))
    >>> keras_focal = keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True,
    ...                                                    alpha=0.25, gamma=2.0)
    >>> bool(np.isclose(focal, float(keras_focal(y[:, None], p))))
    True
    >>> BinaryFocalLoss(gamma=-1)
    Traceback (most recent call last):
    ...
    ValueError: gamma: expected a number >= 0, got -1
    """

    def __init__(self, gamma: float = 2.0, alpha: float = 0.25, from_logits: bool = False,
                 name: str = "binary_focal_loss", **kwargs):
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
