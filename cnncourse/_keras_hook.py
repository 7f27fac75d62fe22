"""Register the course's Keras classes as soon as Keras is imported, without importing Keras here.

``import cnncourse`` stays cheap (no TensorFlow), yet a model saved with a course layer must load
with ``keras.saving.load_model`` after nothing but ``import cnncourse``. So :func:`install` (run by
``cnncourse/__init__.py``) does one of two things:

* Keras (and TensorFlow, if loaded) already imported: import the modules that define the classes
  (:data:`MODULES`) now;
* otherwise: put a finder on ``sys.meta_path`` that wraps the loaders of ``keras`` and
  ``tensorflow`` (``import tensorflow`` imports Keras half-way through its own import), and imports
  :data:`MODULES` once both have finished loading. The finder then removes itself.

A failure while registering is reported as a warning; it never breaks the import of Keras.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: Modules whose import registers every custom Keras class a notebook uses.
MODULES = ("cnncourse.layers", "cnncourse.sparse.layers")
_WATCHED = ("keras", "tensorflow")
_done = False


def _loaded(name: str) -> bool:
    module = sys.modules.get(name)
    if module is None:
        return name == "tensorflow"  # not needed unless it is being imported
    spec = getattr(module, "__spec__", None)
    return not getattr(spec, "_initializing", False)


def _register() -> None:
    global _done
    if _done or not all(_loaded(name) for name in _WATCHED):
        return
    _done = True
    _uninstall()
    try:
        for name in MODULES:
            importlib.import_module(name)
    except Exception as exc:  # keep `import keras` working whatever happens here
        warnings.warn(f"cnncourse could not register its Keras classes ({exc!r}); "
                      "import cnncourse.layers before loading a saved model", stacklevel=2)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _WATCHED:
            return None
        spec = _find_without_self(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            module.__spec__._initializing = False  # what importlib will set just after this
            _register()

        loader.exec_module = exec_then_register
        return spec


def _find_without_self(fullname):
    for finder in sys.meta_path:
        if isinstance(finder, _Finder) or not hasattr(finder, "find_spec"):
            continue
        spec = finder.find_spec(fullname, None)
        if spec is not None:
            return spec
    return None


def _uninstall() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Finder)]


def install() -> None:
    """Register now if Keras is loaded, else when it finishes loading (see the module docstring)."""
    if "keras" in sys.modules:
        _register()
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
