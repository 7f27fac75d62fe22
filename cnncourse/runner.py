"""Execute notebooks headlessly with a progress bar and a timing table (``cnncourse run``)."""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


@dataclass
class RunResult:
    """Outcome of one notebook: wall time in seconds and, on failure, the failing cell."""

    notebook: Path
    seconds: float
    error: str | None = None


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / max(total, 1))
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total} cells"


def run_notebook(path: Path, *, timeout: int = 900, stream=sys.stderr) -> RunResult:
    """Execute ``path`` in a fresh kernel (working directory: its folder); nothing is written."""
    nb = nbformat.read(path, as_version=4)
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    done = 0

    def on_cell_executed(cell, cell_index, execute_reply):
        nonlocal done
        done += 1
        stream.write(f"\r  {path.name}: {_bar(done, len(code_cells))}")
        stream.flush()

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            on_cell_executed=on_cell_executed)
    start = time.perf_counter()
    error = None
    try:
        client.execute(stderr=subprocess.DEVNULL)  # kernel start-up chatter; cell errors still arrive
    except CellExecutionError as exc:
        error = f"code cell {_failed_cell(client.nb) or done + 1}: {str(exc).strip().splitlines()[-1]}"
    seconds = time.perf_counter() - start
    stream.write("\n")
    return RunResult(path, seconds, error)


def _failed_cell(nb) -> int | None:
    """1-based number (among code cells) of the first cell with an error output."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    for number, cell in enumerate(code, 1):
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            return number
    return None


def run(paths: list[Path], *, timeout: int = 900, stream=sys.stderr) -> list[RunResult]:
    """Run each notebook in turn, print a table of wall times; return the results."""
    results = []
    for i, path in enumerate(paths, 1):
        stream.write(f"[{i}/{len(paths)}] {path}\n")
        results.append(run_notebook(path, timeout=timeout, stream=stream))
    width = max(len(str(r.notebook)) for r in results) if results else 10
    print(f"\n{'notebook':<{width}}  {'seconds':>8}  result")
    for r in results:
        print(f"{str(r.notebook):<{width}}  {r.seconds:8.1f}  {'ok' if r.error is None else 'FAILED: ' + r.error}")
    print(f"{'total':<{width}}  {sum(r.seconds for r in results):8.1f}")
    return results
