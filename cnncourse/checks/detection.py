"""Checks for the detection and transfer-learning notebook (10): the accuracy of doing nothing,
class weights, focal loss, a threshold for a target recall, non-maximum suppression, matching
detections to the truth, and a pretrained network with frozen features and a new head.

The reference versions of the notebook's exercises live here (private, ``_name``), not in
:mod:`cnncourse.detection`, so that the library offers no shortcut around them."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from cnncourse.checks import Case, Mistake, check_function, check_value, structure_findings

# The talk (Ciresan et al. 2013): 66,000 mitosis pixels and 151 million non-mitosis pixels.
MITOSIS_PIXELS = 66_000
OTHER_PIXELS = 151_000_000


# --------------------------------------------------------------------------------------------
# Exercise 1: accuracy of the classifier that always says "not mitosis"


def all_negative_accuracy(value: Any) -> Any:
    """Check the accuracy of always predicting "no mitosis" on the talk's pixels."""
    total = MITOSIS_PIXELS + OTHER_PIXELS
    return check_value(
        value, OTHER_PIXELS / total, name="all_negative_accuracy", rtol=1e-9,
        mistakes=[
            Mistake("you divided by the non-mitosis pixels only; accuracy is correct predictions "
                    "over ALL pixels (66,000 + 151,000,000).",
                    wrong=1 - MITOSIS_PIXELS / OTHER_PIXELS),
            Mistake("that is the share of mitosis pixels, i.e. the error rate of the all-negative "
                    "classifier; its accuracy is 1 minus that.", wrong=MITOSIS_PIXELS / total),
            Mistake("that is a ratio of counts, not an accuracy (a number between 0 and 1).",
                    wrong=OTHER_PIXELS / MITOSIS_PIXELS),
            Mistake("give a fraction between 0 and 1, not a percentage.",
                    wrong=100 * OTHER_PIXELS / total),
        ],
        hint="the all-negative classifier is right on every non-mitosis pixel and wrong on "
             "every mitosis pixel.",
    )


# --------------------------------------------------------------------------------------------
# Exercise 2: class weights


def _class_weights(y):
    y = np.asarray(y)
    n = len(y)
    return {c: float(n / (2 * np.sum(y == c))) for c in (0, 1)}


def _weights_frequency(y):
    y = np.asarray(y)
    return {c: float(np.mean(y == c)) for c in (0, 1)}


def _weights_inverse_counts(y):
    y = np.asarray(y)
    return {c: float(1 / np.sum(y == c)) for c in (0, 1)}


def _weights_no_two(y):
    y = np.asarray(y)
    return {c: float(len(y) / np.sum(y == c)) for c in (0, 1)}


def _weights_inverse_fraction_swapped(y):
    w = _class_weights(y)
    return {0: w[1], 1: w[0]}


_WEIGHT_CASES = [
    Case((np.array([0, 0, 0, 1]),), label="y=[0, 0, 0, 1]"),
    Case((np.array([0] * 95 + [1] * 5),), label="95 negatives, 5 positives"),
    Case((np.array([1, 0, 1, 0, 1, 0]),), label="balanced: y=[1, 0, 1, 0, 1, 0]"),
    Case(((np.random.default_rng(4).random(200) < 0.1).astype(np.int64),),
         label="200 random labels, about 10% positive"),
]


def class_weights(fn: Callable) -> Callable:
    """Check ``class_weights(y) -> {0: w0, 1: w1}`` with ``w_c = n / (2 n_c)``."""
    return check_function(
        fn, _class_weights, _WEIGHT_CASES, name="class_weights",
        mistakes=[
            Mistake("the weights follow the class frequencies, which makes the rare class count "
                    "even less; a class's weight must be INVERSELY proportional to its count.",
                    wrong=_weights_frequency),
            Mistake("the weights are swapped: the rare class (1) needs the LARGE weight.",
                    wrong=_weights_inverse_fraction_swapped),
            Mistake("1 / n_c has the right ratio but tiny values (the loss and the effective "
                    "learning rate shrink by a factor of about n); scale so the average weight "
                    "per sample is 1: n / (2 n_c).", wrong=_weights_inverse_counts),
            Mistake("n / n_c is twice too large: with two classes, n / (2 n_c) keeps the average "
                    "weight per sample at 1.", wrong=_weights_no_two),
        ],
        hint="count each class, n_c = np.sum(y == c); weight = len(y) / (2 * n_c).",
    )


# --------------------------------------------------------------------------------------------
# Exercise 3: binary focal loss


def _focal_loss(y_true, p, gamma=2.0, alpha=0.25):
    y = np.asarray(y_true, float)
    p = np.clip(np.asarray(p, float), 1e-7, 1 - 1e-7)
    p_t = np.where(y == 1, p, 1 - p)
    alpha_t = np.where(y == 1, alpha, 1 - alpha)
    return -alpha_t * (1 - p_t) ** gamma * np.log(p_t)


def _focal_no_clip(y_true, p, gamma=2.0, alpha=0.25):
    y, p = np.asarray(y_true, float), np.asarray(p, float)
    p_t = np.where(y == 1, p, 1 - p)
    alpha_t = np.where(y == 1, alpha, 1 - alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -alpha_t * (1 - p_t) ** gamma * np.log(p_t)


def _focal_alpha_swapped(y_true, p, gamma=2.0, alpha=0.25):
    return _focal_loss(y_true, p, gamma, 1 - alpha)


def _focal_wrong_factor(y_true, p, gamma=2.0, alpha=0.25):
    y = np.asarray(y_true, float)
    p = np.clip(np.asarray(p, float), 1e-7, 1 - 1e-7)
    p_t = np.where(y == 1, p, 1 - p)
    alpha_t = np.where(y == 1, alpha, 1 - alpha)
    return -alpha_t * p_t ** gamma * np.log(p_t)


def _focal_p_not_pt(y_true, p, gamma=2.0, alpha=0.25):
    y = np.asarray(y_true, float)
    p = np.clip(np.asarray(p, float), 1e-7, 1 - 1e-7)
    p_t = np.where(y == 1, p, 1 - p)
    alpha_t = np.where(y == 1, alpha, 1 - alpha)
    return -alpha_t * (1 - p) ** gamma * np.log(p_t)


def _focal_no_alpha(y_true, p, gamma=2.0, alpha=0.25):
    return _focal_loss(y_true, p, gamma, 0.5) * 2


_FOCAL_CASES = [
    Case((np.array([1, 0, 1, 0]), np.array([0.9, 0.2, 0.3, 0.7])), label="y=[1, 0, 1, 0], "
         "p=[0.9, 0.2, 0.3, 0.7]"),
    Case((np.array([1, 1, 0]), np.array([0.5, 0.99, 0.01]), 0.0, 0.5),
         label="gamma=0, alpha=0.5 (half the cross-entropy)"),
    Case((np.array([0, 0, 1]), np.array([0.6, 0.05, 0.4]), 1.0, 0.75),
         label="gamma=1, alpha=0.75"),
    Case((np.array([1, 0, 0, 1]), np.array([1.0, 0.0, 1.0, 0.0])),
         label="certain predictions, right and wrong: p=[1, 0, 1, 0]"),
]


def focal_loss(fn: Callable) -> Callable:
    """Check ``focal_loss(y_true, p, gamma=2.0, alpha=0.25)``: elementwise
    ``-alpha_t (1 - p_t)**gamma log(p_t)`` with p clipped to [1e-7, 1 - 1e-7]."""
    return check_function(
        fn, _focal_loss, _FOCAL_CASES, name="focal_loss", rtol=1e-5, atol=1e-7,
        mistakes=[
            Mistake("alpha is on the wrong class: alpha_t = alpha for positives (y = 1) and "
                    "1 - alpha for negatives.", wrong=_focal_alpha_swapped),
            Mistake("the modulating factor must be (1 - p_t)**gamma, small for examples that are "
                    "already right (p_t near 1); p_t**gamma does the opposite and focuses on the "
                    "easy examples.", wrong=_focal_wrong_factor),
            Mistake("the modulating factor uses p instead of p_t: for a negative the probability "
                    "of the TRUE class is 1 - p.", wrong=_focal_p_not_pt),
            Mistake("alpha is missing (it weights positives by alpha and negatives by "
                    "1 - alpha).", wrong=_focal_no_alpha),
            Mistake("log(0) = -inf: a certain, wrong prediction (p = 0 for a positive) gives an "
                    "infinite loss and NaN gradients. Clip p to [1e-7, 1 - 1e-7] first "
                    "(np.clip).", when=lambda g, e, c: not np.all(np.isfinite(np.asarray(g, float)))),
        ],
        hint="p = np.clip(p, 1e-7, 1 - 1e-7); p_t = np.where(y == 1, p, 1 - p); alpha_t likewise "
             "with alpha and 1 - alpha; return -alpha_t * (1 - p_t)**gamma * np.log(p_t).",
    )


# --------------------------------------------------------------------------------------------
# Exercise 4: threshold for a target recall


def _threshold_for_recall(y_true, scores, target_recall):
    positives = np.sort(np.asarray(scores, float)[np.asarray(y_true) == 1])[::-1]
    k = math.ceil(target_recall * positives.size - 1e-9)
    return float(positives[k - 1])


def _threshold_lowest(y_true, scores, target_recall):
    return float(np.min(np.asarray(scores, float)[np.asarray(y_true) == 1]))


def _threshold_off_by_one(y_true, scores, target_recall):
    positives = np.sort(np.asarray(scores, float)[np.asarray(y_true) == 1])[::-1]
    k = math.ceil(target_recall * positives.size - 1e-9)
    return float(positives[min(k, positives.size - 1)])


def _threshold_floor(y_true, scores, target_recall):
    positives = np.sort(np.asarray(scores, float)[np.asarray(y_true) == 1])[::-1]
    k = max(1, math.floor(target_recall * positives.size))
    return float(positives[k - 1])


def _threshold_all_scores(y_true, scores, target_recall):
    ranked = np.sort(np.asarray(scores, float))[::-1]
    k = math.ceil(target_recall * ranked.size - 1e-9)
    return float(ranked[k - 1])


def _threshold_quantile(y_true, scores, target_recall):
    return float(np.quantile(np.asarray(scores, float)[np.asarray(y_true) == 1], 1 - target_recall))


_rng = np.random.default_rng(5)
_Y = (_rng.random(60) < 0.2).astype(np.int64)
_S = np.round(_rng.random(60) * 0.6 + 0.4 * _Y, 4)
_RECALL_CASES = [
    Case((np.array([1, 1, 0, 1, 1, 0, 1]), np.array([0.9, 0.8, 0.75, 0.6, 0.4, 0.3, 0.2]), 0.4),
         label="5 positives scoring [0.9, 0.8, 0.6, 0.4, 0.2], target_recall=0.4 (needs 2 of 5)"),
    Case((np.array([0, 1, 1, 1, 1]), np.array([0.5, 0.9, 0.8, 0.3, 0.1]), 0.75),
         label="y=[0, 1, 1, 1, 1], scores=[0.5, 0.9, 0.8, 0.3, 0.1], target_recall=0.75"),
    Case((np.array([1, 0, 1, 0, 1, 0, 1]), np.array([0.2, 0.1, 0.7, 0.6, 0.9, 0.3, 0.4]), 0.6),
         label="4 positives, target_recall=0.6 (needs 3 of 4)"),
    Case((_Y, _S, 0.9), label=f"60 scores ({int(_Y.sum())} positives), target_recall=0.9"),
    Case((_Y, _S, 1.0), label="the same, target_recall=1.0"),
]


def threshold_for_recall(fn: Callable) -> Callable:
    """Check ``threshold_for_recall(y_true, scores, target_recall)``: the highest threshold t
    with recall(scores >= t) >= target_recall."""
    return check_function(
        fn, _threshold_for_recall, _RECALL_CASES, name="threshold_for_recall",
        mistakes=[
            Mistake("off by one: the threshold is one positive too far down the list. Python "
                    "counts from 0, so the k-th highest positive score is positives[k - 1], not "
                    "positives[k].", wrong=_threshold_off_by_one),
            Mistake("that is the lowest positive score: it always gives recall 1.0, with more "
                    "false positives than needed. Take the k-th highest positive score, "
                    "k = ceil(target_recall * n_positives).", wrong=_threshold_lowest),
            Mistake("rounding down the number of positives to find (floor) misses the target: "
                    "with 4 positives and recall 0.6 you need ceil(2.4) = 3 of them.",
                    wrong=_threshold_floor),
            Mistake("you ranked ALL scores; recall counts only the positives: rank the scores of "
                    "the examples with y_true == 1.", wrong=_threshold_all_scores),
            Mistake("np.quantile interpolates between scores, so the threshold is usually not a "
                    "score that reaches the recall exactly; take the k-th highest positive score.",
                    wrong=_threshold_quantile),
        ],
        hint="sort the positives' scores from high to low; the threshold is the k-th of them, "
             "k = ceil(target_recall * number of positives).",
    )





# --------------------------------------------------------------------------------------------
# Exercise 5: non-maximum suppression of point detections


def _distances(a, b):
    """Euclidean distances between the rows of a (N, 2) and b (M, 2) -> (N, M)."""
    a = np.asarray(a, float).reshape(-1, 2)
    b = np.asarray(b, float).reshape(-1, 2)
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def _non_max_suppression(centres, scores, radius):
    centres = np.asarray(centres, float).reshape(-1, 2)
    order = np.argsort(-np.asarray(scores, float), kind="stable")     # highest score first
    keep = []
    for i in order:
        if not keep or _distances(centres[i], centres[keep]).min() > radius:
            keep.append(int(i))
    return np.array(keep, dtype=np.int64)


def _nms_input_order(centres, scores, radius):
    centres = np.asarray(centres, float).reshape(-1, 2)
    keep = []
    for i in range(len(centres)):
        if not keep or _distances(centres[i], centres[keep]).min() > radius:
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def _nms_suppressed_suppress(centres, scores, radius):
    centres = np.asarray(centres, float).reshape(-1, 2)
    order = np.argsort(-np.asarray(scores, float), kind="stable")
    keep = []
    for rank, i in enumerate(order):
        if rank == 0 or _distances(centres[i], centres[order[:rank]]).min() > radius:
            keep.append(int(i))
    return np.array(keep, dtype=np.int64)


def _nms_keeps_all(centres, scores, radius):
    return np.argsort(-np.asarray(scores, float), kind="stable")


def _nms_index_order(centres, scores, radius):
    return np.sort(_non_max_suppression(centres, scores, radius))


def _nms_strict(centres, scores, radius):
    return _non_max_suppression(centres, scores, np.nextafter(radius, 0))


def _nms_squared(centres, scores, radius):
    return _non_max_suppression(centres, scores, np.sqrt(radius))


def _nms_chebyshev(centres, scores, radius):
    centres = np.asarray(centres, float).reshape(-1, 2)
    order = np.argsort(-np.asarray(scores, float), kind="stable")
    keep = []
    for i in order:
        if not keep or np.abs(centres[keep] - centres[i]).max(1).min() > radius:
            keep.append(int(i))
    return np.array(keep, dtype=np.int64)


_rng = np.random.default_rng(12)
_NMS_C = np.round(_rng.random((40, 2)) * 64, 2)
_NMS_S = np.round(_rng.permutation(40) / 40 + 0.01, 3)
_NMS_CASES = [
    Case((np.array([[10, 10], [10, 11.5], [40, 10], [40, 13]], float),
          np.array([0.5, 0.7, 0.9, 0.6]), 4.0),
         label="pairs 1.5 and 3 pixels apart: centres [[10, 10], [10, 11.5], [40, 10], [40, 13]], "
               "scores [0.5, 0.7, 0.9, 0.6], radius 4"),
    Case((np.array([[0, 0], [0, 6], [0, 12], [30, 30], [30, 36]], float),
          np.array([0.9, 0.8, 0.7, 0.6, 0.95]), 8.0),
         label="a chain: centres [[0, 0], [0, 6], [0, 12], [30, 30], [30, 36]], "
               "scores [0.9, 0.8, 0.7, 0.6, 0.95], radius 8"),
    Case((np.array([[0, 0], [6, 6], [20, 0], [20, 8], [40, 0], [40, 1]], float),
          np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]), 8.0),
         label="a diagonal neighbour 8.49 pixels away and one exactly 8 away: centres "
               "[[0, 0], [6, 6], [20, 0], [20, 8], [40, 0], [40, 1]], "
               "scores [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], radius 8"),
    Case((_NMS_C, _NMS_S, 8.0), label="40 random candidates in a 64 x 64 field, radius 8"),
]


def non_max_suppression(fn: Callable) -> Callable:
    """Check ``non_max_suppression(centres, scores, radius)``: indices of the kept candidates,
    highest score first; a candidate is dropped when a KEPT one with a higher score lies within
    ``radius`` (Euclidean distance <= radius)."""
    return check_function(
        fn, _non_max_suppression, _NMS_CASES, name="non_max_suppression",
        mistakes=[
            Mistake("nothing was suppressed: the suppressed candidates are still in the result. "
                    "Keep a candidate only if no kept candidate lies within the radius.",
                    wrong=_nms_keeps_all),
            Mistake("the candidates were not sorted by score: go through them from the highest "
                    "score down (np.argsort(-scores)), so each object keeps its best candidate.",
                    wrong=_nms_input_order),
            Mistake("a suppressed candidate suppressed another one: compare each candidate with "
                    "the candidates you KEPT only, not with every higher-scoring one.",
                    wrong=_nms_suppressed_suppress),
            Mistake("the kept indices are right but in index order: return them highest score "
                    "first, in the order you kept them.", wrong=_nms_index_order),
            Mistake("a candidate exactly `radius` away was kept: 'within the radius' includes "
                    "the radius (distance <= radius).", wrong=_nms_strict),
            Mistake("you compared a squared distance with the radius (dy**2 + dx**2 <= radius): "
                    "take the square root, or compare with radius**2.", wrong=_nms_squared),
            Mistake("the distance is per axis (max(|dy|, |dx|), a square window): use the "
                    "Euclidean distance sqrt(dy**2 + dx**2), a disc.", wrong=_nms_chebyshev),
        ],
        hint="order = np.argsort(-scores); keep = []; for i in order: keep i if every kept j has "
             "np.hypot(*(centres[i] - centres[j])) > radius; return np.array(keep).",
        compare_with=_compare_indices,
    )


def _compare_indices(got, expected):
    try:
        g = np.asarray(got)
        if g.size == 0:
            g = g.reshape(np.shape(expected))
        if g.dtype.kind not in "iu" and not (g.dtype.kind == "f" and np.all(g == np.round(g))):
            return False, f"expected integer indices, got {_short_array(got)}"
        g = g.astype(np.int64)
    except (TypeError, ValueError):
        return False, f"expected an array of indices, got {type(got).__name__}"
    e = np.asarray(expected, np.int64)
    if g.shape != e.shape or not np.array_equal(g, e):
        return False, f"got {_short_array(g)}, expected {_short_array(e)}"
    return True, ""


def _short_array(a):
    a = np.asarray(a)
    text = np.array2string(a, separator=", ", threshold=24)
    return " ".join(text.split())


# --------------------------------------------------------------------------------------------
# Exercise 6: matching detections to the true mitoses


def _match_detections(detections, truths, radius):
    dist = _distances(detections, truths)                  # (M, T)
    matched = np.zeros(dist.shape[1], bool)
    pairs = []
    for i in range(dist.shape[0]):
        d = np.where(matched, np.inf, dist[i])
        if d.size and d.min() <= radius:
            j = int(d.argmin())
            matched[j] = True
            pairs.append((i, j))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def _match_reuses_truth(detections, truths, radius):
    dist = _distances(detections, truths)
    pairs = [(i, int(dist[i].argmin())) for i in range(dist.shape[0])
             if dist.shape[1] and dist[i].min() <= radius]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def _match_strict(detections, truths, radius):
    return _match_detections(detections, truths, np.nextafter(radius, 0))


def _match_squared(detections, truths, radius):
    return _match_detections(detections, truths, np.sqrt(radius))


def _match_nearest_taken(detections, truths, radius):
    dist = _distances(detections, truths)
    matched = np.zeros(dist.shape[1], bool)
    pairs = []
    for i in range(dist.shape[0]):
        if not dist.shape[1]:
            break
        j = int(dist[i].argmin())
        if dist[i, j] <= radius and not matched[j]:
            matched[j] = True
            pairs.append((i, j))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def _match_first_within(detections, truths, radius):
    dist = _distances(detections, truths)
    matched = np.zeros(dist.shape[1], bool)
    pairs = []
    for i in range(dist.shape[0]):
        for j in range(dist.shape[1]):
            if not matched[j] and dist[i, j] <= radius:
                matched[j] = True
                pairs.append((i, j))
                break
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


_rng = np.random.default_rng(21)
_MATCH_T = np.round(_rng.random((12, 2)) * 64, 2)
_MATCH_D = np.round(np.concatenate([_MATCH_T[:8] + _rng.normal(0, 3, (8, 2)),
                                    _MATCH_T[:4] + _rng.normal(0, 3, (4, 2)),
                                    _rng.random((8, 2)) * 64])[_rng.permutation(20)], 2)
_MATCH_CASES = [
    Case((np.array([[0, 0], [1, 0], [20, 20]], float), np.array([[0, 1], [21, 20], [50, 50]], float),
          4.0), label="two detections next to one truth: detections [[0, 0], [1, 0], [20, 20]], "
                      "truths [[0, 1], [21, 20], [50, 50]], radius 4"),
    Case((np.array([[0, 0], [0, 1]], float), np.array([[0, 0.5], [0, 2.5]], float), 4.0),
         label="the nearest truth already taken: detections [[0, 0], [0, 1]], "
               "truths [[0, 0.5], [0, 2.5]], radius 4"),
    Case((np.array([[0, 0]], float), np.array([[0, 3], [0, 1]], float), 4.0),
         label="two truths in reach: detections [[0, 0]], truths [[0, 3], [0, 1]], radius 4"),
    Case((np.array([[0, 0], [10, 10]], float), np.array([[0, 3], [30, 30]], float), 4.0),
         label="a truth 3 pixels away: detections [[0, 0], [10, 10]], truths [[0, 3], [30, 30]], "
               "radius 4"),
    Case((np.array([[0, 0]], float), np.array([[3, 4]], float), 5.0),
         label="a truth exactly at the radius: detections [[0, 0]], truths [[3, 4]], radius 5"),
    Case((_MATCH_D, _MATCH_T, 6.0), label="20 detections, 12 truths in a 64 x 64 field, radius 6"),
    Case((_MATCH_D[:3], np.zeros((0, 2)), 6.0), label="3 detections, no truths"),
]


def match_detections(fn: Callable) -> Callable:
    """Check ``match_detections(detections, truths, radius)``: an int array (K, 2) of pairs
    (detection index, truth index), greedy in the detections' order (highest score first), each
    detection to the NEAREST still-unmatched truth within ``radius`` (distance <= radius)."""
    return check_function(
        fn, _match_detections, _MATCH_CASES, name="match_detections",
        mistakes=[
            Mistake("one truth was matched by two detections. Each true mitosis may be matched "
                    "at most once: mark it as taken, and the second detection is a false "
                    "positive.", wrong=_match_reuses_truth),
            Mistake("when the nearest truth is already taken, the detection may still match "
                    "another truth within the radius: leave out the taken truths before looking "
                    "for the nearest.", wrong=_match_nearest_taken),
            Mistake("you took the first free truth within the radius (in list order), not the "
                    "nearest one.", wrong=_match_first_within),
            Mistake("a truth exactly `radius` away was not matched: 'within the radius' includes "
                    "the radius (distance <= radius, not <).", wrong=_match_strict),
            Mistake("you compared a squared distance with the radius: take the square root, or "
                    "compare with radius**2.", wrong=_match_squared),
        ],
        hint="taken = np.zeros(len(truths), bool); for each detection i in order: distances to "
             "all truths, set np.inf where taken; if the smallest is <= radius, pair i with its "
             "argmin j and mark j taken. Return np.array(pairs).reshape(-1, 2).",
        compare_with=_compare_pairs,
    )


def _compare_pairs(got, expected):
    try:
        g = np.asarray(got)
        g = g.reshape(-1, 2) if g.size or g.ndim != 2 else g.reshape(0, 2)
        if g.size and (g.dtype.kind not in "iuf" or not np.all(g == np.round(g))):
            return False, f"expected integer index pairs, got {_short_array(got)}"
        g = g.astype(np.int64)
    except (TypeError, ValueError):
        return False, f"expected an array of (detection, truth) index pairs, got {type(got).__name__}"
    e = np.asarray(expected, np.int64).reshape(-1, 2)
    if not np.array_equal(g, e):
        return False, (f"got pairs {_short_array(g.tolist())}, expected "
                       f"{_short_array(e.tolist())}")
    return True, ""


# --------------------------------------------------------------------------------------------
# Exercise 7: transfer learning, frozen pretrained features and a new head


def _with_new_head(pretrained):
    """Reference: the pretrained ``features_*`` layers, frozen, under a new, untrained head."""
    from cnncourse.device import import_keras

    keras = import_keras()
    features = keras.Model(pretrained.input, pretrained.get_layer("features_flatten").output,
                           name="pretrained_features")
    features.trainable = False
    inputs = keras.Input(pretrained.input_shape[1:])
    x = features(inputs, training=False)
    x = keras.layers.Dropout(0.25)(x)
    x = keras.layers.Dense(32, activation="relu")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="fine_tuned")


def _all_layers(model):
    """Every layer of ``model``, nested models flattened."""
    out = []
    for layer in getattr(model, "layers", []):
        if hasattr(layer, "layers") and layer.layers:
            out.extend(_all_layers(layer))
        else:
            out.append(layer)
    return out


def _small_pretrained():
    """A tiny :func:`build_patch_cnn` with batch normalisation, deterministic weights and
    non-trivial moving statistics (a stand-in for the notebook's lab-A network)."""
    from cnncourse import detection as _det

    model = _det.build_patch_cnn((16, 16, 3), width=4, batch_norm=True, name="check_pretrained")
    rng = np.random.default_rng(3)
    weights = []
    for variable, w in zip(model.weights, model.get_weights()):
        w = rng.normal(0, 0.3, w.shape) + (1.0 if w.ndim == 1 else 0.0) * (rng.random(w.shape) > 0.5)
        if "variance" in variable.path:   # a variance is positive (else the outputs are nan)
            w = np.abs(w) + 0.1
        weights.append(w.astype(np.float32))
    model.set_weights(weights)
    return model


_HEAD_HINT = ("features = keras.Model(pretrained.input, pretrained.get_layer('features_flatten')"
              ".output); features.trainable = False; then a new head on features(inputs): "
              "Dropout, Dense(32, relu), Dense(1, sigmoid).")


def _head_part(layer) -> str:
    """A head layer as the exercise names it: ``Dropout(0.25)``, ``Dense(32, relu)``, ``Flatten``."""
    kind = type(layer).__name__
    if kind == "Dropout":
        return f"Dropout({float(layer.rate):g})"
    if kind == "Dense":
        return f"Dense({layer.units}, {getattr(layer.activation, '__name__', layer.activation)})"
    return kind


def _new_head_summary(fn, case: Case) -> dict:
    """The call adapter of :func:`with_new_head`: ``fn`` on a fresh :func:`_small_pretrained`,
    and what its model is, as plain data, in the order the check judges it. Probing stops at the
    first property that is wrong for any model (every later entry is then left out)."""
    from cnncourse.device import import_keras

    keras = import_keras()
    pretrained = _small_pretrained()
    model = fn(pretrained, *case.args, **case.kwargs)
    if model is Ellipsis:
        return model
    summary: dict = {"type": type(model).__name__ if not isinstance(model, keras.Model) else "Model"}
    if summary["type"] != "Model":
        return summary
    x = np.random.default_rng(0).random((8,) + tuple(pretrained.input_shape[1:])).astype("float32")
    out = np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))
    summary["output shape"] = tuple(out.shape)
    if out.shape != (8, 1):
        return summary
    summary["output"] = (getattr(getattr(model.layers[-1], "activation", None), "__name__", "sigmoid"),
                         float(out.min()), float(out.max()))
    layers = _all_layers(model)
    pre = {layer.name: layer for layer in _all_layers(pretrained)}
    features = [la for la in layers if la.name.startswith("features") and la.weights]
    head = [la for la in layers if not la.name.startswith("features") and la.weights]
    summary["pretrained features"] = len(features)
    summary["features not pretrained"] = [
        la.name for la in features if la.name not in pre or any(
            a.shape != b.shape or not np.allclose(a, b)
            for a, b in zip(la.get_weights(), pre[la.name].get_weights()))]
    trainable = [la for la in features if la.trainable_weights]
    summary["trainable features"] = [la.name for la in trainable
                                     if not isinstance(la, keras.layers.BatchNormalization)]
    summary["trainable batch norm"] = [la.name for la in trainable
                                       if isinstance(la, keras.layers.BatchNormalization)]
    summary["old head"] = any(la is pre.get(la.name) for la in head) or any(
        la.name in pre and all(a.shape == b.shape and np.allclose(a, b)
                               for a, b in zip(la.get_weights(), pre[la.name].get_weights()))
        for la in head)
    summary["head with weights"] = len(head)
    summary["trainable weights"] = len(model.trainable_weights)
    summary["head"] = ["pretrained features"] + [
        _head_part(la) for la in layers if not la.name.startswith("features")
        and not isinstance(la, keras.layers.InputLayer)]
    if any(_NEW_HEAD_RULES[key][0](summary[key], None) is False for key in summary
           if key in _NEW_HEAD_RULES and key != "head"):
        return summary   # the training step below is for a model built right
    # behaviour: one training step must change the output and leave the features alone
    moving = [w.copy() for la in features for w in la.get_weights()]
    import tensorflow as tf

    y = (np.arange(8) % 2).astype("float32")[:, None]
    with tf.GradientTape() as tape:
        p = model(x, training=True)
        loss = keras.ops.mean(keras.losses.binary_crossentropy(y, p))
    grads = tape.gradient(loss, model.trainable_weights)
    for w, g in zip(model.trainable_weights, grads):
        if g is not None:
            w.assign(w - 1.0 * g)
    after = np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))
    now = [w for la in features for w in la.get_weights()]
    summary["features kept by a training step"] = all(
        np.array_equal(a, b) for a, b in zip(moving, now))
    summary["output changed by a training step"] = not np.allclose(after, out)
    return summary


def _sigmoid_output(v, e):
    return v[0] == "sigmoid" and v[1] >= 0 and v[2] <= 1


# key: (ok(got, expected) -> bool or None when it depends on the expected value, why, finding)
_NEW_HEAD_RULES = {
    "type": (lambda v, e: v == "Model", lambda v, e: f"expected a keras.Model, got {v}", "not a model"),
    "output shape": (lambda v, e: v == (8, 1), lambda v, e: f"for 8 patches the model outputs shape "
                     f"{v}, expected (8, 1)", "output shape"),
    "output": (_sigmoid_output, lambda v, e: f"the last layer's activation is {v[0]!r}, outputs in "
               f"[{v[1]:.3g}, {v[2]:.3g}]", "no sigmoid"),
    "pretrained features": (lambda v, e: v > 0, lambda v, e: "the model has none of the pretrained "
                            "features_* layers", "no features"),
    "features not pretrained": (lambda v, e: not v, lambda v, e: f"layer {v[0]!r} does not hold "
                                "the pretrained weights", "fresh features"),
    "trainable features": (lambda v, e: not v, lambda v, e: f"the pretrained layers {v} are still "
                           "trainable", "features trainable"),
    "trainable batch norm": (lambda v, e: not v, lambda v, e: f"the batch-normalisation layers {v} "
                             "are still trainable", "batch norm trainable"),
    "old head": (lambda v, e: not v, lambda v, e: "the model's head holds the pretrained head's "
                 "weights", "old head"),
    "head with weights": (lambda v, e: v > 0, lambda v, e: "the model has no layers with weights "
                          "after the features", "no head"),
    "trainable weights": (lambda v, e: v > 0, lambda v, e: "the model has no trainable weights at "
                          "all", "all frozen"),
    "head": (lambda v, e: None if e is None else v == e, lambda v, e: f"the new head is "
             f"{', '.join(v[1:]) or 'empty'}; the exercise asks for {', '.join(e[1:])}", "head parts"),
    "features kept by a training step": (lambda v, e: v, lambda v, e: "a training step changed the "
                                         "pretrained features (weights or batch-norm moving "
                                         "statistics)", "features move"),
    "output changed by a training step": (lambda v, e: v, lambda v, e: "a training step did not "
                                          "change the output", "head does not learn"),
}


def _new_head_problem(got: dict, expected: dict):
    """``(finding, why)`` for the first entry of the learner's summary that is wrong, or None."""
    for key, (ok, why, finding) in _NEW_HEAD_RULES.items():
        if key in expected and key in got and not ok(got[key], expected[key]):
            return finding, why(got[key], expected[key])
    return None


def _compare_new_head(got, expected):
    if not isinstance(got, dict):
        return False, f"expected a keras.Model, got {type(got).__name__}"
    problem = _new_head_problem(got, expected)
    return (True, "") if problem is None else (False, problem[1])


def _diagnose_new_head(got, expected, case) -> set:
    problem = _new_head_problem(got, expected)
    if problem is None:
        return []
    if problem[0] == "head parts":
        return [problem[0], *structure_findings(got["head"], expected["head"])]
    return [problem[0]]


_NEW_HEAD_MISTAKES = [
    Mistake("the head must end in ONE unit (Dense(1, activation='sigmoid')): the probability of a "
            "mitosis.", finding="output shape"),
    Mistake("the output unit has no sigmoid: binary cross-entropy needs a probability "
            "(Dense(1, activation='sigmoid')).", finding="no sigmoid"),
    Mistake("build the new model on the pretrained network's features (its layers up to "
            "'features_flatten'), not on new layers: the point is to reuse what lab A learned.",
            finding="no features"),
    Mistake("the features were re-initialised (keras.models.clone_model copies the architecture, "
            "not the weights): reuse the pretrained layers, or copy their weights.",
            finding="fresh features"),
    Mistake("the features are not frozen: set trainable = False on them (or on a model holding "
            "them) so that only the new head learns from lab B's few patches.",
            finding="features trainable"),
    Mistake("only the convolutions were frozen: batch normalisation layers that still train learn "
            "their scale and shift, and in training mode re-estimate their moving mean and "
            "variance from a few patches. Freeze them too (in Keras 3 a frozen "
            "BatchNormalization layer runs in inference mode).", finding="batch norm trainable"),
    Mistake("the head was not replaced: the lab-A head is trained for lab A; put NEW layers "
            "(fresh random weights) after the features.", finding="old head"),
    Mistake("add a new head: Dense(32, relu) and Dense(1, sigmoid).", finding="no head"),
    Mistake("the head was frozen too (model.trainable = False freezes everything): freeze only "
            "the pretrained features, so the new head can learn.", finding="all frozen"),
    Mistake("the batch-normalisation layers run in training mode: freeze them (trainable = False) "
            "so their moving statistics stay those of lab A.", finding="features move"),
    Mistake("the new head does not learn: is it frozen, or cut off from the output?",
            finding="head does not learn"),
]


def with_new_head(fn: Callable) -> Callable:
    """Check ``with_new_head(pretrained) -> keras.Model``: the pretrained ``features_*`` layers,
    frozen (batch normalisation included) and holding their pretrained weights, then a new,
    trainable head ``Dropout(0.25)``, ``Dense(32, relu)``, ``Dense(1, sigmoid)``. Tested on a tiny
    stand-in for the lab-A network: its outputs, its layers, which layers train, and what one
    training step changes; a head with a part missing or extra is named."""
    return check_function(
        fn, _with_new_head, [Case(label="a small pretrained patch CNN with batch normalisation")],
        name="with_new_head", call=_new_head_summary, compare_with=_compare_new_head,
        diagnose=_diagnose_new_head, mistakes=_NEW_HEAD_MISTAKES, hint=_HEAD_HINT)


__all__ = ["all_negative_accuracy", "class_weights", "focal_loss", "threshold_for_recall",
           "non_max_suppression", "match_detections", "with_new_head"]
