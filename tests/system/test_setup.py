"""cnncourse.setup(): one summary line, and the same seed gives the same numbers."""
import os
import subprocess
import sys

import pytest

import cnncourse

_TRAIN = """
import cnncourse, numpy as np
cnncourse.setup(seed=7, verbose=False)
import keras
x = np.random.rand(256, 8).astype("float32"); y = (x.sum(1) > 4).astype("float32")
m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                      keras.layers.Dropout(0.3), keras.layers.Dense(1, activation="sigmoid")])
m.compile("adam", "binary_crossentropy")
h = m.fit(x, y, epochs=2, batch_size=32, verbose=0)
print(repr(h.history["loss"][-1]))
"""


def test_setup_prints_one_line(capsys):
    info = cnncourse.setup(seed=3)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0] == str(info)
    assert "device: " in out[0] and "mode: " in out[0] and "TensorFlow" in out[0] and "seed 3" in out[0]


def test_same_seed_same_training_numbers_without_stderr_noise():
    runs = [subprocess.run([sys.executable, "-c", _TRAIN], capture_output=True, text=True, check=True)
            for _ in range(2)]
    assert runs[0].stdout == runs[1].stdout and runs[0].stdout.strip()
    assert runs[0].stderr.strip() == "", f"TensorFlow wrote to stderr:\n{runs[0].stderr[:1000]}"


_ONEDNN = """
import os, sys
import cnncourse
info = cnncourse.setup(verbose=False, onednn=True)
import numpy as np, tensorflow as tf
from tensorflow.python.util import _pywrap_util_port
tf.transpose(tf.constant(np.zeros((2, 3), np.int32)))   # oneDNN's one-time integer notice
print(os.environ["TF_ENABLE_ONEDNN_OPTS"], _pywrap_util_port.IsMklEnabled(), info.device)
"""


def test_onednn_is_on_and_its_notice_stays_off_stderr():
    run = subprocess.run([sys.executable, "-c", _ONEDNN], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"})
    assert run.stdout.split()[:2] == ["1", "True"] and "oneDNN kernels" in run.stdout
    assert "oneDNN" not in run.stderr, run.stderr


def test_onednn_after_tensorflow_was_imported_without_it_says_restart():
    code = ("import sys, tensorflow, cnncourse\n"
            "from tensorflow.python.util import _pywrap_util_port\n"
            "if _pywrap_util_port.IsMklEnabled(): sys.exit(3)   # on by default on this CPU\n"
            "cnncourse.setup(verbose=False, onednn=True)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"})
    if run.returncode == 3:
        pytest.skip("oneDNN is on by default on this CPU")
    assert run.returncode != 0 and "restart the kernel" in run.stderr, run.stderr


def test_onednn_respects_the_users_choice():
    code = "import cnncourse\nprint(cnncourse.setup(verbose=False, onednn=True).device)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"})
    assert "oneDNN" not in run.stdout
