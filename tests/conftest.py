"""Fixtures for every test: a headless matplotlib, no figure left open between tests, an empty
record of exercise verdicts, and the helpers the checker tests share (``last``, ``stub``, ``verdict``)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from cnncourse import checks  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    plt.close("all")
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def _fresh_check_history():
    """Each test starts with no recorded exercise verdicts (cnncourse.checks.history())."""
    checks.reset()
    yield
    checks.reset()


def _not_done(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


@pytest.fixture
def stub():
    """An exercise as a lesson hands it out: any call raises ``NotImplementedError``."""
    return _not_done


@pytest.fixture
def last():
    """``last()``: the most recent verdict a check recorded (a ``cnncourse.checks`` result)."""
    def _last():
        history = checks.history()
        assert history, "no check has recorded a verdict"
        return history[-1]
    return _last


@pytest.fixture
def verdict(last):
    """``verdict(status, *words)``: the last verdict has ``status`` ("passed", "failed", "not done")
    and its message contains each of ``words`` (case-insensitive)."""
    def _verdict(status, *words):
        result = last()
        assert result.status == status, str(result)
        for word in words:
            assert word.lower() in result.message.lower(), str(result)
    return _verdict
