"""The course's website (``cnncourse book``): a small book in headless Chromium (its parts:
tests/unit/test_book.py).

The browser tests build the book from notebooks 00 and 11 executed in fast mode (11: the search
must find "noisy-AND", and its page has math and figures; 00: a widget), serve it with
``http.server`` on 127.0.0.1, open every page and check that it opens, that its figures load and
carry alt text, that it shows no error output, that its internal links resolve, that the search
works, and that no request leaves 127.0.0.1 (every other one is aborted and counted).
"""
from __future__ import annotations

import io
import os
import re
import urllib.parse
from pathlib import Path

import nbformat
import pytest

from browser_setup import browser, serve  # noqa: F401  (browser: a fixture)
from cnncourse import config

book = pytest.importorskip("cnncourse.tools.book", reason="the book extra (sphinx, myst-nb) is missing")

BOOK_NOTEBOOKS = ["00_welcome", "11_multiple_instance"]
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(browser, tmp_path_factory):
    """A book of BOOK_NOTEBOOKS executed now in fast mode: (report, pages' HTML files)."""
    root = tmp_path_factory.mktemp("book")
    before = os.environ.get("CNNCOURSE_FAST")
    os.environ["CNNCOURSE_FAST"] = "1"                 # the kernels inherit it
    try:
        report = book.build([config.SOLUTIONS_DIR / f"{n}.ipynb" for n in BOOK_NOTEBOOKS],
                            executed=root / "executed", out=root / "site", stream=io.StringIO())
    finally:
        if before is None:
            os.environ.pop("CNNCOURSE_FAST")
        else:
            os.environ["CNNCOURSE_FAST"] = before
    assert report.ran == BOOK_NOTEBOOKS and report.mode == "fast"
    return report


@pytest.fixture(scope="module")
def server(site):
    with serve(site.site) as url:
        yield url


@pytest.fixture(scope="module")
def context(browser, server):
    """A browser context that aborts, and records, every request to another host."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.outside = []

    def route(r):
        if urllib.parse.urlsplit(r.request.url).hostname == "127.0.0.1":
            r.continue_()
        else:
            ctx.outside.append(r.request.url)
            r.abort()

    ctx.route("**/*", route)
    yield ctx
    ctx.close()


def _ids(html_file: Path) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html_file.read_text(encoding="utf-8")))


def test_every_page_opens_with_its_figures_and_links(context, server, site):
    pages = [p.relative_to(site.site).as_posix() for p in book.site_files(site.site)]
    assert {"index.html", "references.html", "cite.html", "search.html"} <= set(pages)
    assert {f"{n}.html" for n in BOOK_NOTEBOOKS} <= set(pages)
    page = context.new_page()
    figures = 0
    for name in pages:
        response = page.goto(f"{server}/{name}", wait_until="load")
        assert response is not None and response.ok, f"{name}: HTTP {response and response.status}"
        assert page.title().strip(), f"{name}: no title"
        images = page.eval_on_selector_all(
            "img", "els => els.map(i => [i.getAttribute('src'), i.complete && i.naturalWidth,"
                   " (i.getAttribute('alt') || '').trim()])")
        for src, width, alt in images:
            assert width, f"{name}: the image {src} did not load"
            assert len(alt) >= 20, f"{name}: the image {src} has no meaningful alt text ({alt!r})"
        figures += len(images)
        errors = page.locator(".output.traceback, .output.stderr, .output.error").count()
        assert errors == 0, f"{name}: shows {errors} error output(s)"
        assert "Traceback (most recent call last)" not in page.inner_text("body"), name
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
        for href in hrefs:
            url = urllib.parse.urlsplit(href)
            if url.hostname != "127.0.0.1":
                continue        # a link a reader may follow (e.g. the theme's credit), not loaded
            target = site.site / urllib.parse.unquote(url.path).lstrip("/")
            if target.is_dir():
                target = target / "index.html"
            assert target.is_file(), f"{name}: the link {href} leads nowhere"
            if url.fragment and target.suffix == ".html":
                assert url.fragment in _ids(target), f"{name}: no #{url.fragment} in {target.name}"
    page.close()
    assert figures >= 8, f"only {figures} figures in the whole book"
    assert context.outside == [], f"requests left 127.0.0.1: {context.outside}"


def test_front_page_is_the_course_map_and_math_renders_locally(context, server, site):
    page = context.new_page()
    page.goto(f"{server}/index.html")
    rows = page.locator("table tbody tr")
    assert rows.count() == len(BOOK_NOTEBOOKS)
    for i, name in enumerate(BOOK_NOTEBOOKS):
        nb = nbformat.read(config.SOLUTIONS_DIR / f"{name}.ipynb", as_version=4)
        row = rows.nth(i)
        assert row.locator("a").first.get_attribute("href").startswith(f"{name}.html")
        assert re.sub(r"[*_`]", "", book.notebook_title(nb)) in row.inner_text()
        first_objective = book.learning_objectives(nb)[0].split()[:3]
        assert " ".join(first_objective) in " ".join(row.inner_text().split())
    page.goto(f"{server}/11_multiple_instance.html")
    page.wait_for_selector("mjx-container", timeout=30_000)     # MathJax, from _static/mathjax
    assert "Learning objectives." in page.inner_text("body")
    page.close()
    assert context.outside == [], f"requests left 127.0.0.1: {context.outside}"


def test_search_finds_noisy_and(context, server, site):
    page = context.new_page()
    page.goto(f"{server}/search.html?q=noisy-AND")
    page.wait_for_selector("#search-results li a", timeout=30_000)
    found = page.eval_on_selector_all("#search-results li a", "els => els.map(a => a.href)")
    assert any("11_multiple_instance.html" in href for href in found), found
    page.close()
    assert context.outside == [], f"requests left 127.0.0.1: {context.outside}"
