"""Helpers shared by the topic checkers of notebooks 01 and 02: mistakes recognised by behaviour.

:func:`acts_like` compares the learner's function with a wrong implementation on *every* case (as a
:class:`~cnncourse.checks.Mistake` built with ``wrong=`` is), and :func:`behaviour_mistakes` adds,
after those, the same mistakes matched on the failing cases only: an answer that makes the mistake
plus another one still gets the mistake named.
"""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import numpy as np

from cnncourse.checks import Case, Mistake, compare


def _call(fn, case: Case):
    with np.errstate(all="ignore"):
        return fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))


def acts_like(fn: Callable, wrong: Callable, cases: Sequence[Case], *, rtol: float = 1e-6,
              atol: float = 1e-8) -> bool:
    """True when ``fn`` gives the same results as ``wrong`` on every case (both must run)."""
    try:
        for case in cases:
            if not compare(_call(fn, case), _call(wrong, case), rtol=rtol, atol=atol)[0]:
                return False
    except Exception:
        return False
    return True


def behaviour_mistakes(fn: Callable, pairs: Sequence[tuple[str, Callable]], cases: Sequence[Case],
                       **tolerance) -> list[Mistake]:
    """``Mistake``s for ``(message, wrong_implementation)`` pairs: first those that match when
    ``fn`` behaves like a wrong implementation on every case, then the same mistakes matched on
    the failing cases only (for answers that make the mistake plus another one)."""
    everywhere = [Mistake(message, when=lambda g, e, c, wrong=wrong: acts_like(fn, wrong, cases, **tolerance))
                  for message, wrong in pairs]
    first_failure = [Mistake(message, when=lambda g, e, c, wrong=wrong: c is not None and
                             compare(g, _call(wrong, c), **tolerance)[0])
                     for message, wrong in pairs]
    return everywhere + first_failure
