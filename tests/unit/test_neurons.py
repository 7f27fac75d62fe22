"""cnncourse.neurons: perceptron, NAND, truth tables, activation functions and derivatives."""
import warnings

import numpy as np
import pytest

from cnncourse import neurons


def test_talk_nand_example_sums_and_table():
    inputs, outputs = neurons.truth_table(neurons.nand)
    assert inputs.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert outputs.tolist() == [1, 1, 1, 0]
    sums = neurons.weighted_sum(inputs, neurons.NAND_WEIGHTS, neurons.NAND_BIAS)
    assert sums.tolist() == [3.0, 1.0, 1.0, -1.0]
    assert neurons.gate_name(outputs) == "NAND"


def test_perceptron_shapes_and_step_at_zero():
    assert neurons.perceptron([1, 0], [1, 1], -1).shape == ()
    assert int(neurons.perceptron([1, 0], [1, 1], -1)) == 0      # sum exactly 0 -> 0
    assert int(neurons.perceptron([1, 0], [1, 1], -0.5)) == 1
    batch = np.zeros((3, 5, 2))
    out = neurons.perceptron(batch, [1.0, 1.0], 0.5)
    assert out.shape == (3, 5) and out.dtype == np.int64 and out.sum() == 15
    assert neurons.step([-1.0, 0.0, 2.0]).tolist() == [0, 0, 1]
    assert neurons.step_grad([-1.0, 0.0, 2.0]).tolist() == [0.0, 0.0, 0.0]


def test_nand_broadcasts_and_rejects_non_binary():
    assert neurons.nand(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])).tolist() == [1, 1, 1, 0]
    assert int(neurons.nand(1, 1)) == 0
    with pytest.raises(ValueError, match="a: expected binary inputs"):
        neurons.nand(2, 1)


@pytest.mark.parametrize("args, exc, match", [
    (([1, 0], [[1, 1]], 0), ValueError, "w: expected a 1-D array"),
    (([1, 0, 1], [1, 1], 0), ValueError, r"x: expected shape \(n,\) or \(\.\.\., n\) with n = 2"),
    (([1, 0], [1, 1], [1, 2]), ValueError, "b: expected a single number"),
    (([1, 0], [1, 1], float("nan")), ValueError, "b: expected a finite number"),
    ((["a", "b"], [1, 1], 0), TypeError, "x: expected an array of real numbers"),
    (([1j, 0], [1, 1], 0), TypeError, "x: expected real numbers, got complex"),
])
def test_perceptron_bad_input(args, exc, match):
    with pytest.raises(exc, match=match):
        neurons.perceptron(*args)


def test_truth_table_multi_output_and_format():
    def half_adder(a, b):
        return a ^ b, a & b

    inputs, outputs = neurons.truth_table(half_adder)
    assert outputs.tolist() == [[0, 0], [1, 0], [1, 0], [0, 1]]
    text = neurons.format_truth_table(inputs, outputs, output_names=["sum", "carry"])
    lines = text.splitlines()
    assert lines[0].split() == ["A", "B", "|", "sum", "carry"]
    assert lines[-1].split() == ["1", "1", "|", "0", "1"]
    sums = neurons.weighted_sum(inputs, [-2, -2], 3)
    assert "-1" in neurons.format_truth_table(inputs, sums, output_names=["sum"]).splitlines()[-1]
    assert neurons.binary_inputs(3).shape == (8, 3)


def test_truth_table_bad_input():
    with pytest.raises(TypeError, match="gate: expected a function"):
        neurons.truth_table(3)
    with pytest.raises(ValueError, match="gate: expected outputs 0 or 1"):
        neurons.truth_table(lambda a, b: a + b)
    with pytest.raises(ValueError, match="n_inputs: expected 1..16"):
        neurons.binary_inputs(0)
    with pytest.raises(ValueError, match="outputs: expected 4 rows"):
        neurons.format_truth_table(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="outputs: expected four 0/1 values"):
        neurons.gate_name([1, 0, 1])


def test_gate_names_cover_all_16_functions():
    names = {neurons.gate_name(list(map(int, f"{k:04b}"))) for k in range(16)}
    assert len(names) == 16 and {"AND", "OR", "XOR", "NAND", "NOR", "XNOR"} <= names


X = np.concatenate([np.linspace(-8, 8, 33), [-0.3, 0.7]])
SMOOTH = ["sigmoid", "tanh"]


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu"])
def test_derivatives_match_numerical_derivative(name):
    f, df = neurons.ACTIVATIONS[name]
    x = X[np.abs(X) > 1e-3]   # away from the kink of (leaky) ReLU
    err = np.max(np.abs(df(x) - neurons.numerical_derivative(f, x)))
    assert err < 1e-8, f"{name}: max error {err}"


def test_extreme_inputs_are_finite_without_warnings():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            for f, df in neurons.ACTIVATIONS.values():
                assert np.all(np.isfinite(f(x))) and np.all(np.isfinite(df(x)))
    assert neurons.sigmoid(x).tolist()[0] == 0.0 and neurons.sigmoid(x).tolist()[-1] == 1.0
    assert float(neurons.sigmoid_grad(0.0)) == 0.25 and float(neurons.tanh_grad(0.0)) == 1.0


def test_identities_and_conventions():
    x = np.linspace(-5, 5, 21)
    np.testing.assert_allclose(neurons.tanh(x), 2 * neurons.sigmoid(2 * x) - 1, atol=1e-12)
    assert float(neurons.relu_grad(0.0)) == 0.0
    assert float(neurons.leaky_relu_grad(0.0, alpha=0.2)) == pytest.approx(0.2)
    assert neurons.leaky_relu([-2.0, 3.0], alpha=0.1).tolist() == pytest.approx([-0.2, 3.0])
    np.testing.assert_array_equal(neurons.leaky_relu(x, alpha=0.0), neurons.relu(x))


def test_dtypes_kept():
    x32 = np.linspace(-100, 100, 9, dtype=np.float32)
    for f, df in neurons.ACTIVATIONS.values():
        if f is neurons.step:
            continue
        assert f(x32).dtype == np.float32 and df(x32).dtype == np.float32
    assert neurons.sigmoid([1, 2]).dtype == np.float64
    assert neurons.sigmoid(0.0).shape == ()


@pytest.mark.parametrize("call, exc, match", [
    (lambda: neurons.sigmoid("abc"), TypeError, "x: expected an array of real numbers"),
    (lambda: neurons.relu(np.array([1 + 2j])), TypeError, "x: expected real numbers"),
    (lambda: neurons.leaky_relu([1.0], alpha=1.5), ValueError, r"alpha: expected a slope in \[0, 1\)"),
    (lambda: neurons.leaky_relu_grad([1.0], alpha=-0.1), ValueError, "alpha"),
    (lambda: neurons.numerical_derivative(3, 1.0), TypeError, "f: expected a function"),
    (lambda: neurons.numerical_derivative(np.sin, 1.0, h=0), ValueError, "h: expected a positive step"),
])
def test_activation_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_doctests():
    import doctest

    result = doctest.testmod(neurons, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
