"""Checkers of notebook 12: correct answers pass, typical mistakes are named, stubs are 'not done'."""
import numpy as np
import pytest

from cnncourse import checks
from cnncourse.checks import cnn3d as c



def last():
    return checks.history()[-1]


def stub(*args):
    raise NotImplementedError


def test_conv3d_params():
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


def test_activation_mib():
    assert c.activation_mib(8 * 100 ** 3 * 16 * 4 / 2 ** 20) == pytest.approx(488.28125)
    assert last().passed
    for wrong, words in [(8 * 100 ** 3 * 16 * 4 / 1e6, "MB"), (100 ** 3 * 16 * 4 / 2 ** 20, "one volume"),
                         (8 * 100 ** 3 * 16 / 2 ** 20, "4 bytes"), (8 * 100 ** 2 * 16 * 4 / 2 ** 20, "2D"),
                         (8 * 94 ** 3 * 16 * 4 / 2 ** 20, "'valid'")]:
        assert c.activation_mib(wrong) == pytest.approx(488.28125)
        assert last().status == "failed" and words in last().message, last().message
    c.activation_mib(...)
    assert last().status == "not done"


def test_sphericity():
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


def test_heldout_auc():
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
