"""The course in a real browser: JupyterLab from this environment, driven by headless Chromium.

Starts JupyterLab on a free localhost port with a token, opens notebooks (copies, so nothing in
the repository is modified), runs all cells, and checks that widgets render as widgets (not as
text such as ``FloatSlider(...)``), that plots appear, that no cell shows an error, and that
moving a slider changes the output. Screenshots go to ``artifacts/browser/``.

Needs Debian's ``chromium`` and the Python package ``playwright`` (tests/system/browser_setup.py).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cnncourse import config

from browser_setup import browser, require_chromium  # noqa: F401  (browser: a fixture)

ARTIFACTS = config.ROOT / "artifacts" / "browser"
pytestmark = pytest.mark.browser

require_chromium()
pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server serving copies of the notebooks; yields (base_url, token, folder)."""
    root = tmp_path_factory.mktemp("lab")
    for nb in config.SOLUTIONS_DIR.glob("*.ipynb"):
        shutil.copy(nb, root / nb.name)
    settings = tmp_path_factory.mktemp("lab-settings")
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
           "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    env = dict(os.environ, CNNCOURSE_FAST="1", JUPYTERLAB_SETTINGS_DIR=str(settings))
    log = open(root / "jupyterlab.log", "w")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not answer on {url}; log: {(root / 'jupyterlab.log').read_text()[-2000:]}")
        yield url, token, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _open_and_run_all(browser, lab, name: str, timeout_s: int = 240):
    url, token, _ = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/lab/tree/{name}?reset&token={token}")  # reset: no tabs restored from before
    page.wait_for_function(
        "name => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        " return w && w.context && w.context.path.endsWith(name) && w.sessionContext"
        " && w.sessionContext.session && w.sessionContext.session.kernel; }", arg=name, timeout=90_000)
    page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.ready")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        prompts = page.eval_on_selector_all(".jp-CodeCell .jp-InputPrompt", "els => els.map(e => e.textContent)")
        if prompts and all(p.strip().startswith("[") and p.strip()[1:-2].isdigit() for p in prompts):
            break
        time.sleep(1)
    else:
        page.screenshot(path=str(ARTIFACTS / f"{name}.timeout.png"))
        pytest.fail(f"{name}: not all cells finished within {timeout_s}s: prompts {prompts}")
    return page


def _outputs_text(page) -> str:
    return "\n".join(page.eval_on_selector_all(".jp-OutputArea-output", "els => els.map(e => e.textContent)"))


def _assert_rendered(page, name: str):
    error_text = [t for t in page.eval_on_selector_all(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
        "els => els.map(e => e.textContent)") if "Error" in t or "Traceback" in t]
    assert not error_text, f"{name}: a cell shows an error:\n{error_text[0][:2000]}"
    text = _outputs_text(page)
    for widget_repr in ("FloatSlider(", "IntSlider(", "interactive(children", "VBox(children"):
        assert widget_repr not in text, (
            f"{name}: a widget rendered as text ({widget_repr}...): the JupyterLab widget extension "
            "(jupyterlab_widgets) is missing from the server environment")
    assert page.locator(".widget-slider").count() >= 1, f"{name}: no slider widget rendered"
    assert page.locator(".jp-RenderedImage img").count() >= 1, f"{name}: no plot rendered"


def _widget_image(page):
    """src of the first plot inside a widget's output area."""
    return page.locator(".jp-OutputArea-output .widget-output .jp-RenderedImage img, "
                        ".jupyter-widgets .jp-RenderedImage img").first.get_attribute("src")


def _set_slider(page, value: str, description: str | None = None):
    """Type ``value`` into the readout of the slider labelled ``description`` (default: the first)."""
    sliders = page.locator(".widget-slider")
    if description is not None:
        sliders = sliders.filter(has=page.locator(f'.widget-label:text-is("{description}")'))
    readout = sliders.first.locator(".widget-readout")
    readout.scroll_into_view_if_needed()
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(value)
    page.keyboard.press("Enter")


def test_welcome_renders_widgets_and_plots(lab, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = _open_and_run_all(browser, lab, "00_welcome.ipynb")
    try:
        _assert_rendered(page, "00_welcome.ipynb")
        assert "All good" in _outputs_text(page), "cnncourse doctor did not report a good install"
        slider = page.locator(".widget-slider").first
        slider.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "00_welcome.png"))
        before = _widget_image(page)
        _set_slider(page, "2.5")
        readout = page.locator(".widget-slider").first.locator(".widget-readout").inner_text()
        assert readout.strip() == "2.50", f"the gamma slider did not take the value: {readout!r}"
        try:   # the kernel redraws the picture for the new gamma
            page.wait_for_function(
                "before => { const i = document.querySelector('.jupyter-widgets .jp-RenderedImage img');"
                " return i && i.src !== before; }", arg=before, timeout=30_000)
        except Exception as exc:
            raise AssertionError("moving the gamma slider did not redraw the picture") from exc
        page.screenshot(path=str(ARTIFACTS / "00_welcome_slider_moved.png"))
    finally:
        page.close()


def test_perceptron_sliders_change_the_truth_table(lab, browser):
    from cnncourse import neurons

    name = "01_perceptron_nand.ipynb"
    if not (lab[2] / name).exists():
        pytest.fail(f"{name} is missing from solutions/")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = _open_and_run_all(browser, lab, name)
    try:
        _assert_rendered(page, name)
        table = page.locator(".widget-html-content", has_text="computes:").first
        table.scroll_into_view_if_needed()
        assert "computes: NAND" in table.text_content()
        page.screenshot(path=str(ARTIFACTS / "01_perceptron_nand.png"))
        _set_slider(page, "1", description="b")   # w = (-2, -2), b = 1: only (0, 0) fires
        expected = neurons.gate_name(neurons.step(neurons.weighted_sum(
            neurons.binary_inputs(2), (-2.0, -2.0), 1.0)))
        page.wait_for_function(
            "want => [...document.querySelectorAll('.widget-html-content')]"
            ".some(e => e.textContent.includes('computes: ' + want))", arg=expected, timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "01_perceptron_slider_moved.png"))
    finally:
        page.close()
