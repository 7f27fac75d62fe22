"""The examples in the library's docstrings run, and print what they say (doctest)."""
import doctest
import importlib
import pkgutil

import pytest

import cnncourse

MODULES = sorted(m.name for m in pkgutil.walk_packages(cnncourse.__path__, "cnncourse.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed"
