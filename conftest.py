"""Repository-wide pytest hooks: a table of wall time per notebook after nbval has run them."""
import collections
import os

# Before any TensorFlow import in the test process or the notebook kernels it starts.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_notebook_seconds = collections.defaultdict(float)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    tr = terminalreporter
    tr.section("seconds per notebook (nbval, all cells)")
    width = max(map(len, _notebook_seconds))
    for path, seconds in sorted(_notebook_seconds.items()):
        tr.write_line(f"{path:<{width}}  {seconds:7.1f}")
    tr.write_line(f"{'total':<{width}}  {sum(_notebook_seconds.values()):7.1f}")
