"""Checkers of notebook 10: a correct, a stub and typical wrong answers (the mistake is named)."""
import numpy as np

from cnncourse import checks
from cnncourse.checks import detection as cd


def last():
    return checks.history()[-1]


def stub(*args, **kwargs):
    raise NotImplementedError


def test_all_negative_accuracy():
    right = 151_000_000 / 151_066_000
    assert cd.all_negative_accuracy(right) == right and last().passed
    assert cd.all_negative_accuracy(...) == right and last().status == "not done"
    for wrong, words in [(1 - 66_000 / 151_000_000, "non-mitosis pixels only"),
                         (66_000 / 151_066_000, "error rate"), (151e6 / 66e3, "ratio of counts"),
                         (100 * right, "percentage")]:
        assert cd.all_negative_accuracy(wrong) == right
        assert last().status == "failed" and words in last().message, last().message


def test_class_weights():
    from cnncourse.detection import class_weights

    assert cd.class_weights(cd._class_weights) is cd._class_weights and last().passed
    cd.class_weights(class_weights)   # the library's own function is a shortcut around the exercise
    assert last().status == "failed" and "instead of writing it" in last().message
    cd.class_weights(stub)
    assert last().status == "not done"
    for wrong, words in [(cd._weights_frequency, "INVERSELY"), (cd._weights_inverse_fraction_swapped, "swapped"),
                         (cd._weights_inverse_counts, "tiny values"), (cd._weights_no_two, "twice too large")]:
        assert cd.class_weights(wrong) is cd._class_weights
        assert last().status == "failed" and words in last().message, last().message


def test_focal_loss():
    import keras

    from cnncourse.detection import binary_focal_loss

    def with_library(y_true, p, gamma=2.0, alpha=0.25):
        return keras.ops.convert_to_numpy(binary_focal_loss(y_true, p, gamma=gamma, alpha=alpha))

    assert cd.focal_loss(with_library) is with_library and last().passed, last().message
    cd.focal_loss(stub)
    assert last().status == "not done"
    for wrong, words in [(cd._focal_alpha_swapped, "wrong class"), (cd._focal_wrong_factor, "p_t**gamma"),
                         (cd._focal_p_not_pt, "instead of p_t"), (cd._focal_no_alpha, "alpha is missing"),
                         (cd._focal_no_clip, "Clip p")]:
        cd.focal_loss(wrong)
        assert last().status == "failed" and words in last().message, (wrong, last().message)


def test_threshold_for_recall():
    from cnncourse.detection import threshold_for_recall

    assert cd.threshold_for_recall(cd._threshold_for_recall) is cd._threshold_for_recall and last().passed
    cd.threshold_for_recall(threshold_for_recall)   # the library's own function is a shortcut around the exercise
    assert last().status == "failed" and "instead of writing it" in last().message
    cd.threshold_for_recall(stub)
    assert last().status == "not done"
    for wrong, words in [(cd._threshold_lowest, "lowest positive score"), (cd._threshold_floor, "floor"),
                         (cd._threshold_all_scores, "ALL scores"), (cd._threshold_quantile, "quantile")]:
        cd.threshold_for_recall(wrong)
        assert last().status == "failed" and words in last().message, (wrong, last().message)


def test_reference_answers_agree_with_library():
    from cnncourse.detection import threshold_for_recall

    rng = np.random.default_rng(0)
    y = (rng.random(100) < 0.3).astype(int)
    s = rng.random(100)
    for t in (0.2, 0.5, 0.95):
        assert cd._threshold_for_recall(y, s, t) == threshold_for_recall(y, s, t)
