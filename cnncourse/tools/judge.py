"""Grading verdicts computed outside the learner's kernel.

A graded notebook is rebuilt from the instructor's release copy with only the learner's answer
cells in it (:func:`rebuild`), each answer cell is audited (:mod:`cnncourse.tools.audit`), and the
notebook runs in a kernel with ``CNNCOURSE_GRADING=1``: every check cell then displays a transcript
of what the learner's answers returned (:mod:`cnncourse.checks.record`). :func:`judge_cell` reads
the transcripts from the locked check cell's outputs and calls the same checkers *in this process*,
on replays of the answers, against references computed here. The learner's code never runs here:
only its recorded outputs (plain data) cross over.

Answers that are not plain data (a Keras model, a layer class) cannot be replayed; their verdict is
the kernel's, given only when no answer cell in the notebook was flagged by the audit, and the
report says ``judged: kernel`` for them.
"""
from __future__ import annotations

import ast
from dataclasses import asdict, dataclass, field

from cnncourse.checks import record, transcript
from cnncourse.tools.audit import Finding, audit_answer, notebook_names, python_source

__all__ = ["Call", "Verdict", "check_calls", "judge_cell", "grade", "rebuild", "audit_notebook",
           "grade_id", "graded_outputs", "report_lines", "REPORT_KEY"]

#: Notebook metadata key of the grading report (read by ``cnncourse grading report``).
REPORT_KEY = "cnncourse_grading"


@dataclass(frozen=True)
class Call:
    """One checker call in a check cell: ``checks.<topic>.<name>(args..., key=...)``."""

    topic: str
    name: str
    node: ast.Call

    @property
    def exercise(self) -> str:
        return f"{self.topic}.{self.name}"


@dataclass
class Verdict:
    """The grade of one exercise: ``passed``, where it was ``judged`` ("grader", "kernel" or
    "none"), and ``why`` it did not pass."""

    cell: str
    exercise: str
    passed: bool
    judged: str
    why: str = ""
    lines: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def grade_id(cell) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def check_calls(source: str) -> list[list[Call]]:
    """The checker calls of a check cell, grouped by top-level statement (the kernel displays
    one transcript per such statement, in order)."""
    statements = []
    for stmt in ast.parse(python_source(source)).body:
        calls = [Call(n.func.value.attr, n.func.attr, n) for n in transcript.check_calls_in(stmt)]
        if calls:
            statements.append(calls)
    return statements


def transcripts(outputs: list) -> list[dict]:
    """The transcripts displayed in a cell's ``outputs``, in order (malformed ones are skipped)."""
    found = []
    for output in outputs:
        data = output.get("data", {}) if output.get("output_type") in ("display_data", "execute_result") else {}
        if record.TRANSCRIPT_MIME in data:
            try:
                found.append(record.loads(data[record.TRANSCRIPT_MIME]))
            except (ValueError, TypeError):
                continue
    return found


def judge_cell(cell_id: str, release_source: str, outputs: list, *,
               trust_kernel: bool) -> list[Verdict]:
    """The verdict of every exercise checked by one check cell.

    Parameters
    ----------
    cell_id : str
        The cell's nbgrader ``grade_id`` (``check-K``), for the report.
    release_source : str
        The check cell's code as the instructor released it (the calls to judge come from here,
        never from the submission).
    outputs : list of dict
        The cell's outputs after running in the graded kernel (nbformat output dicts).
    trust_kernel : bool
        Whether an exercise that cannot be replayed may take the kernel's verdict (only when the
        audit flagged no answer cell of the notebook).
    """
    statements = check_calls(release_source)
    found = transcripts(outputs)
    verdicts = []
    for i, calls in enumerate(statements):
        data = found[i] if i < len(found) else None
        for call in calls:
            if data is None:
                verdicts.append(Verdict(cell_id, call.exercise, False, "none",
                                        "no record from the kernel: the check cell did not run "
                                        "(the kernel stopped or raised before it)"))
                continue
            try:
                passed, why, lines = transcript.replay_check(call.node, data["answers"])
                verdicts.append(Verdict(cell_id, call.exercise, passed, "grader", why, lines))
            except KeyError as exc:
                verdicts.append(Verdict(cell_id, call.exercise, False, "none",
                                        f"the kernel's record has no answer {exc}"))
            except transcript.CannotReplay as exc:
                kernel = [v for v in data.get("kernel_verdicts", []) if isinstance(v, list) and len(v) == 3]
                ok = bool(kernel) and all(status == "passed" for _, status, _ in kernel)
                lines = [f"{name}: {status}: {message}" for name, status, message in kernel]
                if not trust_kernel:
                    verdicts.append(Verdict(cell_id, call.exercise, False, "kernel",
                                            f"{exc}; judged in the kernel, and an answer cell was "
                                            "flagged by the audit, so the kernel is not trusted", lines))
                else:
                    verdicts.append(Verdict(cell_id, call.exercise, ok, "kernel",
                                            "" if ok else "the kernel's checker did not pass it", lines))
    return verdicts


def audit_notebook(cells: list) -> dict[str, list[Finding]]:
    """``{answer grade_id: findings}`` for the answer cells of a (rebuilt) notebook's ``cells``."""
    others = [_source(c) for c in cells if c.get("cell_type") == "code"
              and not c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    names, course = notebook_names(others)
    checked: dict[str, set[str]] = {}
    for c in cells:
        if grade_id(c).startswith("check-"):
            try:
                calls = [call for statement in check_calls(_source(c)) for call in statement]
            except SyntaxError:
                continue
            checked[grade_id(c)[len("check-"):]] = {a.id for call in calls for a in call.node.args
                                                     if isinstance(a, ast.Name)}
    return {grade_id(c): audit_answer(_source(c), notebook=names, course_modules=course,
                                      exercises=checked.get(grade_id(c)[len("answer-"):], set()))
            for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")
            and c.get("cell_type") == "code"}


def rebuild(release_cells: list, submitted_cells: list, restored_cells: list | None = None
            ) -> tuple[list, list[str]]:
    """The notebook to grade: the release's cells, with each answer cell's source taken from the
    submission (matched by ``grade_id``); everything else in the submission is ignored.

    Parameters
    ----------
    release_cells : list
        The notebook as released to learners.
    submitted_cells : list
        The notebook as the learner submitted it.
    restored_cells : list, optional
        nbgrader's sanitized copy of the submission, whose grade cells nbgrader restored from its
        gradebook (hidden tests included): those are run in place of the release's.

    Returns
    -------
    (cells, notes)
        The cells to run (copies) and a note for each check or answer cell that was edited,
        deleted or added in the submission, for the instructor's report.
    """
    import copy

    def by_id(cells):
        found = {}
        for cell in cells or []:
            if grade_id(cell):
                found.setdefault(grade_id(cell), cell)
        return found

    submitted, restored = by_id(submitted_cells), by_id(restored_cells)
    release_ids = {grade_id(c) for c in release_cells if grade_id(c)}
    notes, cells = [], []
    for cell in release_cells:
        gid = grade_id(cell)
        cell = copy.deepcopy(restored.get(gid, cell) if gid else cell)
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution", False):
            if gid in submitted:
                cell["source"] = _source(submitted[gid])
            else:
                notes.append(f"answer cell {gid} is missing from the submission: graded as not done")
        elif gid.startswith("check-") and gid not in submitted:
            notes.append(f"cell {gid} was deleted from the submission: the instructor's version was run")
        elif gid.startswith("check-") and _source(submitted[gid]) != _source(cell):
            notes.append(f"cell {gid} was edited in the submission: the instructor's version was run")
        cells.append(cell)
    extra = sorted(set(submitted) - release_ids)
    if extra:
        notes.append(f"cells with unknown ids {extra} were not run")
    return cells, notes


def report_lines(report: dict) -> list[str]:
    """A grading report (:data:`REPORT_KEY` metadata) as lines for the instructor."""
    lines = [f"  tampering: {t}" for t in report.get("tampering", [])]
    lines += [f"  note: {n}" for n in report.get("notes", [])]
    for v in report.get("verdicts", []):
        mark = "pass" if v["passed"] else "FAIL"
        lines.append(f"  {v['cell']:9} {v['exercise']:40} {mark} (judged: {v['judged']})"
                     + (f" - {v['why'][:160]}" if v["why"] and not v["passed"] else ""))
    return lines


def grade(cells: list, findings: dict[str, list[Finding]]) -> list[Verdict]:
    """The verdicts of every check cell (``check-K``) of an executed, rebuilt notebook.

    An exercise whose answer cell (``answer-K``) has audit ``findings`` gets no credit; the
    kernel's verdict is trusted (for answers that cannot be replayed) only when no answer cell of
    the notebook has findings.
    """
    trust = not any(findings.values())
    verdicts = []
    for cell in cells:
        gid = grade_id(cell)
        if cell.get("cell_type") != "code" or not gid.startswith("check-"):
            continue
        cell_verdicts = judge_cell(gid, _source(cell), cell.get("outputs", []), trust_kernel=trust)
        flagged = findings.get("answer-" + gid[len("check-"):], [])
        for v in cell_verdicts:
            if flagged:
                v.passed = False
                v.why = ("its answer cell reaches outside the answer: "
                         + "; ".join(str(f) for f in flagged))
        verdicts.extend(cell_verdicts)
    return verdicts


def graded_outputs(verdicts: list[Verdict], points: float) -> list:
    """A check cell's outputs after grading: the verdicts as printed here, and the credit in the
    form nbgrader reads (an error output for none, an ``execute_result`` with the points earned
    for partial credit, nothing more for full credit)."""
    import nbformat

    text = []
    for v in verdicts:
        lines = v.lines if v.judged == "grader" else []   # the checker's own words, printed here
        text += lines
        if v.passed and not lines:
            text.append(f"✅ {v.exercise}: passed (judged in the kernel)")
        elif not v.passed and v.why not in "\n".join(lines):   # e.g. the audit's reason
            text.append(f"❌ {v.exercise}: {v.why}")
    outputs = [nbformat.v4.new_output("stream", name="stdout", text="\n".join(text) + "\n")]
    passed = sum(v.passed for v in verdicts)
    if verdicts and passed == 0:
        outputs.append(nbformat.v4.new_output(
            "error", ename="NotPassed", evalue="not passed: " + ", ".join(v.exercise for v in verdicts),
            traceback=[]))
    elif passed < len(verdicts):
        outputs.append(nbformat.v4.new_output(
            "execute_result", data={"text/plain": repr(round(points * passed / len(verdicts), 2))},
            metadata={}, execution_count=None))
    return outputs
