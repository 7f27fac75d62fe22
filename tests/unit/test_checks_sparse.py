"""Checkers of notebook 13 (sparse convolution): correct, wrong and unsolved answers."""
import numpy as np
import pytest

from cnncourse.checks import sparse as S
from cnncourse.sparse import neighbor_table


def test_reference_rulebook_is_the_library_table():
    for case in S._RULEBOOK_CASES:
        coords = case.args[0]
        k = case.args[1] if len(case.args) > 1 else 3
        shape = tuple(coords[:, 1:].max(0) + 1)
        expected = neighbor_table(coords, shape, coords[:, 0].max() + 1, k)
        np.testing.assert_array_equal(S._reference_rulebook(*case.args), expected)


@pytest.mark.parametrize("wrong, words", [
    (lambda c, k=3: S._rulebook(c, k, centered=False), "off-by-one"),
    (lambda c, k=3: S._rulebook(c, k, batch=False), "different samples"),
    (lambda c, k=3: S._rulebook(c, k, centre=False), "centre offset"),
    (lambda c, k=3: S._rulebook(c, k, missing=-1), "not -1"),
    (lambda c, k=3: S._rulebook(c, k, order="xyz"), "wrong order"),
])
def test_build_rulebook_names_the_mistake(last, wrong, words):
    assert S.build_rulebook(wrong) is S._reference_rulebook
    assert last().status == "failed" and words in last().message


def test_build_rulebook_accepts_a_correct_answer_and_a_stub(last, stub):
    def mine(coords, kernel_size=3):
        coords = np.asarray(coords)
        return neighbor_table(coords, tuple(coords[:, 1:].max(0) + 3), coords[:, 0].max() + 1,
                              kernel_size)

    assert S.build_rulebook(mine) is mine and last().passed
    assert S.build_rulebook(stub) is S._reference_rulebook and last().status == "not done"


@pytest.mark.parametrize("wrong, words", [
    (S._conv_flipped, "flipped the kernel"),
    (S._conv_clip, "row of ZEROS"),
    (S._conv_channel_major, "different orders"),
])
def test_submanifold_conv_names_the_mistake(last, wrong, words):
    assert S.submanifold_conv(wrong) is S._reference_conv
    assert last().status == "failed" and words in last().message


def test_submanifold_conv_correct_stub_and_crash(last, stub):
    def mine(features, table, kernel):
        x = np.concatenate([features, np.zeros_like(features[:1])])
        return np.einsum("nkc,kcd->nd", x[table], kernel.reshape(table.shape[1], *kernel.shape[3:]))

    assert S.submanifold_conv(mine) is mine and last().passed
    assert S.submanifold_conv(stub) is S._reference_conv and last().status == "not done"
    S.submanifold_conv(lambda f, t, k: f[t])  # forgot the zero row: index N is out of range
    assert last().status in ("error", "failed")


def test_multiply_adds_value_check(last):
    right = (32**3 * 27 * 16 * 16, 500 * 27 * 16 * 16)
    assert S.multiply_adds(right, grid=32, sites=500) == right and last().passed
    S.multiply_adds((32**3 * 9 * 256, 500 * 9 * 256), grid=32, sites=500)
    assert "k**3 = 27" in last().message
    S.multiply_adds(right[::-1], grid=32, sites=500)
    assert "(dense, sparse)" in last().message
    assert S.multiply_adds(..., grid=32, sites=500) == right and last().status == "not done"


# ---- the sparse classifier ----------------------------------------------------------------------

def _net(widths=(8, 16, 32), dropout=0.3, *, conv=True, pool="max", bn=True, sigmoid=True,
         same_table=False, drop=True, extra=False):
    import keras

    from cnncourse import sparse

    inputs = sparse.network_input_layers(len(widths), 1)
    x = inputs["features"]
    for lev, width in enumerate(widths):
        table = inputs["neighbors_0" if same_table else f"neighbors_{lev}"]
        x = (sparse.SubmanifoldConv3D(width, 3, use_bias=False)(x, table) if conv
             else keras.layers.Dense(width, use_bias=False)(x))
        if bn:
            x = sparse.SparseBatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
        if lev < len(widths) - 1 and pool:
            layer = sparse.SparseMaxPool3D(2) if pool == "max" else sparse.SparseAvgPool3D(2)
            x = layer(x, inputs[f"down_{lev}"], inputs[f"up_{lev}"])
    x = sparse.SparseGlobalPool3D("avg_max")(x, inputs["batch_index"], inputs["samples"])
    if extra:
        x = keras.layers.ReLU()(x)   # harmless here (pooled ReLU outputs are >= 0), not asked for
    if drop:
        x = keras.layers.Dropout(dropout)(x)
    out = keras.layers.Dense(1, activation="sigmoid" if sigmoid else None)(x)
    return keras.Model(inputs, out)


def test_build_sparse_classifier(last, stub):
    assert S.build_sparse_classifier(_net) is _net and last().passed
    for kwargs, words in [(dict(conv=False), "never look at the neighbours"),
                          (dict(pool=None), "grid is kept"),
                          (dict(pool="avg"), "INACTIVE"),
                          (dict(bn=False), "batch normalisation is missing"),
                          (dict(sigmoid=False), "sigmoid is missing"),
                          (dict(same_table=True), "another level")]:
        def wrong(w=(8, 16, 32), d=0.3, kwargs=kwargs):
            return _net(w, d, **kwargs)

        assert S.build_sparse_classifier(wrong) is S._reference_classifier
        assert last().status == "failed" and words in last().message, last().message
    S.build_sparse_classifier(stub)
    assert last().status == "not done"


def test_build_sparse_classifier_refuses_the_library_network(last):
    from cnncourse.sparse.net import _build_sparse_classifier

    S.build_sparse_classifier(lambda w, d=0.3: _build_sparse_classifier(1, widths=w, dropout=d))
    assert last().status == "failed" and "library" in last().message, last().message
    assert "_build_sparse_classifier" in last().message, last().message  # named by library_shortcut
    S.build_sparse_classifier(lambda w, d=0.3: _build_sparse_classifier(1, widths=w, dropout=d,
                                                                         name="mine"))
    assert last().status == "failed" and "library" in last().message, last().message


# ---- the sparse classifier's layers: what the exercise lists, no more, no less (issue 28) -------

def test_build_sparse_classifier_fails_a_model_without_the_dropout(last):
    def no_dropout(w=(8, 16, 32), d=0.3):
        return _net(w, d, drop=False)

    assert S.build_sparse_classifier(no_dropout) is S._reference_classifier
    assert last().status == "failed", last().message
    assert "not the ones the exercise lists" in last().message
    assert "Dropout(dropout) is missing" in last().message, last().message


def test_build_sparse_classifier_fails_a_model_with_an_extra_layer_and_names_it(last):
    def extra_relu(w=(8, 16, 32), d=0.3):
        return _net(w, d, extra=True)

    assert S.build_sparse_classifier(extra_relu) is S._reference_classifier
    assert last().status == "failed", last().message
    assert "extra: a second ReLU after SparseGlobalPool3D('avg_max')" in last().message, last().message
