"""Checkers of notebook 06: correct, wrong (the mistake is named) and stub answers."""
import numpy as np

from cnncourse.checks import lenet as cl


RIGHT = {"C1": 156, "S2": 0, "C3": 2416, "S4": 0, "C5": 48120, "F6": 10164, "output": 850}


def test_param_counts(last):
    assert cl.param_counts(dict(RIGHT)) == RIGHT and last().passed
    assert cl.param_counts({k: np.int64(v) for k, v in RIGHT.items()}) and last().passed
    cl.param_counts({**RIGHT, "C1": 150})
    assert "forgot the biases" in last().message
    cl.param_counts({**RIGHT, "C3": 416})
    assert "span all 6 maps" in last().message
    cl.param_counts({**RIGHT, "S2": 12, "S4": 32})
    assert "pooling (subsampling) layers have no parameters" in last().message
    cl.param_counts({**RIGHT, "C5": 18120})
    assert "all 16 maps of S4" in last().message
    assert cl.param_counts(...) == RIGHT and last().status == "not done"
    assert cl.param_counts(dict.fromkeys(RIGHT, ...)) == RIGHT and last().status == "not done"
    cl.param_counts({**dict.fromkeys(RIGHT, ...), "C1": 156})
    assert last().status == "failed"


def _lenet(keras, *, bias=True, padding="valid", softmax=True, act="tanh"):
    def build(input_shape=(32, 32, 1), n_classes=10):
        L = keras.layers
        return keras.Sequential([
            keras.Input(shape=input_shape),
            L.Conv2D(6, 5, activation=act, padding=padding, use_bias=bias), L.AveragePooling2D(2),
            L.Conv2D(16, 5, activation=act, use_bias=bias), L.AveragePooling2D(2),
            L.Flatten(), L.Dense(120, activation=act, use_bias=bias),   # C5 as Dense: same count
            L.Dense(84, activation=act, use_bias=bias),
            L.Dense(n_classes, activation="softmax" if softmax else None, use_bias=bias)])
    return build


def test_build_lenet5(last, stub):
    from cnncourse.device import import_keras

    keras = import_keras()
    good = _lenet(keras)
    assert cl.build_lenet5(good) is good and last().passed
    cl.build_lenet5(_lenet(keras, bias=False))
    assert "no biases" in last().message
    cl.build_lenet5(_lenet(keras, padding="same"))
    assert "padding='same'" in last().message
    cl.build_lenet5(_lenet(keras, softmax=False))
    assert "activation='softmax'" in last().message
    cl.build_lenet5(_lenet(keras, act=None))   # right sizes and softmax, no hidden activation
    assert last().status == "failed" and "hidden layers have no activation" in last().message
    cl.build_lenet5(_lenet(keras, act="sigmoid"))   # right sizes, an activation LeNet does not use
    assert last().status == "failed" and "computes what no LeNet-5 computes" in last().message
    def no_s4(input_shape=(32, 32, 1), n_classes=10):   # a part left out is named
        L = keras.layers
        return keras.Sequential([keras.Input(shape=input_shape), L.Conv2D(6, 5, activation="relu"),
                                 L.MaxPooling2D(2), L.Conv2D(16, 5, activation="relu"),
                                 L.Conv2D(120, 5, activation="relu"), L.Flatten(),
                                 L.Dense(84, activation="relu"), L.Dense(n_classes, activation="softmax")])

    cl.build_lenet5(no_s4)
    assert last().status == "failed" and "missing: pooling(2) after Conv2D(16, 5)" in last().message
    cl.build_lenet5(lambda input_shape, n_classes: "a model")
    assert "expected a keras.Model" in last().message
    assert cl.build_lenet5(stub) is cl._reference_lenet5 and last().status == "not done"


def test_mlp_params(last, stub):
    def mine(n_in, hidden, n_out):
        sizes = [n_in, *hidden, n_out]
        return sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))

    assert cl.mlp_params(mine) is mine
    assert mine(3072, [20], 2) == 61_502
    cl.mlp_params(lambda n_in, hidden, n_out: sum(a * b for a, b in zip([n_in, *hidden], [*hidden, n_out])))
    assert "forgot the biases" in last().message
    cl.mlp_params(lambda n_in, hidden, n_out: mine(n_in, hidden[:-1], hidden[-1]))
    assert "forgot the output layer" in last().message
    assert cl.mlp_params(stub) is cl._mlp_params and last().status == "not done"


def test_roc_auc_equals_sklearn_and_mistakes(last, stub):
    from sklearn.metrics import roc_auc_score

    for case in cl._auc_cases():
        assert np.isclose(cl._roc_auc(*case.args), roc_auc_score(*case.args))
    mine = lambda y, s: roc_auc_score(y, s)  # noqa: E731
    assert cl.roc_auc(mine) is mine
    cl.roc_auc(lambda y, s: 1 - roc_auc_score(y, s))
    assert "swapped the classes" in last().message
    strict = lambda y, s: float((s[y == 1][:, None] > s[y == 0][None, :]).mean())  # noqa: E731
    cl.roc_auc(strict)
    assert "You counted them as wrong" in last().message
    cl.roc_auc(lambda y, s: float(np.mean((s > 0.5) == (y == 1))))
    assert "accuracy at threshold 0.5" in last().message
    assert cl.roc_auc(stub) is cl._roc_auc and last().status == "not done"
