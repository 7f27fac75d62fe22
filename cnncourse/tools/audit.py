"""Reading a submission's answer cells before they run: constructs that reach outside the answer.

An exercise is answered by defining a function or a value with plain Python and NumPy. Code that
imports the interpreter's machinery, reaches the checkers, rebinds the notebook's names or sets
attributes on objects it did not create can change how *other* code behaves (a checker, NumPy's
comparisons, the transcript), and code that calls the course library's own version of the
exercise has not done it. :func:`audit_answer` names every such construct; the grader gives the
exercise no credit and the instructor's report quotes the line.

The rules are deliberately syntactic (what the cell says, not what it does), so they cannot be
fooled by code that behaves differently when graded; the price is that an honest cell using, say,
``getattr`` is flagged too, and an instructor reads the quoted line.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

__all__ = ["Finding", "audit_answer", "notebook_names", "python_source"]

#: Modules whose import gives access to the interpreter, the kernel, files or the course's checks.
FORBIDDEN_MODULES = ("sys", "builtins", "importlib", "os", "ctypes", "gc", "inspect", "IPython",
                     "ipykernel", "subprocess", "types", "code", "runpy", "pickle", "marshal",
                     "unittest", "threading", "multiprocessing", "signal", "atexit", "shutil",
                     "pathlib", "io", "cnncourse.checks", "cnncourse.tools", "nbgrader")
#: Names that execute strings, reach namespaces or attributes by name, open files or stop the kernel.
FORBIDDEN_NAMES = ("__import__", "exec", "eval", "compile", "globals", "locals", "vars",
                   "setattr", "delattr", "getattr", "open", "exit", "quit", "get_ipython",
                   "breakpoint", "__builtins__", "display", "input", "memoryview")
ALLOWED_DUNDERS = ("__init__", "__call__", "__name__", "__repr__", "__len__", "__getitem__")


@dataclass(frozen=True)
class Finding:
    """One construct the grader does not accept in an answer cell: ``line`` of the cell, ``what``."""

    line: int
    what: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.what}"


def notebook_names(sources: list[str]) -> tuple[set[str], set[str]]:
    """``(names, course_modules)`` bound by imports in the instructor's (non-answer) cells:
    every imported name, and those that name a ``cnncourse`` module or object."""
    names, course = set(), set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    names.add(bound)
                    if alias.name.startswith("cnncourse"):
                        course.add(bound)
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    bound = alias.asname or alias.name
                    names.add(bound)
                    if (node.module or "").startswith("cnncourse"):
                        course.add(bound)
    return names, course


def _created_names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """``(created, parameters)``: names an attribute may be set on (``self`` / ``cls`` and names
    assigned a new object: the result of a call, a literal or a comprehension, not an alias of
    another name), and function parameters (whose items may be set: arrays passed in)."""
    created, parameters = {"self", "cls"}, set()
    new_object = (ast.Call, ast.List, ast.Dict, ast.Set, ast.Tuple, ast.ListComp, ast.DictComp,
                  ast.SetComp, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Subscript)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, new_object):
            created.update(n for t in node.targets for n in _target_names(t))
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and isinstance(node.target, ast.Name):
            created.add(node.target.id)
        elif isinstance(node, (ast.For, ast.comprehension)):
            created.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.arg):
            parameters.add(node.arg)
    return created, parameters


def _target_names(target: ast.AST) -> list[str]:
    """The names an assignment target binds (``a``, ``a, (b, c)``; not the ``a`` of ``a.x``)."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for t in target.elts for n in _target_names(t)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def python_source(source: str) -> str:
    """``source`` with IPython's syntax (magics, ``!`` commands) turned into the Python the kernel
    runs (so a magic shows up as a ``get_ipython()`` call)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return source
    return TransformerManager().transform_cell(source)


def _base_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _forbidden_module(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in FORBIDDEN_MODULES)


def audit_answer(source: str, *, notebook: set[str] = frozenset(),
                 course_modules: set[str] = frozenset(), exercises: set[str] = frozenset()
                 ) -> list[Finding]:
    """The constructs in answer cell ``source`` that the grader does not accept.

    Parameters
    ----------
    source : str
        The answer cell's code.
    notebook : set of str
        Names the instructor's cells import (``np``, ``checks``, ``neurons``, ...): an answer may
        use them but not rebind them.
    course_modules : set of str
        The subset that names ``cnncourse`` modules: the answer must not call their function of
        the exercise's own name (or its private ``_name``).
    exercises : set of str
        The answers this cell is checked for (the names its check cell hands to checkers), in
        addition to the functions and values it defines.

    Returns
    -------
    list of Finding
        Empty for an acceptable cell. A cell that does not parse gives no finding (it defines
        nothing, so its exercises are not done).
    """
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:
        return []
    findings: list[Finding] = []

    def flag(node, what):
        findings.append(Finding(getattr(node, "lineno", 0), what))

    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                if isinstance(t, ast.Name)}
    exercise_targets = {d.lstrip("_") for d in defined | set(exercises)}
    created, parameters = _created_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _forbidden_module(alias.name):
                    flag(node, f"imports {alias.name}")
                if (alias.asname or alias.name) in notebook:
                    flag(node, f"rebinds the notebook's name `{alias.asname or alias.name}`")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if _forbidden_module(module):
                flag(node, f"imports from {module}")
            for alias in node.names:
                if not _forbidden_module(module) and _forbidden_module(f"{module}.{alias.name}"):
                    flag(node, f"imports {module}.{alias.name}")
                if module.startswith("cnncourse") and alias.name.lstrip("_") in exercise_targets:
                    flag(node, f"imports the course's own `{alias.name}` (the exercise is to write it)")
                if (alias.asname or alias.name) in notebook:
                    flag(node, f"rebinds the notebook's name `{alias.asname or alias.name}`")
        elif isinstance(node, ast.Name):
            if node.id in FORBIDDEN_NAMES:
                flag(node, f"uses `{node.id}`")
            if isinstance(node.ctx, (ast.Store, ast.Del)) and node.id in notebook:
                flag(node, f"rebinds the notebook's name `{node.id}`")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("__") and node.attr.endswith("__") and node.attr not in ALLOWED_DUNDERS:
                flag(node, f"reaches the attribute `{node.attr}`")
            base = _base_name(node)
            if isinstance(node.ctx, (ast.Store, ast.Del)) and base not in created:
                flag(node, f"sets an attribute of `{base}`, which this cell did not create")
            if (isinstance(node.value, ast.Name) and node.value.id in course_modules
                    and node.attr.lstrip("_") in exercise_targets):
                flag(node, f"calls the course's own `{node.value.id}.{node.attr}` (the exercise is to "
                           "write it)")
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
            base = _base_name(node)
            if base not in created | parameters:
                flag(node, f"changes an item of `{base}`, which this cell did not create")
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            flag(node, f"declares {' '.join(node.names)} global")
    return sorted(set(findings), key=lambda f: (f.line, f.what))
