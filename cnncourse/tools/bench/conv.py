"""``cnncourse bench conv``: conv2d with NumPy loops vs im2col vs ``tf.nn.conv2d`` on one batch."""
from __future__ import annotations

import numpy as np

from cnncourse import config
from cnncourse.tools.bench import median_time, print_table
from cnncourse.conv import conv2d, conv2d_loops

#: (N, size, C_in, C_out, k) of the batches timed; the fast version times the first only.
CASES = [(1, 64, 3, 8, 3), (8, 64, 16, 32, 3), (8, 32, 3, 6, 5)]


def run(*, fast: bool | None = None, verbose: bool = True) -> dict:
    """Loops vs im2col vs TensorFlow on one batch; ``{"conv2d": rows}``."""
    from cnncourse.device import import_tensorflow

    fast = config.FAST if fast is None else fast
    tf = import_tensorflow()
    rng = np.random.default_rng(0)
    rows = []
    for n, size, cin, cout, k in CASES[:1] if fast else CASES:
        x = rng.standard_normal((n, size, size, cin)).astype(np.float32)
        w = rng.standard_normal((k, k, cin, cout)).astype(np.float32)
        t_loops = median_time(lambda: conv2d_loops(x, w), repeat=3)
        t_vec = median_time(lambda: conv2d(x, w), repeat=3)
        t_tf = median_time(lambda: tf.nn.conv2d(x, w, 1, "VALID").numpy(), repeat=3)
        rows.append({"input (N,H,W,C)": f"({n},{size},{size},{cin})", "kernel": f"{k}x{k}x{cin}x{cout}",
                     "loops ms": t_loops * 1e3, "im2col ms": t_vec * 1e3, "tf.nn.conv2d ms": t_tf * 1e3,
                     "loops / im2col": t_loops / t_vec})
    if verbose:
        print_table(rows, title="conv2d: NumPy loops vs im2col vs TensorFlow (median wall time)")
    return {"conv2d": rows}
