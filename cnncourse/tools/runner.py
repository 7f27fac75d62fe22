"""Execute notebooks headlessly with a progress bar and a table of time, CPU time and peak memory
(``cnncourse run``; ``--json FILE`` writes the table for tools, ``--markdown FILE`` prints a saved
one as the README's instructor table).

Peak memory is the kernel process's peak resident set size: ``VmHWM`` from ``/proc`` on Linux
(exact), elsewhere the largest resident size seen after each cell (a lower bound). CPU time is the
kernel's user + system seconds (its threads included), read after each cell: on a loaded machine
it is the figure to compare, wall time is not. Notebooks are read as UTF-8.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from queue import Empty
from typing import TextIO

import nbformat
from jupyter_client import AsyncKernelManager
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from traitlets import DottedObjectName, Type

# How long one wait for a kernel message may last before the socket is checked again (seconds).
POLL_SLICE = 1.0
# `cnncourse run` reports any stretch of a run longer than this (seconds; see Timeline).
SLOW_SECONDS = 300


class _SlicedChannel(AsyncZMQSocketChannel):
    """A kernel channel that waits for a message in short slices.

    pyzmq's asyncio poll can miss a socket's wake-up (zeromq/pyzmq#1558); the message is then only
    seen when the poll's timeout ends, where pyzmq checks the socket once more, and nbclient waits
    for a cell's reply with the cell's whole timeout. Each slice here ends with that check. (Two
    ~600 s stalls of ``make test`` caught live had exactly that signature: the kernel's reply made
    on time, read by the client 600 s after the request, with no timeout error.)
    """

    async def get_msg(self, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SLICE if deadline is None else max(0.0, deadline - time.monotonic())
            if await self.socket.poll(int(1000 * min(POLL_SLICE, left))):
                return await self._recv()
            if deadline is not None and time.monotonic() >= deadline:
                raise Empty


class _SlicedKernelClient(AsyncKernelClient):
    shell_channel_class = Type(_SlicedChannel)
    iopub_channel_class = Type(_SlicedChannel)
    stdin_channel_class = Type(_SlicedChannel)
    control_channel_class = Type(_SlicedChannel)


class SlicedKernelManager(AsyncKernelManager):
    """The kernel manager for nbclient / nbconvert / nbgrader executions: its client's channels
    wait in slices (:class:`_SlicedChannel`), so a missed client-side socket wake-up costs 1 s,
    not the cell timeout. Pass it as ``kernel_manager_class`` (nbgrader: :class:`grading.SlicedExecute`)."""

    # both: jupyter_client's AsyncKernelManager gives `client_factory` a static default, so a
    # new `client_class` alone would still hand out its plain AsyncKernelClient
    client_class = DottedObjectName("cnncourse.tools.runner._SlicedKernelClient")
    client_factory = Type(default_value=_SlicedKernelClient, klass=AsyncKernelClient)


def notebook_client(nb, *, timeout: int, cwd: Path | str, **options) -> NotebookClient:
    """An nbclient ``NotebookClient`` for ``nb`` (python3 kernel, working directory ``cwd``, at most
    ``timeout`` seconds per cell) whose waits for kernel messages cannot miss a reply."""
    return NotebookClient(nb, timeout=timeout, kernel_name="python3",
                          kernel_manager_class=SlicedKernelManager,
                          resources={"metadata": {"path": str(cwd)}}, **options)


def _kernel_time(cell, key: str) -> float | None:
    """A kernel-side timestamp of nbclient's ``record_timing`` metadata, as POSIX seconds."""
    stamp = cell.get("metadata", {}).get("execution", {}).get(key)
    if not stamp:
        return None
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


class Timeline:
    """When each cell was sent and its reply came back (client clock), beside the kernel's own
    busy and idle times (nbclient's ``record_timing`` metadata, same machine clock), so that a
    slow run tells where its time went: in the kernel (slow code), or between the two sides
    (a message that waited: the kernel idle, the client waiting).

    Pass ``**timeline.hooks()`` to :func:`notebook_client`; after the run (or its failure),
    ``timeline.slow(nb, seconds)`` lists the stretches longer than ``seconds``.
    """

    def __init__(self):
        self.start = time.time()
        self.cells: dict[int, list[float | None]] = {}   # cell index -> [sent, reply back]

    def hooks(self) -> dict:
        return {"on_cell_execute": self._sent, "on_cell_executed": self._back}

    def _sent(self, cell, cell_index):
        self.cells[cell_index] = [time.time(), None]

    def _back(self, cell, cell_index, execute_reply):
        self.cells[cell_index][1] = time.time()

    def slow(self, nb, seconds: float, end: float | None = None) -> list[str]:
        """One line per stretch over ``seconds``: before the first cell (kernel start-up), a
        cell (split into request -> kernel start, kernel ran, kernel done -> reply back), and
        after the last cell (shutdown, up to ``end``, default now)."""
        end = time.time() if end is None else end
        lines, last = [], self.start
        for index, (sent, back) in sorted(self.cells.items()):
            if sent - last > seconds:
                lines.append(f"{sent - last:.0f} s before cell {index} was sent (kernel start-up "
                             f"or the previous cell's end)")
            stop = back if back is not None else end
            if stop - sent > seconds:
                cell = nb.cells[index]
                busy, idle = _kernel_time(cell, "iopub.status.busy"), _kernel_time(cell, "iopub.status.idle")
                parts = [f"{stop - sent:.0f} s in cell {index}" + ("" if back else " (no reply)")]
                if busy is not None:
                    parts.append(f"request -> kernel start {busy - sent:.1f} s")
                if busy is not None and idle is not None:
                    parts.append(f"kernel ran {idle - busy:.1f} s")
                    parts.append(f"kernel done -> reply back {stop - idle:.1f} s")
                lines.append("; ".join(parts) + f": {cell.source.splitlines()[0][:60]!r}")
            last = stop
        if end - last > seconds:
            lines.append(f"{end - last:.0f} s after the last cell (kernel shutdown)")
        return lines


@dataclass
class RunResult:
    """Outcome of one notebook: wall time in seconds, the kernel's peak resident memory in bytes
    and its CPU time in seconds (user + system; each ``None`` if it could not be read) and, on
    failure, the failing cell."""

    notebook: Path
    seconds: float
    error: str | None = None
    peak_bytes: int | None = None
    cpu_seconds: float | None = None
    #: the cells that took a second or more (wall or kernel CPU): dicts of ``cell`` (index in the
    #: notebook), ``seconds``, ``cpu_seconds`` (the first cell's includes the kernel's start-up),
    #: ``peak_bytes`` (the kernel's peak so far: where it jumps, a cell took the memory) and
    #: ``source`` (its first line), in notebook order
    cells: list[dict] = field(default_factory=list)


def peak_rss(pid: int) -> int | None:
    """Peak resident set size in bytes of process ``pid`` so far, or its current size where the
    system keeps no peak (macOS, Windows); ``None`` if the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return int(psutil.Process(pid).memory_info().rss)
    except Exception:  # psutil missing, process gone, access denied
        return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used so far by process ``pid`` (all its threads, and the children
    it has waited for); ``None`` if the process is gone or psutil is missing."""
    try:
        import psutil

        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system + t.children_user + t.children_system)
    except Exception:  # psutil missing, process gone, access denied
        return None


def _kernel_pid(client) -> int | None:
    km = getattr(client, "km", None)
    provisioner = getattr(km, "provisioner", None)
    process = getattr(provisioner, "process", None)
    return getattr(process, "pid", None)


def _format_bytes(n: int | None) -> str:
    return "?" if n is None else f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / max(total, 1))
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total} cells"


def run_notebook(path: Path, *, timeout: int = 900, stream: TextIO | None = None,
                 keep: Path | None = None) -> RunResult:
    """Execute ``path`` in a fresh kernel (working directory: its folder). Nothing is written,
    unless ``keep`` names a folder: the executed copy, outputs included (a failed run's too, up to
    its error), is then written there under the notebook's name, with the run's mode, date,
    seconds and error in ``metadata.cnncourse_run`` (``cnncourse book`` reads it).
    Progress goes to ``stream`` (default: ``sys.stderr`` at call time)."""
    stream = sys.stderr if stream is None else stream
    nb = nbformat.reads(Path(path).read_text(encoding="utf-8"), as_version=4)
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    done = 0
    peak = cpu = None
    cells = []

    timeline = Timeline()
    hooks = timeline.hooks()

    def on_cell_executed(cell, cell_index, execute_reply):
        nonlocal done, peak, cpu
        hooks["on_cell_executed"](cell, cell_index, execute_reply)
        done += 1
        pid = _kernel_pid(client)
        now = peak_rss(pid) if pid else None
        if now is not None:
            peak = max(peak or 0, now)
        used = cpu_seconds(pid) if pid else None
        before, cpu = cpu, cpu if used is None else max(cpu or 0.0, used)
        sent, back = timeline.cells.get(cell_index, [None, None])
        wall = None if sent is None or back is None else back - sent
        busy = None if cpu is None else cpu - (before or 0.0)   # the first: with kernel start-up
        if max(wall or 0.0, busy or 0.0) >= 1.0:
            cells.append({"cell": cell_index, "seconds": None if wall is None else round(wall, 1),
                          "cpu_seconds": None if busy is None else round(busy, 1),
                          "peak_bytes": peak, "source": (cell.source.splitlines() or [""])[0][:80]})
        stream.write(f"\r  {path.name}: {_bar(done, len(code_cells))}")
        stream.flush()

    client = notebook_client(nb, timeout=timeout, cwd=path.parent, on_cell_executed=on_cell_executed,
                             on_cell_execute=hooks["on_cell_execute"])
    start = time.perf_counter()
    error = None
    try:
        client.execute(stderr=subprocess.DEVNULL)  # kernel start-up chatter; cell errors still arrive
    except CellExecutionError as exc:
        error = f"code cell {_failed_cell(client.nb) or done + 1}: {str(exc).strip().splitlines()[-1]}"
    seconds = time.perf_counter() - start
    if keep is not None:
        from cnncourse import config

        # the kernel's mode: from the environment it inherited now (config.FAST is fixed at import)
        fast = os.environ.get("CNNCOURSE_FAST", "").strip().lower() in config._TRUE
        client.nb.metadata["cnncourse_run"] = {
            "mode": "fast" if fast else "full", "seconds": round(seconds, 1), "error": error,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        Path(keep).mkdir(parents=True, exist_ok=True)
        nbformat.write(client.nb, Path(keep) / Path(path).name)
    stream.write("\n")
    for line in timeline.slow(nb, SLOW_SECONDS):  # where a stall went, should one happen
        stream.write(f"  slow: {line}\n")
    return RunResult(path, seconds, error, peak, cpu, cells)


def _failed_cell(nb) -> int | None:
    """1-based number (among code cells) of the first cell with an error output."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    for number, cell in enumerate(code, 1):
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            return number
    return None


def _format_cpu(s: float | None) -> str:
    return "?" if s is None else f"{s:.1f}"


def run(paths: list[Path], *, timeout: int = 900, stream: TextIO | None = None,
        json_path: Path | str | None = None, keep: Path | None = None) -> list[RunResult]:
    """Run each notebook in turn, print a table of wall time, kernel CPU time and peak memory and,
    with ``json_path``, write it there (:func:`table`); return the results. ``keep``: a folder
    where each executed copy is written (see :func:`run_notebook`). Progress goes to ``stream``
    (default: ``sys.stderr`` at call time)."""
    stream = sys.stderr if stream is None else stream
    results = []
    for i, path in enumerate(paths, 1):
        stream.write(f"[{i}/{len(paths)}] {path}\n")
        results.append(run_notebook(path, timeout=timeout, stream=stream, keep=keep))
    width = max(len(str(r.notebook)) for r in results) if results else 10
    print(f"\n{'notebook':<{width}}  {'seconds':>8}  {'CPU s':>8}  {'peak memory':>11}  result")
    for r in results:
        print(f"{str(r.notebook):<{width}}  {r.seconds:8.1f}  {_format_cpu(r.cpu_seconds):>8}  "
              f"{_format_bytes(r.peak_bytes):>11}  {'ok' if r.error is None else 'FAILED: ' + r.error}")
    t = table(results)["total"]
    print(f"{'total':<{width}}  {t['seconds']:8.1f}  {_format_cpu(t['cpu_seconds']):>8}  "
          f"{_format_bytes(t['peak_bytes']):>11}  (memory: largest kernel peak)")
    if json_path is not None:
        Path(json_path).write_text(json.dumps(table(results), indent=1) + "\n", encoding="utf-8")
    return results


def table(results: list[RunResult]) -> dict:
    """The table of a run as plain data (what ``cnncourse run --json FILE`` writes): ``mode``
    ("fast"/"full"), ``machine`` (CPU count, platform), ``notebooks`` (one dict per notebook:
    ``notebook`` (file name), ``seconds``, ``cpu_seconds``, ``peak_bytes``, ``error`` and
    ``cells``, where the seconds went: :attr:`RunResult.cells`) and
    ``total`` (the sums of ``seconds`` and ``cpu_seconds``, the largest ``peak_bytes``; a sum is
    ``None`` where a notebook's figure is)."""
    from cnncourse import config

    def total(values):
        return None if any(v is None for v in values) else round(sum(values), 1)

    rows = [{"notebook": Path(r.notebook).name, "seconds": round(r.seconds, 1),
             "cpu_seconds": None if r.cpu_seconds is None else round(r.cpu_seconds, 1),
             "peak_bytes": r.peak_bytes, "error": r.error, "cells": r.cells} for r in results]
    peaks = [r.peak_bytes for r in results if r.peak_bytes is not None]
    return {"mode": config.mode(), "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
            "notebooks": rows,
            "total": {"seconds": total([r["seconds"] for r in rows]),
                      "cpu_seconds": total([r["cpu_seconds"] for r in rows]),
                      "peak_bytes": max(peaks) if peaks else None}}


def markdown(data: dict) -> str:
    """A table written by ``cnncourse run --json`` (:func:`table`) as a Markdown table (the README's
    instructor table): notebook, minutes, CPU minutes, peak memory; the total in the last row.

    Raises
    ------
    ValueError
        ``data`` is not such a table (no ``notebooks`` list).
    """
    if not isinstance(data, dict) or not isinstance(data.get("notebooks"), list):
        raise ValueError("data: expected the table that `cnncourse run --json FILE` writes")

    def minutes(s):
        return "?" if s is None else f"{s / 60:.1f}"

    lines = [f"| notebook ({data.get('mode', '?')} mode) | minutes | CPU minutes | peak memory |",
             "| --- | ---: | ---: | ---: |"]
    for r in data["notebooks"]:
        name = r["notebook"] if r.get("error") is None else f"{r['notebook']} (FAILED)"
        lines.append(f"| {name} | {minutes(r['seconds'])} | {minutes(r['cpu_seconds'])} | "
                     f"{_format_bytes(r['peak_bytes'])} |")
    t = data["total"]
    lines.append(f"| **total** | {minutes(t['seconds'])} | {minutes(t['cpu_seconds'])} | "
                 f"{_format_bytes(t['peak_bytes'])} (largest) |")
    return "\n".join(lines)
