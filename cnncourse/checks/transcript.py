"""The transcript of a check cell: displayed by a graded kernel, replayed by the grader.

:mod:`cnncourse.checks.record` writes down what the learner's answers returned; this module turns
one check statement's record into the output the grader reads (:func:`publish_transcript`), and
runs a checker on the replayed answers (:func:`replay_check`): in the grader
(:mod:`cnncourse.tools.judge`), and in a kernel with ``CNNCOURSE_GRADING=selftest``, where a replay
that disagrees with the kernel's own verdict is recorded as a failed check.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import os

from cnncourse import checks
from cnncourse.checks import record
from cnncourse.checks.record import (GRADING_ENV, TRANSCRIPT_MIME, Recorded, Replay, Unencodable,
                                     grading, replay_answer)

__all__ = ["publish_transcript", "replay_check", "CannotReplay", "check_calls_in"]

record._EXCEPTIONS["cnncourse.checks.MissingAnswer"] = checks.MissingAnswer
_HISTORY_MARK = [0]


def check_calls_in(node: ast.AST) -> list[ast.Call]:
    """The ``checks.<topic>.<name>(...)`` calls in ``node``, in source order."""
    calls = [n for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and isinstance(n.func.value, ast.Attribute) and isinstance(n.func.value.value, ast.Name)
             and n.func.value.value.id == "checks"]
    return sorted(calls, key=lambda n: (n.lineno, n.col_offset))


def publish_transcript(statement: str = "") -> None:
    """Display the record of the answers checked since the last call (a graded run only).

    ``statement`` is the check cell's statement that checked them. With
    ``CNNCOURSE_GRADING=selftest`` (``make test`` runs every notebook so) the record is also
    replayed here, as the grader would (:func:`replay_check`), and a verdict that differs from the
    kernel's is recorded as a failed check ``replay of <exercise>``: a solution notebook's final
    ``assert_all_passed()`` then fails, naming it.
    """
    if not grading() or not record._PENDING:
        return
    verdicts = [[r.name, r.status, r.message] for r in checks.history()[_HISTORY_MARK[0]:]]
    answers = {name: (entry.transcript() if isinstance(entry, Recorded) else entry)
               for name, entry in record._PENDING.items()}
    record._PENDING.clear()
    data = {"answers": answers, "kernel_verdicts": verdicts}
    from IPython.display import display

    display({TRANSCRIPT_MIME: data, "text/plain": f"<graded record of {', '.join(answers)}>"}, raw=True)
    if os.environ.get(GRADING_ENV) == "selftest" and statement:
        _selftest(statement, json.loads(json.dumps(data)))
    _HISTORY_MARK[0] = len(checks.history())


def _selftest(statement: str, data: dict) -> None:
    if not data["kernel_verdicts"]:   # a helper such as checks.perceptron.count_nand, not a check
        return
    kernel = all(status == "passed" for _, status, _ in data["kernel_verdicts"])
    calls = check_calls_in(ast.parse(statement))
    outcomes = []
    for call in calls:
        before = len(checks.history())
        try:
            outcomes.append((call, *replay_check(call, data["answers"])))
        except (CannotReplay, KeyError):
            continue
        finally:
            del checks._HISTORY[before:]   # the replay's own verdicts are not the notebook's
    if outcomes and all(o[1] for o in outcomes) != kernel:
        name = " and ".join(f"{c.func.value.attr}.{c.func.attr}" for c, *_ in outcomes)
        why = "; ".join(o[2] for o in outcomes if o[2]) or "it passes there"
        checks._record(checks.Result(f"replay of {name}", checks.FAILED,
                                     f"the grader's replay disagrees with this kernel "
                                     f"(kernel: {'passed' if kernel else 'not passed'}; grader: {why})"),
                       True)


class CannotReplay(Exception):
    """A check whose answer is not plain data (a model, a class): the grader cannot replay it."""


def replay_check(call: ast.Call, answers: dict) -> tuple[bool, str, list[str]]:
    """Run the checker of ``call`` (a ``checks.<topic>.<name>(...)`` call node) on replays of the
    recorded ``answers``: ``(passed, why, printed lines)``. Arguments are answer names or literals.

    Raises
    ------
    KeyError
        If an answer the call names is not in ``answers``.
    CannotReplay
        If an answer is not plain data, or an argument is neither a name nor a literal.
    """
    replays: list[Replay] = []

    def argument(node):
        if isinstance(node, ast.Name):
            entry = answers[node.id]
            try:
                value = replay_answer(node.id, entry)
            except LookupError:
                return checks.Missing(node.id)
            except (Unencodable, ValueError) as exc:
                raise CannotReplay(f"`{node.id}` is not plain data ({exc})") from None
            if isinstance(value, Replay):
                if entry.get("unencodable"):
                    raise CannotReplay(f"`{node.id}` returned {entry['unencodable']}")
                replays.append(value)
            return value
        try:
            return ast.literal_eval(node)
        except ValueError:
            raise CannotReplay(f"argument `{ast.unparse(node)}` is not a name or a literal") from None

    args = [argument(a) for a in call.args]
    kwargs = {kw.arg: argument(kw.value) for kw in call.keywords}
    checker = getattr(getattr(checks, call.func.value.attr), call.func.attr)
    before = len(checks.history())
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            checker(*args, **kwargs)
        except Exception as exc:  # a checker failing on a replay: no credit, said plainly
            return False, f"the checker raised {type(exc).__name__}: {exc}", printed.getvalue().splitlines()
    results = checks.history()[before:]
    lines = printed.getvalue().splitlines()
    if not results:
        return False, "the checker gave no verdict", lines
    if all(r.passed for r in results):
        return True, "", lines
    why = "; ".join(str(r) for r in results if not r.passed)
    missing = sum(r.missing for r in replays)
    if missing:
        why = (f"the kernel's record lacks {missing} call(s) the checker made (the check cell did not "
               f"run to its end, or its record was altered): {why}")
    return False, why, lines
