"""Unit-test fixtures: a headless matplotlib, and no figure left open between tests."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    plt.close("all")
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def _fresh_check_history():
    """Each test starts with no recorded exercise verdicts (cnncourse.checks.history())."""
    from cnncourse import checks

    checks.reset()
    yield
    checks.reset()
