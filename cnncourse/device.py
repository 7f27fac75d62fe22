"""Compute device: quiet TensorFlow import, GPU detection, memory growth, mixed precision, strategy.

TensorFlow-specific code lives here (and in ``tf.data`` pipelines) so that the rest of the library
can use ``keras`` / ``keras.ops`` and also run under ``KERAS_BACKEND=jax``.
"""
from __future__ import annotations

import contextlib
import functools
import os

# No import of cnncourse.config here (config.pick imports this module): `import cnncourse.device`
# runs cnncourse/__init__ first, which imports config, which sets TF_CPP_MIN_LOG_LEVEL.


@contextlib.contextmanager
def _silenced_stderr_fd():
    """Send file descriptor 2 to /dev/null: TensorFlow's C++ start-up lines bypass Python logging."""
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (some embedded environments)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def backend() -> str:
    """Name of the Keras backend that will be used (``"tensorflow"`` unless ``KERAS_BACKEND`` says)."""
    return os.environ.get("KERAS_BACKEND", "tensorflow")


@functools.lru_cache(maxsize=None)
def import_tensorflow():
    """Import TensorFlow once, without its C++ start-up chatter on stderr, and return the module."""
    with _silenced_stderr_fd():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # CUDA probing logs here too ("failed call to cuInit")
    return tf


@functools.lru_cache(maxsize=None)
def import_keras():
    """Import Keras 3 (after a quiet TensorFlow import when TensorFlow is the backend)."""
    if backend() == "tensorflow":
        import_tensorflow()
    with _silenced_stderr_fd():
        import keras
    return keras


@functools.lru_cache(maxsize=None)
def gpu_names() -> tuple[str, ...]:
    """Names of the visible GPUs, e.g. ``("NVIDIA H100 80GB HBM3",)``; empty on a CPU-only machine."""
    if backend() == "jax":
        import jax

        return tuple(d.device_kind for d in jax.devices() if d.platform == "gpu")
    tf = import_tensorflow()
    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    return tuple(names)


def describe() -> str:
    """One phrase naming the device, e.g. ``"GPU: NVIDIA H100"`` or ``"CPU (2 cores)"``."""
    names = gpu_names()
    if names:
        return f"GPU: {', '.join(names)}"
    return f"CPU ({os.cpu_count()} cores)"


def configure(*, memory_growth: bool = True, mixed_precision: bool = False) -> None:
    """Prepare the device: GPU memory growth (so several notebooks can share a GPU) and,
    optionally, mixed precision (``mixed_float16``; worth it on GPUs with tensor cores).

    Call before building any model. Safe to call more than once.
    """
    keras = import_keras()
    if backend() == "tensorflow" and memory_growth:
        tf = import_tensorflow()
        for gpu in tf.config.list_physical_devices("GPU"):
            with contextlib.suppress(RuntimeError):  # already initialised: setting is fixed
                tf.config.experimental.set_memory_growth(gpu, True)
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")


def strategy():
    """A ``tf.distribute`` strategy: mirrored over all GPUs when there are several, else the default.

    Build and compile models inside ``with strategy().scope():``. To grow past one machine use
    ``tf.distribute.MultiWorkerMirroredStrategy`` with a ``TF_CONFIG`` per worker:
    :func:`cnncourse.distributed.train_multiworker` (``python -m cnncourse.distributed`` on every
    machine) does that for the course's small 3D CNN.
    """
    tf = import_tensorflow()
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
