"""Checks for notebook 12, 3D CNN for nucleus shapes: parameter counts of 3D convolutions, memory
of 3D activations, sphericity, and a held-out ROC AUC of the morphometric baseline."""
from __future__ import annotations

import numpy as np

from cnncourse.checks import Case, Mistake, check_function, check_value


# --------------------------------------------------------------------------------------------
# Exercise: parameters of a Conv3D layer


def _conv3d_params(kernel_size, in_channels, filters):
    return kernel_size ** 3 * in_channels * filters + filters


_PARAM_CASES = [
    Case((3, 1, 16), label="kernel_size=3, in_channels=1, filters=16"),
    Case((7, 1, 16), label="kernel_size=7, in_channels=1, filters=16"),
    Case((3, 16, 32), label="kernel_size=3, in_channels=16, filters=32"),
    Case((5, 8, 4), label="kernel_size=5, in_channels=8, filters=4"),
    Case((1, 64, 10), label="kernel_size=1, in_channels=64, filters=10"),
]


def conv3d_params(fn):
    """Check ``conv3d_params(kernel_size, in_channels, filters)``: k^3 * C_in * F weights + F biases."""
    return check_function(
        fn, _conv3d_params, _PARAM_CASES, name="conv3d_params",
        mistakes=[
            Mistake("the biases are missing: every filter has one bias, so add `filters`.",
                    wrong=lambda k, c, f: k ** 3 * c * f),
            Mistake("that is the 2D count (k * k): a 3D kernel is k x k x k, so use k ** 3.",
                    wrong=lambda k, c, f: k ** 2 * c * f + f),
            Mistake("the 2D count and no biases: use k ** 3 * in_channels * filters + filters.",
                    wrong=lambda k, c, f: k ** 2 * c * f),
            Mistake("the input channels are missing: each filter spans all input channels, so "
                    "one filter has k ** 3 * in_channels weights.",
                    wrong=lambda k, c, f: k ** 3 * f + f),
            Mistake("one bias per weight is too many: a filter has a single bias.",
                    wrong=lambda k, c, f: 2 * k ** 3 * c * f),
        ],
        hint="one filter has kernel_size ** 3 * in_channels weights and 1 bias; there are "
             "`filters` of them.",
    )


# --------------------------------------------------------------------------------------------
# Exercise: memory of activations

#: The value exercise's question: MiB of float32 activations of a 'same' Conv3D with 16 filters
#: over a batch of 8 volumes of 100^3 voxels (the sub-volume size of Helmstaedter et al. 2013).
ACTIVATION_QUESTION = {"batch": 8, "side": 100, "filters": 16, "bytes": 4}


def _activation_mib(batch=8, side=100, filters=16, nbytes=4):
    return batch * side ** 3 * filters * nbytes / 2 ** 20


def activation_mib(value):
    """Check the MiB of one layer's activations (see ``ACTIVATION_QUESTION``): 488.28125."""
    q = ACTIVATION_QUESTION
    b, s, f, n = q["batch"], q["side"], q["filters"], q["bytes"]
    expected = _activation_mib(b, s, f, n)
    return check_value(
        value, expected, name="activation_mib", rtol=1e-3,
        mistakes=[
            Mistake("that is for one volume: multiply by the batch size (8).",
                    wrong=_activation_mib(1, s, f, n)),
            Mistake("that counts values, not bytes: a float32 takes 4 bytes.",
                    wrong=_activation_mib(b, s, f, 1)),
            Mistake("that is in bytes: divide by 2 ** 20 to get MiB.", wrong=b * s ** 3 * f * n),
            Mistake("that is in MB (10 ** 6 bytes); a MiB is 2 ** 20 = 1,048,576 bytes.",
                    wrong=b * s ** 3 * f * n / 1e6),
            Mistake("that is the size of a 2D layer (100 x 100): a volume has 100 ** 3 voxels.",
                    wrong=_activation_mib(b, s ** (2 / 3), f, n)),
            Mistake("the 16 feature maps are missing: every filter gives its own 100^3 output.",
                    wrong=_activation_mib(b, s, 1, n)),
            Mistake("'valid' padding shrinks the output to 94^3, but the question says 'same'.",
                    wrong=_activation_mib(b, s - 6, f, n)),
        ],
        hint="batch x voxels per volume x filters x bytes per value, then / 2 ** 20.",
    )


# --------------------------------------------------------------------------------------------
# Exercise: sphericity


def _sphericity(volume, area):
    volume, area = np.asarray(volume, dtype=float), np.asarray(area, dtype=float)
    return np.pi ** (1 / 3) * (6 * volume) ** (2 / 3) / area


_SPH_CASES = [
    Case((4 / 3 * np.pi * 5.0 ** 3, 4 * np.pi * 5.0 ** 2), label="a ball of radius 5 (V, A)"),
    Case((1000.0, 600.0), label="a cube of side 10: volume=1000, area=600"),
    Case((np.array([1.0, 8.0, 3112.0]), np.array([6.0, 24.0, 1017.9])),
         label="arrays volume=[1, 8, 3112], area=[6, 24, 1017.9]"),
    Case((523.6, 400.0), label="volume=523.6, area=400.0 (a wrinkled ball)"),
]


def sphericity(fn):
    """Check ``sphericity(volume, area)`` = pi^(1/3) (6 V)^(2/3) / A (1 for a ball)."""
    return check_function(
        fn, _sphericity, _SPH_CASES, name="sphericity", rtol=1e-6,
        mistakes=[
            Mistake("the ratio is upside down: the ball's area pi^(1/3) (6V)^(2/3) goes on top, "
                    "the actual area A below, so that the result is at most 1.",
                    wrong=lambda v, a: np.asarray(a, float) / (np.pi ** (1 / 3)
                                                               * (6 * np.asarray(v, float)) ** (2 / 3))),
            Mistake("the factor pi ** (1 / 3) is missing (a ball must give exactly 1).",
                    wrong=lambda v, a: (6 * np.asarray(v, float)) ** (2 / 3) / np.asarray(a, float)),
            Mistake("the power applies to 6 * V, not to V alone: write (6 * volume) ** (2 / 3).",
                    wrong=lambda v, a: np.pi ** (1 / 3) * 6 * np.asarray(v, float) ** (2 / 3)
                    / np.asarray(a, float)),
            Mistake("2 / 3 in the exponent, not 1 / 3 or 3 / 2: area grows like volume^(2/3).",
                    wrong=lambda v, a: np.pi ** (1 / 3) * (6 * np.asarray(v, float)) ** (1 / 3)
                    / np.asarray(a, float)),
        ],
        hint="the area of the ball with volume V is pi^(1/3) (6 V)^(2/3); divide it by A.",
    )


# --------------------------------------------------------------------------------------------
# Exercise: held-out ROC AUC of the morphometric baseline


def _heldout_auc(X_train, y_train, X_test, y_test):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X_train, y_train)
    return float(roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]))


def _training_auc(X_train, y_train, X_test, y_test):
    return _heldout_auc(X_train, y_train, X_train, y_train)


def _hard_label_auc(X_train, y_train, X_test, y_test):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_train, y_train)
    return float(roc_auc_score(y_test, model.predict(X_test)))


def _proba_class0_auc(X_train, y_train, X_test, y_test):
    return 1.0 - _heldout_auc(X_train, y_train, X_test, y_test)


def _auc_cases():
    cases = []
    for seed, (n, d, shift) in enumerate([(40, 7, 0.5), (60, 3, 0.6), (30, 5, 0.8)]):
        rng = np.random.default_rng(100 + seed)

        def make(m):
            y = np.arange(m) % 2
            X = rng.normal(size=(m, d)) * rng.uniform(0.5, 20, size=d) + shift * y[:, None]
            return X, y

        X_train, y_train = make(n)
        X_test, y_test = make(2 * n)
        cases.append(Case((X_train, y_train, X_test, y_test),
                          label=f"{n} training and {2 * n} test rows of {d} noisy features"))
    return cases


def _close_auc(got, expected):
    try:
        got = float(got)
    except (TypeError, ValueError):
        return False, f"expected a number (the AUC), got {type(got).__name__}"
    if abs(got - expected) <= 0.02:
        return True, ""
    return False, f"got AUC {got:.3f}, expected {expected:.3f}"


def heldout_auc(fn):
    """Check ``heldout_auc(X_train, y_train, X_test, y_test)``: standardise, fit a logistic
    regression on the training rows, return the ROC AUC of its probabilities on the test rows
    (within 0.02, so other reasonable solvers pass too)."""
    return check_function(
        fn, _heldout_auc, _auc_cases(), name="heldout_auc", compare_with=_close_auc,
        mistakes=[
            Mistake("that is the AUC on the training rows, which the model has seen: score "
                    "X_test and compare with y_test.",
                    when=lambda g, e, c: _matches(g, _training_auc, c)),
            Mistake("roc_auc_score needs scores, not 0/1 predictions: use "
                    "model.predict_proba(X_test)[:, 1] instead of model.predict(X_test).",
                    when=lambda g, e, c: _matches(g, _hard_label_auc, c)),
            Mistake("predict_proba(X)[:, 0] is the probability of class 0; take column 1.",
                    when=lambda g, e, c: _matches(g, _proba_class0_auc, c)),
        ],
        hint="make_pipeline(StandardScaler(), LogisticRegression()).fit(X_train, y_train), then "
             "roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]).",
    )


def _matches(got, wrong, case) -> bool:
    try:
        return abs(float(got) - wrong(*case.args)) < 1e-6
    except (TypeError, ValueError):
        return False
