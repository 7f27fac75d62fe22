"""Benchmarks (``cnncourse bench TOPIC``): speed is measured here and printed as tables, never
asserted by a test. Compare numbers measured in the same run: shared machines are noisy.

One module a topic, ``cnncourse/bench/<topic>.py``, each with the same entry point::

    run(*, fast: bool | None = None, verbose: bool = True) -> dict

``fast`` chooses the quick version (default: ``config.FAST``, i.e. ``CNNCOURSE_FAST=1``);
``verbose`` prints the tables; the return value holds what was measured, by table name (lists of
row dicts). This package's ``__init__`` holds only what the topics share (:func:`median_time`,
:func:`print_table`) and imports no topic module: ``run("conv")`` imports ``cnncourse.tools.bench.conv``.
"""
from __future__ import annotations

import importlib
import statistics
import time
from typing import Callable, Sequence

#: The topics, each a module ``cnncourse.tools.bench.<topic>`` with ``run(*, fast=None, verbose=True)``.
BENCHMARKS: dict[str, str] = {
    topic: f"{__name__}.{topic}"
    for topic in ("cnn3d", "conv", "data", "lenet", "mlp", "segmentation", "sparse")
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


def run(name: str, *, fast: bool | None = None, verbose: bool = True, **options) -> dict:
    """Run the benchmark ``name`` (or every one for ``"all"``); return ``{topic: its result}``.
    ``options`` go to the topic's ``run`` (e.g. ``only_goals=True`` for ``sparse``)."""
    if name != "all" and name not in BENCHMARKS:
        raise SystemExit(f"unknown benchmark {name!r}; choose from: all, {', '.join(sorted(BENCHMARKS))}")
    return {topic: importlib.import_module(BENCHMARKS[topic]).run(fast=fast, verbose=verbose,
                                                                  **options)
            for topic in (sorted(BENCHMARKS) if name == "all" else [name])}
