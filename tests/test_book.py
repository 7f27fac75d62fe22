"""The course's website (``cnncourse book``): its parts, and a small book in headless Chromium.

The browser tests build the book from notebooks 00 and 11 executed in fast mode (11: the search
must find "noisy-AND", and its page has math and figures; 00: a widget), serve it with
``http.server`` on 127.0.0.1, open every page and check that it opens, that its figures load and
carry alt text, that it shows no error output, that its internal links resolve, that the search
works, and that no request leaves 127.0.0.1 (every other one is aborted and counted).
"""
from __future__ import annotations

import functools
import http.server
import io
import os
import re
import threading
import urllib.parse
from pathlib import Path

import nbformat
import pytest
import yaml

from cnncourse import config

book = pytest.importorskip("cnncourse.tools.book", reason="the book extra (sphinx, myst-nb) is missing")

BOOK_NOTEBOOKS = ["00_welcome", "11_multiple_instance"]


# --------------------------------------------------------------------------------------------
# The parts, without a browser


def _nb(*cells):
    return nbformat.v4.new_notebook(cells=list(cells))


def _png_output():
    return nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})


def test_title_and_objectives_come_from_every_notebook():
    for path in sorted(config.SOLUTIONS_DIR.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert book.notebook_title(nb).startswith(path.name[:2] + " · "), path.name
        objectives = book.learning_objectives(nb)
        assert len(objectives) >= 2 and all(len(o) > 10 for o in objectives), (path.name, objectives)
    with pytest.raises(book.BookError, match="nb: no '# title'"):
        book.notebook_title(_nb(nbformat.v4.new_markdown_cell("no heading")))


def test_outputs_come_only_from_an_executed_copy_with_the_same_code():
    solution = _nb(nbformat.v4.new_markdown_cell("# 99 · t"), nbformat.v4.new_code_cell("x = 1"))
    solution.cells[1].metadata["mystnb"] = {"image": {"alt": "a picture"}}
    executed = _nb(nbformat.v4.new_markdown_cell("# old prose"), nbformat.v4.new_code_cell("x = 1"))
    executed.cells[1].outputs = [_png_output()]
    merged = book.with_outputs(solution, executed)
    assert merged.cells[0].source == "# 99 · t"                  # prose and metadata: the solution's
    assert book.figure_alt(merged.cells[1]) == "a picture"
    assert merged.cells[1].outputs == executed.cells[1].outputs  # outputs: the run's
    assert solution.cells[1].outputs == []                       # the solution is not modified
    executed.cells[1].source = "x = 2"
    assert book.stale_reason(solution, executed) == "code cell 1 differs from the solution's"
    with pytest.raises(book.BookError, match="executed: stale copy"):
        book.with_outputs(solution, executed)


def test_a_figure_without_alt_text_or_an_error_keeps_a_page_off_the_site():
    cell = nbformat.v4.new_code_cell("plot()")
    cell.outputs = [_png_output(), nbformat.v4.new_output("error", ename="ValueError", evalue="bad",
                                                          traceback=[])]
    problems = book.page_problems(_nb(cell), "99_x")
    assert len(problems) == 2
    assert "error output ValueError: bad" in problems[0]
    assert "a figure without alt text" in problems[1] and "solutions/99_x.ipynb" in problems[1]
    cell.outputs = cell.outputs[:1]
    cell.metadata["mystnb"] = {"image": {"alt": "what it shows"}}
    assert book.page_problems(_nb(cell), "99_x") == []


def test_every_figure_in_the_solutions_has_alt_text():
    """A cell that shows a figure (``plt.show()``) says what it shows (the build checks every
    figure output; this catches a new figure before any run)."""
    missing = []
    for path in sorted(config.SOLUTIONS_DIR.glob("*.ipynb")):
        for number, cell in enumerate([c for c in nbformat.read(path, as_version=4).cells
                                       if c.cell_type == "code"], 1):
            if "plt.show()" in cell.source and len(book.figure_alt(cell)) < 30:
                missing.append(f"{path.name} code cell {number}")
    assert not missing, "figures without a meaningful alt text: " + ", ".join(missing)


def test_widgets_become_a_note_without_cdn_javascript():
    cell = nbformat.v4.new_code_cell("slider")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        book.WIDGET_MIME: {"model_id": "abc", "version_major": 2}, "text/plain": "IntSlider()"})]
    nb = _nb(cell)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"abc": {}}}}
    web = book.for_the_web(nb)
    assert "widgets" not in web.metadata and web.cells[0].outputs[0]["data"] == {"text/html": book.WIDGET_NOTE}
    assert book.WIDGET_MIME in nb.cells[0].outputs[0]["data"]     # the input is not modified


def test_references_come_from_the_talk_and_name_the_notebooks():
    copy = book.TALK_REFERENCES.read_text(encoding="utf-8")
    if book.TALK.exists():        # the copy in the repository is the talk's list, up to date
        assert copy == book.talk_references_file(book.TALK.read_text(encoding="utf-8"))
    papers, reading = book.talk_references(copy)
    assert any(p.startswith("Kraus, Oren Z.") and "multiple instance" in p for p in papers)
    assert any(p.startswith("Graham, Ben.") and "1505.02890" in p for p in papers)
    assert any(p.startswith("LeCun, Y.") for p in papers)
    assert sum("High-Throughput Pipeline" in p for p in papers) == 1      # said twice, listed once
    assert not any("citations" in p for p in papers)
    assert any("Goodfellow" in r for r in reading) and not any("](#)" in r for r in reading)
    nbs = {p.stem: nbformat.read(p, as_version=4) for p in sorted(config.SOLUTIONS_DIR.glob("*.ipynb"))}
    page = book.references_page(nbs, copy)
    kraus = next(line for line in page.splitlines() if line.startswith("* Kraus"))
    assert "[11](11_multiple_instance.ipynb)" in kraus


def test_citation_cff_has_the_keys_the_format_requires():
    cff = yaml.safe_load((config.ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    for key in ("cff-version", "message", "title", "authors"):
        assert cff.get(key), key
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "MIT"
    assert cff["version"] == __import__("cnncourse").__version__
    talk = cff["preferred-citation"]
    assert talk["title"] == "Convolutional Neural Networks for Biomedical Image Analysis"
    assert talk["authors"][0]["family-names"] == "Kalinin" and talk["year"] == 2017
    for entry in [cff, talk]:
        assert all(a.get("name") or a.get("family-names") for a in entry["authors"])


# --------------------------------------------------------------------------------------------
# A small book in the browser


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
    handler = functools.partial(_QuietHandler, directory=str(site.site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


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


@pytest.mark.browser
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


@pytest.mark.browser
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


@pytest.mark.browser
def test_search_finds_noisy_and(context, server, site):
    page = context.new_page()
    page.goto(f"{server}/search.html?q=noisy-AND")
    page.wait_for_selector("#search-results li a", timeout=30_000)
    found = page.eval_on_selector_all("#search-results li a", "els => els.map(a => a.href)")
    assert any("11_multiple_instance.html" in href for href in found), found
    page.close()
    assert context.outside == [], f"requests left 127.0.0.1: {context.outside}"
