"""``cnncourse bench lenet``: training throughput of LeNet-5 vs the MLP of similar size."""
from __future__ import annotations

import numpy as np

from cnncourse import config
from cnncourse.tools.bench import median_time, print_table
from cnncourse.models import lenet5, mlp


def run(*, fast: bool | None = None, verbose: bool = True) -> dict:
    """One training epoch on random 32x32x3 images (2048, or 256 when fast); ``{"epoch": rows}``."""
    from cnncourse.device import import_keras

    fast = config.FAST if fast is None else fast
    keras = import_keras()
    n = 256 if fast else 2048
    rng = np.random.default_rng(0)
    x = rng.random((n, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 2, n)
    rows = []
    for label, model in [("LeNet-5 (relu, max)", lenet5((32, 32, 3), 2, activation="relu",
                                                        pooling="max")),
                         ("MLP 3072-20-2", mlp((32, 32, 3), (20,), 2))]:
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
        t = median_time(lambda m=model: m.fit(x, y, batch_size=64, epochs=1, verbose=0),
                        repeat=1 if fast else 3)
        rows.append({"model": label, "params": model.count_params(), f"s / epoch ({n})": t,
                     "images / s": n / t})
    if verbose:
        print_table(rows, title=f"one training epoch on {n} random 32x32x3 images, batch 64")
    return {"epoch": rows}
