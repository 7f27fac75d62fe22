"""Course-wide settings: the one place where environment variables are read.

``CNNCOURSE_FAST=1``   fast mode (set by the tests): smaller data, fewer epochs, same code path.
``CNNCOURSE_SEED``     global seed used by :func:`cnncourse.setup` (default 0).
``CNNCOURSE_DATA``     folder with the shipped data files (default: ``data/`` of this checkout, or
                       the copy inside an installed wheel).
"""
from __future__ import annotations

import os
from pathlib import Path

# TensorFlow reads this when it is first imported: quiet its C++ logging unless the user chose.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_TRUE = {"1", "true", "yes", "on"}

FAST: bool = os.environ.get("CNNCOURSE_FAST", "").strip().lower() in _TRUE
SEED: int = int(os.environ.get("CNNCOURSE_SEED", "0"))
#: Subpackage of an installed wheel holding the course files (pyproject.toml maps the
#: repository's top-level data/, lessons/ and solutions/ onto it at build time).
SHIPPED_PACKAGE = "cnncourse._course"


def _course_root() -> tuple[Path, bool]:
    """Folder holding ``data/``, ``lessons/`` and ``solutions/``, and whether it is a repository.

    A checkout (``pip install -e .``, what ``make`` does, or ``PYTHONPATH`` on the repository)
    uses the repository's top-level folders, the single source. An installed wheel has them as
    package data in :data:`SHIPPED_PACKAGE`, found with :mod:`importlib.resources`.
    """
    package_dir = Path(__file__).resolve().parent
    shipped = package_dir / "_course"
    if shipped.is_dir():
        from importlib import resources

        root = resources.files("cnncourse") / "_course"  # (_course is a namespace package)
        if not isinstance(root, Path):  # e.g. a zipped install: the course needs real files
            raise RuntimeError(f"{SHIPPED_PACKAGE} is not a folder on disk ({root!r}): install "
                               "cnncourse from its wheel with pip (not as a zip)")
        return root, False
    return package_dir.parent, True


#: ROOT: the folder with data/, lessons/, solutions/; IN_REPOSITORY: False for an installed wheel.
ROOT, IN_REPOSITORY = _course_root()
DATA_DIR: Path = Path(os.environ.get("CNNCOURSE_DATA", ROOT / "data"))
SOLUTIONS_DIR: Path = ROOT / "solutions"
LESSONS_DIR: Path = ROOT / "lessons"
#: False for a learner install (the wheel `make wheel-learner` builds): no solutions/ at all, and
#: `cnncourse run` runs the lessons instead.
HAS_SOLUTIONS: bool = SOLUTIONS_DIR.is_dir() and any(SOLUTIONS_DIR.glob("*.ipynb"))


def restore_hint(name: str) -> str:
    """How to get a damaged or missing course file ``name`` (e.g. ``"data/ct.npz"``) back."""
    if IN_REPOSITORY:
        return f"restore it with `git checkout -- {name}` (or re-clone the course)"
    return "reinstall the course: `pip install --force-reinstall --no-deps cnncourse`"


def mode() -> str:
    """``"fast"`` or ``"full"``."""
    return "fast" if FAST else "full"


def pick(*, fast, full, gpu=None):
    """Choose a size for the current mode and device.

    Parameters
    ----------
    fast, full : any
        Values used in fast mode (tests, CI) and in full mode on a CPU (a learner's laptop).
    gpu : any, optional
        Value used in full mode when a GPU is present; defaults to ``full``.

    Examples
    --------
    >>> n_train = pick(fast=512, full=4000, gpu=40000)  # doctest: +SKIP
    """
    if FAST:
        return fast
    if gpu is not None:
        from cnncourse import device

        if device.gpu_names():
            return gpu
    return full
