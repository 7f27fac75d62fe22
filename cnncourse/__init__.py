"""cnncourse: the helper library behind the course "CNNs for biomedical image analysis".

Importing the package is cheap (no TensorFlow). A notebook starts with::

    import cnncourse
    cnncourse.setup()

Submodules are imported where they are used, e.g. ``from cnncourse import checks``.

Importing the package also arranges for the course's custom Keras classes to be registered as soon
as Keras is imported (:mod:`cnncourse._keras_hook`), so ``keras.saving.load_model`` reads a saved
course model after just ``import cnncourse``.
"""
from __future__ import annotations

import platform
import random
from dataclasses import dataclass

from cnncourse import _keras_hook, config

__version__ = "0.1.0"
__all__ = ["setup", "Setup", "config", "__version__"]

_keras_hook.install()


@dataclass(frozen=True)
class Setup:
    """What :func:`setup` chose: the seed, the mode, the device and the library versions."""

    seed: int
    mode: str
    device: str
    versions: dict

    def __str__(self) -> str:
        why = "CNNCOURSE_FAST=1: small data, few epochs" if self.mode == "fast" else "default"
        vers = ", ".join(f"{k} {v}" for k, v in self.versions.items())
        return (f"cnncourse {__version__} | device: {self.device} | mode: {self.mode} ({why}) | "
                f"seed {self.seed} | {vers}")


def setup(seed: int | None = None, *, mixed_precision: bool = False, deterministic: bool = False,
          onednn: bool = False, verbose: bool = True) -> Setup:
    """Prepare a notebook: seeds, quiet TensorFlow, device configuration, the course's
    colour-blind-safe plot style (:func:`cnncourse.viz.use_style`), one summary line.

    Parameters
    ----------
    seed : int, optional
        Seed for Python's ``random``, NumPy's global generator and Keras (hence TensorFlow).
        Defaults to ``CNNCOURSE_SEED`` (0).
    mixed_precision : bool
        Use ``mixed_float16`` (only worthwhile on a GPU with tensor cores).
    deterministic : bool
        Turn on TensorFlow's deterministic ops. Not needed on a CPU: there, seeded runs already
        give identical numbers (checked by the tests), and TensorFlow 2.21 logs a spurious
        ``NodeDef mentions attribute use_unbounded_threadpool`` line on every ``fit`` with it on.
        On a GPU it makes runs repeatable at some cost in speed, and some ops then raise.
    onednn : bool
        Use oneDNN's CPU kernels (:func:`cnncourse.device.use_onednn`): convolutions 2-4x cheaper on
        CPUs where TensorFlow leaves them off. Must come before anything imports TensorFlow.
    verbose : bool
        Print the one-line summary (device, mode, versions).

    Returns
    -------
    Setup
        The choices made; ``str()`` of it is the printed line.
    """
    import numpy as np

    from cnncourse import device, viz

    seed = config.SEED if seed is None else int(seed)
    onednn = onednn and device.backend() == "tensorflow" and device.use_onednn()
    keras = device.import_keras()
    device.configure(mixed_precision=mixed_precision)
    viz.use_style()
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    versions = {"Python": platform.python_version(), "NumPy": np.__version__}
    backend = keras.backend.backend()  # what Keras uses (KERAS_BACKEND or ~/.keras/keras.json)
    if backend == "tensorflow":
        tf = device.import_tensorflow()
        versions["TensorFlow"] = tf.__version__
        if deterministic:
            tf.config.experimental.enable_op_determinism()
    else:
        versions[backend] = "backend"
    versions["Keras"] = keras.__version__
    where = device.describe()
    if onednn and not device.gpu_names():
        where += ", oneDNN kernels"
    info = Setup(seed=seed, mode=config.mode(), device=where, versions=versions)
    if verbose:
        print(info)
    return info
