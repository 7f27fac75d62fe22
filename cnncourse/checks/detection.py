"""Checks for the detection and transfer-learning notebook (10): the accuracy of doing nothing,
class weights, focal loss, a threshold for a target recall."""
from __future__ import annotations

import math

import numpy as np

from cnncourse.checks import Case, Mistake, check_function, check_value

# The talk (Ciresan et al. 2013): 66,000 mitosis pixels and 151 million non-mitosis pixels.
MITOSIS_PIXELS = 66_000
OTHER_PIXELS = 151_000_000


# --------------------------------------------------------------------------------------------
# Exercise 1: accuracy of the classifier that always says "not mitosis"


def all_negative_accuracy(value):
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


def class_weights(fn):
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


def focal_loss(fn):
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
    Case((np.array([0, 1, 1, 1, 1]), np.array([0.5, 0.9, 0.8, 0.3, 0.1]), 0.75),
         label="y=[0, 1, 1, 1, 1], scores=[0.5, 0.9, 0.8, 0.3, 0.1], target_recall=0.75"),
    Case((np.array([1, 0, 1, 0, 1, 0, 1]), np.array([0.2, 0.1, 0.7, 0.6, 0.9, 0.3, 0.4]), 0.6),
         label="4 positives, target_recall=0.6 (needs 3 of 4)"),
    Case((_Y, _S, 0.9), label=f"60 scores ({int(_Y.sum())} positives), target_recall=0.9"),
    Case((_Y, _S, 1.0), label="the same, target_recall=1.0"),
]


def threshold_for_recall(fn):
    """Check ``threshold_for_recall(y_true, scores, target_recall)``: the highest threshold t
    with recall(scores >= t) >= target_recall."""
    return check_function(
        fn, _threshold_for_recall, _RECALL_CASES, name="threshold_for_recall",
        mistakes=[
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


__all__ = ["all_negative_accuracy", "class_weights", "focal_loss", "threshold_for_recall"]
