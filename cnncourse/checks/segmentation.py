"""Checks for the segmentation notebook (09): windows, Dice, the sliding window's repeated work,
splitting touching nuclei."""
from __future__ import annotations

import numpy as np

from cnncourse.checks import Case, Mistake, check_function, check_value

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


def extract_window(fn):
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
# Exercise 2: Dice


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


_TARGET = np.array([[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=bool)
_DICE_CASES = [
    Case((np.array([[0.1, 0.9, 0.8, 0.2], [0.3, 0.7, 0.4, 0.6], [0.0, 0.1, 0.2, 0.1]]), _TARGET),
         label="prob=[[.1,.9,.8,.2],[.3,.7,.4,.6],[0,.1,.2,.1]], target with 4 pixels"),
    Case((np.where(_TARGET, 0.95, 0.05), _TARGET), label="a confident, correct prediction"),
    Case((np.where(_TARGET, 0.45, 0.55), _TARGET),
         label="prob 0.45 on the object and 0.55 elsewhere (wrong everywhere)"),
    Case((np.random.default_rng(2).random((16, 16)), np.random.default_rng(3).random((16, 16)) > 0.6),
         label="random 16x16 probabilities and target"),
    Case((np.full((3, 4), 0.2), np.zeros((3, 4), bool)),
         label="no object anywhere: prob 0.2 everywhere, empty target"),
    Case((np.array([0.9, 0.2, 0.6]), np.array([1, 0, 1]), 0.7), label="threshold=0.7"),
]


def dice_score(fn):
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
            Mistake("you computed Dice on the probabilities (a 'soft Dice', used as a training "
                    "loss) without thresholding: threshold first (prob > threshold), then count "
                    "pixels.", wrong=_dice_soft),
        ],
        hint="pred = prob > threshold; return 2 * (pred & target).sum() / (pred.sum() + "
             "target.sum()), or 1.0 when that denominator is 0.",
    )


# --------------------------------------------------------------------------------------------
# Exercise 3: how often the sliding window recomputes the first convolution


def conv1_repeats(value, *, window, kernel=4):
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
# Exercise 4: split touching nuclei


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
    Case((np.zeros((16, 16), bool),), label="an empty mask"),
]


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


def split_touching(fn):
    """Check ``split_touching(mask, min_distance=5)``: label image with one id per nucleus, made
    by distance transform, peaks as markers and watershed within the mask."""
    return check_function(
        fn, _split_touching, _SPLIT_CASES, name="split_touching", compare_with=_same_instances,
        mistakes=[
            Mistake("the background got labels: pass mask=mask to watershed, otherwise the "
                    "flooding fills the whole image.",
                    when=lambda g, e, c: np.any(np.asarray(g)[np.asarray(e) == 0] != 0)),
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


__all__ = ["extract_window", "dice_score", "conv1_repeats", "split_touching"]
