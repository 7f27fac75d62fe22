"""Repository-wide pytest hooks: notebooks kept whole under pytest-xdist, and a table of wall time per
notebook after nbval has run them."""
import collections
import importlib.util
import os

# Before any TensorFlow import in the test process or the notebook kernels it starts.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_notebook_seconds = collections.defaultdict(float)


if importlib.util.find_spec("xdist"):
    def pytest_xdist_make_scheduler(config, log):
        """`make test` runs two workers (`-n 2`): all cells of a notebook go to one worker, in order,
        since they share one kernel; every other test is a unit of its own (the wrong-answer runs,
        one notebook each, spread over both workers). Biggest notebooks are handed out first."""
        from xdist.scheduler import LoadScopeScheduling

        class NotebookScheduling(LoadScopeScheduling):
            def _split_scope(self, nodeid):
                path = nodeid.split("::", 1)[0]
                return path if path.endswith(".ipynb") else nodeid

        return NotebookScheduling(config, log)


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
