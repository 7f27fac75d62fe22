"""Checks for notebook 01 (perceptron and NAND): the perceptron, and logic gates built from NAND.

The gate checkers also make sure the answer is *built from NAND*: while checking, calls to ``nand``
(the name in the learner's notebook, and :func:`cnncourse.neurons.nand`) are counted; a gate that
gives the right outputs without ever calling ``nand`` is reported as a mistake.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable

import numpy as np

from cnncourse import neurons
from cnncourse.checks import Case, Mistake, compare, evaluate_function
from cnncourse.checks.record import observed

__all__ = ["perceptron", "not_gate", "and_gate", "or_gate", "xor_gate", "half_adder", "count_nand",
           "perceptron_learning"]


# --------------------------------------------------------------------------------------------
# Exercise: the perceptron


def _perceptron(x, w, b):
    return int(np.dot(np.asarray(x, float), np.asarray(w, float)) + b > 0)


def _arr(*v):
    return np.array(v, dtype=float)


_PERCEPTRON_CASES = [
    Case((_arr(0, 0), _arr(-2, -2), 3.0), label="x=[0, 0], w=[-2, -2], b=3 (NAND, sum 3)"),
    Case((_arr(0, 1), _arr(-2, -2), 3.0), label="x=[0, 1], w=[-2, -2], b=3 (NAND, sum 1)"),
    Case((_arr(1, 1), _arr(-2, -2), 3.0), label="x=[1, 1], w=[-2, -2], b=3 (NAND, sum -1)"),
    Case((_arr(1, 1), _arr(1, 1), -3.0), label="x=[1, 1], w=[1, 1], b=-3 (sum -1)"),
    Case((_arr(0.5, 0.5, 1.0), _arr(1, -2, 0.5), 0.25),
         label="x=[0.5, 0.5, 1], w=[1, -2, 0.5], b=0.25 (three inputs, sum 0.25)"),
    Case((_arr(1, 0), _arr(1, 1), -1.0), label="x=[1, 0], w=[1, 1], b=-1 (sum exactly 0)"),
    Case((_arr(2, 1), _arr(1, 1), -2.5), label="x=[2, 1], w=[1, 1], b=-2.5 (sum 0.5)"),
    Case((_arr(1, 0), _arr(-1, 2), -2.0), label="x=[1, 0], w=[-1, 2], b=-2 (sum -3)"),
]


def _z(x, w, b):
    return float(np.dot(np.asarray(x, float), np.asarray(w, float)) + b)


_PERCEPTRON_MISTAKES = [  # tried in this order
    Mistake("your outputs are -1/+1 (np.sign?); the perceptron's step outputs 0 or 1.",
            wrong=lambda x, w, b: float(np.sign(_z(x, w, b)))),
    Mistake("you returned the weighted sum itself; the perceptron passes it through the step "
            "function: 1 if the sum is > 0, else 0.", wrong=_z),
    Mistake("at a weighted sum of exactly 0 you output 1: the step function here is 1 only for "
            "sum > 0 (use >, not >=).", wrong=lambda x, w, b: int(_z(x, w, b) >= 0)),
    Mistake("you forgot the bias: the step applies to sum_i w_i x_i + b, not to sum_i w_i x_i.",
            wrong=lambda x, w, b: int(_z(x, w, 0.0) > 0)),
    Mistake("you subtracted the bias; the weighted sum is sum_i w_i x_i + b.",
            wrong=lambda x, w, b: int(_z(x, w, -b) > 0)),
    Mistake("you ignored the weights (summed the inputs); each input is multiplied by its weight.",
            wrong=lambda x, w, b: int(np.sum(x) + b > 0)),
    Mistake("you returned one output per input (x * w + b, elementwise): sum the products first "
            "(np.dot(x, w) or x @ w), then add b, then apply the step.",   # with or without a step
            when=lambda g, e, c: np.ndim(g) == 1 and np.size(g) == np.size(c.args[0])),
]


def perceptron(fn: Callable) -> Callable:
    """Check ``perceptron(x, w, b)``: 1 if ``x @ w + b > 0`` else 0, for a single input vector."""
    result = evaluate_function(fn, _perceptron, _PERCEPTRON_CASES, name="perceptron",
                               mistakes=_PERCEPTRON_MISTAKES,
                               hint="compute z = np.dot(x, w) + b and return 1 if z > 0 else 0.")
    return fn if result.passed else _perceptron


# --------------------------------------------------------------------------------------------
# Gates from NAND


class _NoNand:
    """What a gate returns (through :func:`_nand_gate`) when it gave its answer without ever
    calling nand. It equals the same value (with or without nand), so a mistake is recognised by
    the gate's truth table alone; the verdict (:func:`_compare_gate`) fails it."""

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        other = other.value if isinstance(other, _NoNand) else other
        return bool(np.array_equal(np.asarray(self.value), np.asarray(other)))

    __hash__ = None

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.value, dtype=dtype)

    def __repr__(self):
        return f"{self.value!r} (computed without calling nand)"


@contextlib.contextmanager
def _counting_nand(fn, counter: list):
    """Count calls to ``nand`` made through ``fn``'s module globals or cnncourse.neurons."""
    patched = []
    glb = getattr(fn, "__globals__", None)
    targets = [(neurons.__dict__, "nand")]
    if isinstance(glb, dict) and callable(glb.get("nand")) and glb is not neurons.__dict__:
        targets.append((glb, "nand"))
    try:
        for namespace, key in targets:
            original = namespace[key]

            def counting(*args, _original=original, **kwargs):
                counter[0] += 1
                return _original(*args, **kwargs)

            namespace[key] = counting
            patched.append((namespace, key, original))
        yield
    finally:
        for namespace, key, original in reversed(patched):
            namespace[key] = original


def count_nand(fn, *args, **kwargs) -> int:
    """How many times ``nand`` is called while computing ``fn(*args, **kwargs)``.

    Calls through the name ``nand`` in ``fn``'s module (a notebook's globals) and through
    :func:`cnncourse.neurons.nand` (used by the reference gates) are both counted.
    """
    counter = [0]
    with _counting_nand(fn, counter):
        fn(*args, **kwargs)
    return counter[0]


def _nand_gate(fn, case: Case):
    """The call adapter of the gate checks: ``fn`` on the case's inputs, marked as a
    :class:`_NoNand` when it never called nand (the count is recorded for the grader)."""
    counter = [0]
    with _counting_nand(fn, counter):
        value = fn(*case.args)
    return value if observed(fn, "nand calls", case.args, counter[0]) else _NoNand(value)


def _count_gates(fn, n_inputs):
    counts = []
    for row in neurons.binary_inputs(n_inputs):
        counter, args = [0], tuple(int(v) for v in row)
        with _counting_nand(fn, counter):
            fn(*args)
        counts.append(observed(fn, "nand calls", args, counter[0]))
    return max(counts)


def _compare_gate(got, expected):
    if isinstance(got, _NoNand):
        ok, why = compare(got.value, expected)
        return False, (f"got the right value {got.value!r} but computed without calling nand" if ok
                       else f"{why} (and computed without calling nand)")
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return False, f"expected a pair (sum, carry), got {got!r}"
    return compare(got, expected)


def _gate_cases(n_inputs):
    names = "ab"[:n_inputs]
    return [Case(tuple(int(v) for v in row),
                 label=", ".join(f"{n}={int(v)}" for n, v in zip(names, row)))
            for row in neurons.binary_inputs(n_inputs)]


_NAND_ONLY = ("build the gate from NAND perceptrons only: call nand(...) (and gates you built from "
              "it); Python's `not`, `and`, `or`, `^`, `&`, `|`, `1 - a` are not allowed here.")
_NO_NAND_RIGHT_VALUES = Mistake(_NAND_ONLY, when=lambda g, e, c: isinstance(g, _NoNand)
                                and compare(g.value, e)[0])
_NO_NAND = Mistake(_NAND_ONLY, when=lambda g, e, c: isinstance(g, _NoNand))


def _check_gate(fn, reference, name, n_inputs, mistakes, hint, fewest):
    """Check a gate on every input row; a wrong gate in ``mistakes`` is recognised by its truth
    table (nand or not), an answer that never calls nand is named as such."""
    tables = [dataclasses.replace(m, everywhere=True) for m in mistakes]   # 0/1 outputs: a whole
    result = evaluate_function(fn, reference, _gate_cases(n_inputs), name=name,   # table or nothing
                               mistakes=[_NO_NAND_RIGHT_VALUES, *tables, _NO_NAND], hint=hint,
                               compare_with=_compare_gate, call=_nand_gate, verbose=True)
    if not result.passed:
        return reference
    try:
        used = _count_gates(fn, n_inputs)
    except Exception:  # counting is a courtesy; the verdict stands
        return fn
    more = "" if used <= fewest else f"; it can be done with {fewest}"
    print(f"   {name} uses {used} NAND gate{'s' * (used != 1)} per evaluation{more}.")
    return fn


def _not(a):
    return neurons.nand(a, a)


def _and(a, b):
    return _not(neurons.nand(a, b))


def _or(a, b):
    return neurons.nand(_not(a), _not(b))


def _xor(a, b):
    n = neurons.nand(a, b)
    return neurons.nand(neurons.nand(a, n), neurons.nand(b, n))


def _half_adder(a, b):
    n = neurons.nand(a, b)
    return neurons.nand(neurons.nand(a, n), neurons.nand(b, n)), _not(n)


def _ints(fn):
    def wrapped(*args):
        out = fn(*args)
        return tuple(int(v) for v in out) if isinstance(out, tuple) else int(out)
    return wrapped


def _nand(a, b):
    return neurons.nand(a, b)


def _nor(a, b):
    return _not(_or(a, b))


def _xnor(a, b):
    return _not(_xor(a, b))


def not_gate(fn: Callable) -> Callable:
    """Check ``not_gate(a)`` built from nand: 0 -> 1, 1 -> 0."""
    return _check_gate(fn, _ints(_not), "not_gate", 1, [
        Mistake("you returned the input unchanged; NOT flips it. Hint: nand(a, a) = NOT (a AND a).",
                wrong=lambda a: a),
        Mistake("the output is always 1: nand(a, 0) is 1 whatever a is; feed a into both inputs.",
                wrong=lambda a: neurons.nand(a, 0)),
        Mistake("the output is always 0.", wrong=lambda a: _not(neurons.nand(a, 0))),
    ], "NOT a = nand(a, a).", fewest=1)


def and_gate(fn: Callable) -> Callable:
    """Check ``and_gate(a, b)`` built from nand."""
    return _check_gate(fn, _ints(_and), "and_gate", 2, [
        Mistake("that is NAND itself: AND is NOT NAND, so invert nand(a, b) with your not_gate.",
                wrong=_nand),
        Mistake("that is OR: OR is 1 when either input is 1, AND only when both are.", wrong=_or),
        Mistake("that is NOR (NOT OR).", wrong=_nor),
    ], "AND(a, b) = NOT(NAND(a, b)) = nand(nand(a, b), nand(a, b)).", fewest=2)


def or_gate(fn: Callable) -> Callable:
    """Check ``or_gate(a, b)`` built from nand."""
    return _check_gate(fn, _ints(_or), "or_gate", 2, [
        Mistake("that is NAND: OR needs the inputs inverted first, OR(a, b) = NAND(NOT a, NOT b) "
                "(De Morgan).", wrong=_nand),
        Mistake("that is AND: OR is 1 when at least one input is 1.", wrong=_and),
        Mistake("that is NOR: you inverted the output too; OR(a, b) = nand(not_gate(a), "
                "not_gate(b)).", wrong=_nor),
        Mistake("that is XOR: OR is also 1 when both inputs are 1.", wrong=_xor),
    ], "OR(a, b) = NAND(NOT a, NOT b) (De Morgan's law).", fewest=3)


def xor_gate(fn: Callable) -> Callable:
    """Check ``xor_gate(a, b)`` built from nand."""
    return _check_gate(fn, _ints(_xor), "xor_gate", 2, [
        Mistake("that is OR: XOR is 0 when both inputs are 1 (exclusive or). Combine OR with NAND: "
                "XOR(a, b) = AND(OR(a, b), NAND(a, b)).", wrong=_or),
        Mistake("that is NAND: XOR is 0 when both inputs are 0.", wrong=_nand),
        Mistake("that is XNOR (equality), the inverse of XOR: remove one inversion.", wrong=_xnor),
        Mistake("that is AND: XOR is 1 when exactly one input is 1.", wrong=_and),
    ], "XOR(a, b) = AND(OR(a, b), NAND(a, b)); with 4 NANDs: n = nand(a, b); "
       "nand(nand(a, n), nand(b, n)).", fewest=4)


def half_adder(fn: Callable) -> Callable:
    """Check ``half_adder(a, b) -> (sum, carry)`` built from nand: a + b = 2 * carry + sum."""
    return _check_gate(fn, _ints(_half_adder), "half_adder", 2, [
        Mistake("you swapped sum and carry: return (sum, carry) with sum = XOR(a, b) (the last "
                "binary digit of a + b) and carry = AND(a, b).",
                wrong=lambda a, b: (_and(a, b), _xor(a, b))),
        Mistake("your sum is OR(a, b): 1 + 1 = binary 10, so the sum digit must be 0 when both are "
                "1 (XOR).", wrong=lambda a, b: (_or(a, b), _and(a, b))),
        Mistake("your carry is NAND(a, b); the carry is AND(a, b) = NOT NAND(a, b).",
                wrong=lambda a, b: (_xor(a, b), _nand(a, b))),
        Mistake("your sum is XNOR; the sum digit is XOR(a, b).",
                wrong=lambda a, b: (_xnor(a, b), _and(a, b))),
    ], "sum = XOR(a, b), carry = AND(a, b); return them as a tuple (sum, carry).", fewest=5)


# --------------------------------------------------------------------------------------------
# Exercise: Rosenblatt's learning rule


def _learn(X, targets, epochs, lr, *, sign=1.0, bias=True, batch=False, stop=True, fire_at_zero=False):
    """Rosenblatt's rule and its likely mistakes (the keyword arguments switch one on)."""
    X, t = np.asarray(X, float), np.asarray(targets, float)
    w, b, errors = np.zeros(X.shape[1]), 0.0, []
    for _ in range(epochs):
        dw, db, wrong = np.zeros_like(w), 0.0, 0
        for x, target in zip(X, t):
            z = x @ w + b
            y = float(z >= 0) if fire_at_zero else float(z > 0)
            if y != target:
                wrong += 1
                step = sign * lr * (target - y)
                if batch:
                    dw, db = dw + step * x, db + step
                else:
                    w, b = w + step * x, b + (step if bias else 0.0)
        if batch:
            w, b = w + dw, b + (db if bias else 0.0)
        errors.append(wrong)
        if stop and wrong == 0:
            break
    return w, b, errors


def _perceptron_learning(X, targets, epochs=20, lr=1.0):
    return _learn(X, targets, epochs, lr)


def _learning_cases():
    rng = np.random.default_rng(3)
    X3 = rng.integers(0, 2, (8, 3)).astype(float)
    inputs = neurons.binary_inputs(2).astype(float)
    return [
        Case((inputs, np.array([1, 1, 1, 0])), label="NAND table"),
        Case((inputs, np.array([0, 0, 0, 1])), label="AND table"),
        Case((inputs, np.array([0, 1, 1, 0])), {"epochs": 8}, label="XOR table, 8 epochs"),
        Case((X3, (X3 @ np.array([1.0, -2.0, 1.0]) > -0.5).astype(int)), {"lr": 0.5},
             label="8 three-bit inputs, a separable rule, lr=0.5"),
    ]


def perceptron_learning(fn: Callable) -> Callable:
    """Check ``perceptron_learning(X, targets, epochs=20, lr=1.0) -> (w, b, errors)``.

    Rosenblatt's rule from w = 0, b = 0: for each example in order, when the output
    ``step(x @ w + b)`` differs from the target, ``w += lr * (target - y) * x`` and
    ``b += lr * (target - y)``; ``errors`` lists the examples misclassified in each epoch, and
    learning stops after the first epoch without one.
    """
    return fn if evaluate_function(
        fn, _perceptron_learning, _learning_cases(), name="perceptron_learning",
        mistakes=[
            Mistake("the update has the wrong sign: move w towards the input when the target is 1 "
                    "and the output 0 (target - y = +1), away from it in the opposite case.",
                    wrong=lambda X, t, epochs=20, lr=1.0: _learn(X, t, epochs, lr, sign=-1.0)),
            Mistake("the bias never changes: it is a weight whose input is always 1, so it is "
                    "updated by lr * (target - y) too.",
                    wrong=lambda X, t, epochs=20, lr=1.0: _learn(X, t, epochs, lr, bias=False)),
            Mistake("you add up the corrections and apply them once per epoch (batch learning); "
                    "Rosenblatt's rule updates right after each misclassified example.",
                    wrong=lambda X, t, epochs=20, lr=1.0: _learn(X, t, epochs, lr, batch=True)),
            Mistake("you go on after an epoch without mistakes: stop there, so `errors` ends with "
                    "its first 0.",
                    wrong=lambda X, t, epochs=20, lr=1.0: _learn(X, t, epochs, lr, stop=False)),
            Mistake("your step fires at z = 0 (>=): the perceptron outputs 1 only for z > 0.",
                    wrong=lambda X, t, epochs=20, lr=1.0: _learn(X, t, epochs, lr, fire_at_zero=True)),
        ],
        hint="loop over epochs, then over the rows of X; y = 1 if x @ w + b > 0 else 0; on a "
             "mistake w += lr * (t - y) * x, b += lr * (t - y); count the mistakes per epoch.",
    ).passed else _perceptron_learning
