"""Unit-test fixtures: a headless matplotlib, no figure left open between tests, and headless
Chromium for the browser tests (tests/test_browser.py, tests/test_book.py)."""
import os
import shutil

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


#: Debian's chromium (``make browser`` installs it as root); playwright drives it, its own browser
#: download is never used.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (a playwright ``Browser``); the test is skipped, loudly, without it (in
    CI it fails instead). Ask for it before costlier fixtures, so a skip comes first."""
    if CHROMIUM is None:
        reason = ("BROWSER TEST SKIPPED: Debian's `chromium` is not installed (as root, `make test` "
                  "installs it with apt-get; otherwise `sudo apt-get install chromium`)")
        if os.environ.get("CI") == "true":
            pytest.fail(reason.replace("SKIPPED", "CANNOT RUN IN CI"), pytrace=False)
        pytest.skip(reason)
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()
