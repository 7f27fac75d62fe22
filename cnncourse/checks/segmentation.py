"""Checks for the segmentation notebook (09): the window around a pixel, the training-window
sampler, the U-Net, Dice, the sliding window's repeated work, the window classifier made fully
convolutional, splitting touching nuclei.

The Keras-model exercises are checked by behaviour (the reference's weights copied into the
learner's model must give the reference's outputs; the converted classifier must equal the
sliding window), and the sampler by the properties its random draw must have."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from cnncourse.checks import (Case, Mistake, check_function, check_value, evaluate_function,
                              library_shortcut, structure_findings)
from cnncourse.checks.architecture import is_model, model_parts

# --------------------------------------------------------------------------------------------
# Exercise 1: the window around a pixel


def _extract_window(image, row, col, size):
    half = size // 2
    padded = np.pad(image, half, mode="reflect")
    return padded[row:row + size, col:col + size]


def _window_no_offset(image, row, col, size):
    half = size // 2
    padded = np.pad(image, half, mode="reflect")
    return padded[row - half:row + half + 1, col - half:col + half + 1]


def _window_no_padding(image, row, col, size):
    half = size // 2
    return image[max(row - half, 0):row + half + 1, max(col - half, 0):col + half + 1]


def _window_zero_padding(image, row, col, size):
    half = size // 2
    padded = np.pad(image, half, mode="constant")
    return padded[row:row + size, col:col + size]


def _window_off_by_one(image, row, col, size):
    half = size // 2
    padded = np.pad(image, half, mode="reflect")
    return padded[row:row + size - 1, col:col + size - 1]


_RAMP = np.arange(48, dtype=np.float64).reshape(6, 8) / 47
_WINDOW_CASES = [
    Case((_RAMP, 3, 4, 3), label="a 6x8 ramp, row=3, col=4, size=3 (inside)"),
    Case((_RAMP, 2, 2, 5), label="a 6x8 ramp, row=2, col=2, size=5 (inside)"),
    Case((_RAMP, 0, 0, 3), label="a 6x8 ramp, row=0, col=0, size=3 (corner)"),
    Case((_RAMP, 5, 7, 5), label="a 6x8 ramp, row=5, col=7, size=5 (corner)"),
    Case((np.random.default_rng(1).random((9, 9)), 4, 1, 7), label="a random 9x9 image, "
         "row=4, col=1, size=7"),
]


def extract_window(fn: Callable) -> Callable:
    """Check ``extract_window(image, row, col, size)``: the size x size window centred on
    (row, col), with the image reflect-padded so that border pixels get whole windows."""
    return check_function(
        fn, _extract_window, _WINDOW_CASES, name="extract_window",
        mistakes=[
            Mistake("the window is centred on (row, col) of the PADDED image. After padding by "
                    "half = size // 2, pixel (row, col) sits at (row + half, col + half), so its "
                    "window starts at (row, col) of the padded image.", wrong=_window_no_offset),
            Mistake("zero padding (np.pad's default mode='constant'): the border windows see a "
                    "black frame that is not in the image; use mode='reflect'.",
                    wrong=_window_zero_padding),
            Mistake("the window is one pixel short: a slice [row:row + size] has size elements, "
                    "[row:row + size - 1] has one fewer.", wrong=_window_off_by_one),
            Mistake("no padding: at the border the slice runs off the image and the window is "
                    "cut short. Pad the image by size // 2 first.", wrong=_window_no_padding),
        ],
        hint="pad with np.pad(image, size // 2, mode='reflect'), then slice size rows and "
             "columns starting at (row, col).",
    )


# --------------------------------------------------------------------------------------------
# Exercise 6: Dice


def _dice_score(prob, target, threshold=0.5):
    pred = np.asarray(prob) > threshold
    target = np.asarray(target).astype(bool)
    total = pred.sum() + target.sum()
    if total == 0:
        return 1.0
    return float(2.0 * np.logical_and(pred, target).sum() / total)


def _dice_no_two(prob, target, threshold=0.5):
    pred, target = np.asarray(prob) > threshold, np.asarray(target).astype(bool)
    with np.errstate(invalid="ignore"):
        return float(np.logical_and(pred, target).sum() / (pred.sum() + target.sum()))


def _dice_iou(prob, target, threshold=0.5):
    pred, target = np.asarray(prob) > threshold, np.asarray(target).astype(bool)
    with np.errstate(invalid="ignore"):
        return float(np.logical_and(pred, target).sum() / np.logical_or(pred, target).sum())


def _dice_soft(prob, target, threshold=0.5):
    prob, target = np.asarray(prob, float), np.asarray(target, float)
    with np.errstate(invalid="ignore"):
        return float(2.0 * (prob * target).sum() / (prob.sum() + target.sum()))


def _dice_empty_nan(g, e, case):
    return e == 1.0 and (g is None or (np.ndim(g) == 0 and np.isnan(float(g))))


def _dice_empty_zero(g, e, case):
    prob, target = case.args[0], case.args[1]
    threshold = case.args[2] if len(case.args) > 2 else case.kwargs.get("threshold", 0.5)
    both_empty = not np.any(np.asarray(prob) > threshold) and not np.any(np.asarray(target))
    try:
        return both_empty and float(g) == 0.0
    except (TypeError, ValueError):
        return False


_TARGET = np.array([[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=bool)
_DICE_CASES = [
    Case((np.array([[0.1, 0.9, 0.8, 0.2], [0.3, 0.7, 0.4, 0.6], [0.0, 0.1, 0.2, 0.1]]), _TARGET),
         label="prob=[[.1,.9,.8,.2],[.3,.7,.4,.6],[0,.1,.2,.1]], target with 4 pixels"),
    Case((np.where(_TARGET, 0.95, 0.05), _TARGET), label="a confident, correct prediction"),
    Case((np.where(_TARGET, 0.45, 0.55), _TARGET),
         label="prob 0.45 on the object and 0.55 elsewhere (wrong everywhere)"),
    Case((np.random.default_rng(2).random((16, 16)), np.random.default_rng(3).random((16, 16)) > 0.6),
         label="random 16x16 probabilities and target"),
    Case((np.full((3, 4), 0.9), np.zeros((3, 4), bool)),
         label="an empty target, everything predicted (Dice 0)"),
    Case((np.full((3, 4), 0.2), np.zeros((3, 4), bool)),
         label="no object anywhere: prob 0.2 everywhere, empty target"),
    Case((np.array([0.9, 0.2, 0.6]), np.array([1, 0, 1]), 0.7), label="threshold=0.7"),
]


def dice_score(fn: Callable) -> Callable:
    """Check ``dice_score(prob, target, threshold=0.5)``: Dice of (prob > threshold) and target,
    1.0 when both are empty."""
    return check_function(
        fn, _dice_score, _DICE_CASES, name="dice_score", rtol=1e-6,
        mistakes=[
            Mistake("two empty masks give 0/0 = NaN: when neither mask has a pixel they agree "
                    "perfectly, so return 1.0 for that case.", when=_dice_empty_nan),
            Mistake("the factor 2 is missing: Dice = 2 |A ∩ B| / (|A| + |B|). Without it a "
                    "perfect prediction scores 0.5.", wrong=_dice_no_two),
            Mistake("that is the IoU (Jaccard), |A ∩ B| / |A ∪ B|, not Dice. They are related "
                    "(Dice = 2 IoU / (1 + IoU)) but Dice is never lower.", wrong=_dice_iou),
            Mistake("two empty masks (no object predicted, none in the target) must score 1.0: they "
                    "agree perfectly. You returned 0.0 there; test for an empty denominator "
                    "(pred.sum() + target.sum() == 0) and return 1.0.",
                    when=_dice_empty_zero),
            Mistake("you computed Dice on the probabilities (a 'soft Dice', used as a training "
                    "loss) without thresholding: threshold first (prob > threshold), then count "
                    "pixels.", wrong=_dice_soft),
        ],
        hint="pred = prob > threshold; return 2 * (pred & target).sum() / (pred.sum() + "
             "target.sum()), or 1.0 when that denominator is 0.",
    )


# --------------------------------------------------------------------------------------------
# Exercise 3: how often the sliding window recomputes the first convolution


def conv1_repeats(value: Any, *, window: int, kernel: int = 4) -> Any:
    """Check the number of times the sliding-window classifier computes the first convolution's
    output at one position of the image (a window x window input, kernel x kernel valid
    convolution)."""
    side = window - kernel + 1
    return check_value(
        value, side ** 2, name="conv1_repeats",
        mistakes=[
            Mistake(f"a {kernel}x{kernel} 'valid' convolution of a {window}x{window} window has "
                    f"{side}x{side} outputs (window - kernel + 1 per side), not "
                    f"{window}x{window}.", wrong=window ** 2),
            Mistake(f"off by one: a {kernel}-wide kernel fits window - kernel + 1 = {side} times "
                    f"across a {window}-wide window, not {window - kernel}.",
                    wrong=(window - kernel) ** 2),
            Mistake(f"count in two dimensions: the first layer's output map is square, "
                    f"{side} x {side}.", wrong=side),
            Mistake("each output of the first layer is computed once per window that contains "
                    "it, and every position of a window's first-layer map belongs to a different "
                    "window: the answer is the size of that map, not 1.", wrong=1),
        ],
        hint="a position of the first layer's output is recomputed by every window whose "
             "first-layer map covers it: as many as that map has positions.",
    )


# --------------------------------------------------------------------------------------------
# Exercise 7: split touching nuclei


def _split_touching(mask, min_distance=5):
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.measure import label
    from skimage.segmentation import watershed

    mask = np.asarray(mask, bool)
    distance = ndi.distance_transform_edt(mask)
    peaks = peak_local_max(distance, min_distance=min_distance, labels=label(mask),
                           exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-distance, markers, mask=mask)


def _disks(centres, radii, shape):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    labels = np.zeros(shape, np.int32)
    for i, ((cy, cx), r) in enumerate(zip(centres, radii), start=1):
        labels[((yy - cy) ** 2 + (xx - cx) ** 2 < r * r) & (labels == 0)] = i
    return labels


_SPLIT_CASES = [
    Case((_disks([(12, 12), (30, 20), (30, 36)], [8, 9, 9], (44, 52)) > 0,),
         label="one nucleus alone and two touching (3 nuclei, 44x52 mask)"),
    Case((_disks([(20, 14), (20, 30), (20, 46)], [9, 9, 9], (40, 64)) > 0,),
         label="a row of three touching nuclei"),
    Case((_disks([(18, 18), (28, 32)], [10, 8], (44, 48)) > 0, 6),
         label="two touching nuclei of different sizes, min_distance=6"),
    Case((_disks([(-3, 20), (28, 14), (28, 30)], [8, 9, 9], (40, 48)) > 0,),
         label="a nucleus cut by the top border (only its bottom 5 rows are in the image) and "
               "two touching ones (3 nuclei, 40x48 mask)"),
    Case((np.zeros((16, 16), bool),), label="an empty mask"),
]


def _unlabelled_nucleus(g, e, case):
    got, mask = np.asarray(g), np.asarray(case.args[0], bool)
    return got.shape == mask.shape and bool(np.any(mask & (got == 0)))


def _n_objects(labels):
    return len(np.setdiff1d(np.unique(labels), [0]))


def _same_instances(got, expected):
    from cnncourse.segmentation import match_instances

    got = np.asarray(got)
    if got.shape != expected.shape:
        return False, f"shape {got.shape}, expected {expected.shape}"
    if got.dtype.kind not in "iu":
        return False, f"expected an integer label image, got dtype {got.dtype}"
    if np.any(got[expected == 0] != 0):
        return False, (f"{int(np.sum(got[expected == 0] != 0))} background pixels have a label; "
                       "background must stay 0")
    n_got, n_exp = _n_objects(got), _n_objects(expected)
    if n_got != n_exp:
        return False, f"{n_got} nuclei, expected {n_exp}"
    m = match_instances(got, expected, iou_threshold=0.8)
    if m["matched"] != n_exp:
        return False, (f"{n_exp - m['matched']} of the {n_exp} nuclei are split in the wrong "
                       "place (IoU with the expected nucleus below 0.8)")
    return True, ""


def _components(case):
    from skimage.measure import label

    return label(np.asarray(case.args[0], bool)).max()


def split_touching(fn: Callable) -> Callable:
    """Check ``split_touching(mask, min_distance=5)``: label image with one id per nucleus, made
    by distance transform, peaks as markers and watershed within the mask."""
    return check_function(
        fn, _split_touching, _SPLIT_CASES, name="split_touching", compare_with=_same_instances,
        mistakes=[
            Mistake("the background got labels: pass mask=mask to watershed, otherwise the "
                    "flooding fills the whole image.",
                    when=lambda g, e, c: np.any(np.asarray(g)[np.asarray(e) == 0] != 0)),
            Mistake("a nucleus at the image border got no label: peak_local_max drops peaks closer "
                    "than min_distance to the border by default (exclude_border=True), so that "
                    "nucleus has no marker and the watershed leaves it out. Pass "
                    "exclude_border=False.", when=_unlabelled_nucleus),
            Mistake("every marker has the same number, so the watershed grows a single region: "
                    "number the peaks 1, 2, 3, ... (markers[tuple(peaks.T)] = "
                    "np.arange(1, len(peaks) + 1)).",
                    when=lambda g, e, c: _n_objects(g) == 1 and _n_objects(e) > 1),
            Mistake("that is one label per connected component (skimage.measure.label): touching "
                    "nuclei stay one object. The watershed from one marker per distance peak is "
                    "what splits them.",
                    when=lambda g, e, c: _n_objects(g) == _components(c) < _n_objects(e)),
        ],
        hint="distance = ndi.distance_transform_edt(mask); peaks = peak_local_max(distance, "
             "min_distance=min_distance, labels=label(mask), exclude_border=False); number "
             "them in a markers image; watershed(-distance, markers, mask=mask).",
    )


# --------------------------------------------------------------------------------------------
# A learner who calls the library's reference instead of writing the exercise is told so: the core
# does it for the exercise's own name (``_build_unet`` for ``build_unet``, ...); the sampler's check
# also looks for the library's pixel sampler, which does half of that exercise.


def _used_reference(fn, name) -> tuple[str, str] | None:
    """``("reference", why)`` when ``fn`` hands the exercise to the library function ``name``
    (:func:`cnncourse.checks.library_shortcut`), else ``None``."""
    found = library_shortcut(fn, name)
    return ("reference", f"it calls {found}, the reference this check compares with") if found else None


_USED_REFERENCE = Mistake("the exercise is to write it yourself: calling the library's reference "
                          "copies the answer without building anything. Write the code in the "
                          "cell (the check then compares it with that reference).",
                          finding="reference")


def _problem_is_none(got, expected):
    """``compare_with`` of the checks whose ``call`` returns ``{"problem": (code, why)}``."""
    code, why = got["problem"]
    return code == "", why


def _problem_code(got, expected, case) -> list[str]:
    """``diagnose`` of the checks whose ``call`` returns ``{"problem": (code, why)}``."""
    return [got["problem"][0]]


# --------------------------------------------------------------------------------------------
# Exercise 2: the training-window sampler
#
# The learner draws random pixels, so the answer cannot equal the reference's: it is checked by
# what it must do. The test images hold distinct random values, so the centre of a window names
# the pixel it was cut around; its window and label are then compared with that pixel's.


def _sampler_images(seed, n_images, shape, fraction):
    rng = np.random.default_rng(seed)
    images = rng.permutation(n_images * shape[0] * shape[1]).reshape(n_images, *shape)
    images = (images / images.size).astype(np.float32)          # distinct values in [0, 1)
    masks = rng.random((n_images, *shape)) < fraction
    return images, masks


_SAMPLER_CASES = [
    Case((*_sampler_images(0, 3, (12, 14), 0.25), 60, 5), {"seed": 0},
         label="3 random 12x14 images, masks with 25% foreground, n_windows=60, size=5, seed=0"),
    Case((*_sampler_images(1, 2, (9, 9), 0.3), 41, 7), {"seed": 3},
         label="2 random 9x9 images, 30% foreground, n_windows=41, size=7, seed=3"),
    Case((*_sampler_images(2, 3, (10, 8), 0.0), 30, 3), {"seed": 1},
         label="3 random 10x8 images WITHOUT foreground (empty masks), n_windows=30, size=3"),
]


def _same_output(a, b):
    try:
        return all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))
    except Exception:
        return False


def _sample(sampler, case):
    """The sampler's ``call``: run it twice with the case's seed; ``{"problem": (code, why)}``
    (code "" when the draw has every property it must have)."""
    used = None if sampler is _training_windows else _used_reference(sampler, "_sample_pixels")
    if used:
        return {"problem": used}
    images, masks, n_windows, size = case.args
    seed = case.kwargs.get("seed", 0)
    out = sampler(images.copy(), masks.copy(), n_windows, size, seed=seed)
    if out is Ellipsis:
        return out
    again = sampler(images.copy(), masks.copy(), n_windows, size, seed=seed)
    repeatable = _same_output(out, again) if isinstance(out, tuple) else True
    return {"problem": _sampler_problem(out, repeatable, case.args)}


def _training_windows(images, masks, n_windows, size, seed=0):
    from cnncourse.segmentation import _training_windows as reference

    return reference(images, masks, n_windows, size, seed=seed, foreground_fraction=0.5)


def _sampler_problem(out, repeatable, args):
    """``(code, explanation)`` for the sampler's output ``out`` on ``args`` (images, masks,
    n_windows, size); code "" when the sample is right."""
    from cnncourse.segmentation import extract_windows

    images, masks, n_windows, size = args
    if not isinstance(out, tuple) or len(out) != 2:
        return "type", f"expected a tuple (windows, labels), got {type(out).__name__}"
    windows, labels = (np.asarray(a) for a in out)
    per_image = n_windows // len(images)
    m = per_image * len(images)
    if windows.shape != (m, size, size, 1) or labels.shape != (m,):
        return "shape", (f"windows {windows.shape} and labels {labels.shape}, expected ({m}, {size}, "
                         f"{size}, 1) and ({m},): {per_image} windows from each of the "
                         f"{len(images)} images")
    if not repeatable:
        return "seed", "a second call with the same seed gave other windows"
    values = images.ravel()
    order = np.argsort(values)
    centre = windows[:, size // 2, size // 2, 0].astype(np.float32)
    pos = np.clip(np.searchsorted(values[order], centre), 0, values.size - 1)
    if not np.array_equal(values[order][pos], centre):
        return "window", "some windows' centre values are not pixels of the images"
    where = np.stack(np.unravel_index(order[pos], images.shape), axis=1)      # (M, 3)
    for mode in ("reflect", "constant"):
        ref = np.stack([extract_windows(images[i], np.array([[r, c]]), size, mode=mode)[0]
                        for i, r, c in where])
        if np.array_equal(windows[..., 0], ref):
            break
    else:
        return "window", "some windows are not the reflect-padded window around their centre pixel"
    if mode == "constant" and not np.array_equal(
            windows[..., 0], np.stack([extract_windows(images[i], np.array([[r, c]]), size)[0]
                                       for i, r, c in where])):
        return "zero_pad", "windows at the border are zero-padded"
    if not np.array_equal(labels.astype(float), masks[tuple(where.T)].astype(float)):
        wrong = int(np.sum(labels.astype(float) != masks[tuple(where.T)]))
        return "label", f"{wrong} of {m} labels differ from the mask at their window's centre pixel"
    per = np.bincount(where[:, 0], minlength=len(images))
    if np.any(per != per_image):
        return "per_image", f"windows per image {per.tolist()}, expected {per_image} from each"
    fg = np.array([labels[where[:, 0] == i].sum() for i in range(len(images))])
    want = np.array([per_image / 2 if m.any() and not m.all() else per_image * float(m.all())
                     for m in masks])
    if np.any(np.abs(fg - want) > 0.5 + 1e-9):
        return "balance", (f"nucleus windows per image {fg.astype(int).tolist()}, expected "
                           f"{want.tolist()} (half, where an image has both classes)")
    return "", ""


def training_windows(fn: Callable) -> Callable:
    """Check ``training_windows(images, masks, n_windows, size, seed=0)``: ``n_windows //
    len(images)`` random pixels from each image, half of them foreground (all background in an
    image without foreground), their reflect-padded
    windows ``(M, size, size, 1)`` and their centre-pixel labels ``(M,)``, the same for the same
    seed. Random pixels cannot match a reference draw, so the check tests these properties."""
    result = evaluate_function(
        fn, _training_windows, _SAMPLER_CASES, name="training_windows", call=_sample,
        compare_with=_problem_is_none, diagnose=_problem_code,
        mistakes=[
            _USED_REFERENCE,
            Mistake("a label is not the mask at its window's centre pixel: either the window is "
                    "not centred on the sampled pixel (after padding by size // 2 the pixel "
                    "(r, c) sits at (r + size // 2, c + size // 2) of the padded image), or the "
                    "label is read elsewhere (it is masks[i][r, c], row first).",
                    finding="label"),
            Mistake("the classes are not balanced: nuclei cover only part of each image, so "
                    "pixels drawn uniformly are mostly background. Draw half of each image's "
                    "windows from its foreground pixels (np.flatnonzero(mask)) and half from its "
                    "background (np.flatnonzero(~mask)).", finding="balance"),
            Mistake("the windows must come from every image, n_windows // len(images) from "
                    "each; some images gave more than others.", finding="per_image"),
            Mistake("the same seed must give the same windows: make one generator, rng = "
                    "np.random.default_rng(seed), and draw everything from it (not from "
                    "np.random's global state).", finding="seed"),
            Mistake("zero padding at the border: pad with mode='reflect' (extract_window does).",
                    finding="zero_pad"),
            Mistake("the windows must have a channel axis, (M, size, size, 1), and the labels "
                    "shape (M,), with M = (n_windows // len(images)) * len(images).",
                    finding="shape"),
        ],
        hint="rng = np.random.default_rng(seed); for each image: fg = np.flatnonzero(mask), "
             "bg = np.flatnonzero(~mask), pick half of the pixels from each with rng.choice, turn "
             "them into (row, col) with np.unravel_index, cut windows, label = mask[row, col].",
    )
    return fn if result.passed else _training_windows


# --------------------------------------------------------------------------------------------
# Exercise 5: the U-Net
#
# The learner's model is checked by behaviour: the reference model's weights are copied into it
# (the layers with weights must match one to one), and then the two must give the same outputs on
# images of two sizes. Where that fails, the model's graph and outputs say which mistake it is.

_UNET_CASES = [Case((2, 4), label="depth=2, width=4"), Case((1, 3), label="depth=1, width=3"),
               Case((3, 2), label="depth=3, width=2")]
_UNET_INPUTS = [np.random.default_rng(5).random((1, 32, 32, 1), dtype=np.float32),
                np.random.default_rng(6).random((1, 24, 40, 1), dtype=np.float32)]


def _weights_shapes(model):
    return [tuple(w.shape) for w in model.get_weights()]


def _swap_skip_halves(model, weights):
    """The reference's weights for a model that concatenates ``[x, skip]`` instead of
    ``[skip, x]``: the first convolution after each concatenation reads the halves swapped."""
    weights = list(weights)
    index = 0
    for layer in model.layers:
        n = len(layer.get_weights())
        if n and layer.name.endswith("_conv_a") and layer.name.startswith("up"):
            kernel = weights[index]
            half = kernel.shape[2] // 2
            weights[index] = np.concatenate([kernel[:, :, half:], kernel[:, :, :half]], axis=2)
        index += n
    return weights


def _ancestor_layers(tensor) -> list:
    """The layers ``tensor`` is computed from, found by walking the functional graph back."""
    found, stack = {}, [tensor]
    while stack:
        history = getattr(stack.pop(), "_keras_history", None)
        if history is None or id(history[0]) in found:
            continue
        found[id(history[0])] = history[0]
        try:
            stack.extend(history[0]._inbound_nodes[history[1]].input_tensors)
        except (AttributeError, IndexError):
            pass
    return list(found.values())


def _upsampled(tensor) -> bool:
    import keras

    ups = (keras.layers.UpSampling2D, keras.layers.Conv2DTranspose)
    return any(isinstance(layer, ups) for layer in _ancestor_layers(tensor))


def _concatenations(model):
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.Concatenate)]


def _unet_problem(got, expected):
    """``(code, explanation)`` for the learner's model ``got`` compared with the reference model
    ``expected``; code "" when it computes the same function."""
    import keras

    if not isinstance(got, keras.Model):
        return "type", f"expected a keras.Model, got {type(got).__name__}"
    outs = []
    for x in _UNET_INPUTS:
        try:
            outs.append(np.asarray(got(x, training=False)))
        except Exception as exc:
            if any(getattr(layer, "padding", None) == "valid" and max(layer.kernel_size) > 1
                   for layer in got.layers if isinstance(layer, keras.layers.Conv2D)):
                return "shrinks", (f"the model fails on an input of shape {x.shape[1:]} and has "
                                   "convolutions with padding='valid'")
            return "crash", (f"the model fails on an input of shape {x.shape[1:]}: "
                             f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    for x, out in zip(_UNET_INPUTS, outs):
        if out.ndim != 4 or out.shape[1:3] != x.shape[1:3]:
            got_hw = out.shape[1:3] if out.ndim == 4 else out.shape
            if out.ndim == 4 and (out.shape[1] < x.shape[1] or out.shape[2] < x.shape[2]):
                return "shrinks", f"a {x.shape[1:3]} input gives a {got_hw} output"
            axes = {layer.axis for layer in _concatenations(got)}
            if axes - {-1, 3}:
                return "axis", (f"a {x.shape[1:3]} input gives a {got_hw} output; Concatenate "
                                f"axis {sorted(axes - {-1, 3})}")
            return "size", f"a {x.shape[1:3]} input gives a {got_hw} output"
        if out.shape[-1] != 1:
            return "channels", f"the output has {out.shape[-1]} channels, expected 1"
    if not _concatenations(got):
        return "no_skip", "the model has no Concatenate layer"
    if any(not any(not _upsampled(t) for t in layer.input) for layer in _concatenations(got)):
        return "skip_wiring", "a Concatenate layer joins no encoder (not upsampled) features"
    if any(o.min() < 0 or o.max() > 1 for o in outs):
        return "no_sigmoid", "outputs outside [0, 1]"
    if _weights_shapes(got) != _weights_shapes(expected):
        g = [s for s in _weights_shapes(got) if len(s) == 4]
        e = [s for s in _weights_shapes(expected) if len(s) == 4]
        return "layers", f"convolution kernels {g}, expected {e}"
    ref_outs = [np.asarray(expected(x, training=False)) for x in _UNET_INPUTS]
    for weights in (expected.get_weights(), _swap_skip_halves(expected, expected.get_weights())):
        got.set_weights(weights)
        new = [np.asarray(got(x, training=False)) for x in _UNET_INPUTS]
        if all(np.allclose(n, r, atol=1e-5) for n, r in zip(new, ref_outs)):
            return "", ""
    got.set_weights(expected.get_weights())
    new = [np.asarray(got(x, training=False)) for x in _UNET_INPUTS]
    if all(np.allclose(n, 1 / (1 + np.exp(-r)), atol=1e-5) for n, r in zip(new, ref_outs)):
        return "double_sigmoid", "with the reference's weights its output is sigmoid(reference)"
    if all(np.allclose(1 / (1 + np.exp(-n)), r, atol=1e-5) for n, r in zip(new, ref_outs)):
        return "no_sigmoid", "with the reference's weights its output is the reference's before the sigmoid"
    return "values", ("with the reference's weights copied in, its outputs differ from the "
                      f"reference's by up to {max(np.abs(n - r).max() for n, r in zip(new, ref_outs)):.3g}")


def _reference_unet(depth, width):
    """The reference U-Net (a wrapper: a learner who hands in the library's ``_build_unet`` is
    told to write it)."""
    from cnncourse.segmentation import _build_unet

    return _build_unet(depth, width)


def build_unet(fn: Callable) -> Callable:
    """Check ``build_unet(depth, width)``: a U-Net in the Keras functional API whose layers with
    weights match the reference's one to one, and which, with the reference's weights copied in,
    gives the reference's outputs on a 32x32 and a 24x40 image (either concatenation order); then
    its layers must be the ones the exercise lists, in order (a missing or extra one is named)."""
    from cnncourse.segmentation import _build_unet

    references: dict = {}   # case label -> the reference model

    def build(builder, case):
        import keras

        keras.utils.set_random_seed(0)
        return builder(*case.args, **case.kwargs)

    def call(builder, case):
        """A plain summary: the model's parts and what is wrong with it, ``(code, why)``."""
        if case.label not in references:
            references[case.label] = build(_reference_unet, case)
        reference = references[case.label]
        if builder is _reference_unet:
            return {"problem": ("", ""), "parts": model_parts(reference)}
        model = build(builder, case)
        if model is Ellipsis:
            return model
        problem = _unet_problem(model, reference)
        parts = model_parts(model) if is_model(model) else ()
        if problem[0] == "" and parts != model_parts(reference):
            problem = ("parts", "its layers are not the ones the exercise lists")
        return {"problem": problem, "parts": parts}

    def diagnose(got, expected, case):
        return structure_findings(got["parts"], expected["parts"]) + _problem_code(got, expected, case)

    result = evaluate_function(
        fn, _reference_unet, _UNET_CASES, name="build_unet", call=call,
        compare_with=_problem_is_none, diagnose=diagnose,
        mistakes=[
            Mistake("the output size differs from the input: padding that shrinks the image. "
                    "Every 3x3 and 2x2 convolution needs padding='same'.", finding="shrinks"),
            Mistake("concatenation on the wrong axis: the skip connection joins feature maps of "
                    "the same height and width along the channel axis, "
                    "layers.Concatenate(axis=-1) (the default).", finding="axis"),
            Mistake("the skip connection is missing: the decoder must concatenate the encoder's "
                    "features of the same size (saved before each pooling) with the upsampled "
                    "ones, layers.Concatenate()([skip, x]). Without it the output only sees the "
                    "coarse, pooled maps.", finding="no_skip"),
            Mistake("the skip connection does not carry the encoder's features: each "
                    "Concatenate must join the tensor saved in the contracting path (before its "
                    "pooling) with the upsampled one, not a decoder tensor with itself.",
                    finding="skip_wiring"),
            Mistake("the sigmoid is missing: the 1x1 output convolution needs "
                    "activation='sigmoid' so the outputs are probabilities in [0, 1].",
                    finding="no_sigmoid"),
            Mistake("the sigmoid is applied twice (an activation='sigmoid' and another sigmoid "
                    "after it): the outputs are squeezed into (0.5, 0.73) and never say "
                    "'background'.", finding="double_sigmoid"),
            Mistake("the output has the wrong number of channels: one 1x1 convolution with ONE "
                    "filter, layers.Conv2D(1, 1, activation='sigmoid').",
                    finding="channels"),
            Mistake("the layers with weights differ from the U-Net described above (two 3x3 "
                    "convolutions per block, filters doubling per level, a 2x2 convolution after "
                    "each upsampling, a 1x1 output): compare your filter counts and kernel sizes "
                    "with the list in the exercise.", finding="layers"),
        ],
        hint="encoder: for each level two Conv2D(width * 2**level, 3, padding='same', "
             "activation='relu'), save the result, MaxPooling2D(2); bottleneck; decoder: "
             "UpSampling2D(2), Conv2D(filters, 2, padding='same', activation='relu'), "
             "Concatenate()([saved, x]), two 3x3 convolutions; Conv2D(1, 1, activation='sigmoid').",
    )
    return fn if result.passed else _build_unet


# --------------------------------------------------------------------------------------------
# Exercise 4: the window classifier made fully convolutional

_FCN_CASES = [Case((15, 2, 4, 0), label="a random 15x15 window classifier (width 2, hidden 4)"),
              Case((17, 3, 5, 1), label="a random 17x17 window classifier (width 3, hidden 5)")]
_FCN_IMAGE = np.random.default_rng(7).random((11, 14)).astype(np.float32)


def _window_model(window, width, hidden, seed):
    import keras

    from cnncourse.segmentation import build_window_classifier

    keras.utils.set_random_seed(seed)
    model = build_window_classifier(window, width=width, hidden=hidden)
    # Biases are zero after initialisation; random ones make every weight matter.
    rng = np.random.default_rng(seed)
    model.set_weights([w if w.ndim > 1 else rng.normal(0, 0.1, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


def _fcn_reference(window_model):
    """The reference conversion (a wrapper: a learner who hands in the library's
    ``_to_fully_convolutional`` is told to write it)."""
    from cnncourse.segmentation import _to_fully_convolutional

    return _to_fully_convolutional(window_model)


def _convert(converter, case):
    """The converter's ``call``: a random window classifier for the case, converted;
    ``{"problem": (code, why)}`` (code "" when it gives the sliding window's map)."""
    window_model = _window_model(*case.args)
    out = converter(window_model)
    if out is Ellipsis:
        return out
    return {"problem": ("", "") if converter is _fcn_reference else _fcn_problem(out, window_model)}


def _fcn_problem(model, window_model):
    """``(code, explanation)`` for the learner's conversion ``model`` of ``window_model``; code ""
    when it gives the sliding window's probability map."""
    import keras

    from cnncourse.segmentation import _pad, predict_sliding_window

    if not isinstance(model, keras.Model):
        return "type", f"expected a keras.Model, got {type(model).__name__}"
    window = window_model.input_shape[1]
    slow = predict_sliding_window(window_model, _FCN_IMAGE)
    padded = _pad(_FCN_IMAGE, window // 2, "reflect")[None, ..., None]
    try:
        out = np.asarray(model(padded, training=False))
    except Exception as exc:
        return "crash", (f"the model fails on a {padded.shape[1:3]} image: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200]}")
    if out.ndim != 4 or out.shape[1:3] != slow.shape or out.shape[-1] != 1:
        shape = out.shape[1:]
        if out.ndim == 4 and out.shape[1] < slow.shape[0]:
            return "smaller", (f"on the {_FCN_IMAGE.shape} image padded by {window // 2} it gives "
                               f"{shape}, expected {slow.shape + (1,)}")
        if out.ndim == 4 and out.shape[1] > slow.shape[0]:
            return "larger", (f"on the {_FCN_IMAGE.shape} image padded by {window // 2} it gives "
                              f"{shape}, expected {slow.shape + (1,)}")
        return "shape", f"output {shape}, expected {slow.shape + (1,)}"
    out = out[0, ..., 0]
    if np.allclose(out, slow, atol=1e-5):
        return "", ""
    with np.errstate(divide="ignore", invalid="ignore"):
        logit = np.log(slow) - np.log1p(-slow)
    if np.allclose(out, logit, atol=1e-4):
        return "no_sigmoid", "its outputs are the sliding window's before the sigmoid"
    if np.allclose(out, 1 / (1 + np.exp(-slow)), atol=1e-5):
        return "double_sigmoid", "its outputs are sigmoid(the sliding window's)"
    theirs = sorted(float(np.sum(np.abs(w))) for w in model.get_weights())
    ours = sorted(float(np.sum(np.abs(w))) for w in window_model.get_weights())
    if len(theirs) != len(ours) or not np.allclose(theirs, ours, rtol=1e-5):
        return "weights", "its weights are not the window classifier's"
    return "values", (f"outputs differ from the sliding window's by up to "
                      f"{np.abs(out - slow).max():.3g}")


def to_fully_convolutional(fn: Callable) -> Callable:
    """Check ``to_fully_convolutional(window_model)``: a model that, run once on an image padded
    by ``window // 2``, gives the same probability map as sliding the window classifier over
    every pixel (compared on an 11x14 image, two random window classifiers)."""
    from cnncourse.segmentation import _to_fully_convolutional

    result = evaluate_function(
        fn, _fcn_reference, _FCN_CASES, name="to_fully_convolutional", call=_convert,
        compare_with=_problem_is_none, diagnose=_problem_code,
        mistakes=[
            Mistake("the output map is smaller than the image: the pooling still has stride 2, "
                    "so it keeps only every second window. Use MaxPooling2D(2, strides=1).",
                    finding="smaller"),
            Mistake("the output map is larger than the image: after a stride-1 pooling the "
                    "layers must read their inputs 2 pixels apart (dilation_rate=2 in conv2, "
                    "conv3 and the dense-as-convolution layer), which is what the stride-2 "
                    "pooling did in the window model. Without it positions are not aligned.",
                    finding="larger"),
            Mistake("the sigmoid is missing on the output convolution (activation='sigmoid').",
                    finding="no_sigmoid"),
            Mistake("the sigmoid is applied twice.", finding="double_sigmoid"),
            Mistake("the weights were not copied (or not all of them): set every layer's "
                    "weights from the window model, the Dense kernels reshaped to convolution "
                    "kernels.", finding="weights"),
            Mistake("the Dense kernel was reshaped in the wrong order: Flatten lays the k x k x C "
                    "map out row by row, channel fastest, so the Dense kernel (k*k*C, units) "
                    "becomes the convolution kernel kernel.reshape(k, k, C, units) (no transpose).",
                    finding="values"),
        ],
        hint="Conv2D(conv1) -> MaxPooling2D(2, strides=1) -> Conv2D(conv2, dilation_rate=2) -> "
             "Conv2D(conv3, dilation_rate=2) -> Conv2D(hidden, k, dilation_rate=2) -> "
             "Conv2D(1, 1, activation='sigmoid'); copy the conv weights, reshape the Dense ones.",
    )
    return fn if result.passed else _to_fully_convolutional


__all__ = ["extract_window", "training_windows", "build_unet", "dice_score", "conv1_repeats",
           "to_fully_convolutional", "split_touching"]
