"""cnncourse.activation_race: the tanh-vs-ReLU experiment harness (small sizes, fast)."""
import numpy as np
import pytest

from cnncourse import activation_race as ar
from cnncourse import neurons


@pytest.fixture(scope="module")
def task():
    X, y = ar.digits_task()
    assert X.shape == (1797, 64) and y.shape == (1797,) and set(np.unique(y)) == set(range(10))
    assert np.allclose(X.mean(axis=0), 0, atol=1e-9)
    return X[:400], y[:400]


def test_training_learns_and_is_deterministic(task):
    X, y = task
    a = ar.train_mlp(X, y, "relu", hidden=(32,), max_epochs=3, seed=1)
    b = ar.train_mlp(X, y, "relu", hidden=(32,), max_epochs=3, seed=1)
    assert a.errors[0] > 0.5 and a.errors[-1] < 0.15       # chance is 0.9
    np.testing.assert_array_equal(a.errors, b.errors)
    assert a.epochs[-1] == pytest.approx(3.0) and not a.diverged


def test_own_functions_give_the_same_run(task):
    X, y = task
    named = ar.train_mlp(X, y, "tanh", hidden=(16,), max_epochs=1, seed=0)
    own = ar.train_mlp(X, y, (np.tanh, lambda z: 1 - np.tanh(z) ** 2), hidden=(16,), max_epochs=1, seed=0)
    np.testing.assert_allclose(named.errors, own.errors)


def test_stop_error_and_epochs_to(task):
    X, y = task
    run = ar.train_mlp(X, y, "tanh", hidden=(32,), max_epochs=10, stop_error=0.2, seed=0)
    assert run.errors[-1] <= 0.2 and run.epochs[-1] < 10
    assert run.epochs_to(0.2) == run.epochs[-1]
    assert run.epochs_to(-1.0) == float("inf")


def test_race_chooses_learning_rates(task):
    X, y = task
    res = ar.race(X, y, ("tanh", "relu"), target=0.2, lrs={"tanh": (0.03, 1e-4), "relu": (0.03,)},
                  seeds=(0, 1), hidden=(16,), max_epochs=4)
    assert res.best_lr == {"tanh": 0.03, "relu": 0.03}
    assert np.isfinite(res.ratio()) and res.ratio() > 0
    rows = res.table()
    assert [(r["lr"], r["chosen"]) for r in rows] == [(1e-4, ""), (0.03, "*"), (0.03, "*")]
    assert str(rows[0]["median epochs"]).startswith(">")   # lr 1e-4 stopped at the budget


def test_plot_race(task):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = task
    res = ar.race(X, y, target=0.3, lrs=(0.03,), seeds=(0,), hidden=(8,), max_epochs=2)
    fig = ar.plot_race(res)
    assert "tanh / ReLU" in fig.axes[0].get_title()
    plt.close(fig)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"activation": "swish"}, ValueError, "activation: expected one of"),
    ({"activation": (np.tanh,)}, TypeError, "activation: expected a name or a pair"),
    ({"activation": "relu", "hidden": (0,)}, ValueError, "hidden: expected positive"),
    ({"activation": "relu", "lr": -1}, ValueError, "lr > 0"),
])
def test_bad_input(task, kwargs, exc, match):
    X, y = task
    with pytest.raises(exc, match=match):
        ar.train_mlp(X, y, **kwargs)
    with pytest.raises(ValueError, match="X: expected shape"):
        ar.train_mlp(X[0], y, "relu")
    with pytest.raises(ValueError, match="y: expected 400 non-negative integer labels"):
        ar.train_mlp(X, y.astype(float), "relu")
    with pytest.raises(ValueError, match="lrs: no learning rates given for"):
        ar.race(X, y, lrs={"tanh": (0.1,)})
    with pytest.raises(ValueError, match="target"):
        ar.race(X, y, target=2)


def test_activations_table_is_the_reference():
    assert ar._resolve("relu")[1] is neurons.relu
