"""Exercise checks that teach.

A lesson's check cell hands the learner's answer to a checker and keeps what it gets back::

    to_unit_range = checks.welcome.to_unit_range(to_unit_range)

The checker runs the answer on several cases against a reference and prints one line:

* ``✅ to_unit_range: correct on 4 cases.``: the learner's function is handed back;
* ``❌ to_unit_range: wrong for image=array([[0, 255]]): ... Likely mistake: ...``: the most
  likely mistake is named (found by comparing the answer with plausible wrong answers), and the
  reference implementation is handed back so that the rest of the notebook still runs;
* ``⏳ to_unit_range: not done yet (the stub still raises NotImplementedError) ...``: an untouched
  exercise does not raise, the reference is handed back and the notebook goes on.

Topic checkers live in submodules (``cnncourse.checks.welcome``, ...) and are built from
:func:`check_function` and :func:`check_value`, with :class:`Mistake` describing the likely mistakes.
Every verdict is recorded; a solution notebook ends with :func:`assert_all_passed` (inside nbgrader's
``### BEGIN HIDDEN TESTS`` markers, so lessons do not carry it).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

if TYPE_CHECKING:  # annotations only
    from IPython.core.interactiveshell import InteractiveShell

__all__ = [
    "Case", "Mistake", "Result", "check_function", "check_value", "evaluate_function",
    "evaluate_value", "compare", "assert_all_passed", "history", "reset", "library_shortcut",
    "Missing", "MissingAnswer", "answer", "install_notebook_hook", "structure_findings",
]

PASSED, FAILED, NOT_DONE, ERROR = "passed", "failed", "not done", "error"
_SYMBOL = {PASSED: "✅", FAILED: "❌", NOT_DONE: "⏳", ERROR: "💥"}


@dataclass(frozen=True)
class Case:
    """One input to try: positional ``args`` and keyword ``kwargs``, shown as ``label`` if given."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    label: str | None = None

    def describe(self) -> str:
        if self.label:
            return self.label
        parts = [_short(a) for a in self.args] + [f"{k}={_short(v)}" for k, v in self.kwargs.items()]
        return ", ".join(parts)


@dataclass(frozen=True)
class Mistake:
    """A likely mistake and the explanation to print when the learner seems to have made it.

    Say how to recognise it with one of:

    * ``wrong``: for a function exercise, a plausible wrong implementation with the exercise's
      signature (called like the answer, through the checker's ``call`` adapter); for a value
      exercise, a plausible wrong value. Matched by behaviour: first when the answer gives what
      ``wrong`` gives on *every* case tried, then (after every other mistake was tried) when it
      does so on every failing case (an answer that makes this mistake plus another one).
      ``everywhere=True`` leaves out that second pass: for cases whose outputs are so few-valued
      that any wrong implementation "explains" a failing one (the rows of a logic gate's table);
    * ``finding``: a code that the checker's ``diagnose(got, expected, case)`` reports for every
      failing case (the diagnosis runs once per failing case, whatever the number of mistakes);
    * ``when``: a predicate ``when(got, expected, case) -> bool`` that holds on every failing
      case, for what neither of the others expresses.

    The first mistake that explains *every* failing case is reported; one that explains only some
    of the failures is not named.
    """

    message: str
    wrong: Any = None
    when: Callable[[Any, Any, Case], bool] | None = None
    finding: str | None = None
    everywhere: bool = False

    def __post_init__(self):
        given = [k for k in ("wrong", "when", "finding") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"Mistake({self.message[:40]!r}...): give exactly one of wrong=, "
                             f"when=, finding= (got {', '.join(given) or 'none'})")
        if self.when is not None and not callable(self.when):
            raise TypeError("when: expected a predicate when(got, expected, case) -> bool")
        if self.everywhere and self.wrong is None:
            raise ValueError("everywhere=True: only for a Mistake given by wrong=")
        if self.finding is not None and not isinstance(self.finding, str):
            raise TypeError(f"finding: expected a str code, got {type(self.finding).__name__}")


@dataclass
class Result:
    """A checker's verdict: ``status`` is one of "passed", "failed", "not done", "error"."""

    name: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def __str__(self) -> str:
        return f"{_SYMBOL[self.status]} {self.name}: {self.message}"


_HISTORY: list[Result] = []


def history() -> list[Result]:
    """Verdicts recorded since the kernel started (or since :func:`reset`), oldest first."""
    return list(_HISTORY)


def reset() -> None:
    """Forget recorded verdicts."""
    _HISTORY.clear()


def assert_all_passed() -> None:
    """Raise ``AssertionError`` naming every checked exercise that never passed.

    Solution notebooks call this at the end, so a broken solution or checker fails the tests.
    (Verdicts on deliberately wrong answers shown as demonstrations do not matter once the real
    answer has passed.)
    """
    names = list(dict.fromkeys(r.name for r in _HISTORY))
    if not names:
        raise AssertionError("no exercise was checked in this notebook")
    passed = {r.name for r in _HISTORY if r.passed}
    bad = [str([r for r in _HISTORY if r.name == n][-1]) for n in names if n not in passed]
    if bad:
        raise AssertionError("exercises not passing:\n" + "\n".join(bad))
    print(f"All {len(names)} checked exercises pass.")


# --------------------------------------------------------------------------------------------
# Comparison


def compare(got: Any, expected: Any, *, rtol: float = 1e-6,
            atol: float = 1e-8) -> tuple[bool, str]:
    """Compare an answer with the expected value; return ``(equal, explanation)``.

    Numbers and arrays are compared with a tolerance (``rtol``, ``atol``) after checking type
    and shape; tuples, lists and dicts element by element; anything else with ``==``.
    """
    if got is None and expected is not None:
        return False, "got None: did the function forget to `return` its result?"
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return False, f"expected a dict with keys {sorted(expected)}, got {_short(got)}"
        for key in expected:
            ok, why = compare(got[key], expected[key], rtol=rtol, atol=atol)
            if not ok:
                return False, f"[{key!r}]: {why}"
        return True, ""
    if isinstance(expected, (tuple, list)) and not _is_numeric_sequence(expected):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return False, f"expected a sequence of {len(expected)} items, got {_short(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            ok, why = compare(g, e, rtol=rtol, atol=atol)
            if not ok:
                return False, f"item {i}: {why}"
        return True, ""
    if _is_number_like(expected):
        if isinstance(got, str) or got is Ellipsis:
            return False, f"expected a number or array, got {_short(got)}"
        try:
            g = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            return False, f"expected a number or array, got {type(got).__name__}"
        e = np.asarray(expected, dtype=float)
        if g.shape != e.shape:
            return False, f"shape {g.shape}, expected {e.shape}"
        if not np.all(np.isfinite(g) == np.isfinite(e)):
            return False, f"got {_short(got)} with nan/inf where {_short(expected)} is finite"
        close = np.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        if not np.all(close):
            err = np.nanmax(np.abs(g - e)) if g.size else 0.0
            where = ""
            if g.size > 12:   # too big to print: say where they first differ
                first = np.unravel_index(np.flatnonzero(~close)[0], g.shape)
                index = tuple(int(i) for i in first)
                where = (f"; first difference at index {index[0] if len(index) == 1 else index}: "
                         f"got {_plain(g[first])}, expected {_plain(e[first])}; "
                         f"{int(np.sum(~close))} of {g.size} entries differ")
            return False, (f"got {_short(got)}, expected {_short(expected)} (max abs error "
                           f"{err:.3g}{where})")
        return True, ""
    if got == expected:
        return True, ""
    return False, f"got {_short(got)}, expected {_short(expected)}"


def _is_number_like(x) -> bool:
    return isinstance(x, (int, float, complex, np.number, np.ndarray, bool, np.bool_)) or (
        isinstance(x, (list, tuple)) and _is_numeric_sequence(x))


def _is_numeric_sequence(x) -> bool:
    try:
        return np.asarray(x).dtype.kind in "biufc"
    except (ValueError, TypeError):
        return False


def _plain(x):
    """``x`` with NumPy scalars turned into Python numbers (``1.0``, not ``np.float64(1.0)``)."""
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x) if type(x) in (list, tuple) else x
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x


def _short(x, limit: int = 80) -> str:
    if isinstance(x, np.ndarray) and x.size > 12:
        return f"array of shape {x.shape}, dtype {x.dtype}"
    text = repr(_plain(x))
    if isinstance(x, np.ndarray):
        text = np.array2string(x, precision=4, separator=", ", threshold=12)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _copy(x):
    return copy.deepcopy(x)


# --------------------------------------------------------------------------------------------
# Answers that are not defined (a typo or a SyntaxError in the exercise cell)


class MissingAnswer(NotImplementedError):
    """Raised when a :class:`Missing` answer is called: checkers report it instead of crashing."""


class Missing:
    """Stands for an answer whose name is not defined when its check cell runs.

    A typo (``def buld_unet``) or a SyntaxError in an exercise cell leaves the name undefined;
    in a notebook, check calls look their arguments up with :func:`answer`, so the check reports
    it and hands back the reference, and the rest of the notebook goes on.
    """

    def __init__(self, name: str):
        self.name = name

    @property
    def message(self) -> str:
        return (f"`{self.name}` is not defined: the exercise cell above did not define it (did it "
                f"stop on a SyntaxError, or is the name spelt differently?). Fix it and run that "
                "cell, then this one. Using the reference meanwhile.")

    def __call__(self, *args, **kwargs):
        raise MissingAnswer(self.message)

    def __repr__(self) -> str:
        return f"<undefined {self.name}>"


def answer(name: str, namespace: dict) -> Any:
    """``namespace[name]``, or a :class:`Missing` placeholder when the name is not defined.

    In a graded run the answer is recorded on its way to the checker
    (:func:`cnncourse.checks.record.record_answer`)."""
    from cnncourse.checks.record import record_answer

    if name in namespace:
        return record_answer(name, namespace[name])
    return record_answer(name, Missing(name), missing=True)


class _CheckArgumentsLookup:
    """IPython AST transformer for top-level statements that call a checker
    (``... checks.topic.fn(name, ..., key=name2)``): each plain-name argument is looked up with
    :func:`answer`, so an undefined one is reported by the check (⏳) instead of raising NameError
    before the check can run; in a graded run the answers are recorded on the way and the record
    is displayed after the statement (:mod:`cnncourse.checks.record`)."""

    def visit(self, tree):
        import ast

        body = []
        for stmt in getattr(tree, "body", []):
            finder = _CheckCalls()
            original = ast.unparse(stmt) if _grading() else ""
            stmt = finder.visit(stmt)
            body.append(stmt)
            if finder.found:
                statement = ast.Constant(original)
                body.append(ast.Expr(_record_call("publish_transcript", [statement], "transcript")))
        if hasattr(tree, "body"):
            tree.body = body
        return ast.fix_missing_locations(tree)


def _grading() -> bool:
    from cnncourse.checks.record import grading

    return grading()


def _record_call(function: str, args: list, module: str = "record"):
    import ast

    module = ast.Call(ast.Name("__import__", ast.Load()),
                      [ast.Constant(f"cnncourse.checks.{module}")],
                      [ast.keyword("fromlist", ast.List([ast.Constant(function)], ast.Load()))])
    return ast.Call(ast.Attribute(module, function, ast.Load()), args, [])


class _CheckCalls:
    """Rewrites the check calls in one statement, outside function and class bodies."""

    def __init__(self):
        self.found = False

    def visit(self, node):
        import ast

        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            return node   # names inside a function body are its locals: leave them alone
        for field_name, value in ast.iter_fields(node):
            if isinstance(value, list):
                setattr(node, field_name, [self.visit(v) if isinstance(v, ast.AST) else v for v in value])
            elif isinstance(value, ast.AST):
                setattr(node, field_name, self.visit(value))
        if isinstance(node, ast.Call) and _is_check_call(node.func):
            self.found = True
            node.args = [_lookup(a) if isinstance(a, ast.Name) else a for a in node.args]
            for kw in node.keywords:
                if isinstance(kw.value, ast.Name):
                    kw.value = _lookup(kw.value)
            return ast.copy_location(_record_call("unwrap", [node]), node)
        return node


def _is_check_call(func) -> bool:
    import ast

    while isinstance(func, ast.Attribute):
        func = func.value
    return isinstance(func, ast.Name) and func.id == "checks"


def _lookup(name_node):
    import ast

    call = ast.parse(f"__import__('cnncourse.checks', fromlist=['answer']).answer({name_node.id!r}, "
                     "globals())", mode="eval").body
    return ast.copy_location(call, name_node)


def install_notebook_hook(shell: InteractiveShell | None = None) -> bool:
    """Make check calls in an IPython ``shell`` (default: the running one) robust to undefined
    answers; return whether a shell was found. Called when this module is imported in a kernel."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None or not hasattr(shell, "ast_transformers"):
        return False
    if not any(isinstance(t, _CheckArgumentsLookup) for t in shell.ast_transformers):
        shell.ast_transformers.append(_CheckArgumentsLookup())
    return True


# --------------------------------------------------------------------------------------------
# Verdicts


_GENERIC_MISTAKES = (
    Mistake("the result has the right values transposed (rows and columns swapped).",
            when=lambda g, e, c: _arrays(g, e) and np.ndim(e) == 2 and np.shape(e)[0] != 1
            and np.shape(g) == np.shape(e)[::-1] and np.allclose(np.transpose(g), e)),
    Mistake("the result has the right size but the wrong sign.",
            when=lambda g, e, c: _arrays(g, e) and np.shape(g) == np.shape(e)
            and np.any(np.asarray(e) != 0) and np.allclose(g, -np.asarray(e))),
)


def _arrays(g, e) -> bool:
    try:
        np.asarray(g, dtype=float), np.asarray(e, dtype=float)
        return True
    except (TypeError, ValueError):
        return False


def _record(result: Result, verbose: bool) -> Result:
    _HISTORY.append(result)
    if verbose:
        print(result)
    return result


def _default_call(fn: Callable, case: Case) -> Any:
    """How an answer is called on a case when the checker gives no ``call`` adapter."""
    return fn(*_copy(case.args), **_copy(case.kwargs))


def evaluate_function(fn: Callable, reference: Callable, cases: Sequence, *, name: str | None = None,
                      mistakes: Sequence[Mistake] = (), hint: str = "", rtol: float = 1e-6,
                      atol: float = 1e-8, compare_with: Callable | None = None,
                      call: Callable[[Callable, Case], Any] | None = None,
                      diagnose: Callable[[Any, Any, Case], Any] | None = None,
                      verbose: bool = True) -> Result:
    """Run ``fn`` and ``reference`` on every case and return the verdict (also printed and recorded).

    Parameters
    ----------
    fn, reference : callable
        The learner's answer and the correct implementation.
    cases : sequence of Case, tuple or dict
        Inputs; a tuple is positional arguments, a dict keyword arguments. Each call gets a deep
        copy, so an answer that modifies its input cannot spoil later cases.
    name : str
        Name shown in the verdict (default: the reference's ``__name__``).
    mistakes : sequence of Mistake
        Likely mistakes, tried in order; the first that explains every failing case is named.
    hint : str
        Printed when the answer is wrong and no listed mistake matches.
    rtol, atol : float
        Tolerance for numbers and arrays: comparing with the reference (unless ``compare_with`` is
        given) and recognising a ``Mistake(wrong=...)`` by behaviour (always).
    compare_with : callable, optional
        ``compare_with(got, expected) -> (ok, explanation)`` replacing :func:`compare`.
    call : callable, optional
        ``call(fn, case) -> got``: how the answer, the reference and every ``Mistake(wrong=...)``
        are called on a case (default ``fn(*deepcopy(case.args), **deepcopy(case.kwargs))``). An
        adapter may set up a context (``np.errstate``, counting calls) or build and probe a model
        and return a plain summary of it (layer types, output shape, parameter count), which is
        then what is compared. It must only *call* ``fn`` (in a graded run ``fn`` is a record or a
        replay of the learner's function), the same way in every run.
    diagnose : callable, optional
        ``diagnose(got, expected, case) -> set or list of str``: finding codes for a failing case
        (a list keeps its order where they are printed), run once
        per failing case (only when some mistake asks for a finding); ``Mistake(finding=code)``
        matches when every failing case has ``code``. Findings starting with ``"missing: "`` or
        ``"extra: "`` (see :func:`structure_findings`) are printed when no mistake matches
        (before the hint).
        When the answer raises, ``diagnose(exception, expected, case)`` is asked too, and a
        ``Mistake(finding=...)`` it names is added to the error verdict (a crash that a known
        mistake causes: the weights read in another layout, say).

    Every verdict text (not done, error, undefined answer, library shortcut, wrong, correct) is
    written here; a topic checker only supplies cases, mistakes and a hint.
    """
    name = name or getattr(reference, "__name__", "exercise")
    cmp = compare_with or (lambda g, e: compare(g, e, rtol=rtol, atol=atol))
    run = call or _default_call
    cases = [_as_case(c) for c in cases]
    shortcut = None if fn is reference else library_shortcut(fn, name)
    if shortcut:
        return _record(Result(name, FAILED, f"calls the library's `{shortcut}` instead of writing "
                              "it: this exercise is to write it yourself (the library's version is "
                              "what the check compares with). Using the reference implementation "
                              "meanwhile."), verbose)
    tried, failures = [], []   # (case, got, expected) for every case run / every failing one
    for case in cases:
        expected = run(reference, case)
        try:
            got = run(fn, case)
        except MissingAnswer as exc:
            return _record(Result(name, NOT_DONE, str(exc)), verbose)
        except NotImplementedError:
            if failures:
                break
            return _record(Result(name, NOT_DONE, "not done yet (the stub still raises "
                                  "NotImplementedError). Using the reference implementation so "
                                  "the notebook can go on."), verbose)
        except Exception as exc:  # the learner's code crashed: say where and go on
            if failures:
                break
            crash = [(case, exc, expected, "")]
            explanation = _Explainer(crash, crash, run, diagnose, rtol, atol).explain_crash(mistakes)
            return _record(Result(name, ERROR, f"raised {type(exc).__name__}: {exc} for input "
                                  f"({case.describe()}). Fix it and run the cell again; using the "
                                  f"reference implementation meanwhile.{explanation}"), verbose)
        if got is Ellipsis:
            return _record(Result(name, NOT_DONE, "not done yet (the function returns `...`). "
                                  "Using the reference implementation."), verbose)
        tried.append((case, got, expected))
        ok, why = cmp(got, expected)
        if not ok:
            failures.append((case, got, expected, why))
    if failures:
        case, got, expected, why = failures[0]
        more = f" (and {len(failures) - 1} more of the {len(cases)} cases)" if len(failures) > 1 else ""
        explanation = _Explainer(tried, failures, run, diagnose, rtol, atol).explain(mistakes, hint)
        return _record(Result(name, FAILED, f"wrong for input ({case.describe()}){more}: {why}."
                              f"{explanation} Using the reference implementation for the "
                              "rest of the notebook."), verbose)
    return _record(Result(name, PASSED, f"correct on {len(cases)} case{'s' * (len(cases) != 1)}."),
                   verbose)


def library_shortcut(fn: Callable, name: str) -> str | None:
    """Name the ``cnncourse`` function that ``fn`` hands the exercise to, or ``None``.

    A learner who answers ``build_unet`` with ``seg.build_unet`` (or a function whose body only
    calls it) has not done the exercise. ``fn`` is a shortcut when it *is* a ``cnncourse``
    function called ``name`` (leading underscores ignored), or when its code (nested functions
    included) reaches one through a global name or a ``cnncourse`` module attribute. A checker's
    wrapper made with ``functools.wraps`` is seen through (``__wrapped__``).
    """
    import inspect

    from cnncourse.checks.record import Replay

    if isinstance(fn, Replay):   # in the grader: the audit of the answer cell applies this rule
        return None
    fn = inspect.unwrap(fn) if callable(fn) else fn
    target = name.lstrip("_")
    if not target or target == "<lambda>":
        return None

    def _library(obj) -> str | None:
        module = getattr(obj, "__module__", None) or ""
        if (callable(obj) and module.startswith("cnncourse")
                and getattr(obj, "__name__", "").lstrip("_") == target
                and "<locals>" not in getattr(obj, "__qualname__", "")):   # not a checker's own wrapper
            return f"{module}.{obj.__name__}"
        return None

    found = _library(fn)
    code, scope = getattr(fn, "__code__", None), getattr(fn, "__globals__", {})
    if found or code is None or scope.get("__name__", "").startswith("cnncourse"):
        return found
    names, stack = set(), [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if hasattr(k, "co_names"))
    scope = dict(scope)
    for var, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ()):
        try:
            scope[var] = cell.cell_contents
            names.add(var)
        except ValueError:   # an empty cell
            pass
    for n in names:
        obj = scope.get(n)
        found = _library(obj)
        if found:
            return found
        if getattr(obj, "__name__", "").startswith("cnncourse"):   # a module: seg.build_unet(...)
            for attr in (target, "_" + target):
                found = attr in names and _library(getattr(obj, attr, None))
                if found:
                    return found
    return None


def check_function(fn: Callable, reference: Callable, cases: Sequence, **kwargs) -> Callable:
    """Check ``fn`` like :func:`evaluate_function`; return ``fn`` if it passed, else ``reference``."""
    result = evaluate_function(fn, reference, cases, **kwargs)
    return fn if result.passed else reference


def evaluate_value(value: Any, expected: Any, *, name: str, mistakes: Sequence[Mistake] = (),
                   hint: str = "", rtol: float = 1e-6, atol: float = 1e-8,
                   diagnose: Callable[[Any, Any, None], Any] | None = None,
                   verbose: bool = True) -> Result:
    """Compare a value the learner computed with the expected one (printed and recorded).

    ``mistakes`` are matched as in :func:`evaluate_function` (a ``wrong`` is a wrong *value*;
    ``diagnose(value, expected, None)`` gives the findings); ``rtol``, ``atol`` are the tolerance.
    """
    if isinstance(value, Missing):
        return _record(Result(name, NOT_DONE, value.message), verbose)
    if value is Ellipsis:
        return _record(Result(name, NOT_DONE, "not done yet (still `...`). Using the correct "
                              "value so the notebook can go on."), verbose)
    ok, why = compare(value, expected, rtol=rtol, atol=atol)
    if ok:
        return _record(Result(name, PASSED, f"correct ({_short(value)})."), verbose)
    failures = [(None, value, expected, why)]
    explanation = _Explainer(failures, failures, None, diagnose, rtol, atol).explain(mistakes, hint)
    return _record(Result(name, FAILED, f"{why}.{explanation} Using the correct value for the "
                          "rest of the notebook."), verbose)


def check_value(value: Any, expected: Any, **kwargs) -> Any:
    """Check a value like :func:`evaluate_value`; return ``value`` if right, else ``expected``."""
    return value if evaluate_value(value, expected, **kwargs).passed else expected


def _as_case(case) -> Case:
    if isinstance(case, Case):
        return case
    if isinstance(case, dict):
        return Case(kwargs=case)
    if isinstance(case, tuple):
        return Case(args=case)
    return Case(args=(case,))


class _Explainer:
    """Finds the mistake that explains a wrong answer (see :class:`Mistake`).

    ``tried`` holds ``(case, got, expected)`` for every case run, ``failures`` ``(case, got,
    expected, why)`` for the failing ones; ``run`` calls a wrong implementation on a case (``None``
    for a value exercise: ``wrong`` is a value). What a wrong implementation gives and what
    ``diagnose`` finds are computed once per case and kept for every mistake.
    """

    def __init__(self, tried, failures, run, diagnose, rtol, atol):
        self.tried, self.failures, self.run, self.diagnose = tried, failures, run, diagnose
        self.rtol, self.atol = rtol, atol
        self._wrong: dict[tuple[int, int], Any] = {}
        self._findings: dict[int, tuple] = {}

    def explain(self, mistakes: Sequence[Mistake], hint: str) -> str:
        mistakes = list(mistakes)
        for mistake in mistakes + list(_GENERIC_MISTAKES):
            if self._matches(mistake, everywhere=True):
                return f" Likely mistake: {mistake.message}"
        for mistake in mistakes:   # second pass: the mistake plus another one
            if (callable(mistake.wrong) and not mistake.everywhere and self.run is not None
                    and self._matches(mistake, everywhere=False)):
                return f" Likely mistake: {mistake.message}"
        parts = [f for f in self.findings(0) if f.startswith(("missing: ", "extra: "))]
        parts = f" Compared with what the exercise asks: {'; '.join(parts)}." if parts else ""
        got = self.failures[0][1]
        if isinstance(got, float) and math.isnan(got):
            return parts + " The answer is NaN: look for 0/0, log(0) or an overflow."
        return parts + (f" Hint: {hint}" if hint else "")

    def explain_crash(self, mistakes: Sequence[Mistake]) -> str:
        """The ``Mistake(finding=...)`` that explains an answer that raised (the exception is
        ``got``), or ''."""
        for mistake in mistakes:
            if mistake.finding is not None and mistake.finding in self.findings(0):
                return f" Likely mistake: {mistake.message}"
        return ""

    def _matches(self, mistake: Mistake, *, everywhere: bool) -> bool:
        if mistake.wrong is not None:
            # A wrong implementation must reproduce the answer on every case tried (first pass)
            # or on every failing case (second pass); a wrong value, the value.
            pool = (self.tried if everywhere and self.run is not None and callable(mistake.wrong)
                    else self.failures)
            return all(self._acts_like(mistake, case, got) for case, got, *_ in pool)
        if mistake.finding is not None:
            return all(mistake.finding in self.findings(i) for i in range(len(self.failures)))
        try:
            return all(bool(mistake.when(got, expected, case))
                       for case, got, expected, *_ in self.failures)
        except Exception:  # a predicate that cannot run on this answer does not match
            return False

    def _acts_like(self, mistake: Mistake, case, got) -> bool:
        try:
            if self.run is None or not callable(mistake.wrong):
                wrong = mistake.wrong
            else:
                key = (id(mistake), id(case))
                if key not in self._wrong:
                    with np.errstate(all="ignore"):
                        self._wrong[key] = self.run(mistake.wrong, case)
                wrong = self._wrong[key]
            return compare(got, wrong, rtol=self.rtol, atol=self.atol)[0]
        except Exception:  # a mistake model that cannot run on this input does not match
            return False

    def findings(self, i: int) -> tuple:
        """What ``diagnose`` finds for failing case ``i`` (computed once): in the order given by a
        list or tuple, sorted when given a set (so that verdicts do not depend on hashing)."""
        if self.diagnose is None:
            return ()
        if i not in self._findings:
            case, got, expected, _ = self.failures[i]
            try:
                found = self.diagnose(got, expected, case) or ()
                found = found if isinstance(found, (list, tuple)) else sorted(found)
                self._findings[i] = tuple(dict.fromkeys(str(f) for f in found))
            except Exception:  # a diagnosis that cannot run on this answer finds nothing
                self._findings[i] = ()
        return self._findings[i]


def structure_findings(got: Sequence, expected: Sequence, *, what: str = "") -> list[str]:
    """Findings naming the parts that ``got`` lacks or adds compared with ``expected``, in order.

    ``got`` and ``expected`` are sequences of part descriptions (str; for a model, its layers in
    order, e.g. ``["Conv2D(16, 3)", "MaxPooling2D", "Dense(10)"]``). Returns codes such as
    ``"missing: Dropout after Dense(64)"``, ``"extra: MaxPooling2D after Conv2D(16, 3)"`` (a
    second one of a kind says so: ``"extra: a second MaxPooling2D after ..."``), ``"missing:
    Dense(32, relu) after Dropout(0.25) (found Dense(8, relu) there)"``; ``what`` is put before
    the position (``"in the encoder"``). An empty list when the sequences are equal. A
    ``diagnose`` can return these: :func:`evaluate_function` prints them when no mistake matches.
    """
    import difflib

    got, expected = [str(p) for p in got], [str(p) for p in expected]
    where = f" {what}" if what else ""
    found: list[str] = []

    def position(parts, k):
        return f" after {parts[k - 1]}" if k else " at the start"

    matcher = difflib.SequenceMatcher(a=expected, b=got, autojunk=False)
    for op, e0, e1, g0, g1 in matcher.get_opcodes():
        wanted, there, pairs = list(range(e0, e1)), list(range(g0, g1)), 0
        if op == "replace":   # one for one: say what stands where the part belongs
            pairs = min(len(wanted), len(there))
            found += [f"missing: {expected[e]}{where}{position(expected, e)} (found {got[g]} there)"
                      for e, g in zip(wanted[:pairs], there[:pairs])]
        if op in ("delete", "replace"):
            found += [f"missing: {expected[e]}{where}{position(expected, e)}" for e in wanted[pairs:]]
        if op in ("insert", "replace"):
            for g in there[pairs:]:
                second = "a second " if got[g] in expected or got[g] in got[:g] else ""
                found.append(f"extra: {second}{got[g]}{where}{position(got, g)}")
    return list(dict.fromkeys(found))


install_notebook_hook()


def __getattr__(name: str):
    """Topic checkers load on first use: ``checks.welcome`` imports ``cnncourse.checks.welcome``."""
    import importlib

    if name.startswith("_"):
        raise AttributeError(name)
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            raise AttributeError(f"cnncourse.checks has no checker module {name!r}") from None
        raise
