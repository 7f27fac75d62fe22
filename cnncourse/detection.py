"""Detection with rare positives, and transfer learning.

* Class imbalance: :func:`class_weights` (balanced weights for ``model.fit(class_weight=...)``),
  :func:`binary_focal_loss` / :class:`BinaryFocalLoss` (Lin et al. 2017, written with
  ``keras.ops``), :func:`threshold_for_recall` (pick an operating point on the precision-recall
  curve), :func:`precision_recall_at`.
* Detection on a whole field: :func:`find_candidates` (local maxima of the hematoxylin stain),
  :func:`extract_patches` (a patch around each candidate, for the patch classifier) and
  :func:`precision_recall_f1` (the MITOS 2012 contest's measures from match counts). The
  non-maximum suppression and the matching of detections to the truth are the notebook's
  exercises; their reference versions live in :mod:`cnncourse.checks.detection`.
* Transfer learning: :func:`build_patch_cnn` (a small CNN whose layers are named ``features_*``
  and ``head_*``), :func:`train` (compile + fit with an AUC metric), and :func:`shift_stain` (a
  different lab's H&E staining, made by scaling stain concentrations). Freezing the features and
  putting a new head on them is the notebook's exercise.

Labels ``y`` are int arrays of 0 (negative) and 1 (positive); scores are float arrays of the same
length (higher = more likely positive). Keras is imported inside functions.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np

from cnncourse._validate import labels
from cnncourse.losses import binary_focal_loss

if TYPE_CHECKING:  # annotations only
    import keras

__all__ = [
    "class_weights", "binary_focal_loss", "BinaryFocalLoss", "threshold_for_recall",
    "precision_recall_at", "find_candidates", "extract_patches", "precision_recall_f1",
    "build_patch_cnn", "feature_layers", "train", "shift_stain", "to_float",
]


def _labels(y, name="y") -> np.ndarray:
    return labels(y, name, n_classes=2)


# --------------------------------------------------------------------------------------------
# Class imbalance


def class_weights(y: np.ndarray | Sequence[int]) -> dict[int, float]:
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

    Raises
    ------
    ValueError
        ``y`` not 1-D or holding values other than 0 and 1; one class missing.

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

    Raises
    ------
    ValueError
        ``y_true`` not 1-D or holding values other than 0 and 1; no positive; ``scores`` of
        another shape; ``target_recall`` outside ``(0, 1]``.

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


def precision_recall_at(y_true: np.ndarray | Sequence[int], scores: np.ndarray | Sequence[float],
                        threshold: float) -> tuple[float, float]:
    """Precision and recall of the rule ``scores >= threshold`` (precision 1.0 if nothing is
    predicted positive).

    Parameters
    ----------
    y_true : int array, shape (N,)
        0/1 labels.
    scores : float array, shape (N,)
    threshold : float

    Returns
    -------
    (float, float)
        Precision and recall (recall 0.0 when there is no positive).

    Raises
    ------
    ValueError
        ``y_true`` not 1-D or holding values other than 0 and 1; ``scores`` of another shape.

    Examples
    --------
    >>> precision_recall_at([0, 1, 1, 1], [0.9, 0.8, 0.4, 0.1], 0.5)
    (0.5, 0.3333333333333333)
    """
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
# Detection on a whole field


def _check_field(field) -> np.ndarray:
    field = np.asarray(field)
    if field.ndim != 3 or field.shape[-1] != 3:
        raise ValueError(f"field: expected an RGB image of shape (H, W, 3), got {field.shape}")
    if field.dtype != np.uint8:
        raise TypeError(f"field: expected uint8, got {field.dtype}")
    return field


def find_candidates(field: np.ndarray, *, sigma: float = 1.0, min_distance: int = 3,
                    quantile: float = 0.6) -> np.ndarray:
    """Candidate nucleus positions: local maxima of the smoothed hematoxylin stain.

    The hematoxylin optical density (``skimage.color.rgb2hed``, channel 0) is high where there is
    chromatin. Its local maxima after a Gaussian blur are cheap candidates: every nucleus gets at
    least one, clumpy ones (mitoses) often several, and some fall on stroma. A classifier then
    scores each candidate and non-maximum suppression keeps one detection per object.

    Parameters
    ----------
    field : uint8 array, shape (H, W, 3)
        RGB.
    sigma : float > 0
        Gaussian blur in pixels before looking for maxima.
    min_distance : int >= 1
        Maxima closer than this (in pixels, per axis) are merged by ``peak_local_max``.
    quantile : float in [0, 1)
        Maxima below this quantile of the blurred hematoxylin image are dropped (background).

    Returns
    -------
    int64 array, shape (K, 2)
        (row, column) of each candidate.

    Raises
    ------
    ValueError
        ``field`` not (H, W, 3); ``sigma <= 0``; ``min_distance`` not an integer >= 1;
        ``quantile`` outside ``[0, 1)``.
    TypeError
        ``field`` not uint8.
    """
    from scipy import ndimage
    from skimage.color import rgb2hed
    from skimage.feature import peak_local_max

    field = _check_field(field)
    if sigma <= 0:
        raise ValueError(f"sigma: expected a number > 0, got {sigma!r}")
    if int(min_distance) != min_distance or min_distance < 1:
        raise ValueError(f"min_distance: expected an integer >= 1, got {min_distance!r}")
    if not 0 <= quantile < 1:
        raise ValueError(f"quantile: expected a number in [0, 1), got {quantile!r}")
    hematoxylin = ndimage.gaussian_filter(rgb2hed(field)[..., 0], sigma)     # (H, W) float
    peaks = peak_local_max(hematoxylin, min_distance=int(min_distance), exclude_border=False,
                           threshold_abs=float(np.quantile(hematoxylin, quantile)))
    return peaks.astype(np.int64)


def extract_patches(field: np.ndarray, centres: np.ndarray, size: int = 32) -> np.ndarray:
    """Patches of ``size x size`` pixels centred on ``centres`` (the field is mirrored at its
    border so that every candidate gets a whole patch).

    A patch around pixel ``(r, c)`` covers rows ``r - size//2 .. r + size//2 - 1`` (and the same
    for columns), as the training patches of :func:`cnncourse.data.make_mitosis_patches` put
    their nucleus at the centre of the patch.

    Parameters
    ----------
    field : uint8 array, shape (H, W, 3)
    centres : int array, shape (K, 2)
        (row, column) inside the field.
    size : int, even, >= 2

    Returns
    -------
    uint8 array, shape (K, size, size, 3)

    Raises
    ------
    ValueError
        ``field`` not (H, W, 3); ``centres`` not (K, 2) or outside the field; ``size`` not an
        even integer >= 2.
    TypeError
        ``field`` not uint8.

    Examples
    --------
    >>> field = np.arange(6 * 6 * 3, dtype=np.uint8).reshape(6, 6, 3)
    >>> patches = extract_patches(field, [[2, 3], [0, 0]], size=4)
    >>> patches.shape, bool((patches[0] == field[0:4, 1:5]).all())
    ((2, 4, 4, 3), True)
    """
    field = _check_field(field)
    centres = np.asarray(centres)
    if centres.ndim != 2 or centres.shape[1] != 2:
        raise ValueError(f"centres: expected shape (K, 2), got {centres.shape}")
    centres = np.round(centres).astype(np.int64)
    if len(centres) and (centres.min() < 0 or np.any(centres.max(0) >= field.shape[:2])):
        raise ValueError("centres: every centre must lie inside the field")
    if int(size) != size or size < 2 or size % 2:
        raise ValueError(f"size: expected an even integer >= 2, got {size!r}")
    from cnncourse.segmentation import extract_windows

    # an odd window of size + 1 centred on (r, c) covers r - size//2 .. r + size//2; drop its
    # last row and column
    size = int(size)
    return np.ascontiguousarray(extract_windows(field, centres, size + 1)[:, :size, :size])


def precision_recall_f1(n_matched: int, n_detections: int,
                        n_truths: int) -> tuple[float, float, float]:
    """Precision, recall and F1 of a detector from counts (the MITOS 2012 contest's measures).

    ``TP = n_matched``, ``FP = n_detections - TP``, ``FN = n_truths - TP``; precision is 1.0
    when nothing is detected and recall 1.0 when there is nothing to find; F1 is their harmonic
    mean (0.0 when both are 0).

    Parameters
    ----------
    n_matched : int >= 0
        Detections matched to a true object (true positives).
    n_detections : int >= 0
        All detections.
    n_truths : int >= 0
        All true objects.

    Returns
    -------
    (float, float, float)
        Precision, recall, F1.

    Raises
    ------
    ValueError
        A count that is negative or not a whole number; ``n_matched`` above ``n_detections`` or
        ``n_truths``.

    Examples
    --------
    >>> precision_recall_f1(7, 8, 10)
    (0.875, 0.7, 0.7777777777777777)
    """
    for name, value in [("n_matched", n_matched), ("n_detections", n_detections),
                        ("n_truths", n_truths)]:
        if int(value) != value or value < 0:
            raise ValueError(f"{name}: expected a count >= 0, got {value!r}")
    if n_matched > min(n_detections, n_truths):
        raise ValueError(f"n_matched: {n_matched} exceeds the detections ({n_detections}) or "
                         f"the truths ({n_truths})")
    precision = n_matched / n_detections if n_detections else 1.0
    recall = n_matched / n_truths if n_truths else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return float(precision), float(recall), float(f1)


# --------------------------------------------------------------------------------------------
# Models and transfer learning


def to_float(patches: np.ndarray) -> np.ndarray:
    """uint8 RGB patches (N, H, W, 3) -> float32 in [0, 1].

    Parameters
    ----------
    patches : uint8 array, shape (N, H, W, C)

    Returns
    -------
    float32 array, same shape
        ``patches / 255``.

    Raises
    ------
    ValueError
        ``patches`` not 4-D.
    TypeError
        ``patches`` not uint8.

    Examples
    --------
    >>> to_float(np.full((1, 1, 1, 3), 255, np.uint8)).ravel().tolist()
    [1.0, 1.0, 1.0]
    """
    patches = np.asarray(patches)
    if patches.ndim != 4:
        raise ValueError(f"patches: expected shape (N, H, W, C), got {patches.shape}")
    if patches.dtype != np.uint8:
        raise TypeError(f"patches: expected uint8, got {patches.dtype}")
    return patches.astype(np.float32) / 255.0


def build_patch_cnn(input_shape: Sequence[int] = (32, 32, 3), width: int = 16, *,
                    dropout: float = 0.25, batch_norm: bool = False,
                    name: str = "patch_cnn") -> keras.Model:
    """A small CNN that scores a patch: 3 conv blocks (*features*), then a small dense *head*.

    ``features_conv1..3`` (3x3, ``width``, ``2 width``, ``4 width`` filters, ReLU, each followed by
    2x2 max pooling), flattened, then ``head_dropout``, ``head_dense`` (32 units)
    and ``head_output`` (one sigmoid unit). The names tell the transferable features from the
    task-specific head (:func:`feature_layers`).

    Parameters
    ----------
    input_shape : tuple (H, W, C)
        H and W divisible by 8.
    width : int
        Filters of the first convolution.
    dropout : float
        Dropout rate before the dense head.
    batch_norm : bool
        Put a ``features_bn{i}`` batch normalisation (momentum 0.9) between each convolution
        (then without bias) and its ReLU (``features_relu{i}``).
    name : str

    Returns
    -------
    keras.Model
        Input ``input_shape`` float in [0, 1], output ``(1,)`` probability of the positive class.
        Not compiled (:func:`train` compiles it).

    Raises
    ------
    ValueError
        ``input_shape`` not of length 3.

    Examples
    --------
    >>> model = build_patch_cnn((16, 16, 3), width=4)
    >>> model.input_shape, model.output_shape, model.count_params()
    ((None, 16, 16, 3), (None, 1), 3689)
    >>> [layer.name for layer in feature_layers(model)][:3]
    ['features_conv1', 'features_pool1', 'features_conv2']
    """
    if len(input_shape) != 3:
        raise ValueError(f"input_shape: expected (H, W, C), got {input_shape!r}")
    from cnncourse.device import import_keras

    keras = import_keras()
    L = keras.layers
    inputs = keras.Input(input_shape, name="patch")
    x = inputs
    for i, filters in enumerate((width, 2 * width, 4 * width), start=1):
        if batch_norm:
            x = L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"features_conv{i}")(x)
            # momentum 0.9 (Keras' default is 0.99): the running statistics used at inference
            # settle within tens of steps, not hundreds, which matters for short trainings
            x = L.BatchNormalization(momentum=0.9, name=f"features_bn{i}")(x)
            x = L.Activation("relu", name=f"features_relu{i}")(x)
        else:
            x = L.Conv2D(filters, 3, padding="same", activation="relu",
                         name=f"features_conv{i}")(x)
        x = L.MaxPooling2D(2, name=f"features_pool{i}")(x)
    x = L.Flatten(name="features_flatten")(x)
    x = L.Dropout(dropout, name="head_dropout")(x)
    x = L.Dense(32, activation="relu", name="head_dense")(x)
    outputs = L.Dense(1, activation="sigmoid", name="head_output")(x)
    return keras.Model(inputs, outputs, name=name)


def feature_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of ``model`` whose names start with ``features`` (the part that transfers).

    Parameters
    ----------
    model : keras.Model
        E.g. from :func:`build_patch_cnn`.

    Returns
    -------
    list of keras.layers.Layer
        In the model's order (freeze them with ``layer.trainable = False``).

    Raises
    ------
    ValueError
        No layer named ``features*``.
    """
    layers = [layer for layer in model.layers if layer.name.startswith("features")]
    if not layers:
        raise ValueError(f"model: {model.name!r} has no layers named 'features_*'")
    return layers


def train(model: keras.Model, x: np.ndarray, y: np.ndarray | Sequence[int], *, epochs: int,
          batch_size: int = 32, learning_rate: float = 1e-3,
          loss: str | keras.losses.Loss = "binary_crossentropy",
          class_weight: dict[int, float] | None = None,
          validation_data: tuple[np.ndarray, np.ndarray] | None = None, seed: int = 0,
          verbose: int = 0) -> keras.callbacks.History:
    """Compile ``model`` (Adam, ``loss``) and fit it; return the History.

    ``validation_data`` adds an AUC metric: ``auc``, ``val_loss`` and ``val_auc`` per epoch
    (learning curves). Without it only the loss is tracked (the metric costs time in every step).
    Shuffling is seeded by ``seed`` (``keras.utils.set_random_seed``), so the same call gives
    the same numbers.

    Parameters
    ----------
    model : keras.Model
        Output (batch, 1) probabilities (e.g. :func:`build_patch_cnn`); compiled here, replacing
        any earlier compile (frozen layers stay frozen).
    x : float32 array, shape (N, H, W, C)
        Inputs as the model takes them (e.g. :func:`to_float` patches).
    y : int array, shape (N,)
        Labels 0/1 (fitted as float32).
    epochs : int
        Required: there is no sensible default for a course run.
    batch_size : int
    learning_rate : float
        Adam's learning rate.
    loss : str or keras.losses.Loss
        E.g. ``"binary_crossentropy"`` or :class:`BinaryFocalLoss`.
    class_weight : dict, optional
        ``{0: w0, 1: w1}``, e.g. from :func:`class_weights`.
    validation_data : (x_val, y_val), optional
        Shapes as ``x`` and ``y`` (``y_val`` as float32).
    seed : int
    verbose : int
        Passed to ``model.fit``.

    Returns
    -------
    keras.callbacks.History
        ``history.history`` holds a ``loss`` list of length ``epochs`` (and ``auc``,
        ``val_loss``, ``val_auc`` with ``validation_data``).

    Raises
    ------
    ValueError
        ``y`` not 1-D or holding values other than 0 and 1 (before anything is compiled). Keras
        raises for inputs that do not fit the model.

    Examples
    --------
    A fit takes seconds (the training step is traced first), so only the label check runs
    here; ``tests/unit/test_detection.py`` trains for real.

    >>> train(build_patch_cnn((8, 8, 3), width=2), np.zeros((2, 8, 8, 3), "float32"), [0, 2],
    ...       epochs=1)
    Traceback (most recent call last):
    ...
    ValueError: y: labels must lie in [0, 2) (labels 0 and 1 only), got 0..2
    """
    from cnncourse.device import import_keras

    keras = import_keras()
    y = _labels(y).astype(np.float32)
    metrics = [] if validation_data is None else [keras.metrics.AUC(name="auc")]
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)
    keras.utils.set_random_seed(seed)
    return model.fit(x, y, epochs=epochs, batch_size=batch_size, class_weight=class_weight,
                     validation_data=validation_data, verbose=verbose, shuffle=True)


def shift_stain(patches: np.ndarray, *, hematoxylin: float = 1.0, eosin: float = 1.0,
                seed: int | None = None, jitter: float = 0.0) -> np.ndarray:
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

    Raises
    ------
    ValueError
        ``patches`` not (N, H, W, 3); a factor <= 0; ``jitter < 0``.
    TypeError
        ``patches`` not uint8.

    Examples
    --------
    >>> patch = np.full((1, 2, 2, 3), 128, np.uint8)
    >>> paler = shift_stain(patch, hematoxylin=0.5, eosin=0.5)
    >>> paler.shape, paler.dtype.name, bool((paler >= patch).all())
    ((1, 2, 2, 3), 'uint8', True)
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
