"""Benchmarks (``cnncourse bench NAME``): speed is measured here and printed as tables, never
asserted by a test. Compare numbers measured in the same run: shared machines are noisy.
"""
from __future__ import annotations

import importlib
import statistics
import time
from typing import Callable, Sequence

# name -> "module:function"; each function takes no argument and prints its table(s).
BENCHMARKS: dict[str, str] = {
    "conv": "cnncourse.conv:bench",
    "lenet": "cnncourse.models:bench",
    "data": "cnncourse.data.bench:main",
    "sparse": "cnncourse.sparse.bench:main",
    "mlp": "cnncourse.mlp:bench",
    "cnn3d": "cnncourse.cnn3d:bench_cnn3d",
    "segmentation": "cnncourse.segmentation:bench",
}


def median_time(fn: Callable[[], object], *, repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_table(rows: Sequence[dict], title: str | None = None) -> None:
    """Print ``rows`` (dicts with the same keys) as an aligned text table; floats get 3 digits."""
    if title:
        print(f"\n{title}")
    if not rows:
        print("(no rows)")
        return
    cols = list(rows[0])
    cells = [[f"{r[c]:.3g}" if isinstance(r[c], float) else str(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)))


def run(name: str) -> None:
    """Run the benchmark ``name`` (or every one for ``"all"``)."""
    if name != "all" and name not in BENCHMARKS:
        raise SystemExit(f"unknown benchmark {name!r}; choose from: all, {', '.join(sorted(BENCHMARKS))}")
    for key in sorted(BENCHMARKS) if name == "all" else [name]:
        module, func = BENCHMARKS[key].split(":")
        getattr(importlib.import_module(module), func)()
