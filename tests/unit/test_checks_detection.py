"""Checkers of notebook 10: a correct, a stub and typical wrong answers (the mistake is named)."""
import numpy as np
import pytest

from cnncourse.checks import detection as cd


ALL_NEGATIVE = 151_000_000 / 151_066_000   # the accuracy of "no mitosis anywhere"


def test_all_negative_accuracy(last):
    right = ALL_NEGATIVE
    assert cd.all_negative_accuracy(right) == right and last().passed
    assert cd.all_negative_accuracy(...) == right and last().status == "not done"


@pytest.mark.parametrize("wrong, words", [
    (1 - 66_000 / 151_000_000, "non-mitosis pixels only"),
    (66_000 / 151_066_000, "error rate"), (151e6 / 66e3, "ratio of counts"),
    (100 * ALL_NEGATIVE, "percentage"),
])
def test_all_negative_accuracy_names_the_mistake(last, wrong, words):
    assert cd.all_negative_accuracy(wrong) == ALL_NEGATIVE
    assert last().status == "failed" and words in last().message, last().message


def test_class_weights(last, stub):
    from cnncourse.detection import class_weights

    assert cd.class_weights(cd._class_weights) is cd._class_weights and last().passed
    cd.class_weights(class_weights)   # the library's own function is a shortcut around the exercise
    assert last().status == "failed" and "instead of writing it" in last().message
    cd.class_weights(stub)
    assert last().status == "not done"


@pytest.mark.parametrize("wrong, words", [
    (cd._weights_frequency, "INVERSELY"), (cd._weights_inverse_fraction_swapped, "swapped"),
    (cd._weights_inverse_counts, "tiny values"), (cd._weights_no_two, "twice too large"),
])
def test_class_weights_names_the_mistake(last, wrong, words):
    assert cd.class_weights(wrong) is cd._class_weights
    assert last().status == "failed" and words in last().message, last().message


def test_focal_loss(last, stub):
    import keras

    from cnncourse.detection import binary_focal_loss

    def with_library(y_true, p, gamma=2.0, alpha=0.25):
        return keras.ops.convert_to_numpy(binary_focal_loss(y_true, p, gamma=gamma, alpha=alpha))

    assert cd.focal_loss(with_library) is with_library and last().passed, last().message
    cd.focal_loss(stub)
    assert last().status == "not done"


@pytest.mark.parametrize("wrong, words", [
    (cd._focal_alpha_swapped, "wrong class"), (cd._focal_wrong_factor, "p_t**gamma"),
    (cd._focal_p_not_pt, "instead of p_t"), (cd._focal_no_alpha, "alpha is missing"),
    (cd._focal_no_clip, "Clip p"),
])
def test_focal_loss_names_the_mistake(last, wrong, words):
    cd.focal_loss(wrong)
    assert last().status == "failed" and words in last().message, (wrong, last().message)


def test_threshold_for_recall(last, stub):
    from cnncourse.detection import threshold_for_recall

    assert cd.threshold_for_recall(cd._threshold_for_recall) is cd._threshold_for_recall and last().passed
    cd.threshold_for_recall(threshold_for_recall)   # the library's own function is a shortcut around the exercise
    assert last().status == "failed" and "instead of writing it" in last().message
    cd.threshold_for_recall(stub)
    assert last().status == "not done"


@pytest.mark.parametrize("wrong, words", [
    (cd._threshold_off_by_one, "positives[k - 1]"),
    (cd._threshold_lowest, "lowest positive score"), (cd._threshold_floor, "floor"),
    (cd._threshold_all_scores, "ALL scores"), (cd._threshold_quantile, "quantile"),
])
def test_threshold_for_recall_names_the_mistake(last, wrong, words):
    cd.threshold_for_recall(wrong)
    assert last().status == "failed" and words in last().message, (wrong, last().message)


def test_reference_answers_agree_with_library():
    from cnncourse.detection import threshold_for_recall

    rng = np.random.default_rng(0)
    y = (rng.random(100) < 0.3).astype(int)
    s = rng.random(100)
    for t in (0.2, 0.5, 0.95):
        assert cd._threshold_for_recall(y, s, t) == threshold_for_recall(y, s, t)


def test_threshold_off_by_one_is_named_as_such(last):
    # the learner's version of the mistake: positives[k], which runs past the end at recall 1
    def off_by_one(y_true, scores, target_recall):
        positives = np.sort(np.asarray(scores, float)[np.asarray(y_true) == 1])[::-1]
        return float(positives[int(np.ceil(target_recall * positives.size - 1e-9))])

    cd.threshold_for_recall(off_by_one)
    assert last().status == "failed" and "off by one" in last().message, last().message
    assert "lowest positive score" not in last().message


def test_non_max_suppression(last, stub):
    assert cd.non_max_suppression(cd._non_max_suppression) is cd._non_max_suppression
    assert last().passed
    cd.non_max_suppression(stub)
    assert last().status == "not done"


@pytest.mark.parametrize("wrong, words", [
    (cd._nms_keeps_all, "nothing was suppressed"),
    (cd._nms_input_order, "not sorted by score"),
    (cd._nms_suppressed_suppress, "KEPT only"),
    (cd._nms_index_order, "index order"),
    (cd._nms_strict, "exactly `radius` away"),
    (cd._nms_squared, "squared distance"),
    (cd._nms_chebyshev, "Euclidean"),
])
def test_non_max_suppression_names_the_mistake(last, wrong, words):
    assert cd.non_max_suppression(wrong) is cd._non_max_suppression
    assert last().status == "failed" and words in last().message, (wrong, last().message)


def test_non_max_suppression_accepts_lists_and_the_argsort_idiom(last):
    def learner(centres, scores, radius):
        keep = []
        for i in np.argsort(scores)[::-1]:
            if all(np.hypot(*(np.asarray(centres[i]) - centres[j])) > radius for j in keep):
                keep.append(int(i))
        return keep                                   # a list is fine

    assert cd.non_max_suppression(learner) is learner and last().passed, last().message


def test_match_detections(last, stub):
    assert cd.match_detections(cd._match_detections) is cd._match_detections and last().passed
    cd.match_detections(stub)
    assert last().status == "not done"


@pytest.mark.parametrize("wrong, words", [
    (cd._match_reuses_truth, "matched by two detections"),
    (cd._match_nearest_taken, "already taken"),
    (cd._match_first_within, "not the nearest"),
    (cd._match_squared, "squared distance"),
    (cd._match_strict, "not <"),
])
def test_match_detections_names_the_mistake(last, wrong, words):
    assert cd.match_detections(wrong) is cd._match_detections
    assert last().status == "failed" and words in last().message, (wrong, last().message)


def test_match_detections_accepts_a_list_of_pairs(last):
    def learner(detections, truths, radius):          # written out: returns a list of tuples
        taken, pairs = set(), []
        for i, d in enumerate(np.asarray(detections, float)):
            free = [(np.hypot(*(d - t)), j) for j, t in enumerate(np.asarray(truths, float))
                    if j not in taken]
            if free and min(free)[0] <= radius:
                taken.add(min(free)[1])
                pairs.append((i, min(free)[1]))
        return pairs

    assert cd.match_detections(learner) is learner and last().passed, last().message


def _parts(pre, keras, **head):
    features = _features(pre, keras)
    features.trainable = False
    inputs = keras.Input(pre.input_shape[1:])
    return inputs, _head(features(inputs), keras, **head)


def _features(pre, keras):
    return keras.Model(pre.input, pre.get_layer("features_flatten").output)


def _head(x, keras, activation="sigmoid", dropout=0.25, units=32):
    """The head the exercise asks for: Dropout(0.25), Dense(32, relu), Dense(1, sigmoid)."""
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(units, activation="relu")(x)
    return keras.layers.Dense(1, activation=activation)(x)


def test_with_new_head(last, stub):
    import keras

    assert cd.with_new_head(cd._with_new_head) is cd._with_new_head and last().passed, last().message

    def layer_by_layer(pre):                          # another correct answer: reuse the layers
        inputs = keras.Input(pre.input_shape[1:])
        x = inputs
        for layer in pre.layers[1:]:
            if not layer.name.startswith("features"):
                break
            layer.trainable = False
            x = layer(x)
        return keras.Model(inputs, _head(x, keras))

    assert cd.with_new_head(layer_by_layer) is layer_by_layer and last().passed, last().message
    cd.with_new_head(stub)
    assert last().status == "not done"

    def not_frozen(pre):
        features = _features(pre, keras)
        inputs = keras.Input(pre.input_shape[1:])
        return keras.Model(inputs, _head(features(inputs), keras))

    def conv_only(pre):
        for layer in pre.layers:
            if isinstance(layer, keras.layers.Conv2D):
                layer.trainable = False
        return keras.Model(pre.input, _head(pre.get_layer("features_flatten").output, keras))

    def head_frozen_too(pre):
        model = keras.Model(*_parts(pre, keras))
        model.trainable = False
        return model

    def old_head(pre):
        for layer in det_feature_layers(pre):
            layer.trainable = False
        return pre

    def fresh_weights(pre):
        return keras.Model(*_parts(keras.models.clone_model(pre), keras))

    def no_sigmoid(pre):
        features = _features(pre, keras)
        features.trainable = False
        inputs = keras.Input(pre.input_shape[1:])
        return keras.Model(inputs, _head(features(inputs), keras, activation=None))

    def two_outputs(pre):
        features = _features(pre, keras)
        features.trainable = False
        inputs = keras.Input(pre.input_shape[1:])
        return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(features(inputs)))

    for wrong, words in [(not_frozen, "not frozen"), (conv_only, "only the convolutions"),
                         (head_frozen_too, "head was frozen too"), (old_head, "not replaced"),
                         (fresh_weights, "clone_model"), (no_sigmoid, "no sigmoid"),
                         (two_outputs, "ONE unit")]:
        assert cd.with_new_head(wrong) is cd._with_new_head
        assert last().status == "failed" and words in last().message, (wrong, last().message)

    def no_dropout(pre):
        features = _features(pre, keras)
        features.trainable = False
        inputs = keras.Input(pre.input_shape[1:])
        return keras.Model(inputs, _head(features(inputs), keras, dropout=0))

    def two_dense(pre):
        features = _features(pre, keras)
        features.trainable = False
        inputs = keras.Input(pre.input_shape[1:])
        x = keras.layers.Dense(32, activation="relu")(features(inputs))
        return keras.Model(inputs, _head(x, keras))

    for wrong, words in [(no_dropout, "missing: Dropout(0.25) after pretrained features"),
                         (two_dense, "extra: a second Dense(32, relu) after pretrained features"),
                         (lambda pre: keras.Model(*_parts(pre, keras, units=8)), "(found Dense(8, relu) there)")]:
        assert cd.with_new_head(wrong) is cd._with_new_head   # it trains: the head is still wrong
        assert last().status == "failed" and words in last().message, (words, last().message)

    def crashes(pre):
        return pre.get_layer("no_such_layer")

    assert cd.with_new_head(crashes) is cd._with_new_head and last().status == "error"


def det_feature_layers(model):
    from cnncourse.detection import feature_layers

    return feature_layers(model)
