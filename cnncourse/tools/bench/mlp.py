"""``cnncourse bench mlp``: the training loops of notebook 04 (Keras) and the NumPy MLP's L-BFGS
fit with 1 BLAS thread vs the library default."""
from __future__ import annotations

import numpy as np

from cnncourse import config
from cnncourse.tools.bench import median_time, print_table
from cnncourse.mlp import MLP


def run(*, fast: bool | None = None, verbose: bool = True) -> dict:
    """One epoch on 60 samples (one full-batch step plus a validation pass on 1,500 samples) with
    Keras ``fit``, with ``train_on_batch``/``test_on_batch``, and the L-BFGS fits of the 1-D
    profile; ``{"keras": rows, "blas": rows}``. Fast: fewer epochs, repeats and iterations."""
    from cnncourse.device import import_keras

    fast = config.FAST if fast is None else fast
    keras = import_keras()
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 2)).astype("float32"), rng.integers(0, 3, 60)
    Xv, yv = rng.normal(size=(1500, 2)).astype("float32"), rng.integers(0, 3, 1500)

    def model():
        m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(256, activation="relu"), keras.layers.Dense(3)])
        m.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
        return m

    m1, m2, epochs = model(), model(), 5 if fast else 20
    repeat = 1 if fast else 3
    fit = median_time(lambda: m1.fit(X, y, batch_size=60, epochs=epochs, validation_data=(Xv, yv),
                                      verbose=0), repeat=repeat, warmup=1) / epochs
    on_batch = median_time(lambda: (m2.train_on_batch(X, y), m2.test_on_batch(Xv, yv)),
                           repeat=5 if fast else 20, warmup=2)
    keras_rows = [{"loop": f"model.fit(epochs={epochs}, validation_data=...)", "ms per epoch": 1e3 * fit},
                  {"loop": "train_on_batch + test_on_batch", "ms per epoch": 1e3 * on_batch}]

    x = np.linspace(-1, 1, 256)[:, None]
    t = np.sin(6 * x) + 0.5 * np.cos(17 * x)
    maxiter = 50 if fast else 300

    def lbfgs(threads):
        net = MLP((1, 16, 1), activation="tanh", output="linear")
        net.blas_threads = threads  # None: the BLAS library's default thread count
        net.fit_lbfgs(x, t, maxiter=maxiter)

    blas_rows = [{"BLAS threads": "1 (as fit_lbfgs does)", "s per fit": median_time(lambda: lbfgs(1), repeat=repeat)},
                 {"BLAS threads": "library default", "s per fit": median_time(lambda: lbfgs(None), repeat=repeat)}]
    if verbose:
        print_table(keras_rows, title="Keras, 2-256-256-3 network, 60 training / 1500 validation samples")
        print_table(blas_rows, title=f"NumPy MLP 1-16-1, L-BFGS {maxiter} iterations on 256 points")
    return {"keras": keras_rows, "blas": blas_rows}
