"""Checkers of notebook 11: right answers pass, typical wrong answers are named, stubs are 'not done'."""
import numpy as np
import pytest

from cnncourse.checks import mil as C

keras = C.keras
ops = keras.ops


# ---------------------------------------------------------------------------- max / mean pooling


@pytest.mark.parametrize("answer, words", [
    (lambda p: ops.max(p, axis=0), ["axis 0"]),
    (lambda p: ops.max(p, axis=-1), ["last axis"]),
    (lambda p: ops.max(p), ["every axis"]),
    (lambda p: ops.max(p, axis=1, keepdims=True), ["keepdims"]),
    (lambda p: ops.mean(p, axis=1), ["the mean, not the max"]),
])
def test_max_pooling_mistakes(verdict, answer, words):
    assert C.max_pooling(answer) is C._max_pooling
    verdict("failed", *words)


def test_max_pooling_right_and_stub(verdict, stub):
    answer = lambda p: ops.max(p, axis=1)  # noqa: E731
    assert C.max_pooling(answer) is answer
    verdict("passed")
    assert C.max_pooling(stub) is C._max_pooling
    verdict("not done")


@pytest.mark.parametrize("answer, words", [
    (lambda p: ops.mean(p, axis=0), ["axis 0"]),
    (lambda p: ops.sum(p, axis=1), ["sum"]),
    (lambda p: ops.max(p, axis=1), ["the max, not the mean"]),
    (lambda p: ops.mean(p), ["every axis"]),
])
def test_mean_pooling_mistakes(verdict, answer, words):
    assert C.mean_pooling(answer) is C._mean_pooling
    verdict("failed", *words)


def test_mean_pooling_right_and_stub(verdict, stub):
    answer = lambda p: ops.sum(p, axis=1) / ops.shape(p)[1]  # noqa: E731
    assert C.mean_pooling(answer) is answer
    verdict("passed")
    assert C.mean_pooling(stub) is C._mean_pooling
    verdict("not done")


# ---------------------------------------------------------------------------- noisy-AND


def noisy_and_class(formula):
    class NoisyAnd(keras.layers.Layer):
        def __init__(self, a=10.0, **kwargs):
            super().__init__(**kwargs)
            self.a = float(a)

        def build(self, input_shape):
            self.b = self.add_weight(name="b", shape=(input_shape[-1],),
                                     initializer=keras.initializers.Constant(0.2))

        def call(self, p):
            return formula(self, p)

    return NoisyAnd


def _right(self, p):
    a, b = self.a, self.b
    m = ops.mean(p, axis=1)
    return (ops.sigmoid(a * (m - b)) - ops.sigmoid(-a * b)) / (
        ops.sigmoid(a * (1 - b)) - ops.sigmoid(-a * b))


def test_noisy_and_right_and_stub(verdict, stub):
    cls = noisy_and_class(_right)
    assert C.noisy_and(cls) is cls
    verdict("passed")
    assert C.noisy_and(noisy_and_class(lambda self, p: stub())) is C._NoisyAnd
    verdict("not done")


@pytest.mark.parametrize("formula, words", [
    (lambda self, p: ops.sigmoid(self.a * (ops.mean(p, axis=1) - self.b)), ["not normalised"]),
    (lambda self, p: (ops.sigmoid(self.a * (ops.mean(p, axis=0) - self.b)) - ops.sigmoid(-self.a * self.b))
     / (ops.sigmoid(self.a * (1 - self.b)) - ops.sigmoid(-self.a * self.b)), ["axis 0"]),
    (lambda self, p: (ops.sigmoid(self.a * (ops.max(p, axis=1) - self.b)) - ops.sigmoid(-self.a * self.b))
     / (ops.sigmoid(self.a * (1 - self.b)) - ops.sigmoid(-self.a * self.b)), ["max"]),
    (lambda self, p: ops.sigmoid(self.a * (ops.mean(p, axis=1) - self.b)) - ops.sigmoid(-self.a * self.b),
     ["divide"]),
])
def test_noisy_and_mistakes(verdict, formula, words):
    assert C.noisy_and(noisy_and_class(formula)) is C._NoisyAnd
    verdict("failed", *words)


# ---------------------------------------------------------------------------- attention


def attention_class(attention):
    class AttentionPooling(C._AttentionPooling):
        pass

    AttentionPooling.attention = attention
    return AttentionPooling


def _attention(self, h, axis=1, act=ops.tanh, gate=True, squeeze=True, norm="softmax"):
    e = act(ops.matmul(h, self.V))
    if self.gated and gate:
        e = e * ops.sigmoid(ops.matmul(h, self.U))
    s = ops.matmul(e, self.w)
    if squeeze:
        s = ops.squeeze(s, -1)
    if norm == "sigmoid":
        return ops.sigmoid(s)
    return ops.softmax(s, axis=axis) if squeeze else ops.squeeze(ops.softmax(s, axis=-1), -1)


def test_attention_right_and_stub(verdict, stub):
    cls = attention_class(_attention)
    assert C.attention_pooling(cls) is cls
    verdict("passed")
    assert C.attention_pooling(attention_class(lambda self, h: stub())) is C._AttentionPooling
    verdict("not done")


@pytest.mark.parametrize("kwargs, words", [
    (dict(axis=0), ["axis 0"]),
    (dict(squeeze=False), ["all 1"]),
    (dict(act=lambda x: x), ["tanh"]),
    (dict(gate=False), ["gate"]),
    (dict(norm="sigmoid"), ["sigmoid"]),
])
def test_attention_mistakes(verdict, kwargs, words):
    cls = attention_class(lambda self, h: _attention(self, h, **kwargs))
    assert C.attention_pooling(cls) is C._AttentionPooling
    verdict("failed", *words)


# ---------------------------------------------------------------------------- the MIL model


def build_right(instance_net, pooling, n_instances, head=None):
    shape = instance_net.input_shape[1:]
    bags = keras.Input((n_instances, *shape))
    flat = ops.reshape(bags, (-1, *shape))
    h = instance_net(flat)
    h = ops.reshape(h, (-1, n_instances, h.shape[-1]))
    z = pooling(h)
    return keras.Model(bags, head(z) if head is not None else z)


def build_mixed(instance_net, pooling, n_instances, head=None):
    shape = instance_net.input_shape[1:]
    bags = keras.Input((n_instances, *shape))
    flat = ops.reshape(ops.transpose(bags, (1, 0, *range(2, 2 + len(shape)))), (-1, *shape))
    h = instance_net(flat)
    h = ops.reshape(h, (-1, n_instances, h.shape[-1]))       # wrong order: bags mixed
    z = pooling(h)
    return keras.Model(bags, head(z) if head is not None else z)


def build_unshared(instance_net, pooling, n_instances, head=None):
    bags = keras.Input((n_instances, *instance_net.input_shape[1:]))
    outs = []
    for k in range(n_instances):
        dense = keras.layers.Dense(instance_net.output_shape[-1], activation="sigmoid")
        outs.append(dense(keras.layers.Flatten()(bags[:, k])))     # new weights per instance
    z = pooling(ops.stack(outs, axis=1))
    return keras.Model(bags, head(z) if head is not None else z)


def build_no_pool(instance_net, pooling, n_instances, head=None):
    bags = keras.Input((n_instances, *instance_net.input_shape[1:]))
    h = keras.layers.TimeDistributed(instance_net)(bags)
    return keras.Model(bags, head(h) if head is not None else h)


def build_no_head(instance_net, pooling, n_instances, head=None):
    bags = keras.Input((n_instances, *instance_net.input_shape[1:]))
    return keras.Model(bags, pooling(keras.layers.TimeDistributed(instance_net)(bags)))


def test_build_mil_model_right_and_stub(verdict, stub):
    assert C.build_mil_model(build_right) is build_right
    verdict("passed")
    assert C.build_mil_model(stub) is C._build_mil_model
    verdict("not done")


@pytest.mark.parametrize("answer, words", [
    (build_mixed, ["mixed"]),
    (build_unshared, ["not shared"]),
    (build_no_pool, ["instance axis"]),
    (build_no_head, ["head"]),
])
def test_build_mil_model_mistakes(verdict, answer, words):
    assert C.build_mil_model(answer) is C._build_mil_model
    verdict("failed", *words)


def test_reference_layers_round_trip(tmp_path):
    bags = keras.Input((4, 3))
    h = C._AttentionPooling(units=5, gated=True)(bags)
    p = C._NoisyAnd(a=7.0)(keras.layers.Dense(1, activation="sigmoid")(bags))
    model = keras.Model(bags, [h, p])
    x = np.random.default_rng(0).random((2, 4, 3), dtype=np.float32)
    path = tmp_path / "mil.keras"
    model.save(path)
    again = keras.models.load_model(path)
    for a, b in zip(model(x), again(x)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)


def build_cloned(instance_net, pooling, n_instances, head=None):
    """One copy of instance_net per instance, its weights copied: the same outputs, K times the
    weights (the exercise shares one network)."""
    bags = keras.Input((n_instances, *instance_net.input_shape[1:]))
    outs = []
    dense = instance_net.layers[-1]   # the test's instance_net: Flatten -> Dense
    for k in range(n_instances):
        copy = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(
            dense.units, activation=dense.activation)], name=f"copy_{k}")
        out = copy(bags[:, k])
        copy.set_weights(instance_net.get_weights())
        outs.append(out)
    z = pooling(ops.stack(outs, axis=1))
    return keras.Model(bags, head(z) if head is not None else z)


def test_build_mil_model_fails_copies_of_the_instance_network(verdict):
    assert C.build_mil_model(build_cloned) is C._build_mil_model
    verdict("failed", "weights, instance_net and head together", "not shared")
