"""What crosses from a graded kernel to the grader (cnncourse.checks.record), the audit of answer
cells (cnncourse.tools.audit) and the grader's verdicts (cnncourse.tools.judge), without a kernel."""
import json

import numpy as np
import pytest

from cnncourse import checks
from cnncourse.checks import record
from cnncourse.tools import audit, judge

PLAIN = [None, True, 3, 2 ** 60, -0.5, float("nan"), float("inf"), 1 + 2j, "text", Ellipsis,
         np.float32(1.5), np.int64(7), np.arange(6, dtype=np.int16).reshape(2, 3),
         np.array([True, False]), (1, (2.0, "a")), [1, [2, 3]], {"a": 1, (1, 2): np.ones(2)}]


@pytest.mark.parametrize("value", PLAIN, ids=lambda v: type(v).__name__)
def test_plain_data_survives_json(value):
    back = record.decode(json.loads(json.dumps(record.encode(value))))
    assert type(back) is type(value)
    assert record.encode(back) == record.encode(value)


@pytest.mark.parametrize("value", [lambda: 1, object(), np.array([object()])], ids=["fn", "object", "objects"])
def test_what_is_not_plain_data_is_refused(value):
    with pytest.raises(record.Unencodable):
        record.encode(value)


def test_decoding_never_unpickles():
    import base64
    import io
    import pickle

    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    forged = {"__ndarray__": base64.b64encode(buffer.getvalue()).decode()}
    with pytest.raises(ValueError, match="allow_pickle"):
        record.decode(forged)
    assert pickle  # (the forged bytes are a pickle; np.load refuses them)


def test_fingerprints_name_the_arguments():
    a = np.arange(4.0)
    assert record.fingerprint((a, 1), {"k": 2}) == record.fingerprint((a.copy(), 1), {"k": 2})
    assert record.fingerprint((a, 1), {}) != record.fingerprint((a.astype(np.float32), 1), {})
    assert record.fingerprint((a,), {}) != record.fingerprint((a[::-1],), {})
    assert record.fingerprint((np.sum,), {}) == record.fingerprint((np.sum,), {})


def test_a_replay_returns_what_was_recorded_and_refuses_the_rest(monkeypatch):
    monkeypatch.setenv(record.GRADING_ENV, "1")

    def square(x):
        if x < 0:
            raise ValueError("negative")
        return np.array([x * x])

    recorded = record.record_answer("square", square)
    assert recorded(3)[0] == 9
    with pytest.raises(ValueError):
        recorded(-1)
    entry = json.loads(json.dumps(recorded.transcript()))
    replay = record.replay_answer("square", entry)
    assert replay(3)[0] == 9
    with pytest.raises(ValueError, match="negative"):
        replay(-1)
    with pytest.raises(record.Unrecorded):
        replay(4)
    assert replay.missing == 1
    assert record.unwrap(recorded) is square


def test_a_replay_returns_changing_results_in_order(monkeypatch):
    """An answer that returns something else on a second identical call (an unseeded sampler)
    does so in the replay too."""
    monkeypatch.setenv(record.GRADING_ENV, "1")
    rng = np.random.default_rng()
    recorded = record.record_answer("sample", lambda n: rng.integers(0, 1000, n))
    first, second, third = recorded(5), recorded(5), recorded(5)
    replay = record.replay_answer("sample", json.loads(json.dumps(recorded.transcript())))
    assert [replay(5).tolist() for _ in range(3)] == [first.tolist(), second.tolist(), third.tolist()]
    same = record.record_answer("same", lambda n: np.arange(n))
    for _ in range(4):
        same(3)
    assert [len(v) for v in same.transcript()["calls"].values()] == [1]


def test_a_checker_judges_a_replay_like_the_function(monkeypatch):
    """The grader's verdict on a replay equals the kernel's on the function, right or wrong."""
    monkeypatch.setenv(record.GRADING_ENV, "1")
    for sigmoid, passes in ((lambda z: np.exp(-np.logaddexp(0, -np.asarray(z, float))), True),
                            (lambda z: 1 / (1 + np.exp(-np.asarray(z, float))), False),  # overflows
                            (lambda z: np.tanh(z), False)):
        recorded = record.record_answer("sigmoid", sigmoid)
        kernel = checks.activations.sigmoid(recorded) is recorded
        replay = record.replay_answer("sigmoid", json.loads(json.dumps(recorded.transcript())))
        grader = checks.activations.sigmoid(replay) is replay
        assert kernel == grader == passes


@pytest.mark.parametrize("source, expected", [
    ("import cnncourse.tools.grading as g\ng.configure = None", "imports cnncourse.tools.grading"),
    ("from cnncourse import checks as c\nc.history = list", "imports cnncourse.checks"),
    ("import sys\nsys.modules.clear()", "imports sys"),
    ("np.allclose = lambda *a, **k: True", "sets an attribute of `np`"),
    ("x = np\nx.isclose = None", "sets an attribute of `x`"),
    ("checks = None", "rebinds the notebook's name `checks`"),
    ("import numpy as checks", "rebinds the notebook's name `checks`"),
    ("def sigmoid(z):\n    return neurons.sigmoid(z)", "calls the course's own `neurons.sigmoid`"),
    ("def sigmoid(z):\n    return neurons._sigmoid(z)", "calls the course's own `neurons._sigmoid`"),
    ("from cnncourse.neurons import sigmoid", "imports the course's own `sigmoid`"),
    ("f = getattr(np, 'sum')", "uses `getattr`"),
    ("exec('x = 1')", "uses `exec`"),
    ("exit()", "uses `exit`"),
    ("%time x = 1", "uses `get_ipython`"),
    ("y = np.__dict__", "reaches the attribute `__dict__`"),
    ("globals()['checks'] = None", "uses `globals`"),
])
def test_the_audit_names_what_reaches_outside_the_answer(source, expected):
    found = audit.audit_answer(source, notebook={"np", "checks", "neurons"},
                               course_modules={"checks", "neurons"}, exercises={"sigmoid"})
    assert any(expected in str(f) for f in found), found


@pytest.mark.parametrize("source", [
    "def conv(x, k):\n    out = np.zeros(3)\n    out[0] = 1\n    return out",
    "def grad(f, x):\n    x[0] += 1e-6\n    return f(x)",
    "class Layer(keras.layers.Layer):\n    def __init__(self):\n        super().__init__()\n"
    "        self.a = 10\n",
    "def head(m):\n    f = keras.Model(m.input, m.output)\n    f.trainable = False\n    return f",
    "this is not python (",
])
def test_the_audit_accepts_plain_answers(source):
    assert audit.audit_answer(source, notebook={"np", "keras"}, course_modules=set()) == []


def test_every_solution_answer_cell_passes_the_audit():
    import nbformat

    from cnncourse import config

    for path in sorted(config.SOLUTIONS_DIR.glob("*.ipynb")):
        findings = judge.audit_notebook(nbformat.read(path, as_version=4).cells)
        assert not any(findings.values()), (path.name, findings)


def _cell(gid, source, solution=False):
    return {"cell_type": "code", "source": source, "outputs": [],
            "metadata": {"nbgrader": {"grade_id": gid, "solution": solution, "grade": not solution}}}


def test_rebuild_takes_only_answer_cells_from_the_submission():
    release = [_cell("", "import numpy as np"), _cell("answer-1", "def f(): ...", True),
               _cell("check-1", "f = checks.t.f(f)"), _cell("check-2", "g = checks.t.g(g)")]
    submitted = [_cell("", "import fake as np"), _cell("answer-1", "def f(): return 1", True),
                 _cell("check-1", "f = f"), _cell("", "extra()")]
    cells, notes = judge.rebuild(release, submitted)
    assert [c["source"] for c in cells] == ["import numpy as np", "def f(): return 1",
                                            "f = checks.t.f(f)", "g = checks.t.g(g)"]
    assert any("check-1 was edited" in n for n in notes) and any("check-2 was deleted" in n for n in notes)


def test_a_check_cell_without_a_record_gets_no_credit():
    [v] = judge.judge_cell("check-1", "f = checks.activations.sigmoid(f)", [], trust_kernel=True)
    assert not v.passed and v.judged == "none"
    outputs = judge.graded_outputs([v], 1.0)
    assert outputs[-1]["output_type"] == "error"
