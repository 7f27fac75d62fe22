"""Lesson generation from solutions (with nbgrader metadata), copying lessons for a learner, and the
repository's notebooks being in sync and stripped."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cnncourse import config
from cnncourse.tools import lessons
from cnncourse.tools.cli import main

NOTEBOOKS = sorted(config.SOLUTIONS_DIR.glob("*.ipynb")) + sorted(config.LESSONS_DIR.glob("*.ipynb"))


def test_function_body_becomes_raise():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION\n"
    out = lessons.lesson_source(src, "code", "t")
    assert "return y" not in out
    assert "    raise NotImplementedError(" in out and out.startswith("def f(x):")


def test_top_level_assignments_become_ellipsis():
    src = "### BEGIN SOLUTION\nn = 256 * 256 * 3\na, b = 1, 2\nprint(n)\n### END SOLUTION\ncheck(n)"
    out = lessons.lesson_source(src, "code", "t")
    assert "n = ...  # YOUR CODE HERE" in out and "a, b = ...  # YOUR CODE HERE" in out
    assert "print" not in out and out.endswith("check(n)")


def test_hidden_tests_removed_and_empty_cell_dropped():
    assert lessons.lesson_source("### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS", "code", "t") is None
    out = lessons.lesson_source("y = 1\n### BEGIN HIDDEN TESTS\nassert y\n### END HIDDEN TESTS", "code", "t")
    assert out.strip() == "y = 1"


def test_markdown_answer_hidden():
    out = lessons.lesson_source("Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION", "markdown", "t")
    assert "Because" not in out and "*Your answer here.*" in out


@pytest.mark.parametrize("src", ["### BEGIN SOLUTION\nx = 1", "### END SOLUTION",
                                 "### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n"])
def test_unbalanced_markers_name_the_place(src):
    with pytest.raises(lessons.MarkerError, match="nb.ipynb, cell 3"):
        lessons.lesson_source(src, "code", "nb.ipynb, cell 3")


def _notebook(path: Path, body: str, outputs=()):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(body)])
    nb.cells[0].outputs = list(outputs)
    nbformat.write(nb, path)


def test_build_then_check_detects_stale_lesson(tmp_path):
    sol, les = tmp_path / "solutions", tmp_path / "lessons"
    sol.mkdir()
    _notebook(sol / "01_x.ipynb", "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")
    assert lessons.build(sol, les).written == [les / "01_x.ipynb"]
    assert lessons.build(sol, les, check=True).ok
    _notebook(sol / "01_x.ipynb", "def f():\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION\n# new")
    report = lessons.build(sol, les, check=True)
    assert not report.ok and any("lessons/01_x.ipynb: out of date" in line for line in report.stale)
    (les / "99_orphan.ipynb").write_text((les / "01_x.ipynb").read_text())
    assert any("99_orphan.ipynb: has no solution" in s for s in lessons.build(sol, les, check=True).stale)


def test_build_strips_outputs_from_solutions(tmp_path):
    sol, les = tmp_path / "solutions", tmp_path / "lessons"
    sol.mkdir()
    _notebook(sol / "a.ipynb", "print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")])
    assert "has outputs stored" in lessons.build(sol, les, check=True).stale[0]
    report = lessons.build(sol, les)
    assert report.stripped == [sol / "a.ipynb"]
    assert nbformat.read(sol / "a.ipynb", as_version=4).cells[0].outputs == []


def test_repository_lessons_are_in_sync(capsys):
    """Editing a solution without `make lessons` fails here, naming the notebook."""
    code = main(["lessons", "build", "--check"])
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[f"{p.parent.name}/{p.name}" for p in NOTEBOOKS])
def test_repository_notebooks_are_stripped(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    dirty = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c["outputs"] or c["execution_count"])]
    assert not dirty, f"{path} has outputs in cells {dirty}: run `make lessons` (it strips them)"


def test_every_solution_has_objectives_summary_and_final_check():
    for path in sorted(config.SOLUTIONS_DIR.glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        assert "Learning objectives" in text, f"{path.name}: no learning objectives"
        assert "## Summary" in text, f"{path.name}: no '## Summary' section"
        assert "checks.assert_all_passed()" in text, f"{path.name}: never asserts its exercises pass"


def test_check_cli_names_stale_notebook(tmp_path, monkeypatch, capsys):
    sol, les = tmp_path / "solutions", tmp_path / "lessons"
    shutil.copytree(config.SOLUTIONS_DIR, sol)
    shutil.copytree(config.LESSONS_DIR, les)
    victim = sorted(sol.glob("*.ipynb"))[0]
    nb = nbformat.read(victim, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("an edit without rebuilding"))
    nbformat.write(nb, victim)
    monkeypatch.setattr(config, "SOLUTIONS_DIR", sol)
    monkeypatch.setattr(config, "LESSONS_DIR", les)
    assert main(["lessons", "build", "--check"]) == 1
    assert victim.name in capsys.readouterr().err


def _cells(*sources):
    return [nbformat.v4.new_markdown_cell(s[3:]) if s.startswith("md:") else nbformat.v4.new_code_cell(s)
            for s in sources]


def test_nbgrader_metadata_from_the_markers():
    cells = _cells("import x",
                   "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                   "f = checks.topic.f(f)\ng = checks.topic.g(g)",        # check cell: 2 points
                   "y = f()\n### BEGIN HIDDEN TESTS\nassert y == 1\n### END HIDDEN TESTS",
                   "_ = checks.topic.f(lambda: 2)",                       # a demo, not after a solution
                   "md:Explain.\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
                   "md:text")
    meta = lessons.nbgrader_metadata(cells)
    assert meta[0] is None and meta[4] is None and meta[6] is None
    assert meta[1] == {"grade": False, "grade_id": "answer-1", "locked": False, "schema_version": 3,
                       "solution": True, "task": False}
    assert meta[2] == {"grade": True, "grade_id": "check-1", "locked": True, "points": 2,
                       "schema_version": 3, "solution": False, "task": False}
    assert meta[3]["grade_id"] == "tests-1" and meta[3]["points"] == 0 and meta[3]["locked"]
    assert meta[5]["grade_id"] == "answer-2" and meta[5]["solution"]


def test_build_writes_nbgrader_metadata_and_check_flags_it(tmp_path):
    sol, les = tmp_path / "solutions", tmp_path / "lessons"
    sol.mkdir()
    nb = nbformat.v4.new_notebook(cells=_cells(
        "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION", "f = checks.t.f(f)"))
    nbformat.write(nb, sol / "a.ipynb")
    assert "stale nbgrader metadata" in lessons.build(sol, les, check=True).stale[0]
    lessons.build(sol, les)
    solved = nbformat.read(sol / "a.ipynb", as_version=4)
    assert [c.metadata["nbgrader"]["grade_id"] for c in solved.cells] == ["answer-1", "check-1"]
    lesson = nbformat.read(les / "a.ipynb", as_version=4)
    assert [c.metadata["nbgrader"] for c in lesson.cells] == [c.metadata["nbgrader"] for c in solved.cells]
    assert lessons.build(sol, les, check=True).ok
    solved.cells[1].metadata["nbgrader"]["points"] = 5  # edited by hand
    nbformat.write(solved, sol / "a.ipynb")
    assert not lessons.build(sol, les, check=True).ok


def test_build_under_the_c_locale(tmp_path):
    """Notebooks are read and written as UTF-8 whatever the locale (✅, é, ×)."""
    sol, les = tmp_path / "solutions", tmp_path / "lessons"
    sol.mkdir()
    _notebook(sol / "u.ipynb", 'print("✅ café 3×3")\ndef f():\n    ### BEGIN SOLUTION\n    return "é"\n'
                               "    ### END SOLUTION")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
           "PYTHONIOENCODING": "ascii"}
    code = ("import locale, sys; from pathlib import Path; from cnncourse.tools import lessons; "
            "assert locale.getpreferredencoding(False).lower() in ('ascii', 'ansi_x3.4-1968'), "
            "locale.getpreferredencoding(False); "
            "r = lessons.build(Path(sys.argv[1]), Path(sys.argv[2])); print(len(r.written))")
    proc = subprocess.run([sys.executable, "-c", code, str(sol), str(les)], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "✅ café 3×3" in (les / "u.ipynb").read_text(encoding="utf-8")


def test_copy_lessons_keeps_edited_notebooks(tmp_path):
    src, dest = tmp_path / "shipped", tmp_path / "mine"
    src.mkdir()
    _notebook(src / "01_a.ipynb", "x = 1")
    _notebook(src / "02_b.ipynb", "y = 2")
    report = lessons.copy_lessons(dest, source=src)
    assert sorted(p.name for p in report.copied) == ["01_a.ipynb", "02_b.ipynb"]
    (dest / "01_a.ipynb").write_text("my work", encoding="utf-8")
    report = lessons.copy_lessons(dest, source=src)
    assert report.kept == [dest / "01_a.ipynb"] and report.unchanged == [dest / "02_b.ipynb"]
    assert (dest / "01_a.ipynb").read_text(encoding="utf-8") == "my work"
    assert lessons.copy_lessons(dest, source=src, force=True).copied == [dest / "01_a.ipynb"]
    assert lessons.copy_lessons(dest, source=src, names=["02_b"]).unchanged == [dest / "02_b.ipynb"]
    with pytest.raises(FileNotFoundError, match="names: no lesson"):
        lessons.copy_lessons(dest, source=src, names=["99_nope"])


def test_lessons_copy_cli_from_another_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["lessons", "copy", "work", "--only", "01_perceptron_nand"]) == 0
    assert (tmp_path / "work" / "01_perceptron_nand.ipynb").exists()
    assert "1 copied" in capsys.readouterr().out
