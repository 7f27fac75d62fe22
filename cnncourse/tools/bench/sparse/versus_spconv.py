"""``cnncourse bench sparse --spconv``: the library's submanifold convolution beside spconv's.

spconv (Yan et al., the sparse-convolution library of many 3D detectors) runs on PyTorch; its
PyPI wheel ``spconv`` is the CPU build. It is an optional extra, never installed by ``make
install``: ``pip install 'cnncourse[bench-spconv]'`` (spconv and PyTorch; PyPI's Linux PyTorch
wheel brings CUDA's libraries along, several GB). Where it is missing, :func:`compare` prints
why and returns no rows.

The cases are those of the goals (128^3, C = 32: a 2% shell and a 5% filled ball; smaller in
fast mode), the same sites and the same kernel on both sides, timed in alternating rounds
(ours, spconv, ours, spconv, ...) like the main benchmark: spconv's forward with its rule
book cached (as in a network, where every layer at one resolution shares it) and with the rule
book built in the call (its first layer), and the largest difference of the two outputs.
spconv runs once with one thread and once with every core: on the CPU its outputs with more
than one thread vary from call to call (a race in its scatter-add; spconv issue #679, open),
so the ``same`` column says whether each call's output matched ours.
"""
from __future__ import annotations

import os

import numpy as np

from cnncourse.tools.bench import print_table

__all__ = ["available", "compare"]


def available() -> str | None:
    """None where spconv and PyTorch import, else the reason they do not (a sentence)."""
    try:
        import spconv.pytorch  # noqa: F401
        import torch  # noqa: F401
    except Exception as exc:  # ImportError, or a PyTorch missing its shared libraries
        return (f"spconv is not usable here ({type(exc).__name__}: {exc}); install the "
                f"optional extra with `pip install 'cnncourse[bench-spconv]'`")
    return None


def _version() -> str:
    from importlib.metadata import version

    return version("spconv")


def _spconv_case(coords, features, kernel, size, threads):
    """Callables for spconv's forward on ``coords`` (N, 4) int32 with ``features`` (N, C) and
    the (27, C, C) ``kernel`` on ``threads`` threads: with the rule book cached and with it
    built, each returning the (N, C) output as a NumPy array."""
    import spconv.pytorch as spconv
    import torch

    torch.set_num_threads(threads)
    c = kernel.shape[1]
    conv = spconv.SubMConv3d(c, c, 3, bias=False, indice_key="subm",
                             algo=spconv.ConvAlgo.Native)  # the algorithm spconv has on CPU
    # spconv 2's weight layout is (Cout, k, k, k, Cin); ours is (k*k*k, Cin, Cout)
    weight = np.ascontiguousarray(kernel.reshape(3, 3, 3, c, c).transpose(4, 0, 1, 2, 3))
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(weight))
    feats = torch.from_numpy(np.ascontiguousarray(features))
    index = torch.from_numpy(np.ascontiguousarray(coords, dtype=np.int32))

    def tensor():
        return spconv.SparseConvTensor(feats, index, [size] * 3, batch_size=1)

    with torch.no_grad():
        cached = tensor()
        cached.indice_dict = conv(tensor()).indice_dict  # the rule book of "subm", built once

    def with_rules():
        with torch.no_grad():
            return conv(cached).features.numpy()

    def building():
        with torch.no_grad():
            return conv(tensor()).features.numpy()

    return with_rules, building


def compare(*, fast: bool | None = None, rounds: int = 5, repeat: int = 3,
            verbose: bool = True) -> list[dict]:
    """Rows ``case, sites, spconv threads, ours fwd ms, spconv fwd ms, spconv + rules ms,
    spconv / ours x`` (with its min-max over the rounds), ``max |diff|`` (spconv's output
    against ours, over every timed call) and ``same``; ``[]`` where spconv is missing (with a
    message when ``verbose``). 128^3, C = 32 (64^3, C = 16 when ``fast``)."""
    from cnncourse import config
    from cnncourse.tools.bench import sparse as bench

    reason = available()
    if reason:
        if verbose:
            print(f"\nspconv side by side: skipped: {reason}")
        return []
    fast = config.FAST if fast is None else fast
    size, c = (64, 16) if fast else (128, 32)
    from cnncourse.sparse.ops import sparse_conv

    rows = []
    for shape, occ in (("shell", 0.02), ("filled", 0.05)):
        mask = bench._mask(size, shape, occ)
        ours = bench._Sparse(mask, c)
        coords = np.ascontiguousarray(np.argwhere(mask[None]), dtype=np.int32)
        rng = np.random.default_rng(1)  # the features and the kernel _Sparse drew
        features = rng.standard_normal((len(coords), c)).astype("float32")
        kernel = (rng.standard_normal((27, c, c)) * 0.05).astype("float32")
        mine = np.asarray(sparse_conv(features, kernel, ours.table()))
        for threads in sorted({1, os.cpu_count() or 1}):
            with_rules, building = _spconv_case(coords, features, kernel, size, threads)
            diffs = []

            def checked(fn=with_rules):
                diffs.append(float(np.abs(fn() - mine).max()))

            t = bench._rounds({"ours": (ours.forward, 3), "spconv": (checked, 3),
                               "spconv+rules": (building, 1)}, rounds, repeat)
            ratio = bench._ratios(t["spconv"][0], t["ours"][0])
            worst = max(diffs)
            rows.append({"case": f"{size}^3 {shape} {100 * occ:.0f}%", "C": c,
                         "sites": len(coords), "spconv threads": threads,
                         "ours fwd ms": float(np.median(t["ours"][0])) * 1e3,
                         "spconv fwd ms": float(np.median(t["spconv"][0])) * 1e3,
                         "spconv + rules ms": float(np.median(t["spconv+rules"][0])) * 1e3,
                         "spconv / ours x": float(np.median(ratio)),
                         "x range": bench._spread(ratio), "max |diff|": worst,
                         "same": "yes" if worst < 1e-4 else "NO"})
    if verbose:
        print_table(rows, f"spconv {_version()} (PyTorch, CPU, ConvAlgo.Native) beside the "
                          f"library's SubmanifoldConv3D forward (TensorFlow, all cores), "
                          f"{rounds} alternating rounds; x = spconv time / ours (above 1: ours "
                          f"is faster); same: every spconv output within 1e-4 of ours")
        if any(r["same"] == "NO" for r in rows):
            print("spconv's CPU outputs vary between calls with more than one thread (a race; "
                  "spconv issue #679): compare against its 1-thread rows")
    return rows
