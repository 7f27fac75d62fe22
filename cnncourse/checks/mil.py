"""Checks for notebook 11 (multiple-instance learning): max and mean pooling over the instances,
Kraus's noisy-AND layer, Ilse's attention pooling, and the model that shares one instance network
across the instances of a bag.

Shapes used throughout: a batch of ``B`` bags of ``K`` instances; ``p`` (B, K, C) instance
probabilities (C classes, here 1), ``h`` (B, K, D) instance embeddings. A MIL pooling maps
(B, K, C) to (B, C): it reduces over axis 1, the instances, never over axis 0, the bags.

The reference layers below are what the checks compare with and what a notebook falls back on
when an exercise is not done yet.
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np

from cnncourse.checks import Case, Mistake, compare, evaluate_function
from cnncourse.device import import_keras

keras = import_keras()
ops = keras.ops

__all__ = ["max_pooling", "mean_pooling", "noisy_and", "attention_pooling", "build_mil_model"]


def _np(x) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _as_array(fn, case):
    """The pooling checks' ``call``: ``fn`` on the case, its result as a float64 array."""
    return _np(fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs)))


def _wrongs(pairs):
    """``Mistake(message, wrong=implementation)`` for ``(message, implementation)`` pairs."""
    return [Mistake(message, wrong=wrong) for message, wrong in pairs]


# --------------------------------------------------------------------------------------------
# Reference implementations (keras.ops, so they work inside a Keras model)


def _max_pooling(p):
    """(B, K, C) -> (B, C): the largest instance probability of each bag."""
    return ops.max(p, axis=1)


def _mean_pooling(p):
    """(B, K, C) -> (B, C): the mean instance probability of each bag."""
    return ops.mean(p, axis=1)


@keras.saving.register_keras_serializable(package="cnncourse", name="MILNoisyAnd")
class _NoisyAnd(keras.layers.Layer):
    """Noisy-AND pooling (Kraus, Ba & Frey 2016): (B, K, C) probabilities -> (B, C).

    ``P = [sigmoid(a (mean_k p - b)) - sigmoid(-a b)] / [sigmoid(a (1 - b)) - sigmoid(-a b)]`` with
    a fixed slope ``a`` and a learnable threshold ``b`` per class; P is 0 when every instance
    says 0 and 1 when every instance says 1.
    """

    def __init__(self, a=10.0, b_init=0.2, **kwargs):
        super().__init__(**kwargs)
        self.a, self.b_init = float(a), float(b_init)

    def build(self, input_shape):
        self.b = self.add_weight(name="b", shape=(input_shape[-1],),
                                 initializer=keras.initializers.Constant(self.b_init))

    def call(self, p):
        a, b = self.a, self.b
        mean = ops.mean(p, axis=1)                                     # (B, C)
        low, high = ops.sigmoid(-a * b), ops.sigmoid(a * (1.0 - b))    # (C,)
        return (ops.sigmoid(a * (mean - b)) - low) / (high - low)

    def get_config(self):
        return {**super().get_config(), "a": self.a, "b_init": self.b_init}


@keras.saving.register_keras_serializable(package="cnncourse", name="MILAttentionPooling")
class _AttentionPooling(keras.layers.Layer):
    """Attention pooling (Ilse, Tomczak & Welling 2018): (B, K, D) embeddings -> (B, D).

    ``a_k = softmax_k(w^T (tanh(V h_k) * sigmoid(U h_k)))`` (the gate only when ``gated``), and the
    bag embedding is ``sum_k a_k h_k``. :meth:`attention` returns the weights, shape (B, K).
    """

    def __init__(self, units=16, gated=False, **kwargs):
        super().__init__(**kwargs)
        self.units, self.gated = int(units), bool(gated)

    def build(self, input_shape):
        d = input_shape[-1]
        self.V = self.add_weight(name="V", shape=(d, self.units), initializer="glorot_uniform")
        self.w = self.add_weight(name="w", shape=(self.units, 1), initializer="glorot_uniform")
        if self.gated:
            self.U = self.add_weight(name="U", shape=(d, self.units), initializer="glorot_uniform")

    def attention(self, h):
        e = ops.tanh(ops.matmul(h, self.V))                            # (B, K, units)
        if self.gated:
            e = e * ops.sigmoid(ops.matmul(h, self.U))
        scores = ops.squeeze(ops.matmul(e, self.w), axis=-1)           # (B, K)
        return ops.softmax(scores, axis=1)

    def call(self, h):
        a = self.attention(h)                                          # (B, K)
        return ops.sum(a[:, :, None] * h, axis=1)                      # (B, D)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "gated": self.gated}


def _build_mil_model(instance_net, pooling, n_instances, head=None):
    """Bags (B, K, *patch_shape) -> one shared ``instance_net`` per instance -> ``pooling`` ->
    optional ``head``."""
    bags = keras.Input((n_instances, *instance_net.input_shape[1:]), name="bags")
    h = keras.layers.TimeDistributed(instance_net, name="instances")(bags)   # (B, K, C)
    z = pooling(h)                                                           # (B, C)
    if head is not None:
        z = head(z)
    return keras.Model(bags, z, name="mil")


# --------------------------------------------------------------------------------------------
# max and mean pooling


def _p_cases():
    rng = np.random.default_rng(11)
    return [
        Case((rng.random((2, 4, 1)).astype(np.float32),), label="p of shape (B=2, K=4, C=1)"),
        Case((rng.random((3, 3, 1)).astype(np.float32),), label="p of shape (B=3, K=3, C=1)"),
        Case((rng.random((4, 5, 2)).astype(np.float32),), label="p of shape (B=4, K=5, C=2)"),
        Case((np.array([[[0.1], [0.9], [0.2]], [[0.0], [0.0], [0.3]]], np.float32),),
             label="p = [[0.1, 0.9, 0.2], [0, 0, 0.3]] (B=2, K=3, C=1)"),
    ]


def _pooling_mistakes(extra=()):
    pairs = [
        ("you reduced over axis 0, the bags of the batch: every bag then gets the same numbers "
         "from the other bags. The instances of a bag are on axis 1.",
         lambda p: _np(p).max(axis=0) if "max" in extra else _np(p).mean(axis=0)),
        ("you reduced over the last axis (the classes); the instances are on axis 1.",
         lambda p: _np(p).max(axis=-1) if "max" in extra else _np(p).mean(axis=-1)),
        ("you reduced over every axis at once (no `axis=`): one number for the whole batch.",
         lambda p: _np(p).max() if "max" in extra else _np(p).mean()),
        ("keepdims: the result should be (B, C), not (B, 1, C).",
         lambda p: _np(p).max(axis=1, keepdims=True) if "max" in extra
         else _np(p).mean(axis=1, keepdims=True)),
    ]
    if "max" in extra:
        pairs.append(("that is the mean, not the max.", lambda p: _np(p).mean(axis=1)))
    else:
        pairs += [("that is the sum over the instances; divide by their number K (mean).",
                   lambda p: _np(p).sum(axis=1)),
                  ("that is the max, not the mean.", lambda p: _np(p).max(axis=1))]
    return _wrongs(pairs)


def max_pooling(fn: Callable) -> Callable:
    """Check ``max_pooling(p)``: (B, K, C) -> (B, C), the largest probability over the instances."""
    result = evaluate_function(fn, _max_pooling, _p_cases(), name="max_pooling", rtol=1e-5,
                               atol=1e-6, call=_as_array, mistakes=_pooling_mistakes(extra=("max",)),
                               hint="keras.ops.max(p, axis=1)")
    return fn if result.passed else _max_pooling


def mean_pooling(fn: Callable) -> Callable:
    """Check ``mean_pooling(p)``: (B, K, C) -> (B, C), the mean probability over the instances."""
    result = evaluate_function(fn, _mean_pooling, _p_cases(), name="mean_pooling", rtol=1e-5,
                               atol=1e-6, call=_as_array, mistakes=_pooling_mistakes(),
                               hint="keras.ops.mean(p, axis=1)")
    return fn if result.passed else _mean_pooling


# --------------------------------------------------------------------------------------------
# noisy-AND


def _noisy_and_np(p, a, b, *, normalise=True, axis=1, reduce="mean"):
    p, b = _np(p), np.asarray(b, np.float64)
    m = p.max(axis=axis) if reduce == "max" else p.mean(axis=axis)
    out = _sigmoid(a * (m - b))
    if normalise:
        low, high = _sigmoid(-a * b), _sigmoid(a * (1 - b))
        out = (out - low) / (high - low)
    return out


def _noisy_and_cases():
    rng = np.random.default_rng(12)
    return [
        Case((rng.random((3, 4, 1)).astype(np.float32), 10.0, [0.3]),
             label="p of shape (B=3, K=4, C=1), a=10, b=[0.3]"),
        Case((np.stack([np.zeros((5, 1)), np.ones((5, 1))]).astype(np.float32), 10.0, [0.4]),
             label="two bags: every instance 0, every instance 1 (a=10, b=[0.4])"),
        Case((rng.random((2, 6, 2)).astype(np.float32), 5.0, [0.2, 0.6]),
             label="p of shape (B=2, K=6, C=2), a=5, b=[0.2, 0.6]"),
        Case((rng.random((4, 4, 1)).astype(np.float32), 10.0, [0.5]),
             label="p of shape (B=4, K=4, C=1), a=10, b=[0.5]"),
    ]


def _layer_b(layer):
    b = getattr(layer, "b", None)
    if b is None:
        weights = [w for w in layer.weights if len(w.shape) == 1]
        if len(weights) != 1:
            raise ValueError("the layer needs one weight `self.b` of shape (n_classes,)")
        b = weights[0]
    return b


def noisy_and(cls: type) -> type:
    """Check a ``NoisyAnd(a=...)`` layer class: (B, K, C) probabilities -> (B, C).

    The layer is built on each case, its threshold ``b`` set to the case's values, and its output
    compared with Kraus's formula. Returns ``cls`` if right, else the reference layer class.
    """
    def call(impl, case):
        """A layer class is built on the case and its ``b`` set; a wrong implementation (a
        function of (p, a, b)) is called."""
        p, a, b = copy.deepcopy(case.args)
        if not isinstance(impl, type):
            return _np(impl(p, a, b))
        layer = impl(a=a)
        layer.build(p.shape)
        _layer_b(layer).assign(np.asarray(b, np.float32))
        return _np(layer(p))

    pairs = [
        ("not normalised: sigmoid(a (mean - b)) alone is not 0 when every instance is 0, nor 1 "
         "when every instance is 1. Subtract sigmoid(-a b) and divide by "
         "sigmoid(a (1 - b)) - sigmoid(-a b).",
         lambda p, a, b: _noisy_and_np(p, a, b, normalise=False)),
        ("you averaged over axis 0, the bags of the batch; the mean is over the instances "
         "(axis 1).", lambda p, a, b: _noisy_and_np(p, a, b, axis=0)),
        ("you used the max over the instances; noisy-AND pools their *mean*.",
         lambda p, a, b: _noisy_and_np(p, a, b, reduce="max")),
        ("only the numerator was shifted: divide by sigmoid(a (1 - b)) - sigmoid(-a b) too.",
         lambda p, a, b: _noisy_and_np(p, a, b, normalise=False) - _sigmoid(-a * np.asarray(b))),
    ]
    result = evaluate_function(
        cls, _NoisyAnd, _noisy_and_cases(), name="NoisyAnd", rtol=1e-4, atol=1e-5, call=call,
        mistakes=_wrongs(pairs),
        hint="mean = keras.ops.mean(p, axis=1); then Kraus's formula with keras.ops.sigmoid, "
             "self.a and self.b.")
    return cls if result.passed else _NoisyAnd


# --------------------------------------------------------------------------------------------
# attention pooling


def _attention_np(h, V, w, U=None, *, axis=1, tanh=True, normalise="softmax"):
    h = _np(h)
    e = h @ V
    e = np.tanh(e) if tanh else e
    if U is not None:
        e = e * _sigmoid(h @ U)
    s = (e @ w)[..., 0]                                                # (B, K)
    if normalise == "sigmoid":
        return _sigmoid(s)
    if normalise == "none":
        return s
    s = s - s.max(axis=axis, keepdims=True)
    return np.exp(s) / np.exp(s).sum(axis=axis, keepdims=True)


def _attention_cases():
    rng = np.random.default_rng(13)

    def case(b, k, d, units, gated, label):
        h = rng.normal(0, 1.0, (b, k, d)).astype(np.float32)
        V = rng.normal(0, 0.8, (d, units)).astype(np.float32)
        w = rng.normal(0, 1.0, (units, 1)).astype(np.float32)
        U = rng.normal(0, 0.8, (d, units)).astype(np.float32) if gated else None
        return Case((h, V, w, U), label=f"h of shape (B={b}, K={k}, D={d}), units={units}, "
                    f"gated={gated} ({label})")

    return [case(2, 5, 3, 4, False, "plain"), case(3, 3, 4, 6, False, "B = K"),
            case(2, 4, 3, 5, True, "gated"), case(4, 4, 2, 3, True, "gated, B = K")]


def _both(a, h):
    return {"attention": a, "pooled": (a[..., None] * _np(h)).sum(axis=1)}


def attention_pooling(cls: type) -> type:
    """Check an ``AttentionPooling(units, gated)`` layer class whose ``attention(h)`` returns the
    weights (B, K) and whose call returns the weighted sum of the embeddings (B, D).

    The layer's V, w (and U) are set to the case's values; both outputs are compared with Ilse
    et al.'s formula. Returns ``cls`` if right, else the reference layer class.
    """
    def call(impl, case):
        """A layer class is built on the case with its V, w (and U) set; a wrong implementation
        (a function of (h, V, w, U)) is called."""
        h, V, w, U = copy.deepcopy(case.args)
        if not isinstance(impl, type):
            return impl(h, V, w, U)
        layer = impl(units=V.shape[1], gated=U is not None)
        layer.build(h.shape)
        layer.V.assign(V)
        layer.w.assign(w)
        if U is not None:
            layer.U.assign(U)
        return {"attention": _np(layer.attention(h)), "pooled": _np(layer(h))}

    def wrong(**kw):
        return lambda h, V, w, U: _both(_attention_np(h, V, w, U, **kw), h)

    pairs = [
        ("softmax over axis 0, the bags of the batch: the weights of each bag must sum to 1 over "
         "its K instances (axis 1 of the (B, K) scores).", wrong(axis=0)),
        ("the weights are all 1: a softmax over the last axis of (B, K, 1) scores normalises over "
         "a single number. Squeeze the scores to (B, K) first, then softmax over axis 1.",
         lambda h, V, w, U: _both(np.ones(_np(h).shape[:2]), h)),
        ("the tanh is missing: a_k = softmax(w^T tanh(V h_k)).", wrong(tanh=False)),
        ("a sigmoid of the scores is not attention: the weights must be a softmax over the "
         "instances, summing to 1 in each bag.", wrong(normalise="sigmoid")),
        ("the scores are not normalised: apply a softmax over the instances (axis 1).",
         wrong(normalise="none")),
        ("with gated=True, multiply tanh(h V) elementwise by the gate sigmoid(h U) before w.",
         lambda h, V, w, U: _both(_attention_np(h, V, w, None), h)),
    ]
    result = evaluate_function(
        cls, _AttentionPooling, _attention_cases(), name="AttentionPooling", rtol=1e-4,
        atol=1e-5, call=call, mistakes=_wrongs(pairs),
        hint="e = tanh(h @ V) (times sigmoid(h @ U) if gated), scores = squeeze(e @ w, -1), "
             "a = softmax(scores, axis=1).")
    return cls if result.passed else _AttentionPooling


# --------------------------------------------------------------------------------------------
# the MIL model: one instance network shared across the instances


def _instance_net(patch, width, seed):
    keras.utils.set_random_seed(seed)
    L = keras.layers
    return keras.Sequential([keras.Input(patch), L.Flatten(), L.Dense(width, activation="sigmoid",
                                                                       name="instance_dense")],
                            name="instance_net")


def _mil_case_parts(bags_shape, width, pooling, with_head, seed):
    net = _instance_net(bags_shape[2:], width, seed)
    head = None
    if with_head:
        head = keras.layers.Dense(1, activation="sigmoid", name="bag_head")
        head.build((None, width))
        head.set_weights([np.linspace(-1, 1, width, dtype=np.float32)[:, None],
                          np.array([0.1], np.float32)])
    x = np.random.default_rng(seed).random(bags_shape, dtype=np.float32)
    return net, {"max": _max_pooling, "mean": _mean_pooling}[pooling], head, x


def _mil_cases():
    return [
        Case(((3, 5, 4, 4, 2), 1, "mean", False, 0),
             label="3 bags of 5 instances of 4x4x2, instance net Dense(1), mean pooling"),
        Case(((2, 4, 3, 3, 1), 1, "max", False, 1),
             label="2 bags of 4 instances of 3x3x1, instance net Dense(1), max pooling"),
        Case(((4, 4, 2, 2, 3), 3, "mean", True, 2),
             label="4 bags of 4 instances, instance net Dense(3) embeddings, mean pooling, "
                   "head Dense(1)"),
    ]


def _mil_summary(builder, case) -> dict:
    """The MIL-model check's ``call``: build the model for the case; a plain summary of it: its
    outputs on the case's bags (``out``) and with bag 0 changed (``out_bag0_changed``), its
    parameter count (``params``) and that of ``instance_net`` and ``head`` (``shared_params``)."""
    bags_shape, width, pooling, with_head, seed = case.args
    net, pool, head, x = _mil_case_parts(bags_shape, width, pooling, with_head, seed)
    model = (builder(net, pool, bags_shape[1], head) if with_head
             else builder(net, pool, bags_shape[1]))
    if not hasattr(model, "count_params") or not hasattr(model, "predict"):
        raise TypeError(f"expected a keras.Model, got {type(model).__name__}")
    changed = x.copy()
    changed[0] = 1.0 - changed[0]
    return {"out": _np(model(x)), "out_bag0_changed": _np(model(changed)),
            "params": int(model.count_params()),
            "shared_params": int(net.count_params() + (head.count_params() if head is not None else 0))}


def _same_mil(got, expected):
    ok, why = compare(got["out"], expected["out"], rtol=1e-4, atol=1e-5)
    if ok and got["params"] != got["shared_params"]:
        return False, (f"it has {got['params']:,} weights, instance_net and head together "
                       f"{got['shared_params']:,}")
    return ok, why


def _expected(bags_shape, width, pooling, with_head, seed):
    net, pool, head, x = _mil_case_parts(bags_shape, width, pooling, with_head, seed)
    b, k = bags_shape[:2]
    h = _np(net(x.reshape(b * k, *bags_shape[2:]))).reshape(b, k, -1)
    z = _np(pool(h))
    return _np(head(z)) if head is not None else z


def _diagnose_mil(got, expected, case) -> list[str]:
    """Finding codes for a failing case (see the mistakes of :func:`build_mil_model`)."""
    g, e, g2 = got["out"], expected["out"], got["out_bag0_changed"]
    bags_shape, width, pooling, with_head, seed = case.args
    b, k = bags_shape[:2]
    checks = {
        "mixes_bags": g.shape == g2.shape and not np.allclose(g[1:], g2[1:], atol=1e-6),
        "not_shared": got["params"] > got["shared_params"],
        "no_pooling": g.ndim == e.ndim + 1 and g.shape[:1] == e.shape[:1],
        "pooled_batch": g.ndim >= 1 and g.shape[0] == k and k != b,
        "head_ignored": bool(with_head) and np.shape(g) == np.shape(e) and np.allclose(
            g, _expected(bags_shape, width, pooling, False, seed), atol=1e-5),
    }
    return [code for code, yes in checks.items() if yes]


def build_mil_model(fn: Callable) -> Callable:
    """Check ``build_mil_model(instance_net, pooling, n_instances, head=None)``: a Keras model
    taking bags (B, K, H, W, C), applying the *same* ``instance_net`` to every instance (its
    weights shared: the model has exactly the weights of ``instance_net`` and ``head``), pooling
    over the instances, then ``head`` if given."""
    result = evaluate_function(
        fn, _build_mil_model, _mil_cases(), name="build_mil_model", call=_mil_summary,
        compare_with=_same_mil, diagnose=_diagnose_mil,
        mistakes=[
            Mistake("instances of different bags are mixed: changing bag 0 changed the output of "
                    "other bags. Reshape (B, K, H, W, C) -> (B*K, H, W, C) and back to (B, K, ...) "
                    "in the same order, or use keras.layers.TimeDistributed(instance_net).",
                    finding="mixes_bags"),
            Mistake("the instance network is not shared: the model has more weights than "
                    "instance_net (and head). Apply the one `instance_net` to every instance "
                    "(TimeDistributed), do not build a network per instance.", finding="not_shared"),
            Mistake("the output still has an instance axis: apply `pooling` to the (B, K, C) "
                    "instance outputs to get one row per bag.", finding="no_pooling"),
            Mistake("the output has K rows, not B: the pooling ran over the batch axis.",
                    finding="pooled_batch"),
            Mistake("`head` was given but not applied to the pooled bag vector.",
                    finding="head_ignored"),
        ],
        hint="bags = keras.Input((n_instances, *instance_net.input_shape[1:])); "
             "h = keras.layers.TimeDistributed(instance_net)(bags); z = pooling(h); "
             "z = head(z) if head is given; return keras.Model(bags, z).")
    return fn if result.passed else _build_mil_model
