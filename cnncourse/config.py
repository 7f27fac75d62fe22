"""Course-wide settings: the one place where environment variables are read.

``CNNCOURSE_FAST=1``   fast mode (set by the tests): smaller data, fewer epochs, same code path.
``CNNCOURSE_SEED``     global seed used by :func:`cnncourse.setup` (default 0).
``CNNCOURSE_DATA``     folder with the shipped data files (default: ``data/`` of this checkout).
"""
from __future__ import annotations

import os
from pathlib import Path

# TensorFlow reads this when it is first imported: quiet its C++ logging unless the user chose.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_TRUE = {"1", "true", "yes", "on"}

FAST: bool = os.environ.get("CNNCOURSE_FAST", "").strip().lower() in _TRUE
SEED: int = int(os.environ.get("CNNCOURSE_SEED", "0"))
ROOT: Path = Path(__file__).resolve().parent.parent
DATA_DIR: Path = Path(os.environ.get("CNNCOURSE_DATA", ROOT / "data"))
SOLUTIONS_DIR: Path = ROOT / "solutions"
LESSONS_DIR: Path = ROOT / "lessons"


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
