"""``cnncourse bench sparse``: submanifold sparse convolution against dense ``Conv3D``.

For each grid (32^3 to 128^3), shape (a thin spherical *shell*, like a nucleus surface, or a
*filled* ball), occupancy (about 2% and 5%) and channel count (16, 32): the number of active
sites, dense ``Conv3D(C, 3, padding="same")`` and sparse :class:`SubmanifoldConv3D` times
(forward, and forward + backward with gradients for the input and the kernel), their ratio,
the table build time, memory and the FLOP-ratio limit (grid positions / active sites: what a
sparse convolution can at best gain). Then an occupancy sweep shows where dense wins.

Memory columns: ``table MB`` is the peak of the table build measured with ``tracemalloc``
(NumPy allocations); ``dense MB`` and ``sparse MB`` are the sizes of the tensors one forward pass
holds (dense: input + output grids; sparse: input, output, table and the gathered rows of the
active pairs of one offset), computed from the shapes, since TensorFlow's allocations are
invisible to tracemalloc. The ``goal`` column gives the targets of issues 15 and 23 where a
row has one (``met``: whether the medians of the wall-clock and of the CPU-time ratios reach
them); :func:`goals` measures only those rows, in more rounds (``cnncourse bench sparse
--goals``).

Further tables: :func:`~cnncourse.sparse.ops.sparse_conv` and the alternative algorithms
(:mod:`~cnncourse.tools.bench.sparse.alternatives`) compared on one case (:func:`algorithms`);
neighbour-table build time and peak memory for a batch of 8 shells in 512^3 grids, measured in a fresh subprocess (:func:`table_scaling`); and
training steps per second of a small sparse classifier with and without a compiled
(``jit_compile=True``) step on bucket-padded batches (:func:`train_steps`).

Dense and sparse run in the same process, so with the same threads and the same oneDNN switch
(the first line printed says which), both compiled the same way (``tf.function``, or
``jax.jit`` under ``KERAS_BACKEND=jax``), each called twice before any timing. Shared machines
are noisy and their load changes within seconds, so a figure is never one timing: each row
times sparse and dense in alternating rounds (sparse, dense, sparse, dense, ...), each round a
median of a few calls, and a ratio is the median of the rounds' ratios, printed with its
min-max over the rounds (``x range``). ``CNNCOURSE_FAST=1`` runs a small version (grids up to
64^3).
"""
from __future__ import annotations

import os
import time
import tracemalloc

import numpy as np

from cnncourse import config
from cnncourse.tools.bench import print_table

__all__ = ["shell_mask", "ball_mask", "compare", "goals", "occupancy_sweep", "algorithms",
           "table_scaling", "train_steps", "GOALS", "run"]

# the targets of issues 15 and 23 (the latter against oneDNN's Conv3D, ``--onednn``):
# (grid, shape, occupancy %, C) -> {column: minimum ratio}, and the table build time of the
# 128^3 shell at 2%
GOALS = {(128, "shell", 2, 32): {"fwd x": 30.0, "f+b x": 25.0},
         (128, "filled", 5, 32): {"fwd x": 10.0}}
TABLE_GOAL_MS = 3.0


def _radius_grid(size: int) -> np.ndarray:
    c = (size - 1) / 2
    z, y, x = np.ogrid[:size, :size, :size]
    return np.sqrt((z - c) ** 2 + (y - c) ** 2 + (x - c) ** 2)


def shell_mask(size: int, occupancy: float = 0.02, thickness: float = 2.0) -> np.ndarray:
    """bool (size, size, size): a centred spherical shell (a nucleus surface) covering about
    ``occupancy`` of the grid: ``thickness`` voxels thick where its radius then stays within
    0.4 * size, otherwise radius 0.4 * size and as thick as needed."""
    radius = np.sqrt(occupancy * size**3 / (4 * np.pi * thickness))
    if radius > 0.4 * size:
        radius = 0.4 * size
        thickness = occupancy * size**3 / (4 * np.pi * radius**2)
    r = _radius_grid(size)
    return (r >= radius - thickness / 2) & (r < radius + thickness / 2)


def ball_mask(size: int, occupancy: float = 0.05) -> np.ndarray:
    """bool (size, size, size): a centred filled ball covering about ``occupancy`` of the grid
    (for occupancy above ~0.5, the ball is clipped by the grid; then the exact value is lower)."""
    radius = (occupancy * size**3 * 3 / (4 * np.pi)) ** (1 / 3)
    return _radius_grid(size) < radius


def _backend():
    from cnncourse.device import import_keras

    keras = import_keras()
    return keras, keras.backend.backend()


def _compile(fn):
    """Compile ``fn`` for the backend (same treatment for dense and sparse)."""
    _, backend = _backend()
    if backend == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn)


def _value_and_grads(fn):
    """``f(x, w, t, r) -> (sum(fn(x, w, t) * r), d/dx, d/dw)``, compiled.

    The upstream gradient ``r`` is a random argument, not the constant of a plain sum, and the
    table ``t`` an argument, not a captured constant: otherwise the compilers may fold part of
    the backward pass into constants at compile time and flatter it.
    """
    _, backend = _backend()
    if backend == "jax":
        import jax

        return jax.jit(jax.value_and_grad(lambda x, w, t, r: (fn(x, w, t) * r).sum(),
                                          argnums=(0, 1)))
    import tensorflow as tf

    @tf.function
    def step(x, w, t, r):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            loss = tf.reduce_sum(fn(x, w, t) * r)
        return loss, tape.gradient(loss, [x, w])

    return step


def _block(result):
    """Wait for a result (JAX dispatches asynchronously) and make sure it is computed."""
    leaves = result if isinstance(result, (list, tuple)) else [result]
    for leaf in leaves:
        if isinstance(leaf, (list, tuple)):
            _block(leaf)
        elif hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
        else:
            np.asarray(leaf).ravel()[:1]  # TF eager tensors are ready once read
    return result


def _timed(fn, calls):
    """Medians over ``calls`` calls of wall time and of process CPU time (all threads) of
    ``fn()``, in seconds (no warm-up here: :func:`_rounds` warms every function up first).

    On a machine shared with other jobs, wall time grows with their load; CPU time counts only
    the cycles this process got, so the ratio of CPU times is steadier (though, unlike wall
    time, it does not credit a kernel for using both cores).
    """
    wall, cpu = [], []
    for _ in range(calls):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return float(np.median(wall)), float(np.median(cpu))


def _rounds(fns, rounds, calls):
    """Time the functions ``fns`` (name -> (function, calls per round)) in alternating rounds:
    round after round, each function in the order given (sparse, dense, sparse, dense, ...),
    so that a change of the machine's load hits both sides of a ratio alike. Each function is
    called twice first (compilation, caches), outside the timings.

    Returns ``{name: (walls, cpus)}``, one median of ``calls`` calls (times the function's own
    factor) per round, in seconds.
    """
    for fn, _ in fns.values():
        fn()
        fn()
    out = {name: ([], []) for name in fns}
    for _ in range(rounds):
        for name, (fn, factor) in fns.items():
            wall, cpu = _timed(fn, max(1, calls * factor))
            out[name][0].append(wall)
            out[name][1].append(cpu)
    return out


def _spread(values) -> str:
    """``"min-max"`` of ``values``, the spread printed beside a median (3 digits)."""
    return f"{min(values):.3g}-{max(values):.3g}"


def _ratios(dense, sparse):
    """Per round: dense time / sparse time."""
    return [d / s for d, s in zip(dense, sparse)]


class _Dense:
    """Dense Conv3D forward / forward+backward on a (1, D, D, D, C) grid, compiled and warm."""

    def __init__(self, size, channels):
        keras, _ = _backend()
        from keras import ops

        rng = np.random.default_rng(0)
        kernel = ops.convert_to_tensor(
            (rng.standard_normal((3, 3, 3, channels, channels)) * 0.05).astype("float32"))
        x = ops.convert_to_tensor(np.zeros((1, size, size, size, channels), "float32"))
        r = ops.convert_to_tensor(rng.standard_normal((1, size, size, size, channels))
                                  .astype("float32"))
        unused = ops.convert_to_tensor(np.zeros(1, "int32"))

        def conv(x, w, t):
            return ops.conv(x, w, strides=1, padding="same")

        fwd, both = _compile(conv), _value_and_grads(conv)
        self.forward = lambda: _block(fwd(x, kernel, unused))
        self.both = lambda: _block(both(x, kernel, unused, r))
        self.flops = 2 * size**3 * 27 * channels**2
        self.megabytes = 2 * size**3 * channels * 4 / 2**20  # input + output


class _Sparse:
    """Submanifold convolution of the sites of ``mask``: its neighbour table (built and
    measured with tracemalloc), forward / forward+backward compiled like the dense ones."""

    def __init__(self, mask, channels, algorithm="auto"):
        from keras import ops

        from cnncourse.sparse import rulebook
        from cnncourse.sparse.ops import block_rows, default_algorithm
        from cnncourse.tools.bench.sparse.alternatives import conv as sparse_conv

        size = mask.shape[0]
        # C-ordered, as a SparseTensor holds them (np.argwhere's are Fortran-ordered)
        coords = np.ascontiguousarray(np.argwhere(mask[None]), dtype=np.int32)
        n = self.sites = coords.shape[0]
        shape = (size, size, size)
        self.table = lambda: rulebook.neighbor_table(coords, shape, 1, 3)
        self.table()  # warm the grid pool
        tracemalloc.start()
        table = self.table()
        self.table_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        rng = np.random.default_rng(1)
        x = ops.convert_to_tensor(rng.standard_normal((n, channels)).astype("float32"))
        kernel = ops.convert_to_tensor(
            (rng.standard_normal((27, channels, channels)) * 0.05).astype("float32"))
        table_t = ops.convert_to_tensor(table)
        r = ops.convert_to_tensor(rng.standard_normal((n, channels)).astype("float32"))
        if algorithm == "auto":
            algorithm = default_algorithm()

        def conv(x, w, t):
            return sparse_conv(x, w, t, algorithm=algorithm)

        fwd, both = _compile(conv), _value_and_grads(conv)
        self.forward = lambda: _block(fwd(x, kernel, table_t))
        self.both = lambda: _block(both(x, kernel, table_t, r))
        if algorithm == "gather":  # the (N, 27 C) gathered matrix
            mb = n * 27 * channels + 2 * n * channels + n * 27
        elif algorithm == "blocked":  # x, x with its zero row, y, table (padded), one block
            mb = 3 * n * channels + 2 * n * 27 + block_rows(27 * channels, n) * 27 * channels
        else:  # x, x with its zero row, y, table (and its columns), one offset's rows, product
            mb = 5 * n * channels + 2 * n * 27
        self.megabytes = mb * 4 / 2**20
        self.pairs = int((table < n).sum())  # active neighbour pairs (the centre included)


def _measure(sparse, dense, rounds, calls) -> dict:
    """Alternating rounds of ``sparse`` (forward, forward + backward, table build) and
    ``dense`` (forward, forward + backward): the cells of a table row. Times are medians over
    the rounds (ms); each ratio ``x`` is the median of the rounds' ratios, with its spread
    (min-max over the rounds) in the ``x range`` column beside it."""
    t = _rounds({"sf": (sparse.forward, 3), "sb": (sparse.both, 3), "tab": (sparse.table, 7),
                 "df": (dense.forward, 1), "db": (dense.both, 1)}, rounds, calls)
    fwd, both = _ratios(t["df"][0], t["sf"][0]), _ratios(t["db"][0], t["sb"][0])
    fwd_cpu, both_cpu = _ratios(t["df"][1], t["sf"][1]), _ratios(t["db"][1], t["sb"][1])
    med = lambda v: float(np.median(v))  # noqa: E731
    return {"dense fwd ms": med(t["df"][0]) * 1e3, "sparse fwd ms": med(t["sf"][0]) * 1e3,
            "fwd x": med(fwd), "fwd x range": _spread(fwd),
            "dense f+b ms": med(t["db"][0]) * 1e3, "sparse f+b ms": med(t["sb"][0]) * 1e3,
            "f+b x": med(both), "f+b x range": _spread(both),
            "table ms": med(t["tab"][0]) * 1e3, "table ms range": _spread(
                [v * 1e3 for v in t["tab"][0]]),
            "fwd x cpu": med(fwd_cpu), "fwd x cpu range": _spread(fwd_cpu),
            "f+b x cpu": med(both_cpu), "rounds": rounds,
            "_dense_fwd_s": med(t["df"][0]), "_sparse_fwd_s": med(t["sf"][0])}


def _mask(size, shape, occupancy):
    return shell_mask(size, occupancy) if shape == "shell" else ball_mask(size, occupancy)


def _public(row):
    """A row without its private (``_``) cells."""
    return {k: v for k, v in row.items() if not k.startswith("_")}


def compare(sizes=(32, 64, 128), channels=(16, 32), shapes=("shell", "filled"),
            occupancies=(0.02, 0.05), *, rounds=5, repeat=2, verbose=True) -> list[dict]:
    """Rows of the main table (see the module docstring); prints it when ``verbose``.

    Each row times the sparse and the dense convolution in ``rounds`` alternating rounds of
    ``repeat`` calls each (the sparse ones, cheap, 3 x ``repeat``); see :func:`_measure`.
    """
    rows = []
    for size in sizes:
        for c in channels:
            dense = _Dense(size, c)
            for shape in shapes:
                for occ in occupancies:
                    sparse = _Sparse(_mask(size, shape, occ), c)
                    n = sparse.sites
                    row = {"grid": f"{size}^3", "shape": shape, "occ %": 100 * n / size**3,
                           "C": c, "sites": n, **_measure(sparse, dense, rounds, repeat),
                           "table MB": sparse.table_peak, "dense MB": dense.megabytes,
                           "sparse MB": sparse.megabytes, "FLOP x": size**3 / n,
                           "pair x": size**3 * 27 / sparse.pairs}
                    rows.append({**row, **_goal(size, shape, occ, c, row)})
    if verbose:
        print_table([_public(r) for r in rows],
                    f"Submanifold conv (k=3, C->C) vs dense Conv3D(padding='same'), batch 1, "
                    f"float32; x = dense time / sparse time, the median over {rounds} "
                    f"alternating rounds (sparse, dense, sparse, ...) of the rounds' ratios, "
                    f"'x range' its min-max over the rounds ('x cpu': the same with process CPU "
                    f"times); FLOP x = grid / sites; pair x = grid * 27 / active neighbour "
                    f"pairs (the FLOP limit of work on pairs)")
    return rows


def _goal(size, shape, occupancy, channels, row) -> dict:
    """The ``goal`` and ``met`` cells of a row (empty where issues 15 and 23 set no target);
    ``occupancy`` is the fraction asked for (0.02, 0.05); ``met`` compares the medians."""
    percent = round(100 * occupancy)
    goal = dict(GOALS.get((size, shape, percent, channels), {}))
    parts = [f"{k.split()[0]}>={v:g}x" for k, v in goal.items()]
    met_wall = all(row[k] >= v for k, v in goal.items())
    met_cpu = all(row[k + " cpu"] >= v for k, v in goal.items())
    if (size, shape, percent) == (128, "shell", 2):
        parts.append(f"table<={TABLE_GOAL_MS:g}ms")
        met_wall = met_wall and row["table ms"] <= TABLE_GOAL_MS
        met_cpu = met_cpu and row["table ms"] <= TABLE_GOAL_MS
    if not parts:
        return {"goal": "-", "met": "-"}
    return {"goal": ",".join(parts),
            "met": f"{'yes' if met_wall else 'no'}/{'yes' if met_cpu else 'no'}"}


def algorithms(size=128, channels=32, occupancy=0.02, *, shapes=("shell",), rounds=3, repeat=2,
               verbose=True) -> list[dict]:
    """Forward and forward + backward of every algorithm of
    :mod:`~cnncourse.tools.bench.sparse.alternatives` on each of ``shapes`` (a ``"shell"`` at
    ``occupancy``, or a ``"filled"`` ball at 5%), each against dense ``Conv3D`` in its own
    alternating rounds (``pairs`` needs TensorFlow).

    Also prints the arithmetic rates (GFLOP/s) of dense ``Conv3D`` and of the default
    algorithm, and the rate the sparse pass would need for the forward goals: a goal is out of
    reach on a CPU when that rate exceeds what the GEMMs and gathers can sustain next to the
    dense convolution's large, blocked GEMM.
    """
    from cnncourse.sparse.ops import default_algorithm
    from cnncourse.tools.bench.sparse.alternatives import ALGORITHMS

    _, backend = _backend()
    dense = _Dense(size, channels)
    rows, default, dense_s = [], default_algorithm(), []
    for shape in shapes:
        mask = _mask(size, shape, occupancy if shape == "shell" else 0.05)
        for algo in ALGORITHMS:
            if algo == "pairs" and backend != "tensorflow":
                continue
            sparse = _Sparse(mask, channels, algo)
            m = _measure(sparse, dense, rounds, repeat)
            dense_s.append(m["_dense_fwd_s"])
            rows.append({"shape": shape, "algorithm": algo,
                         "default": "*" if algo == default else "",
                         "sites": sparse.sites, "pairs": sparse.pairs,
                         **{k: m[k] for k in ("sparse fwd ms", "sparse f+b ms", "fwd x",
                                              "fwd x range", "f+b x", "fwd x cpu",
                                              "f+b x cpu")},
                         "sparse MB": sparse.megabytes,
                         "fwd GFLOP/s": 2 * sparse.pairs * channels**2 / m["_sparse_fwd_s"] / 1e9})
    if verbose:
        dense_ms = float(np.median(dense_s)) * 1e3
        print_table(rows, f"Algorithms of sparse_conv at {size}^3, C={channels} (* = the "
                          f"default on {backend}), {rounds} alternating rounds each; dense "
                          f"Conv3D fwd {dense_ms:.0f} ms; fwd GFLOP/s counts active pairs only")
        for shape in shapes:
            mine = [r for r in rows if r["shape"] == shape]
            for key, what in (("fwd x cpu", "forward"), ("f+b x cpu", "forward + backward")):
                cpu = max(mine, key=lambda r: r[key])
                wall = max(mine, key=lambda r: r[key[:-4]])
                print(f"{shape}: fastest {what}: {cpu['algorithm']} by CPU time "
                      f"({cpu[key]:.1f}x), {wall['algorithm']} by wall time "
                      f"({wall[key[:-4]]:.1f}x)")
        rate = dense.flops / (dense_ms / 1e3) / 1e9
        print(f"dense Conv3D forward: {rate:.0f} GFLOP/s ({dense.flops / 1e9:.0f} GFLOP)")
        for shape in shapes:
            row = next(r for r in rows if r["shape"] == shape and r["default"])
            occ = occupancy if shape == "shell" else 0.05
            goal = GOALS.get((size, shape, round(100 * occ), channels), {}).get("fwd x")
            if goal:
                need = 2 * row["pairs"] * channels**2 * goal / (dense_ms / 1e3) / 1e9
                print(f"{shape}: forward >= {goal:g}x needs {need:.0f} GFLOP/s on the active "
                      f"pairs ({need / rate:.0%} of dense Conv3D's rate); the default reaches "
                      f"{row['fwd GFLOP/s']:.0f}")
    return rows


_SCALING_SCRIPT = r"""
import json, resource, sys, time, tracemalloc
import numpy as np
from cnncourse.sparse import rulebook; from cnncourse.tools.bench import sparse as bench
size, batch, inner = (int(v) for v in sys.argv[1:4])
shell = np.argwhere(bench.shell_mask(inner, 0.02)).astype(np.int32) + (size - inner) // 2
coords = np.concatenate([np.column_stack([np.full(len(shell), b, np.int32), shell])
                         for b in range(batch)])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times, cpus = [], []
for i in range(3):
    if i == 2:
        tracemalloc.start()
    w, c = time.perf_counter(), time.process_time()
    table = rulebook.neighbor_table(coords, (size,) * 3, batch, 3)
    down = rulebook.downsample_table(coords, (size,) * 3, batch, 2)
    times.append(time.perf_counter() - w)
    cpus.append(time.process_time() - c)
peak = tracemalloc.get_traced_memory()[1]
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = table.nbytes + sum(a.nbytes for a in down if hasattr(a, "nbytes"))
print(json.dumps({"sites": len(coords), "s": min(times), "cpu s": min(cpus),
                  "peak MB": peak / 2**20, "rss growth MB": (rss - before) / 2**10,
                  "tables MB": out / 2**20, "dense grid MB": batch * (size + 2) ** 3 * 4 / 2**20}))
"""


def table_scaling(size=512, batch=8, inner=128, *, verbose=True) -> dict:
    """Neighbour + downsample tables of ``batch`` shells (each the ``inner``^3, 2% shell: a
    nucleus surface) placed in ``size``^3 grids, built in a fresh subprocess: best of 3 wall
    and CPU seconds, tracemalloc peak (NumPy) and growth of the peak resident memory."""
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _SCALING_SCRIPT, str(size), str(batch),
                           str(inner)], capture_output=True, text=True, timeout=600)
    if proc.returncode:
        raise RuntimeError(f"table scaling subprocess failed:\n{proc.stderr[-2000:]}")
    row = {"grid": f"{batch} x {size}^3", **json.loads(proc.stdout.strip().splitlines()[-1])}
    row["goal"] = "<1 s, <1 GB" if (size, batch) == (512, 8) else "-"
    if verbose:
        print_table([row], "Table build (neighbours k=3 + downsample 2) for a batch of shells in "
                           "large grids; memory grows with the sites, not the grid ('dense grid "
                           "MB': what the old index grid would have needed)")
    return row


def _train_model(levels, buckets, widths):
    from cnncourse.sparse import layers as L
    from cnncourse.sparse.net import network_input_layers

    keras, _ = _backend()
    keras.utils.set_random_seed(0)
    inp = network_input_layers(levels, 1, buckets=buckets)
    x = inp["features"]
    for lev in range(levels):
        x = L.SubmanifoldConv3D(widths[lev], 3, use_bias=False)(x, inp[f"neighbors_{lev}"])
        x = L.SparseBatchNormalization()(x, mask=inp[f"valid_{lev}"] if buckets else None)
        x = keras.layers.ReLU()(x)
        if lev < levels - 1:
            x = L.SparseMaxPool3D(2)(x, inp[f"down_{lev}"], inp[f"up_{lev}"])
    x = L.SparseGlobalPool3D("avg_max")(x, inp["batch_index"], inp["samples"])
    return keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(x))


def train_steps(size=64, batch=4, n_batches=6, widths=(16, 32, 64), *, rounds=2,
                verbose=True) -> list[dict]:
    """Training steps per second of a small sparse classifier on shells of varying radius
    (so every batch has another site count): exact site counts without compilation, and
    bucket-padded batches (:func:`~cnncourse.sparse.net.pad_to_buckets`) with and without
    ``jit_compile=True``. The first round over the batches (tracing, one compile per bucket) is
    reported apart from the steady-state rounds after it."""
    from cnncourse.sparse.net import network_inputs
    from cnncourse.sparse.tensor import SparseTensor

    keras, backend = _backend()
    rng = np.random.default_rng(0)
    batches = []
    for i in range(n_batches):
        parts = []
        for b in range(batch):
            occ = rng.uniform(0.01, 0.03)
            sites = np.argwhere(shell_mask(size, occ))
            parts.append(np.column_stack([np.full(len(sites), b), sites]))
        coords = np.concatenate(parts).astype(np.int32)
        st = SparseTensor(coords, np.ones((len(coords), 1), np.float32), (size,) * 3, batch)
        batches.append((st, (np.arange(batch) % 2).astype(np.float32)))
    levels = len(widths)
    rows = []
    for label, buckets, jit in (("exact N, no jit", False, False),
                                ("buckets, no jit", True, False),
                                ("buckets, jit", True, True)):
        if jit and backend != "tensorflow":
            label = "buckets, jit (jax.jit)"
        model = _train_model(levels, buckets, widths)
        model.compile(optimizer="adam", loss="binary_crossentropy",
                      jit_compile=jit if backend == "tensorflow" else bool(jit))
        data = [(network_inputs(st, levels, buckets=True if buckets else None), y)
                for st, y in batches]
        first_w, first_c = time.perf_counter(), time.process_time()
        for inputs, y in data:
            model.train_on_batch(inputs, y)
        first = (time.perf_counter() - first_w, time.process_time() - first_c)
        w, c = time.perf_counter(), time.process_time()
        for _ in range(rounds):
            for inputs, y in data:
                model.train_on_batch(inputs, y)
        steps = rounds * len(data)
        wall, cpu = time.perf_counter() - w, time.process_time() - c
        rows.append({"training step": label, "sites/batch": int(np.mean(
            [st.num_sites for st, _ in batches])), "first round s": first[0],
            "steps/s": steps / wall, "CPU s/step": cpu / steps})
    if verbose:
        print_table(rows, f"Training steps of a {levels}-level sparse classifier (widths "
                          f"{tuple(widths)}), batches of {batch} shells in {size}^3 with "
                          f"varying site counts; {n_batches} batches")
        best = max(rows, key=lambda r: r["steps/s"])
        print(f"faster: {best['training step']}")
    return rows


def occupancy_sweep(size=64, channels=32, occupancies=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7,
                                                       1.0), *, rounds=1, repeat=3, verbose=True):
    """Speed-up of the sparse forward over dense as the (filled-ball) occupancy grows, each
    occupancy in ``rounds`` alternating rounds of ``repeat`` calls (see :func:`_measure`)."""
    dense = _Dense(size, channels)
    rows = []
    for occ in occupancies:
        mask = np.ones((size,) * 3, bool) if occ >= 1 else ball_mask(size, occ)
        sparse = _Sparse(mask, channels)
        m = _measure(sparse, dense, rounds, repeat)
        rows.append({"occ %": 100 * sparse.sites / size**3, "sites": sparse.sites,
                     **{k: m[k] for k in ("dense fwd ms", "sparse fwd ms", "fwd x",
                                          "dense f+b ms", "sparse f+b ms", "f+b x",
                                          "fwd x cpu", "f+b x cpu")}})
    if verbose:
        print_table(rows, f"Occupancy sweep: filled ball in {size}^3, C={channels}")
        for key, what in (("fwd x", "wall time"), ("fwd x cpu", "CPU time")):
            wins = [r["occ %"] for r in rows if r[key] < 1]
            print(f"dense forward wins ({what}) from about {wins[0]:.0f}% occupancy" if wins
                  else f"dense forward never wins ({what}) in this sweep: sparse is faster even "
                       f"at the highest occupancy")
    return rows


def _load() -> str:
    """The 1-minute load average: above the core count, other processes slow every timing."""
    try:
        return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    except OSError:
        return "load average unknown"


def _setup() -> str:
    """What makes the comparison fair or not: the backend's threads and, under TensorFlow,
    whether oneDNN's kernels are on (both sides run in this one process, so they share both)."""
    keras, backend = _backend()
    if backend != "tensorflow":
        return f"backend {backend}"
    import tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port

    intra = tf.config.threading.get_intra_op_parallelism_threads() or "all"
    inter = tf.config.threading.get_inter_op_parallelism_threads() or "all"
    onednn = "on" if _pywrap_util_port.IsMklEnabled() else "off"
    return (f"backend tensorflow {tf.__version__}, oneDNN {onednn} (TF_ENABLE_ONEDNN_OPTS="
            f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}), intra-op threads {intra}, "
            f"inter-op threads {inter}, for dense and sparse alike")


def goals(*, rounds=7, repeat=1, verbose=True) -> list[dict]:
    """Only the rows with a goal (128^3, C = 32: the 2% shell and the 5% filled ball), in
    ``rounds`` alternating rounds: the figures the issues quote, a few minutes on 2 cores."""
    if verbose:
        from cnncourse import device

        print(f"{_setup()}; device {device.describe()}; {_load()}")
    rows = [compare(sizes=(128,), channels=(32,), shapes=(shape,), occupancies=(occ,),
                    rounds=rounds, repeat=repeat, verbose=False)[0]
            for shape, occ in (("shell", 0.02), ("filled", 0.05))]
    if verbose:
        keys = ("shape", "sites", "dense fwd ms", "sparse fwd ms", "fwd x", "fwd x range",
                "fwd x cpu", "fwd x cpu range", "f+b x", "f+b x range", "table ms",
                "table ms range", "goal", "met")
        print_table([{k: r[k] for k in keys} for r in rows],
                    f"Goals at 128^3, C=32: medians of {rounds} alternating rounds (sparse, "
                    f"dense, ...), min-max over the rounds beside them; met: wall/CPU ratio")
    return rows


def run(*, fast: bool | None = None, verbose: bool = True) -> dict:
    """Every table; sizes from ``config.FAST`` unless ``fast`` is given. (Only the rows with a
    goal: :func:`goals`, ``cnncourse bench sparse --goals``; spconv on the same cases:
    :mod:`~cnncourse.tools.bench.sparse.versus_spconv`, ``--spconv``.)"""
    fast = config.FAST if fast is None else fast
    keras, backend = _backend()
    from cnncourse import device

    if verbose:
        print(f"{_setup()}; device {device.describe()}, {os.cpu_count()} CPU cores visible, "
              f"mode {'fast' if fast else 'full'}; {_load()}")
    # sub-millisecond GPU times need more samples
    rounds, repeat = (5, 8) if device.gpu_names() else (5, 2)
    start = time.perf_counter()
    out = {}
    if fast:
        out["main"] = compare(sizes=(32, 64), channels=(16,), rounds=3, repeat=repeat,
                              verbose=verbose)
        out["algorithms"] = algorithms(64, 16, repeat=repeat, verbose=verbose)
        out["sweep"] = occupancy_sweep(size=32, channels=16,
                                       occupancies=(0.02, 0.1, 0.3, 0.6, 1.0), verbose=verbose)
        out["scaling"] = table_scaling(256, 2, 64, verbose=verbose)
        out["steps"] = train_steps(32, 2, 3, (8, 16), rounds=1, verbose=verbose)
    else:
        out["main"] = compare(rounds=rounds, repeat=repeat, verbose=verbose)
        out["algorithms"] = algorithms(shapes=("shell", "filled"), repeat=repeat,
                                       verbose=verbose)
        out["sweep"] = occupancy_sweep(verbose=verbose)
        out["scaling"] = table_scaling(verbose=verbose)
        out["steps"] = train_steps(verbose=verbose)
    if verbose:
        print(f"(benchmark took {time.perf_counter() - start:.0f} s; {_load()})")
    return out
