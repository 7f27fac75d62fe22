"""Grading a class with nbgrader (the ``instructor`` extra: ``pip install "cnncourse[instructor]"``).

The solution notebooks carry nbgrader metadata written by ``cnncourse lessons build`` (see
:mod:`cnncourse.tools.lessons`). This module adds what nbgrader cannot know on its own:

* :class:`ClearSolutions` makes ``nbgrader generate_assignment`` write the same stubs as the
  lessons (``raise NotImplementedError(...)`` in a function body, ``name = ...`` for a value), so
  the released notebooks are the lessons (plus the emptied hidden-test cells nbgrader keeps);
* in ``nbgrader autograde``, :class:`RebuildFromRelease` runs the instructor's release notebook
  with only the submission's answer cells in it (and audits those, :mod:`cnncourse.tools.audit`),
  :class:`SlicedExecute` runs it in a kernel that records what each answer returned
  (:mod:`cnncourse.checks.record`), and :class:`TrustedVerdicts` grades each check cell in this
  process from that record (:mod:`cnncourse.tools.judge`), replacing the cell's outputs with the
  verdicts computed here (the feedback learners get) and the credit nbgrader reads;
* :func:`setup_course` writes an nbgrader course folder: ``nbgrader_config.py`` (which calls
  :func:`configure`) and ``source/<notebook>/<notebook>.ipynb`` for each solution notebook.

nbgrader itself is imported only by the classes here, when nbgrader loads its configuration.
"""
from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from cnncourse import config
from cnncourse.tools import lessons

if TYPE_CHECKING:  # annotations only
    import traitlets.config

__all__ = ["setup_course", "configure", "report", "CONFIG_TEXT"]

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

    Generation uses :class:`ClearSolutions` in place of nbgrader's own; autograding rebuilds each
    submission from the release (:class:`RebuildFromRelease`), runs it with the course runner's
    kernel manager and 10 minutes per cell (:class:`SlicedExecute`, like ``cnncourse run``), and
    grades the check cells outside the kernel (:class:`TrustedVerdicts`).
    """
    from nbgrader.converters import Autograde, GenerateAssignment
    from nbgrader.preprocessors import ClearSolutions as NbgraderClearSolutions
    from nbgrader.preprocessors import Execute

    clear_solutions, rebuild, sliced_execute, trusted, hide_tests = _preprocessors()
    c.GenerateAssignment.preprocessors = [
        clear_solutions if pp is NbgraderClearSolutions else pp
        for pp in GenerateAssignment.class_traits()["preprocessors"].default()]
    autograde = []
    for pp in Autograde.class_traits()["autograde_preprocessors"].default():
        autograde += [rebuild, sliced_execute, trusted] if pp is Execute else [pp]
    c.Autograde.autograde_preprocessors = autograde
    from nbgrader.converters import GenerateFeedback

    c.GenerateFeedback.preprocessors = [
        hide_tests, *GenerateFeedback.class_traits()["preprocessors"].default()]
    c.OverwriteCells.add_missing_cells = True
    c.Execute.timeout = 600


@functools.lru_cache(maxsize=None)
def _preprocessors():
    from nbgrader.preprocessors import ClearSolutions as Base
    from nbclient.exceptions import DeadKernelError
    from nbgrader.preprocessors import ClearHiddenTests, Execute, NbGraderPreprocessor

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

    class RebuildFromRelease(NbGraderPreprocessor):
        """Replace the submission by the release notebook with the submission's answer cells
        (:func:`cnncourse.tools.judge.rebuild`), and audit those cells; what was ignored or
        flagged goes to the grading report (notebook metadata ``cnncourse_grading``)."""

        def preprocess(self, nb, resources):
            import nbformat
            from nbgrader.coursedir import CourseDirectory

            from cnncourse.tools import judge

            info = resources["nbgrader"]
            coursedir = CourseDirectory(config=self.config)
            release = (Path(coursedir.format_path(coursedir.release_directory, ".", info["assignment"]))
                       / f"{info['notebook']}.ipynb")
            if not release.is_file():
                raise FileNotFoundError(f"grading needs the released notebook {release} "
                                        "(run `nbgrader generate_assignment` first)")
            submitted = (Path(coursedir.format_path(coursedir.submitted_directory, info["student"],
                                                    info["assignment"])) / f"{info['notebook']}.ipynb")
            original = nbformat.read(submitted, as_version=4).cells if submitted.is_file() else nb.cells
            released = nbformat.read(release, as_version=4)
            cells, notes = judge.rebuild(released.cells, original, nb.cells)
            nb.cells = [nbformat.from_dict(c) for c in cells]
            findings = judge.audit_notebook(nb.cells)
            resources["cnncourse_findings"] = findings
            nb.metadata[judge.REPORT_KEY] = {
                "notes": notes,
                "tampering": [f"{gid}: {f}" for gid, fs in findings.items() for f in fs]}
            for line in nb.metadata[judge.REPORT_KEY]["tampering"] + notes:
                self.log.warning("%s/%s: %s", info.get("student"), info["notebook"], line)
            return nb, resources

    class TrustedVerdicts(NbGraderPreprocessor):
        """Grade each check cell from the kernel's record, in this process
        (:func:`cnncourse.tools.judge.grade`): the cell's outputs become the verdicts printed here,
        plus the credit nbgrader reads (an error output for none, an ``execute_result`` with the
        points for partial credit, nothing more for full credit)."""

        def preprocess(self, nb, resources):
            from cnncourse.tools import judge

            findings = resources.get("cnncourse_findings")
            if findings is None:
                raise RuntimeError("TrustedVerdicts needs RebuildFromRelease to run first")
            verdicts = judge.grade(nb.cells, findings)
            for cell in nb.cells:
                gid = judge.grade_id(cell)
                if gid.startswith("check-"):
                    cell.outputs = judge.graded_outputs(
                        [v for v in verdicts if v.cell == gid],
                        float(cell.metadata.nbgrader.get("points", 0)))
            report = nb.metadata.get(judge.REPORT_KEY, {})
            report["verdicts"] = [v.as_dict() for v in verdicts]
            nb.metadata[judge.REPORT_KEY] = report
            for v in verdicts:
                if not v.passed and v.judged != "grader":
                    self.log.warning("%s/%s: %s not passed: %s", resources["nbgrader"].get("student"),
                                     resources["nbgrader"]["notebook"], v.exercise, v.why)
            return nb, resources

    class HideHiddenTests(ClearHiddenTests):
        """nbgrader's ClearHiddenTests for feedback: the hidden tests go from the source, and the
        outputs of a cell that had them go too (a failed assert's traceback quotes the test)."""

        def preprocess_cell(self, cell, resources, cell_index):
            had = self.begin_test_delimeter in cell.get("source", "")
            cell, resources = super().preprocess_cell(cell, resources, cell_index)
            if had and cell.cell_type == "code":
                cell.outputs = []
            return cell, resources

    class SlicedExecute(Execute):
        """nbgrader's Execute with :class:`cnncourse.tools.runner.SlicedKernelManager` (nbgrader passes
        its kernel manager class as an argument, so configuration cannot change it). It logs a
        warning ``slow notebook run: ...`` (:class:`cnncourse.tools.runner.Timeline`) for any
        stretch of a run over ``slow_seconds``, to locate a slow run (README,
        troubleshooting)."""

        slow_seconds = 120

        def __init__(self, *args, **kwargs):
            kwargs.setdefault("kernel_manager_class", SlicedKernelManager)
            super().__init__(*args, **kwargs)

        def preprocess(self, nb, *args, **kwargs):
            from cnncourse.checks.record import GRADING_ENV

            previous = os.environ.get(GRADING_ENV)
            os.environ[GRADING_ENV] = "1"   # the kernel records what the answers return
            try:
                return self._preprocess(nb, *args, **kwargs)
            finally:
                if previous is None:
                    os.environ.pop(GRADING_ENV, None)
                else:
                    os.environ[GRADING_ENV] = previous

        def _preprocess(self, nb, *args, **kwargs):
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
            except DeadKernelError as exc:   # the submission stopped its kernel: grade what ran
                self.log.warning("the kernel died (%s): the cells after it did not run", exc)
                return nb, args[0] if args else kwargs.get("resources", {})
            finally:
                for line in timeline.slow(nb, self.slow_seconds):
                    self.log.warning("slow notebook run: %s", line)

    return ClearSolutions, RebuildFromRelease, SlicedExecute, TrustedVerdicts, HideHiddenTests


def __getattr__(name: str):
    # nbgrader is an optional dependency: its subclasses are made when nbgrader asks for them.
    names = ("ClearSolutions", "RebuildFromRelease", "SlicedExecute", "TrustedVerdicts",
             "HideHiddenTests")
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


def report(course_dir: Path) -> list[str]:
    """The grading report of every autograded notebook under ``course_dir/autograded``: per
    student and notebook, what was tampered with or ignored, and each exercise's verdict."""
    import json

    from cnncourse.tools import judge

    lines = []
    for path in sorted(Path(course_dir).glob("autograded/*/*/*.ipynb")):
        student, notebook = path.parts[-3], path.stem
        data = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get(judge.REPORT_KEY)
        lines.append(f"{student} / {notebook}:" + ("" if data else " no cnncourse grading report"))
        lines += judge.report_lines(data or {})
    return lines
