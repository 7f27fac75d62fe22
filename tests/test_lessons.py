"""Lesson generation from solutions, and the repository's notebooks being in sync and stripped."""
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from cnncourse import config, lessons
from cnncourse.cli import main

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
    assert not report.ok and "01_x.ipynb: out of date" in report.stale[0]
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
    cells = json.loads(path.read_text())["cells"]
    dirty = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c["outputs"] or c["execution_count"])]
    assert not dirty, f"{path} has outputs in cells {dirty}: run `make lessons` (it strips them)"


def test_every_solution_has_objectives_summary_and_final_check():
    for path in sorted(config.SOLUTIONS_DIR.glob("*.ipynb")):
        text = path.read_text()
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
