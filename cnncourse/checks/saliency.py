"""Checks for notebook 08 (what a network looks at): gradient saliency, Grad-CAM, occlusion
sensitivity, Spearman's rank correlation, and the share of a map inside a mask.

The reference versions are private (``_gradient_saliency``, ...): the notebook's learner writes
them. The checkers run the learner's function on two small random-weight CNNs (one ending in
global average pooling, one in a flattened dense layer) and compare maps value by value.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from cnncourse.checks import Case, Mistake, check_function, compare

# --------------------------------------------------------------------------------------------
# Reference implementations


def _tf():
    from cnncourse.device import import_keras

    import_keras()
    import tensorflow as tf

    return tf


def _as_images(images) -> np.ndarray:
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"images: expected shape (N, H, W, C), got {images.shape}")
    return images


def _logits(model, x) -> np.ndarray:
    return np.asarray(model(x, training=False)).reshape(len(x), -1)[:, 0]


def _input_gradient(model, images, *, through_sigmoid=False, mean=False):
    tf = _tf()
    x = tf.convert_to_tensor(_as_images(images))
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = model(x, training=False)[:, 0]
        if through_sigmoid:
            score = tf.sigmoid(score)
        total = tf.reduce_mean(score) if mean else tf.reduce_sum(score)
    return np.asarray(tape.gradient(total, x))                  # (N, H, W, C)


def _gradient_saliency(model, images):
    """|d logit / d input|, max over colour channels: (N, H, W) float32."""
    return np.abs(_input_gradient(model, images)).max(axis=-1)


def _last_conv(model):
    keras = _keras()
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        raise ValueError(f"model: {model.name!r} has no Conv2D layer")
    return convs[-1]


def _keras():
    from cnncourse.device import import_keras

    return import_keras()


def _grad_cam(model, images, *, layer=None, relu="before", average=True, upsample=True,
              through_sigmoid=False):
    """Grad-CAM of the logit on ``layer`` (default: the last Conv2D), upsampled bilinearly."""
    tf, keras = _tf(), _keras()
    x = tf.convert_to_tensor(_as_images(images))
    layer = _last_conv(model) if layer is None else layer
    probe = keras.Model(model.inputs[0], [layer.output, model.outputs[0]])
    with tf.GradientTape() as tape:
        acts, logits = probe(x, training=False)                # (N, h, w, K), (N, 1)
        score = tf.sigmoid(logits[:, 0]) if through_sigmoid else logits[:, 0]
        total = tf.reduce_sum(score)                            # inside the tape
    grads = tape.gradient(total, acts)                          # (N, h, w, K)
    if average:
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)    # (N, 1, 1, K)
        cam = tf.reduce_sum(weights * acts, axis=-1)            # (N, h, w)
    else:
        cam = tf.reduce_sum(grads * acts, axis=-1)
    if relu == "before":
        cam = tf.nn.relu(cam)
    if upsample:
        cam = tf.image.resize(cam[..., None], x.shape[1:3], method="bilinear")[..., 0]
    if relu == "after":
        cam = tf.nn.relu(cam)
    return np.asarray(cam)


def _windows(size, patch, stride):
    return range(0, size - patch + 1, stride)


def _occlusion(model, images, fill, patch=8, stride=4, *, sign=1.0, starts=None):
    """Logit drop when a ``patch`` x ``patch`` square of colour ``fill`` covers the image at
    every ``stride`` pixels: (N, ny, nx) float32."""
    x = _as_images(images)
    n, h, w, c = x.shape
    fill = np.broadcast_to(np.asarray(fill, np.float32), (c,))
    ys = list(starts(h, patch, stride) if starts else _windows(h, patch, stride))
    xs = list(starts(w, patch, stride) if starts else _windows(w, patch, stride))
    base = _logits(model, x)
    batch = np.repeat(x[:, None], len(ys) * len(xs), axis=1)   # (N, ny * nx, H, W, C)
    for k, (y0, x0) in enumerate((y0, x0) for y0 in ys for x0 in xs):
        batch[:, k, y0:y0 + patch, x0:x0 + patch] = fill
    occluded = _logits(model, batch.reshape(-1, h, w, c)).reshape(n, len(ys), len(xs))
    return (sign * (base[:, None, None] - occluded)).astype(np.float32)


def _ranks(a, method="average"):
    from scipy.stats import rankdata

    return rankdata(np.asarray(a, np.float64).ravel(), method=method)


def _pearson(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def _spearman(a, b):
    """Spearman's rank correlation of two arrays of the same shape (ties: average ranks)."""
    return _pearson(_ranks(a), _ranks(b))


def _mass_inside(maps, masks):
    """Per image, the share of the map's absolute mass inside the mask: (N,) float."""
    m = np.abs(np.asarray(maps, np.float64))
    masks = np.asarray(masks, bool)
    return (m * masks).sum(axis=(1, 2)) / m.sum(axis=(1, 2))


# --------------------------------------------------------------------------------------------
# Test models and inputs


@functools.lru_cache(maxsize=None)
def _models():
    """Two small CNNs with random (seeded) weights and a logit output.

    * "gap": 12x12x3 -> conv c1 (4) -> pool -> conv c2 (5) -> global average pooling -> Dense(1)
    * "flat": 16x16x3 -> conv first (3, valid) -> conv second (4) -> pool -> conv features (6)
      -> Flatten -> Dense(1)
    """
    keras = _keras()
    L = keras.layers
    keras.utils.set_random_seed(1234)
    gap = keras.Sequential([keras.Input((12, 12, 3)),
                            L.Conv2D(4, 3, padding="same", activation="relu", name="c1"),
                            L.MaxPooling2D(2, name="p1"),
                            L.Conv2D(5, 3, padding="same", activation="relu", name="c2"),
                            L.GlobalAveragePooling2D(name="gap"), L.Dense(1, name="logit")],
                           name="tiny_gap_cnn")
    inp = keras.Input((16, 16, 3))
    h = L.Conv2D(3, 3, activation="relu", name="first")(inp)
    h = L.Conv2D(4, 3, padding="same", activation="relu", name="second")(h)
    h = L.MaxPooling2D(2, name="pool")(h)
    h = L.Conv2D(6, 3, padding="same", activation="relu", name="features")(h)
    h = L.Dense(1, name="logit")(L.Flatten(name="flatten")(h))
    flat = keras.Model(inp, h, name="tiny_flat_cnn")
    rng = np.random.default_rng(7)
    for model in (gap, flat):                                   # small random biases: fewer ties
        for layer in model.layers:
            if getattr(layer, "bias", None) is not None:
                layer.bias.assign(rng.normal(0, 0.05, layer.bias.shape).astype(np.float32))
        object.__setattr__(model, "__deepcopy__", lambda memo, m=model: m)  # cases share it
    return gap, flat


def _images(n, size, seed):
    return np.random.default_rng(seed).random((n, size, size, 3), dtype=np.float32)


def _model_cases():
    gap, flat = _models()
    return [Case((gap, _images(3, 12, 0)), label="a 12x12 CNN ending in global average pooling "
                 "(random weights), 3 random images"),
            Case((flat, _images(2, 16, 1)), label="a 16x16 CNN ending in Flatten + Dense (random "
                 "weights), 2 random images")]


def _close_maps(got, expected, rtol=1e-3):
    scale = float(np.max(np.abs(expected))) or 1.0
    return compare(np.asarray(got, dtype=np.float64) if _numeric(got) else got, expected,
                   rtol=rtol, atol=rtol * scale)


def _numeric(x):
    try:
        return np.asarray(x).dtype.kind in "biuf"
    except Exception:
        return False


def _shape_is(shape_of_case):
    """A `when` predicate: the answer is an array whose shape is ``shape_of_case(case)``."""
    def when(g, e, c):
        return _numeric(g) and np.shape(g) == shape_of_case(c)
    return when


# --------------------------------------------------------------------------------------------
# 1. Gradient saliency


def gradient_saliency(fn: Callable) -> Callable:
    """Check ``gradient_saliency(model, images) -> (N, H, W)``: |d logit / d image| with the
    largest absolute value over the colour channels (Simonyan et al. 2014)."""
    cases = _model_cases()
    pairs = [
        ("you took the gradient of the probability sigmoid(logit) (or of the loss) instead of the "
         "logit. The chain rule multiplies the map by sigmoid'(logit) = p (1 - p), which is ~0 for "
         "every patch the network is sure about: its maps fade out exactly where it is confident. "
         "Differentiate the logit (the score before the sigmoid).",
         lambda m, x: np.abs(_input_gradient(m, x, through_sigmoid=True)).max(-1)),
        ("you averaged the scores over the batch (tf.reduce_mean) before differentiating: each "
         "map is divided by the batch size. Sum them instead: image i's score depends only on "
         "image i, so the gradient of the sum gives every image its own gradient.",
         lambda m, x: np.abs(_input_gradient(m, x, mean=True)).max(-1)),
        ("you forgot the absolute value: a large negative derivative (darkening this pixel "
         "*lowers* the score) matters as much as a large positive one. Take np.abs before the max "
         "over channels.",
         lambda m, x: _input_gradient(m, x).max(-1)),
        ("you averaged over the colour channels; the saliency map of Simonyan et al. keeps the "
         "largest absolute derivative over the channels (max, not mean).",
         lambda m, x: np.abs(_input_gradient(m, x)).mean(-1)),
        ("you summed over the colour channels; keep the largest absolute derivative (max).",
         lambda m, x: np.abs(_input_gradient(m, x)).sum(-1)),
    ]
    return check_function(
        fn, _gradient_saliency, cases, name="gradient_saliency",
        compare_with=_close_maps,
        rtol=1e-3, atol=1e-6,
        mistakes=[Mistake(message, wrong=wrong) for message, wrong in pairs] + [
            Mistake("you returned one map for the whole batch (summed or averaged over the "
                    "images); return one map per image, shape (N, H, W).",
                    when=_shape_is(lambda c: c.args[1].shape[1:3])),
            Mistake("you kept the colour channels: take the max of the absolute gradient over the "
                    "last axis, shape (N, H, W).",
                    when=_shape_is(lambda c: c.args[1].shape)),
            Mistake("the answer does not have the images' shape (N, H, W): did you differentiate "
                    "with respect to the weights (model.trainable_variables)? Saliency is the "
                    "derivative with respect to the input: x = tf.convert_to_tensor(images); "
                    "tape.watch(x); ... tape.gradient(score, x).",
                    when=lambda g, e, c: not _numeric(g) or np.shape(g) != np.shape(e)),
        ],
        hint="x = tf.convert_to_tensor(images); with tf.GradientTape() as tape: tape.watch(x); "
             "score = tf.reduce_sum(model(x)[:, 0]); then g = tape.gradient(score, x) and "
             "np.abs(g).max(axis=-1).")


# --------------------------------------------------------------------------------------------
# 2. Grad-CAM


def _same_cam(got, expected, case=None):
    return _close_maps(got, expected, rtol=2e-3)


def grad_cam(fn: Callable) -> Callable:
    """Check ``grad_cam(model, images) -> (N, H, W)``: Grad-CAM of the logit on the model's last
    Conv2D layer, ReLU, resized bilinearly (``tf.image.resize``) to the images' size."""
    cases = _model_cases()

    def compare_cam(got, expected):
        ok, why = _same_cam(got, expected)
        if ok:
            return ok, why
        # ReLU after the upsampling instead of before it: the same map up to interpolation
        for case in cases:
            if np.shape(expected) == (len(case.args[1]), *case.args[1].shape[1:3]):
                alt = _grad_cam(*case.args, relu="after")
                if np.shape(alt) == np.shape(expected) and _same_cam(got, alt)[0] and \
                        np.allclose(_grad_cam(*case.args), expected, rtol=1e-5, atol=1e-7):
                    return True, ""
        return ok, why

    def first_conv(m, x):
        keras = _keras()
        convs = [layer for layer in m.layers if isinstance(layer, keras.layers.Conv2D)]
        return _grad_cam(m, x, layer=convs[0])

    def before_last(m, x):
        keras = _keras()
        convs = [layer for layer in m.layers if isinstance(layer, keras.layers.Conv2D)]
        return _grad_cam(m, x, layer=convs[-2])

    pairs = [
        ("no ReLU: Grad-CAM keeps only the regions that raise the class score "
         "(ReLU of the weighted sum); negative regions speak for the other class.",
         lambda m, x: _grad_cam(m, x, relu=None)),
        ("you multiplied gradient and activation elementwise; Grad-CAM first *averages* each "
         "channel's gradient over the positions (global average pooling of the gradients) to get "
         "one weight per channel, then sums weight x activation map over the channels.",
         lambda m, x: _grad_cam(m, x, average=False)),
        ("you used the first convolution: Grad-CAM uses the *last* convolutional layer, whose "
         "maps are the most class-specific while still keeping a spatial layout.",
         first_conv),
        ("you used a convolution before the last one: Grad-CAM uses the *last* Conv2D layer.",
         before_last),
        ("you differentiated the probability sigmoid(logit) instead of the logit: the map is "
         "scaled by p (1 - p) and fades on confident patches.",
         lambda m, x: _grad_cam(m, x, through_sigmoid=True)),
    ]
    return check_function(
        fn, _grad_cam, cases, name="grad_cam", compare_with=compare_cam,
        rtol=2e-3, atol=1e-6,
        mistakes=[Mistake(message, wrong=wrong) for message, wrong in pairs] + [
            Mistake("the map is not upsampled: it has the size of the last convolution's output. "
                    "Resize it to the images' height and width: tf.image.resize(cam[..., None], "
                    "(H, W), method='bilinear')[..., 0].",
                    when=lambda g, e, c: _numeric(g) and np.ndim(g) >= 3 and len(g) == len(e)
                    and np.shape(g)[1:3] != np.shape(e)[1:3]),
        ],
        hint="probe = keras.Model(model.inputs[0], [last_conv.output, model.outputs[0]]); inside a "
             "GradientTape: acts, logits = probe(x); grads = tape.gradient(sum of logits[:, 0], "
             "acts); weights = mean of grads over axes (1, 2); cam = ReLU(sum over channels of "
             "weights * acts); resize to (H, W).")


# --------------------------------------------------------------------------------------------
# 3. Occlusion sensitivity


def _occlusion_cases():
    gap, flat = _models()
    return [Case((gap, _images(2, 12, 2), np.array([0.8, 0.6, 0.7], np.float32)),
                 {"patch": 4, "stride": 2},
                 label="12x12 images, fill=[0.8, 0.6, 0.7], patch=4, stride=2"),
            Case((flat, _images(2, 16, 3), np.array([0.9, 0.5, 0.8], np.float32)),
                 {"patch": 6, "stride": 5},
                 label="16x16 images, fill=[0.9, 0.5, 0.8], patch=6, stride=5"),
            Case((flat, _images(1, 16, 4), np.array([0.7, 0.7, 0.7], np.float32)),
                 {"patch": 4, "stride": 4},
                 label="16x16 image, fill=[0.7, 0.7, 0.7], patch=4, stride=4")]


def occlusion_map(fn: Callable) -> Callable:
    """Check ``occlusion_map(model, images, fill, patch=8, stride=4) -> (N, ny, nx)``: the drop of
    the logit when a ``patch`` x ``patch`` square of colour ``fill`` covers the image at
    ``(iy * stride, ix * stride)``, for every position that fits inside the image."""
    cases = _occlusion_cases()
    pairs = [
        ("the sign is reversed: record original score - occluded score, so that hiding "
         "evidence for the class gives a *positive* value.",
         lambda m, x, fill, patch=8, stride=4: _occlusion(m, x, fill, patch, stride, sign=-1.0)),
        ("you occluded with 0 (black) instead of `fill` (the background colour). In an H&E patch "
         "black is darker than any chromatin: a black square *adds* a dark blob and the map "
         "measures the network's reaction to it, not what it lost.",
         lambda m, x, fill, patch=8, stride=4: _occlusion(m, x, 0.0, patch, stride)),
        ("the squares are misplaced: the window at (iy, ix) starts at (iy * stride, ix * stride), "
         "not (iy * patch, ix * patch).",
         lambda m, x, fill, patch=8, stride=4: _occlusion(
             m, x, fill, patch, stride,
             starts=lambda s, p, st: [i * p for i in range(len(_windows(s, p, st)))])),
    ]

    def count_off(g, e, c):
        return (_numeric(g) and np.ndim(g) == 3 and len(g) == len(e)
                and np.shape(g)[1:] != np.shape(e)[1:])

    return check_function(
        fn, _occlusion, cases, name="occlusion_map", compare_with=_close_maps,
        rtol=1e-3, atol=1e-6,
        mistakes=[Mistake(message, wrong=wrong) for message, wrong in pairs] + [
            Mistake("the number of window positions is off: windows start at 0, stride, 2 stride, "
                    "... as long as the whole patch fits, so there are (H - patch) // stride + 1 "
                    "positions per axis: range(0, H - patch + 1, stride).", when=count_off),
        ],
        hint="ny = (H - patch) // stride + 1; for each (iy, ix) copy the images, set "
             "x[:, iy*stride:iy*stride+patch, ix*stride:ix*stride+patch] = fill, and record "
             "logit(original) - logit(occluded).")


# --------------------------------------------------------------------------------------------
# 4. Spearman's rank correlation


def _spearman_cases():
    rng = np.random.default_rng(5)
    a = rng.random((6, 6))
    b = a ** 3 + 0.3 * rng.random((6, 6))                        # monotone-ish, not linear
    relu_a = np.maximum(rng.normal(size=(5, 5)), 0)              # many tied zeros (like Grad-CAM)
    relu_b = np.maximum(relu_a + 0.5 * rng.normal(size=(5, 5)), 0)
    return [
        Case((np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([1.0, 4.0, 9.0, 16.0, 100.0])),
             label="a=[1, 2, 3, 4, 5], b=[1, 4, 9, 16, 100] (monotone: Spearman 1)"),
        Case((np.array([3.0, 1.0, 2.0, 5.0, 4.0]), np.array([0.1, 0.5, 0.2, 0.9, 0.3])),
             label="a=[3, 1, 2, 5, 4], b=[0.1, 0.5, 0.2, 0.9, 0.3]"),
        Case((a, b), label="two 6x6 maps"),
        Case((relu_a, relu_b), label="two 5x5 maps with many zeros (ties)"),
        Case((np.array([0.0, 0.0, 1.0, 2.0, 2.0, 3.0]), np.array([1.0, 0.0, 0.0, 2.0, 3.0, 3.0])),
             label="a=[0, 0, 1, 2, 2, 3], b=[1, 0, 0, 2, 3, 3] (ties)"),
    ]


def spearman(fn: Callable) -> Callable:
    """Check ``spearman(a, b) -> float``: Pearson's correlation of the ranks of the flattened
    arrays, tied values sharing their average rank."""
    cases = _spearman_cases()
    ties = ("tied values must share their average rank (scipy.stats.rankdata's default). You "
            "gave them consecutive ranks, so the result depends on the order of equal pixels: "
            "ReLU'd maps (Grad-CAM) have many tied zeros.")

    def order_ranks(kind):
        return lambda a, b: _pearson(np.argsort(np.argsort(np.ravel(a), kind=kind), kind=kind),
                                     np.argsort(np.argsort(np.ravel(b), kind=kind), kind=kind))

    pairs = [
        ("that is Pearson's correlation of the values themselves. Spearman's correlates the "
         "*ranks*: it is 1 for any increasing relation, linear or not.",
         lambda a, b: _pearson(a, b)),
        ("np.argsort gives the *order* (which element is smallest, next...), not each element's "
         "rank: the rank is np.argsort(np.argsort(a)) (or scipy.stats.rankdata).",
         lambda a, b: _pearson(np.argsort(np.ravel(a)), np.argsort(np.ravel(b)))),
        (ties, lambda a, b: _pearson(_ranks(a, "ordinal"), _ranks(b, "ordinal"))),
        (ties, order_ranks("quicksort")),
        (ties, order_ranks("stable")),
    ]
    return check_function(
        fn, _spearman, cases, name="spearman", rtol=1e-6, atol=1e-9,
        mistakes=[Mistake(message, wrong=wrong) for message, wrong in pairs] + [
            Mistake("the answer should be one number: flatten the maps first (np.ravel), "
                    "np.corrcoef of 2-D arrays correlates their rows.",
                    when=lambda g, e, c: _numeric(g) and np.size(g) > 1),
        ],
        hint="ra, rb = scipy.stats.rankdata(np.ravel(a)), scipy.stats.rankdata(np.ravel(b)); "
             "then np.corrcoef(ra, rb)[0, 1].")


# --------------------------------------------------------------------------------------------
# 5. Share of the map inside a mask


def _mass_cases():
    rng = np.random.default_rng(8)
    maps = rng.normal(size=(3, 5, 5))
    maps[0] = np.abs(maps[0])
    maps[1] *= 4.0                                               # images of different total mass
    masks = rng.random((3, 5, 5)) < 0.3
    masks[2, 0, 0] = True
    pos = np.abs(rng.normal(size=(2, 4, 4)))
    pos[1] *= 10.0
    m2 = np.zeros((2, 4, 4), bool)
    m2[:, 1:3, 1:3] = True
    return [Case((pos, m2), label="2 non-negative 4x4 maps (the second 10x larger), central 2x2 "
                 "masks"),
            Case((maps, masks), label="3 signed 5x5 maps, random masks")]


def mass_inside(fn: Callable) -> Callable:
    """Check ``mass_inside(maps, masks) -> (N,)``: per image, the share of the map's absolute
    values that lies inside the mask, sum(|map| * mask) / sum(|map|)."""
    cases = _mass_cases()

    def absolute(maps):
        return np.abs(np.asarray(maps, np.float64))

    pairs = [
        ("divide each image's mass inside the mask by *that image's* total mass, not by the total "
         "of the whole batch (sum over axes (1, 2) only).",
         lambda maps, masks: (absolute(maps) * masks).sum(axis=(1, 2)) / absolute(maps).sum()),
        ("that is the mean value inside the mask (divided by the mask's area); the question is "
         "which *share* of the map's total lies inside: divide by the map's sum.",
         lambda maps, masks: (absolute(maps) * masks).sum(axis=(1, 2))
         / np.asarray(masks).sum(axis=(1, 2))),
        ("take the absolute value of the map first: positive and negative values cancel in a "
         "signed sum (gradient and occlusion maps are signed).",
         lambda maps, masks: (np.asarray(maps) * masks).sum(axis=(1, 2))
         / np.asarray(maps).sum(axis=(1, 2))),
        ("you computed the share *outside* the mask.",
         lambda maps, masks: 1.0 - _mass_inside(maps, masks)),
    ]
    return check_function(
        fn, _mass_inside, cases, name="mass_inside", rtol=1e-6, atol=1e-9,
        mistakes=[Mistake(message, wrong=wrong) for message, wrong in pairs],
        hint="m = np.abs(maps); (m * masks).sum(axis=(1, 2)) / m.sum(axis=(1, 2)).")
