"""Checkers of notebook 12: correct answers pass, typical mistakes are named, stubs are 'not done'."""
import numpy as np
import pytest

from cnncourse.checks import cnn3d as c


def test_conv3d_params(last, stub):
    def mine(k, cin, f):
        return (k * k * k * cin + 1) * f

    assert c.conv3d_params(mine) is mine and last().passed
    for wrong, words in [(lambda k, ci, f: k ** 3 * ci * f, "biases are missing"),
                         (lambda k, ci, f: k ** 2 * ci * f + f, "2D count"),
                         (lambda k, ci, f: k ** 3 * f + f, "input channels are missing")]:
        assert c.conv3d_params(wrong) is c._conv3d_params
        assert last().status == "failed" and words in last().message
    c.conv3d_params(stub)
    assert last().status == "not done"


def test_activation_mib(last):
    assert c.activation_mib(8 * 100 ** 3 * 16 * 4 / 2 ** 20) == pytest.approx(488.28125)
    assert last().passed
    for wrong, words in [(8 * 100 ** 3 * 16 * 4 / 1e6, "MB"), (100 ** 3 * 16 * 4 / 2 ** 20, "one volume"),
                         (8 * 100 ** 3 * 16 / 2 ** 20, "4 bytes"), (8 * 100 ** 2 * 16 * 4 / 2 ** 20, "2D"),
                         (8 * 94 ** 3 * 16 * 4 / 2 ** 20, "'valid'")]:
        assert c.activation_mib(wrong) == pytest.approx(488.28125)
        assert last().status == "failed" and words in last().message, last().message
    c.activation_mib(...)
    assert last().status == "not done"


def test_sphericity(last, stub):
    def mine(volume, area):
        return (36 * np.pi * np.asarray(volume) ** 2) ** (1 / 3) / np.asarray(area)

    assert c.sphericity(mine) is mine and last().passed
    for wrong, words in [(lambda v, a: a / (np.pi ** (1 / 3) * (6 * v) ** (2 / 3)), "upside down"),
                         (lambda v, a: (6 * v) ** (2 / 3) / a, "pi ** (1 / 3)"),
                         (lambda v, a: np.pi ** (1 / 3) * 6 * v ** (2 / 3) / a, "(6 * volume)")]:
        c.sphericity(wrong)
        assert last().status == "failed" and words in last().message, last().message
    c.sphericity(stub)
    assert last().status == "not done"
    # the library's own function is a shortcut around the exercise
    from cnncourse.morphometrics import sphericity

    c.sphericity(sphericity)
    assert last().status == "failed" and "instead of writing it" in last().message


def test_heldout_auc(last, stub):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    def mine(X_train, y_train, X_test, y_test):  # another reasonable way: scale by hand
        mu, sd = X_train.mean(0), X_train.std(0)
        model = LogisticRegression(max_iter=1000).fit((X_train - mu) / sd, y_train)
        return roc_auc_score(y_test, model.decision_function((X_test - mu) / sd))

    assert c.heldout_auc(mine) is mine and last().passed
    for wrong, words in [(c._training_auc, "training rows"), (c._hard_label_auc, "0/1 predictions"),
                         (c._proba_class0_auc, "column 1")]:
        c.heldout_auc(wrong)
        assert last().status == "failed" and words in last().message, last().message
    c.heldout_auc(stub)
    assert last().status == "not done"
    c.heldout_auc(lambda *a: "0.8")
    assert last().status == "failed"


# ---- the 3D CNN ---------------------------------------------------------------------------------

def _cnn(input_shape, filters=(8, 16, 32), dropout=0.3, *, conv="Conv3D", flatten=False,
         sigmoid="sigmoid", bias=False, pool=True, momentum=0.9):
    import keras

    L = keras.layers
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for f in filters:
        x = getattr(L, conv)(f, 3, padding="same", use_bias=bias)(x)
        x = L.BatchNormalization(momentum=momentum)(x)
        x = L.ReLU()(x)
        if pool:
            x = L.MaxPooling3D(2)(x)
    x = L.Flatten()(x) if flatten else L.GlobalAveragePooling3D()(x)
    x = L.Dropout(dropout)(x)
    return keras.Model(inputs, L.Dense(1, activation=sigmoid)(x))


def test_build_cnn3d_accepts_the_network_and_names_mistakes(last, stub):
    assert c.build_cnn3d(_cnn) is _cnn and last().passed
    for kwargs, words in [(dict(conv="Conv2D"), "Conv2D"), (dict(flatten=True), "Flatten"),
                          (dict(sigmoid=None), "sigmoid is missing"),
                          (dict(bias=True), "use_bias=False"),
                          (dict(pool=False), "MaxPooling3D(2) is missing"),
                          (dict(momentum=0.99), "momentum=0.9")]:
        def wrong(s, f=(8, 16, 32), d=0.3, kwargs=kwargs):
            return _cnn(s, f, d, **kwargs)

        assert c.build_cnn3d(wrong) is c._reference_cnn3d
        assert last().status == "failed" and words in last().message, last().message
    c.build_cnn3d(stub)
    assert last().status == "not done"


def test_build_cnn3d_refuses_the_library_model(last):
    from cnncourse.cnn3d import _build_cnn3d

    c.build_cnn3d(lambda s, f=(8, 16, 32), d=0.3: _build_cnn3d(s, f, d))
    assert last().status == "failed" and "library" in last().message, last().message


# ---- rotations ----------------------------------------------------------------------------------

def _rotation(angles):
    total = np.eye(3)
    for axis, degrees in enumerate(angles):
        t = np.radians(degrees)
        i, j = [a for a in range(3) if a != axis]
        r = np.eye(3)
        r[i, i] = r[j, j] = np.cos(t)
        r[i, j], r[j, i] = -np.sin(t), np.sin(t)
        total = r @ total
    return total


def test_rotation_matrix(last, stub):
    assert c.rotation_matrix(_rotation) is _rotation and last().passed
    # a 90-degree turn about z takes y to x, as the library's axis-angle rotation does
    from cnncourse.augment import rotation_matrix

    np.testing.assert_allclose(_rotation((90, 0, 0)), rotation_matrix([1, 0, 0], np.pi / 2),
                               atol=1e-12)
    for wrong, words in [(lambda a: _rotation(np.degrees(a)), "radians"),
                         (lambda a: _rotation(a).T, "transposed"),
                         (lambda a: c._rotation(a, order=(2, 1, 0)), "wrong order")]:
        c.rotation_matrix(wrong)
        assert last().status == "failed" and words in last().message, last().message
    c.rotation_matrix(stub)
    assert last().status == "not done"


def test_rotate_volume(last, stub):
    from scipy import ndimage

    def mine(volume, matrix):
        a = np.asarray(matrix).T
        centre = (np.array(volume.shape) - 1) / 2
        return ndimage.affine_transform(volume, a, offset=centre - a @ centre, order=1,
                                        mode="nearest")

    assert c.rotate_volume(mine) is mine and last().passed
    for kwargs, words in [(dict(centre="corner"), "CORNER"), (dict(transpose=False), "not transposed"),
                          (dict(centre="half"), "half a voxel"), (dict(order=3), "order=1"),
                          (dict(mode="constant"), "mode='nearest'")]:
        c.rotate_volume(lambda v, m, kwargs=kwargs: c._affine(v, m, **kwargs))
        assert last().status == "failed" and words in last().message, last().message
    c.rotate_volume(stub)
    assert last().status == "not done"


# ---- the 3D CNN's layers: what the exercise lists, no more, no less (issue 28) -------------------

def _cnn_variant(input_shape, filters=(8, 16, 32), dropout=0.3, *, drop=True, extra=None,
                 split_sigmoid=False, ops_relu=False):
    """The exercise's network, or a variant: without the dropout, with an `extra` layer after each
    block's ReLU ("dropout") or after the global pooling ("relu"), with the sigmoid as its own
    Activation layer, with keras.ops.relu instead of a ReLU layer."""
    import keras

    L = keras.layers
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for f in filters:
        x = L.Conv3D(f, 3, padding="same", use_bias=False)(x)
        x = L.BatchNormalization(momentum=0.9)(x)
        x = keras.ops.relu(x) if ops_relu else L.ReLU()(x)
        if extra == "dropout":
            x = L.Dropout(0.2)(x)
        x = L.MaxPooling3D(2)(x)
    x = L.GlobalAveragePooling3D()(x)
    if extra == "relu":
        x = L.ReLU()(x)
    if drop:
        x = L.Dropout(dropout)(x)
    if split_sigmoid:
        return keras.Model(inputs, L.Activation("sigmoid")(L.Dense(1)(x)))
    return keras.Model(inputs, L.Dense(1, activation="sigmoid")(x))


@pytest.mark.parametrize("kwargs", [dict(split_sigmoid=True), dict(ops_relu=True)])
def test_build_cnn3d_accepts_equivalent_ways_of_writing_a_layer(last, kwargs):
    def mine(s, f=(8, 16, 32), d=0.3):
        return _cnn_variant(s, f, d, **kwargs)

    assert c.build_cnn3d(mine) is mine and last().passed, last().message


def test_build_cnn3d_fails_a_model_without_the_dropout(last):
    """It trains, and with the same weights it gives the same outputs (dropout is off at test
    time): the check names the layer the exercise asks for."""
    def no_dropout(s, f=(8, 16, 32), d=0.3):
        return _cnn_variant(s, f, d, drop=False)

    assert c.build_cnn3d(no_dropout) is c._reference_cnn3d
    assert last().status == "failed", last().message
    assert "not the ones the exercise lists" in last().message
    assert "Dropout is missing" in last().message, last().message


@pytest.mark.parametrize("extra, words", [
    ("relu", "extra: a second ReLU after GlobalAveragePooling3D"),
    ("dropout", "extra: Dropout(0.2) after ReLU"),
])
def test_build_cnn3d_fails_a_model_with_an_extra_layer_and_names_it(last, extra, words):
    def with_extra(s, f=(8, 16, 32), d=0.3):
        return _cnn_variant(s, f, d, extra=extra)

    assert c.build_cnn3d(with_extra) is c._reference_cnn3d
    assert last().status == "failed" and words in last().message, last().message


def test_model_parts_are_the_exercise_words():
    from cnncourse.checks.architecture import model_parts

    parts = model_parts(_cnn_variant((8, 8, 8, 1), (4,), 0.3, split_sigmoid=True))
    assert parts == ("Conv3D(4, 3, padding='same', use_bias=False)", "BatchNormalization(momentum=0.9)",
                     "ReLU", "MaxPooling3D(2)", "GlobalAveragePooling3D", "Dropout(0.3)", "Dense(1)",
                     "sigmoid")
    assert model_parts(_cnn_variant((8, 8, 8, 1), (4,), 0.3, ops_relu=True)) == model_parts(
        _cnn_variant((8, 8, 8, 1), (4,), 0.3))
