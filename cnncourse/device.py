"""Compute device: quiet TensorFlow import, GPU detection, memory growth, mixed precision, strategy.

TensorFlow-specific code lives here (and in ``tf.data`` pipelines) so that the rest of the library
can use ``keras`` / ``keras.ops`` and also run under ``KERAS_BACKEND=jax``.
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys

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


def use_onednn() -> bool:
    """Ask TensorFlow for oneDNN's CPU kernels; returns whether they will be used.

    oneDNN makes TensorFlow's convolutions 2-4x cheaper on x86 CPUs where TensorFlow does not turn
    it on by itself (it does with AVX-512 VNNI/BF16 or AMX; not on AVX2). TensorFlow reads the
    switch, ``TF_ENABLE_ONEDNN_OPTS=1``, once, when it is imported: call this first. A value the
    user set (``TF_ENABLE_ONEDNN_OPTS=0``) is kept, and this returns False. Numbers change in the
    last digits (other summation orders), so a notebook keeps one choice.

    Raises
    ------
    RuntimeError
        TensorFlow is already imported without oneDNN (restart the kernel).
    """
    value = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if value not in (None, "1"):
        return False                                   # the user's choice
    if "tensorflow" in sys.modules and value is None:
        from tensorflow.python.util import _pywrap_util_port

        if not _pywrap_util_port.IsMklEnabled():
            raise RuntimeError("oneDNN: TensorFlow was imported before setup(onednn=True) without "
                               "it; restart the kernel and run setup first")
        return True                                    # on by default on this CPU
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    return True


@functools.lru_cache(maxsize=None)
def import_tensorflow():
    """Import TensorFlow once, without its C++ start-up chatter on stderr, and return the module."""
    with _silenced_stderr_fd():
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")  # CUDA probing logs ("failed call to cuInit")
        if not gpus and os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "1":
            # oneDNN logs "supports DT_INT32 only on platforms with AVX-512" once per process, at
            # the first integer op it leaves to Eigen (in a notebook: in some cell's output)
            tf.transpose(tf.zeros((2, 3), tf.int32))
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
    :func:`cnncourse.tools.distributed.train_multiworker` (``python -m cnncourse.tools.distributed`` on every
    machine) does that for the course's small 3D CNN.
    """
    tf = import_tensorflow()
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
