"""``cnncourse bench cnn3d``: seconds per training epoch of notebook 12's 3D CNN, with and without
rotation augmentation, at the fast-mode and full-mode sizes."""
from __future__ import annotations

import time

import numpy as np

from cnncourse import config
from cnncourse.tools.bench import print_table
from cnncourse.cnn3d import FAST_SIZE, FULL_SIZE, _build_cnn3d, make_dataset, train_cnn3d


def run(*, fast: bool | None = None, verbose: bool = True) -> dict:
    """``{"epoch": rows}``, a row per size and augmentation; fast: the fast-mode size only."""
    from cnncourse.data.synthetic3d import make_nuclei_3d
    from cnncourse.device import describe, import_keras

    fast = config.FAST if fast is None else fast
    keras = import_keras()
    rows = []
    sizes = (("fast", FAST_SIZE),) if fast else (("fast", FAST_SIZE), ("full", FULL_SIZE))
    for mode, (n, size) in sizes:
        volumes, _, y = make_nuclei_3d(n, size, seed=0)
        for augment in (False, True):
            keras.utils.set_random_seed(0)
            model = _build_cnn3d(volumes.shape[1:] + (1,))
            train_cnn3d(model, volumes, y, epochs=1, augment=augment)  # warm-up: traces
            ds = make_dataset(volumes, y, augment=augment, shuffle=True)
            times = []
            for _ in range(2):
                start = time.perf_counter()
                model.fit(ds, epochs=1, verbose=0, shuffle=False)
                times.append(time.perf_counter() - start)
            rows.append({"mode": mode, "volumes": f"{n} x {size}^3", "augment": augment,
                         "s/epoch": float(np.median(times)),
                         "ms/volume": 1000 * float(np.median(times)) / n})
    if verbose:
        print_table(rows, title=f"3D CNN training, seconds per epoch ({describe()})")
    return {"epoch": rows}
