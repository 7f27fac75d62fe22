"""Detection with rare positives, and transfer learning.

* Class imbalance: :func:`class_weights` (balanced weights for ``model.fit(class_weight=...)``),
  :func:`binary_focal_loss` / :class:`BinaryFocalLoss` (Lin et al. 2017, written with
  ``keras.ops``), :func:`threshold_for_recall` (pick an operating point on the precision-recall
  curve), :func:`precision_recall_at`.
* Transfer learning: :func:`build_patch_cnn` (a small CNN whose layers are named ``features_*``
  and ``head_*``), :func:`train` (compile + fit with an AUC metric), :func:`fine_tune` (copy a
  pretrained model, freeze its features or not, reset its head, train on new data), and
  :func:`shift_stain` (a different lab's H&E staining, made by scaling stain concentrations).

Labels ``y`` are int arrays of 0 (negative) and 1 (positive); scores are float arrays of the same
length (higher = more likely positive). Keras is imported inside functions.
"""
from __future__ import annotations

import functools
import math

import numpy as np

__all__ = [
    "class_weights", "binary_focal_loss", "BinaryFocalLoss", "threshold_for_recall",
    "precision_recall_at", "build_patch_cnn", "feature_layers", "train", "fine_tune",
    "shift_stain", "to_float",
]


def _labels(y, name="y") -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name}: expected a 1D array of 0/1 labels, got shape {y.shape}")
    if y.dtype.kind not in "biuf" or not np.all((y == 0) | (y == 1)):
        raise ValueError(f"{name}: expected labels 0 and 1 only")
    return y.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Class imbalance


def class_weights(y) -> dict:
    """Balanced class weights ``{0: n / (2 n_0), 1: n / (2 n_1)}``.

    Each class then contributes the same total weight (``n / 2``) to the loss, and the average
    weight per sample stays 1 (so the learning rate means the same as without weights). Same
    numbers as ``sklearn.utils.class_weight.compute_class_weight("balanced", ...)``.

    Parameters
    ----------
    y : int array, shape (N,)
        Labels 0/1; both classes must occur.

    Returns
    -------
    dict
        ``{0: float, 1: float}``, ready for ``model.fit(..., class_weight=...)``.

    Examples
    --------
    >>> class_weights([0, 0, 0, 1])
    {0: 0.6666666666666666, 1: 2.0}
    """
    y = _labels(y)
    counts = np.bincount(y, minlength=2)
    if (counts == 0).any():
        raise ValueError(f"y: both classes must occur, got counts {counts.tolist()}")
    return {c: float(len(y) / (2 * counts[c])) for c in (0, 1)}


def binary_focal_loss(y_true, y_pred, *, gamma=2.0, alpha=0.25, from_logits=False, epsilon=1e-7):
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
    epsilon : float
        Probabilities are clipped to ``[epsilon, 1 - epsilon]`` so that ``log`` stays finite.

    Returns
    -------
    tensor, same shape as ``y_true``
        Elementwise loss (use ``keras.ops.convert_to_numpy`` for a NumPy array).
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


def threshold_for_recall(y_true, scores, target_recall) -> float:
    """The highest threshold ``t`` at which ``scores >= t`` still finds ``target_recall`` of the
    positives.

    Raising the threshold trades recall for precision; in screening (e.g. mitosis counting) one
    fixes the recall one needs and takes the highest threshold that reaches it, which gives the
    fewest false positives for that recall.

    Parameters
    ----------
    y_true : int array, shape (N,)
        0/1 labels; at least one positive.
    scores : float array, shape (N,)
    target_recall : float in (0, 1]

    Returns
    -------
    float
        A score of one of the positives. ``recall(scores >= t) >= target_recall``, and any
        higher threshold has a lower recall.

    Examples
    --------
    >>> threshold_for_recall([0, 1, 1, 1, 1], [0.5, 0.9, 0.8, 0.3, 0.1], 0.75)
    0.3
    """
    y = _labels(y_true, "y_true")
    scores = np.asarray(scores, dtype=float)
    if scores.shape != y.shape:
        raise ValueError(f"scores: expected shape {y.shape} (one per label), got {scores.shape}")
    if not 0 < target_recall <= 1:
        raise ValueError(f"target_recall: expected a number in (0, 1], got {target_recall!r}")
    positives = np.sort(scores[y == 1])[::-1]          # highest first
    if positives.size == 0:
        raise ValueError("y_true: no positives, so recall is undefined")
    k = math.ceil(target_recall * positives.size - 1e-9)   # positives that must score >= t
    return float(positives[k - 1])


def precision_recall_at(y_true, scores, threshold) -> tuple[float, float]:
    """Precision and recall of the rule ``scores >= threshold`` (precision 1.0 if nothing is
    predicted positive)."""
    y = _labels(y_true, "y_true")
    scores = np.asarray(scores, dtype=float)
    if scores.shape != y.shape:
        raise ValueError(f"scores: expected shape {y.shape} (one per label), got {scores.shape}")
    pred = scores >= threshold
    tp = int(np.sum(pred & (y == 1)))
    precision = tp / pred.sum() if pred.sum() else 1.0
    recall = tp / y.sum() if y.sum() else 0.0
    return float(precision), float(recall)


# --------------------------------------------------------------------------------------------
# Models and transfer learning


def to_float(patches) -> np.ndarray:
    """uint8 RGB patches (N, H, W, 3) -> float32 in [0, 1]."""
    patches = np.asarray(patches)
    if patches.ndim != 4:
        raise ValueError(f"patches: expected shape (N, H, W, C), got {patches.shape}")
    if patches.dtype != np.uint8:
        raise TypeError(f"patches: expected uint8, got {patches.dtype}")
    return patches.astype(np.float32) / 255.0


def build_patch_cnn(input_shape=(32, 32, 3), width=16, *, dropout=0.25, name="patch_cnn"):
    """A small CNN that scores a patch: 3 conv blocks (*features*), then a small dense *head*.

    ``features_conv1..3`` (3x3, ``width``, ``2 width``, ``4 width`` filters, ReLU, each followed by
    2x2 max pooling), flattened, then ``head_dropout``, ``head_dense`` (32 units)
    and ``head_output`` (one sigmoid unit). The names let :func:`fine_tune` freeze the features
    and reset the head.

    Returns
    -------
    keras.Model
        Input ``input_shape`` float in [0, 1], output ``(1,)`` probability of the positive class.
    """
    if len(input_shape) != 3:
        raise ValueError(f"input_shape: expected (H, W, C), got {input_shape!r}")
    from cnncourse.device import import_keras

    keras = import_keras()
    L = keras.layers
    inputs = keras.Input(input_shape, name="patch")
    x = inputs
    for i, filters in enumerate((width, 2 * width, 4 * width), start=1):
        x = L.Conv2D(filters, 3, padding="same", activation="relu", name=f"features_conv{i}")(x)
        x = L.MaxPooling2D(2, name=f"features_pool{i}")(x)
    x = L.Flatten(name="features_flatten")(x)
    x = L.Dropout(dropout, name="head_dropout")(x)
    x = L.Dense(32, activation="relu", name="head_dense")(x)
    outputs = L.Dense(1, activation="sigmoid", name="head_output")(x)
    return keras.Model(inputs, outputs, name=name)


def feature_layers(model) -> list:
    """The layers of ``model`` whose names start with ``features`` (the part that transfers)."""
    layers = [layer for layer in model.layers if layer.name.startswith("features")]
    if not layers:
        raise ValueError(f"model: {model.name!r} has no layers named 'features_*'")
    return layers


def train(model, x, y, *, epochs, batch_size=32, learning_rate=1e-3, loss="binary_crossentropy",
          class_weight=None, validation_data=None, seed=0, verbose=0):
    """Compile ``model`` (Adam, ``loss``, AUC metric named ``auc``) and fit it; return the History.

    ``validation_data`` adds ``val_loss`` and ``val_auc`` per epoch (learning curves).
    Shuffling is seeded by ``seed``, so the same call gives the same numbers.
    """
    from cnncourse.device import import_keras

    keras = import_keras()
    y = _labels(y).astype(np.float32)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss,
                  metrics=[keras.metrics.AUC(name="auc")])
    keras.utils.set_random_seed(seed)
    return model.fit(x, y, epochs=epochs, batch_size=batch_size, class_weight=class_weight,
                     validation_data=validation_data, verbose=verbose, shuffle=True)


def fine_tune(pretrained, x, y, *, freeze_features=True, reset_head=True, epochs,
              seed=0, **train_kwargs):
    """Transfer learning: copy ``pretrained``, optionally freeze its features, reset its head, train.

    Parameters
    ----------
    pretrained : keras.Model
        From :func:`build_patch_cnn`, trained on the source task. It is not modified.
    x, y : arrays
        The (small) target training set.
    freeze_features : bool
        True: only the head learns (the features stay as pretrained). False: every layer learns,
        starting from the pretrained weights (use a small learning rate).
    reset_head : bool
        Re-initialise the head layers (as one does when the new task has new classes).
    epochs : int
    seed : int
        Seeds the head's new weights and the shuffling.
    **train_kwargs
        Passed to :func:`train` (``learning_rate``, ``batch_size``, ``validation_data``, ...).

    Returns
    -------
    model, history
    """
    from cnncourse.device import import_keras

    keras = import_keras()
    feature_layers(pretrained)  # raises if the model has no named features
    keras.utils.set_random_seed(seed)
    model = keras.models.clone_model(pretrained)   # same architecture, fresh weights
    if not reset_head:
        model.set_weights(pretrained.get_weights())
    else:
        for layer in model.layers:
            if layer.name.startswith("features"):
                layer.set_weights(pretrained.get_layer(layer.name).get_weights())
    for layer in feature_layers(model):
        layer.trainable = not freeze_features
    history = train(model, x, y, epochs=epochs, seed=seed, **train_kwargs)
    return model, history


def shift_stain(patches, *, hematoxylin=1.0, eosin=1.0, seed=None, jitter=0.0) -> np.ndarray:
    """Restain H&E patches as another lab's scanner and staining protocol might: scale the
    hematoxylin and eosin concentrations (colour deconvolution with scikit-image's HED vectors).

    Parameters
    ----------
    patches : uint8 array, shape (N, H, W, 3)
    hematoxylin, eosin : float > 0
        Factors for the stain concentrations (1.0 keeps them).
    seed : int, optional
        With ``jitter > 0``: seed of the per-patch random factors.
    jitter : float >= 0
        Each patch's factors are multiplied by ``exp(N(0, jitter))``.

    Returns
    -------
    uint8 array, same shape
    """
    from skimage.color import hed2rgb, rgb2hed

    patches = np.asarray(patches)
    if patches.ndim != 4 or patches.shape[-1] != 3:
        raise ValueError(f"patches: expected shape (N, H, W, 3), got {patches.shape}")
    if patches.dtype != np.uint8:
        raise TypeError(f"patches: expected uint8, got {patches.dtype}")
    if hematoxylin <= 0 or eosin <= 0:
        raise ValueError("hematoxylin, eosin: expected positive factors")
    if jitter < 0:
        raise ValueError(f"jitter: expected a number >= 0, got {jitter!r}")
    n = len(patches)
    factors = np.array([hematoxylin, eosin, 1.0])[None].repeat(n, 0)
    if jitter:
        rng = np.random.default_rng(seed)
        factors[:, :2] *= np.exp(rng.normal(0, jitter, (n, 2)))
    hed = rgb2hed(patches.reshape(-1, patches.shape[2], 3)).reshape(patches.shape)
    hed = hed * factors[:, None, None, :]
    rgb = hed2rgb(hed.reshape(-1, patches.shape[2], 3)).reshape(patches.shape)
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def __getattr__(name):
    # The Keras loss is a module-level class of cnncourse.layers (registered for .keras files);
    # it is handed out from here on first use, so importing cnncourse.detection stays cheap.
    if name == "BinaryFocalLoss":
        from cnncourse.layers import BinaryFocalLoss

        return BinaryFocalLoss
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
