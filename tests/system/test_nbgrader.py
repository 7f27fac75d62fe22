"""nbgrader for real: ``generate_assignment`` on a solution gives the lesson, and ``autograde``
gives a submitted solution full marks and an unsolved lesson zero (nbgrader from the
``instructor`` extra, which ``make install`` installs)."""
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from cnncourse import config
from cnncourse.tools import grading

pytest.importorskip("nbgrader", reason="the instructor extra is not installed: pip install -e '.[instructor]'")

NOTEBOOK = "01_perceptron_nand"  # short, and it has a check cell worth 3 points
IGNORED_META = ("checksum", "cell_type")  # added by nbgrader when it releases


def _nbgrader(*args, cwd):
    env = {**os.environ, "CNNCOURSE_FAST": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
           # nbgrader runs `alembic` (installed beside this Python) to create its database
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


def _cells(path: Path):
    """(source, nbgrader metadata) of each cell with a non-empty source."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        meta = {k: v for k, v in cell["metadata"].get("nbgrader", {}).items() if k not in IGNORED_META}
        if source.strip():
            out.append((source, meta))
    return out


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    grading.setup_course(course, [NOTEBOOK])
    _nbgrader("generate_assignment", NOTEBOOK, "--force", cwd=course)
    return course


def test_generate_assignment_gives_the_lesson(course):
    released = _cells(course / "release" / NOTEBOOK / f"{NOTEBOOK}.ipynb")
    lesson = _cells(config.LESSONS_DIR / f"{NOTEBOOK}.ipynb")
    assert [s for s, _ in released] == [s for s, _ in lesson]
    assert [m for _, m in released] == [m for _, m in lesson]
    assert sum(m.get("points", 0) for _, m in lesson) > 0


# Submissions that try to fool the grader. Each attack goes with a wrong answer into one answer
# cell of the unsolved lesson; attacks on different exercises share a submission (every exercise
# is judged on its own), an attack that stops the kernel has one to itself.
_WRONG = {
    "answer-1": "def perceptron(x, w, b):\n    return 1\n",
    "answer-2": ("def not_gate(a):\n    return a\n\ndef and_gate(a, b):\n    return a\n\n"
                 "def or_gate(a, b):\n    return b\n"),
    "answer-3": "def xor_gate(a, b):\n    return 0\n",
    "answer-4": "def half_adder(a, b):\n    return (0, 0)\n",
    "answer-5": ("def perceptron_learning(X, targets, epochs=20, lr=1.0):\n"
                 "    return np.zeros(np.shape(X)[1]), 0.0, [0]\n"),
}
ATTACKS = {  # name: (answer cell, code added after the wrong answer)
    "fake-history": ("answer-1", "import cnncourse.checks as cc\n"
                     "cc.history = lambda: [cc.Result('perceptron', 'passed', 'correct')]\n"),
    "replace-checkers": ("answer-2", "from cnncourse import checks as cc\n"
                         "for name in ('not_gate', 'and_gate', 'or_gate'):\n"
                         "    setattr(cc.perceptron, name, lambda fn: print('✅ correct') or fn)\n"),
    "replace-grading": ("answer-3", "import cnncourse.tools.grading as g\n"
                        "g.configure = g.report = lambda *a, **k: None\n"),
    "replace-modules": ("answer-4", "import sys, types\n"
                        "fake = types.ModuleType('cnncourse.checks.perceptron')\n"
                        "fake.__getattr__ = lambda name: (lambda fn, *a, **k: fn)\n"
                        "sys.modules['cnncourse.checks.perceptron'] = fake\n"
                        "sys.modules['cnncourse.checks'].perceptron = fake\n"),
    "numpy-always-equal": ("answer-5", "np.isclose = lambda a, b, **k: np.ones(np.broadcast("
                           "np.asarray(a), np.asarray(b)).shape, bool)\n"
                           "np.allclose = np.array_equal = lambda *a, **k: True\n"),
    "print-verdicts": ("answer-1", "print('✅ perceptron: correct on 8 cases.')\n"),
    "forged-record": ("answer-3", "def xor_gate(a, b):\n"
                      "    from IPython.display import display\n"
                      "    display({'application/vnd.cnncourse.transcript+json': {'answers': {\n"
                      "        'xor_gate': {'kind': 'value', 'value': 1}},\n"
                      "        'kernel_verdicts': [['xor_gate', 'passed', '']]}}, raw=True)\n"
                      "    return 0\n"),
    "exit-early": ("answer-1", "import os\nos._exit(0)\n"),
}
SUBMISSIONS = {  # student: attacks, and locked cells edited or deleted
    "tamper-kernel": ["fake-history", "replace-checkers", "replace-grading", "replace-modules",
                      "numpy-always-equal"],
    "tamper-outputs": ["print-verdicts", "forged-record"],
    "tamper-exit": ["exit-early"],
}
EDITED = {"tamper-outputs": "check-4"}    # its source becomes a line that checks nothing
DELETED = {"tamper-outputs": "check-5"}
EXERCISES = {"answer-1": ["perceptron"], "answer-2": ["not_gate", "and_gate", "or_gate"],
             "answer-3": ["xor_gate"], "answer-4": ["half_adder"], "answer-5": ["perceptron_learning"]}


def _submit(course, student, cells_from, edit=None):
    import nbformat

    nb = nbformat.read(cells_from / f"{NOTEBOOK}.ipynb", as_version=4)
    if edit:
        edit(nb)
    folder = course / "submitted" / student / NOTEBOOK
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{NOTEBOOK}.ipynb")


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _tamper(student):
    def edit(nb):
        for attack in SUBMISSIONS[student]:
            cell_id, code = ATTACKS[attack]
            _cell(nb, cell_id).source = _WRONG[cell_id] + code
        if student in EDITED:
            _cell(nb, EDITED[student]).source = "half_adder = half_adder  # checks nothing\n"
        if student in DELETED:
            nb.cells.remove(_cell(nb, DELETED[student]))
    return edit


@pytest.fixture(scope="module")
def graded(course):
    """Autograde (the real nbgrader) the solution, the lesson and every tampering submission:
    ``({student: (score, max_score)}, {student: {exercise: verdict line}}, report lines)``."""
    _submit(course, "solved", config.SOLUTIONS_DIR)
    _submit(course, "unsolved", config.LESSONS_DIR)
    for student in SUBMISSIONS:
        _submit(course, student, config.LESSONS_DIR, _tamper(student))
    log = _nbgrader("autograde", NOTEBOOK, "--create", "--force", cwd=course)
    slow = [line for line in log.splitlines() if "slow notebook run" in line or "Timeout" in line]
    if slow:  # say where a slow run spent its time
        warnings.warn("nbgrader autograde: " + " | ".join(slow))
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {s: (gb.find_submission(NOTEBOOK, s).score, gb.find_submission(NOTEBOOK, s).max_score)
                  for s in ("solved", "unsolved", *SUBMISSIONS)}
    report = grading.report(course)
    print("nbgrader scores (score, max):", scores)
    print("\n".join(report))
    return scores, report


def _report_block(report, student):
    start = report.index(f"{student} / {NOTEBOOK}:")
    end = next((i for i in range(start + 1, len(report)) if not report[i].startswith("  ")), len(report))
    return report[start:end]


def test_autograde_full_marks_for_the_solution_zero_for_the_lesson(graded):
    scores, _ = graded
    max_score = scores["solved"][1]
    assert max_score and max_score > 0
    assert scores["solved"] == (max_score, max_score)
    assert scores["unsolved"] == (0.0, max_score)


@pytest.mark.parametrize("student", SUBMISSIONS)
def test_tampering_scores_no_more_than_the_unsolved_lesson(graded, student):
    scores, report = graded
    assert scores[student][0] <= scores["unsolved"][0], (student, scores[student])
    block = _report_block(report, student)
    verdicts = [line for line in block if "(judged:" in line]
    assert verdicts and all(" FAIL " in line for line in verdicts), block


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a not in ("print-verdicts", "forged-record")])
def test_the_report_names_the_tampered_answer_cell(graded, attack):
    """Code that reaches outside its answer is quoted in the instructor's report."""
    _, report = graded
    student = next(s for s, attacks in SUBMISSIONS.items() if attack in attacks)
    cell_id = ATTACKS[attack][0]
    assert any(f"tampering: {cell_id}: line" in line for line in _report_block(report, student)), \
        _report_block(report, student)


def test_the_report_says_which_locked_cells_were_edited_or_deleted(graded):
    _, report = graded
    block = _report_block(report, "tamper-outputs")
    assert any("check-4 was edited" in line for line in block), block
    assert any("check-5 was deleted" in line for line in block), block


def test_feedback_names_the_mistake_and_hides_the_hidden_tests(course, graded):
    """What a learner gets back: the grader's verdict, naming the mistake, and no hidden test."""
    _nbgrader("generate_feedback", NOTEBOOK, "--student", "tamper-outputs", "--force", cwd=course)
    html = next((course / "feedback" / "tamper-outputs" / NOTEBOOK).glob("*.html")).read_text(
        encoding="utf-8")
    assert "perceptron: wrong for input" in html
    assert "BEGIN HIDDEN TESTS" not in html and "assert_all_passed" not in html


def test_autograding_runs_kernels_with_the_sliced_waits():
    from nbgrader.preprocessors import Execute
    from traitlets.config import Config

    from cnncourse.tools.runner import SlicedKernelManager

    c = Config()
    grading.configure(c)
    executes = [pp for pp in c.Autograde.autograde_preprocessors if issubclass(pp, Execute)]
    assert executes == [grading.SlicedExecute]
    assert grading.SlicedExecute(config=c).kernel_manager_class is SlicedKernelManager
    assert grading.SlicedExecute(config=c).timeout == 600


def test_autograding_logs_where_a_slow_run_spent_its_time(tmp_path, caplog):
    import logging

    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(1.5)")])
    execute = grading.SlicedExecute(timeout=60)
    execute.slow_seconds = 1
    execute.log = logging.getLogger("cnncourse-test-autograde")
    with caplog.at_level(logging.WARNING, logger="cnncourse-test-autograde"):
        execute.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    slow = [r.getMessage() for r in caplog.records if "slow notebook run" in r.getMessage()
            and " in cell " in r.getMessage()]  # (a slow kernel start-up gets a line of its own)
    assert len(slow) == 1 and "in cell 0" in slow[0] and "kernel ran 1." in slow[0], slow


def test_autograding_keeps_nbgraders_own_cell_hook_and_waits_in_slices(tmp_path, monkeypatch):
    import nbformat
    from nbgrader.preprocessors import Execute

    from cnncourse.tools.runner import _SlicedChannel

    seen = []
    monkeypatch.setattr(Execute, "on_cell_executed",
                        lambda self, **kw: seen.append(kw["execute_reply"]["content"]["status"]))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0"),
                                         nbformat.v4.new_code_cell("x = 1")])
    execute = grading.SlicedExecute(timeout=60)
    channels = []
    execute.on_cell_complete = lambda **kw: channels.append(type(execute.kc.shell_channel))
    execute.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert seen == ["error", "ok"]  # nbgrader's hook (it records timeouts) ran for each cell
    assert channels == [_SlicedChannel, _SlicedChannel]


def test_the_report_command_prints_it(course, graded, capsys):
    from cnncourse.tools.cli import main

    assert main(["grading", "report", str(course)]) == 0
    out = capsys.readouterr().out
    assert "tamper-kernel / 01_perceptron_nand:" in out and "tampering: answer-4: line" in out
