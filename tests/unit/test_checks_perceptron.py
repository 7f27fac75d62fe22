"""Checks of notebook 01: correct, wrong (mistake named), stub and NAND-free answers."""
import numpy as np
import pytest

from cnncourse import checks, neurons
from cnncourse.checks import perceptron as P


def good_perceptron(x, w, b):
    return 1 if np.dot(x, w) + b > 0 else 0


@pytest.mark.parametrize("wrong, phrase", [
    (lambda x, w, b: int(np.dot(x, w) + b >= 0), "use >, not >="),
    (lambda x, w, b: int(np.dot(x, w) > 0), "forgot the bias"),
    (lambda x, w, b: int(np.dot(x, w) - b > 0), "subtracted the bias"),
    (lambda x, w, b: np.dot(x, w) + b, "returned the weighted sum"),
    (lambda x, w, b: np.sign(np.dot(x, w) + b), "-1/+1"),
    (lambda x, w, b: (x * w + b > 0).astype(int), "one output per input"),
    (lambda x, w, b: int(np.sum(x) + b > 0), "ignored the weights"),
])
def test_perceptron_mistakes_named(last, wrong, phrase):
    assert P.perceptron(wrong) is not wrong
    assert last().status == "failed" and phrase in last().message


def test_perceptron_correct_and_stub(last, stub):
    assert P.perceptron(good_perceptron) is good_perceptron and last().passed
    ref = P.perceptron(stub)
    assert last().status == "not done" and ref(np.array([1.0, 1.0]), np.array([-2.0, -2.0]), 3) == 0


# Gates are defined at module level so that they find `nand` in their globals, as in a notebook.
nand = neurons.nand


def not_gate(a):
    return nand(a, a)


def and_gate(a, b):
    return not_gate(nand(a, b))


def or_gate(a, b):
    return nand(not_gate(a), not_gate(b))


def xor_gate(a, b):
    n = nand(a, b)
    return nand(nand(a, n), nand(b, n))


def half_adder(a, b):
    return xor_gate(a, b), and_gate(a, b)


def python_xor(a, b):
    return a ^ b


@pytest.mark.parametrize("checker, fn", [(P.not_gate, not_gate), (P.and_gate, and_gate),
                                         (P.or_gate, or_gate), (P.xor_gate, xor_gate),
                                         (P.half_adder, half_adder)])
def test_gates_correct(last, checker, fn, capsys):
    assert checker(fn) is fn and last().passed
    assert "NAND gate" in capsys.readouterr().out
    assert neurons.nand is nand   # the call counter is removed again


def test_gate_count_reported(capsys):
    P.xor_gate(xor_gate)
    assert "xor_gate uses 4 NAND gates per evaluation." in capsys.readouterr().out
    P.xor_gate(lambda a, b: and_gate(or_gate(a, b), nand(a, b)))
    assert "uses 6 NAND gates per evaluation; it can be done with 4" in capsys.readouterr().out


@pytest.mark.parametrize("checker, wrong, phrase", [
    (P.not_gate, lambda a: nand(a, 0), "always 1"),
    (P.not_gate, lambda a: a, "unchanged"),
    (P.and_gate, lambda a, b: nand(a, b), "that is NAND itself"),
    (P.and_gate, or_gate, "that is OR"),
    (P.or_gate, lambda a, b: nand(a, b), "De Morgan"),
    (P.or_gate, lambda a, b: not_gate(or_gate(a, b)), "that is NOR"),
    (P.xor_gate, or_gate, "that is OR"),
    (P.xor_gate, lambda a, b: not_gate(xor_gate(a, b)), "XNOR"),
    (P.xor_gate, and_gate, "that is AND"),
    (P.half_adder, lambda a, b: (and_gate(a, b), xor_gate(a, b)), "swapped sum and carry"),
    (P.half_adder, lambda a, b: (or_gate(a, b), and_gate(a, b)), "your sum is OR"),
    (P.half_adder, lambda a, b: (xor_gate(a, b), nand(a, b)), "your carry is NAND"),
    (P.xor_gate, python_xor, "computed without calling nand"),
    (P.not_gate, lambda a: 1 - a, "NAND perceptrons only"),
])
def test_gate_mistakes_named(last, checker, wrong, phrase):
    assert checker(wrong) is not wrong
    assert last().status == "failed" and phrase in last().message, last().message
    assert neurons.nand is nand


def test_gate_stub_and_crash(last, stub):
    ref = P.half_adder(stub)
    assert last().status == "not done" and ref(1, 1) == (0, 1)
    P.and_gate(lambda a, b: undefined_name)  # noqa: F821
    assert last().status == "error" and "NameError" in last().message
    assert neurons.nand is nand


def test_count_nand_counts_own_and_reference_gates():
    assert P.count_nand(xor_gate, 1, 0) == 4
    assert P.count_nand(lambda a, b: P._half_adder(a, b), 1, 1) == 5   # reference gates count too
    assert P.count_nand(python_xor, 1, 0) == 0
    assert neurons.nand is nand


def test_perceptron_learning_names_each_mistake():
    import numpy as np
    from cnncourse.checks import perceptron as cp

    def mine(X, targets, epochs=20, lr=1.0):
        w, b, errors = np.zeros(np.shape(X)[1]), 0.0, []
        for _ in range(epochs):
            wrong = 0
            for x, t in zip(np.asarray(X, float), targets):
                y = 1 if x @ w + b > 0 else 0
                if y != t:
                    w, b, wrong = w + lr * (t - y) * x, b + lr * (t - y), wrong + 1
            errors.append(wrong)
            if wrong == 0:
                break
        return w, b, errors

    assert cp.perceptron_learning(mine) is mine and checks.history()[-1].passed
    for kwargs, words in [(dict(sign=-1.0), "wrong sign"), (dict(bias=False), "bias never changes"),
                          (dict(batch=True), "batch learning"), (dict(stop=False), "stop there"),
                          (dict(fire_at_zero=True), "fires at z = 0")]:
        wrong = lambda X, t, epochs=20, lr=1.0, kw=kwargs: cp._learn(X, t, epochs, lr, **kw)  # noqa: E731
        assert cp.perceptron_learning(wrong) is cp._perceptron_learning
        last = checks.history()[-1]
        assert last.status == "failed" and words in last.message, (kwargs, last.message)
    cp.perceptron_learning(lambda X, t, epochs=20, lr=1.0: (_ for _ in ()).throw(NotImplementedError()))
    assert checks.history()[-1].status == "not done"
