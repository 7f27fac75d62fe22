"""``cnncourse bench data``: load time of the real images and generation time of the synthetic
datasets at fast-mode and full-mode sizes.

Times are wall-clock seconds on this machine (shared machines are noisy: compare rows of one run).
The synthetic generators are imported lazily; one whose module does not exist yet is skipped with
a note.
"""
from __future__ import annotations

import importlib
import time

import numpy as np

from cnncourse import config
from cnncourse.tools.bench import median_time, print_table

# Sizes benchmarked per generator: (mode, args, kwargs). "fast" is the CNNCOURSE_FAST=1 size a
# notebook typically asks for (target: under 2 s on 2 cores), "full" a full-mode CPU size.
# Owners of the generators: adjust these to the sizes your notebooks really use.
SIZES = {
    "make_nuclei_2d": [("fast", (16, 128), {}), ("full", (100, 128), {}), ("full", (4, 512), {})],
    "make_mitosis_patches": [("fast", (512, 32), {}), ("full", (4000, 32), {})],
    "make_nuclei_3d": [("fast", (64, 32), {}), ("full", (400, 32), {}), ("full", (2, 128), {})],
    # to_sparse is timed on masks made beforehand by make_nuclei_3d(*args)
    "to_sparse": [("fast", (64, 32), {"mode": "surface"}), ("full", (16, 64), {"mode": "surface"}),
                  ("full", (4, 128), {"mode": "surface"}), ("full", (4, 128), {"mode": "foreground"})],
}
_MODULES = {"make_nuclei_2d": "synthetic2d", "make_mitosis_patches": "synthetic2d",
            "make_nuclei_3d": "synthetic3d", "to_sparse": "synthetic3d"}
FAST_TARGET_S = 2.0


def _nbytes(result) -> int:
    parts = result if isinstance(result, tuple) else (result,)
    return sum(p.nbytes for p in parts if isinstance(p, np.ndarray))


def _shape(result) -> str:
    first = result[0] if isinstance(result, tuple) else result
    return "x".join(map(str, first.shape))


def loader_rows(repeat: int = 5) -> list[dict]:
    """One row per real-image loader: first call (with the SHA-256 check) and warm median."""
    from cnncourse import data
    from cnncourse.data import real

    rows = []
    for name in ("load_nuclei", "load_he", "load_ct", "ct_dicom_path", "load_retina"):
        fn = getattr(real, name)
        data._verified.cache_clear()
        start = time.perf_counter()
        result = fn()
        cold = time.perf_counter() - start
        warm = median_time(fn, repeat=repeat, warmup=0)
        rows.append({"loader": name,
                     "shape": _shape(result) if not hasattr(result, "suffix") else result.name,
                     "MB": _nbytes(result) / 1e6, "first call s": cold, "warm s": warm})
    return rows


def generator_rows(sizes: dict | None = None) -> tuple[list[dict], list[str]]:
    """Rows ``{generator, mode, args, shape, MB, seconds, target}`` and notes on skipped ones."""
    sizes = SIZES if sizes is None else sizes
    rows, notes = [], []
    for name, cases in sizes.items():
        module_name = f"cnncourse.data.{_MODULES[name]}"
        try:
            module = importlib.import_module(module_name)
            fn = getattr(module, name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            notes.append(f"{name}: skipped, {module_name} does not exist yet")
            continue
        except AttributeError:
            notes.append(f"{name}: skipped, {module_name} has no {name} yet")
            continue
        for mode, args, kwargs in cases:
            if name == "to_sparse":
                _, masks, _ = module.make_nuclei_3d(*args, seed=0)
                call = lambda: fn(masks, **kwargs)  # noqa: E731
                label = f"masks {args[0]}x{args[1]}^3, {kwargs['mode']}"
            else:
                call = lambda: fn(*args, seed=0, **kwargs)  # noqa: E731
                label = ", ".join(map(str, args))
            repeat = 3 if mode == "fast" else 1
            result = call()
            seconds = median_time(call, repeat=repeat, warmup=0)
            target = ("ok" if seconds < FAST_TARGET_S else "SLOW") if mode == "fast" else ""
            rows.append({"generator": name, "mode": mode, "args": label, "shape": _shape(result),
                         "MB": _nbytes(result) / 1e6, "seconds": seconds,
                         f"fast < {FAST_TARGET_S:g} s": target})
    return rows, notes


def run(*, fast: bool | None = None, verbose: bool = True) -> dict:
    """The two tables, ``{"loaders": rows, "generators": rows}``; fast: the fast-mode sizes only."""
    fast = config.FAST if fast is None else fast
    sizes = {name: [c for c in cases if c[0] == "fast"] for name, cases in SIZES.items()} if fast else SIZES
    loaders = loader_rows(repeat=1 if fast else 5)
    rows, notes = generator_rows(sizes)
    if verbose:
        print_table(loaders, "real images in data/ (cnncourse.data.load_*)")
        print_table(rows, "synthetic generators (seed 0, default difficulty; fast = CNNCOURSE_FAST size)")
        for note in notes:
            print(f"note: {note}")
    return {"loaders": loaders, "generators": rows}
