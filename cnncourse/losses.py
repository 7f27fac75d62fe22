"""Loss formulas written with ``keras.ops`` (Keras is imported inside the functions).

Below both :mod:`cnncourse.detection` (which hands :func:`binary_focal_loss` out as
``det.binary_focal_loss``) and :mod:`cnncourse.layers` (whose registered Keras loss
``BinaryFocalLoss`` averages it), so that neither imports the other.
"""
from __future__ import annotations

__all__ = ["binary_focal_loss"]


def binary_focal_loss(y_true, y_pred, *, gamma: float = 2.0, alpha: float = 0.25,
                      from_logits: bool = False, epsilon: float = 1e-7):
    """Binary focal loss per element (Lin et al., "Focal loss for dense object detection", 2017).

    ``FL = -alpha_t (1 - p_t)**gamma log(p_t)``, where ``p_t`` is the probability the model gives
    to the true class (``p`` for a positive, ``1 - p`` for a negative) and ``alpha_t`` is
    ``alpha`` for positives and ``1 - alpha`` for negatives. The factor ``(1 - p_t)**gamma``
    shrinks the loss of examples that are already well classified (the many easy negatives), so
    training concentrates on the hard ones. ``gamma = 0`` and ``alpha = 0.5`` give half the
    binary cross-entropy.

    Parameters
    ----------
    y_true : array or tensor, any shape
        0/1 labels.
    y_pred : array or tensor, same shape
        Probabilities (or logits if ``from_logits``).
    gamma : float >= 0
        Focusing parameter.
    alpha : float in [0, 1]
        Weight of the positive class.
    from_logits : bool
        ``y_pred`` holds logits (a sigmoid is applied first).
    epsilon : float
        Probabilities are clipped to ``[epsilon, 1 - epsilon]`` so that ``log`` stays finite.

    Returns
    -------
    tensor, dtype of ``y_pred`` (float), same shape as ``y_true``
        Elementwise loss (use ``keras.ops.convert_to_numpy`` for a NumPy array).

    Raises
    ------
    ValueError
        ``gamma < 0``; ``alpha`` outside ``[0, 1]``; ``y_true`` and ``y_pred`` of different
        shapes (``(N,)`` against ``(N, 1)`` would broadcast to ``(N, N)``).

    Examples
    --------
    >>> import numpy as np
    >>> loss = binary_focal_loss(np.array([1.0, 0.0]), np.array([0.9, 0.9]))
    >>> [round(float(v), 4) for v in np.asarray(loss)]   # easy positive, hard negative
    [0.0003, 1.3988]
    """
    from cnncourse.device import import_keras

    ops = import_keras().ops
    if gamma < 0:
        raise ValueError(f"gamma: expected a number >= 0, got {gamma!r}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha: expected a number in [0, 1], got {alpha!r}")
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.cast(ops.convert_to_tensor(y_true), y_pred.dtype)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        # broadcasting (N,) against (N, 1) would silently give an (N, N) loss
        raise ValueError(f"y_true: shape {tuple(y_true.shape)} differs from y_pred's "
                         f"{tuple(y_pred.shape)}")
    if from_logits:
        y_pred = ops.sigmoid(y_pred)
    p = ops.clip(y_pred, epsilon, 1.0 - epsilon)
    p_t = y_true * p + (1.0 - y_true) * (1.0 - p)
    alpha_t = y_true * alpha + (1.0 - y_true) * (1.0 - alpha)
    return -alpha_t * ops.power(1.0 - p_t, gamma) * ops.log(p_t)
