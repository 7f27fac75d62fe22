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


def test_autograde_full_marks_for_the_solution_zero_for_the_lesson(course):
    for student, source in (("solved", config.SOLUTIONS_DIR), ("unsolved", config.LESSONS_DIR)):
        folder = course / "submitted" / student / NOTEBOOK
        folder.mkdir(parents=True)
        (folder / f"{NOTEBOOK}.ipynb").write_bytes((source / f"{NOTEBOOK}.ipynb").read_bytes())
    log = _nbgrader("autograde", NOTEBOOK, "--create", "--force", cwd=course)
    slow = [line for line in log.splitlines() if "slow notebook run" in line or "Timeout" in line]
    if slow:  # the occasional ~600 s stall (README, troubleshooting): say where it went
        warnings.warn("nbgrader autograde: " + " | ".join(slow))
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {s: (gb.find_submission(NOTEBOOK, s).score, gb.find_submission(NOTEBOOK, s).max_score)
                  for s in ("solved", "unsolved")}
    print("nbgrader scores (score, max):", scores)
    max_score = scores["solved"][1]
    assert max_score > 0
    assert scores == {"solved": (max_score, max_score), "unsolved": (0.0, max_score)}


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
