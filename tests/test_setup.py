"""cnncourse.setup(): one summary line, and the same seed gives the same numbers."""
import subprocess
import sys

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
