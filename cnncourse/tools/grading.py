"""Grading a class with nbgrader (the ``instructor`` extra: ``pip install "cnncourse[instructor]"``).

The solution notebooks carry nbgrader metadata written by ``cnncourse lessons build`` (see
:mod:`cnncourse.tools.lessons`). This module adds what nbgrader cannot know on its own:

* :class:`ClearSolutions` makes ``nbgrader generate_assignment`` write the same stubs as the
  lessons (``raise NotImplementedError(...)`` in a function body, ``name = ...`` for a value), so
  the released notebooks are the lessons (plus the emptied hidden-test cells nbgrader keeps);
* :class:`RequireChecksPassed` makes each exercise's check cell fail in ``nbgrader autograde``
  unless every verdict it printed is ✅ (a checker hands back its reference answer otherwise, so
  the cell would run without error and score);
* :func:`setup_course` writes an nbgrader course folder: ``nbgrader_config.py`` (which calls
  :func:`configure`) and ``source/<notebook>/<notebook>.ipynb`` for each solution notebook.

nbgrader itself is imported only by the classes here, when nbgrader loads its configuration.
"""
from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from cnncourse import config
from cnncourse.tools import lessons

if TYPE_CHECKING:  # annotations only
    import traitlets.config

__all__ = ["setup_course", "configure", "assert_checks_passed", "CONFIG_TEXT"]

#: The ``nbgrader_config.py`` that :func:`setup_course` writes.
CONFIG_TEXT = '''\
# nbgrader configuration for the cnncourse notebooks (written by `cnncourse grading setup`).
from cnncourse.tools.grading import configure

c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.course_id = "cnncourse"
configure(c)
'''


def configure(c: traitlets.config.Config) -> None:
    """Set nbgrader's options for this course on the traitlets config ``c``.

    Generation uses :class:`ClearSolutions` in place of nbgrader's own; autograding first runs
    :class:`RequireChecksPassed`, puts back grade cells missing from a submission (a lesson has no
    hidden-test cells), and allows 10 minutes per cell. Notebooks run with the course runner's
    kernel manager (:class:`SlicedExecute`), like ``cnncourse run`` and the wrong-answer test.
    """
    from nbgrader.converters import Autograde, GenerateAssignment
    from nbgrader.preprocessors import ClearSolutions as NbgraderClearSolutions
    from nbgrader.preprocessors import Execute

    clear_solutions, require_checks_passed, sliced_execute = _preprocessors()
    c.GenerateAssignment.preprocessors = [
        clear_solutions if pp is NbgraderClearSolutions else pp
        for pp in GenerateAssignment.class_traits()["preprocessors"].default()]
    c.Autograde.autograde_preprocessors = [
        require_checks_passed, *(sliced_execute if pp is Execute else pp
                                 for pp in Autograde.class_traits()["autograde_preprocessors"].default())]
    c.OverwriteCells.add_missing_cells = True
    c.Execute.timeout = 600


def assert_checks_passed(before: int) -> None:
    """Raise ``AssertionError`` unless every verdict recorded after the first ``before`` passed.

    :class:`RequireChecksPassed` appends a call of this to each check cell in autograding.
    """
    from cnncourse import checks

    new = checks.history()[before:]
    if not new:
        raise AssertionError("this cell checked no exercise")
    bad = [str(r) for r in new if not r.passed]
    if bad:
        raise AssertionError("exercise not solved:\n" + "\n".join(bad))


@functools.lru_cache(maxsize=None)
def _preprocessors():
    from nbgrader import utils
    from nbgrader.preprocessors import ClearSolutions as Base
    from nbgrader.preprocessors import Execute, NbGraderPreprocessor

    from cnncourse.tools.runner import SlicedKernelManager, Timeline

    class ClearSolutions(Base):
        """nbgrader's ClearSolutions with the lessons' stubs (hidden tests are left for
        nbgrader's ClearHiddenTests, which runs after the grade cells are saved)."""

        def _replace_solution_region(self, cell, language):
            if lessons.BEGIN_SOLUTION not in cell.source:
                return False
            source = lessons.lesson_source(cell.source, cell.cell_type, "nbgrader cell", hidden=False)
            cell.source = source or ""
            return True

    class RequireChecksPassed(NbGraderPreprocessor):
        """Append :func:`assert_checks_passed` to every check cell (``check-K``) before it runs."""

        def preprocess_cell(self, cell, resources, cell_index):
            if utils.is_grade(cell) and cell.metadata.nbgrader.get("grade_id", "").startswith("check-"):
                cell.source = ("import cnncourse.checks as _cc, cnncourse.tools.grading as _cg\n"
                               "_cc_before = len(_cc.history())\n"
                               f"{cell.source}\n"
                               "_cg.assert_checks_passed(_cc_before)")
            return cell, resources

    class SlicedExecute(Execute):
        """nbgrader's Execute with :class:`cnncourse.tools.runner.SlicedKernelManager` (nbgrader passes
        its kernel manager class as an argument, so configuration cannot change it). It logs a
        warning ``slow notebook run: ...`` (:class:`cnncourse.tools.runner.Timeline`) for any
        stretch of a run over ``slow_seconds``, to locate the occasional ~600 s stall (README,
        troubleshooting)."""

        slow_seconds = 120

        def __init__(self, *args, **kwargs):
            kwargs.setdefault("kernel_manager_class", SlicedKernelManager)
            super().__init__(*args, **kwargs)

        def preprocess(self, nb, *args, **kwargs):
            timeline = Timeline()
            hooks = timeline.hooks()
            # nbgrader's own hook (a method: it records timeouts as errors) runs too
            graders_own = Execute.__dict__.get("on_cell_executed")

            def on_cell_executed(**hook_kwargs):
                hooks["on_cell_executed"](**hook_kwargs)
                return graders_own(self, **hook_kwargs) if graders_own else None

            self.on_cell_execute, self.on_cell_executed = hooks["on_cell_execute"], on_cell_executed
            try:
                return super().preprocess(nb, *args, **kwargs)
            finally:
                for line in timeline.slow(nb, self.slow_seconds):
                    self.log.warning("slow notebook run: %s", line)

    return ClearSolutions, RequireChecksPassed, SlicedExecute


def __getattr__(name: str):
    # nbgrader is an optional dependency: its subclasses are made when nbgrader asks for them.
    names = ("ClearSolutions", "RequireChecksPassed", "SlicedExecute")
    if name in names:
        return _preprocessors()[names.index(name)]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def setup_course(course_dir: Path, names: Sequence[str] | None = None, *,
                 solutions: Path | None = None) -> list[Path]:
    """Write an nbgrader course folder: ``nbgrader_config.py`` and one assignment per notebook.

    Parameters
    ----------
    course_dir : Path
        Folder to write (created if needed); an existing ``nbgrader_config.py`` is kept.
    names : iterable of str, optional
        Notebook stems or file names (e.g. ``"01_perceptron_nand"``); default all solutions.
    solutions : Path, optional
        Folder of solution notebooks (default: the course's).

    Returns
    -------
    list of Path
        The source notebooks written, ``course_dir/source/<stem>/<stem>.ipynb``.

    Raises
    ------
    FileNotFoundError
        If a name is not a solution notebook.
    """
    solutions = Path(solutions or config.SOLUTIONS_DIR)
    available = {p.stem: p for p in sorted(solutions.glob("*.ipynb"))}
    stems = [Path(n).stem for n in names] if names else list(available)
    unknown = [s for s in stems if s not in available]
    if unknown:
        raise FileNotFoundError(f"names: no solution notebook {unknown}; there are {sorted(available)}")
    course_dir = Path(course_dir)
    course_dir.mkdir(parents=True, exist_ok=True)
    cfg = course_dir / "nbgrader_config.py"
    if not cfg.exists():
        cfg.write_text(CONFIG_TEXT, encoding="utf-8")
    written = []
    for stem in stems:
        target = course_dir / "source" / stem / f"{stem}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(available[stem], target)
        written.append(target)
    return written
