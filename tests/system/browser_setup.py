"""Headless Chromium for the browser tests (tests/system/test_browser.py, tests/system/test_slides.py).

Debian's ``chromium`` (``make test`` installs it when running as root) driven by the Python package
``playwright`` (test extra; its own browser download is never used). Without chromium a browser
test is skipped loudly, and fails under CI, where it must run.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SKIP_REASON = ("BROWSER TEST SKIPPED: Debian's `chromium` is not installed (as root, `make test` "
               "installs it with apt-get; otherwise `sudo apt-get install chromium`)")


def require_chromium() -> None:
    """Skip the calling test (or module, at import) without chromium; fail instead under CI."""
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail(SKIP_REASON.replace("SKIPPED", "CANNOT RUN IN CI"), pytrace=False)
        pytest.skip(SKIP_REASON, allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium (playwright ``Browser``) shared by a module's tests."""
    require_chromium()
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(folder: Path):
    """Serve ``folder`` over HTTP on 127.0.0.1 (a free port) while in the block; yields the base
    URL, ``http://127.0.0.1:PORT``."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                          functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
