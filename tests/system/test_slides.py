"""Decks of fast-mode executed notebooks opened offline in headless Chromium (cnncourse.tools.slides).

Builds decks of two notebooks, serves them from 127.0.0.1, pages through them with
``Reveal.next()`` and checks that reveal.js started, that every figure loaded and is shown at a
readable size, that MathJax typeset the formulas, that the speaker notes hold the exercise
answers, and that no request went to any host but 127.0.0.1 (every other request is recorded and
refused) and none failed. Screenshots go to ``artifacts/slides/``.
"""
from __future__ import annotations

import pytest

from browser_setup import browser, require_chromium, serve  # noqa: F401  (browser: a fixture)
from cnncourse import config
from cnncourse.tools import slides

ARTIFACTS = config.ROOT / "artifacts" / "slides"
#: small, quick notebooks with figures, formulas, exercises and a widget
DECK_NOTEBOOKS = ("00_welcome", "01_perceptron_nand")


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    """Decks of DECK_NOTEBOOKS, executed in fast mode; yields (folder, {name: Deck})."""
    require_chromium()
    out = tmp_path_factory.mktemp("slides")
    built = {}
    for name in DECK_NOTEBOOKS:
        built[name] = slides.make_deck(config.SOLUTIONS_DIR / f"{name}.ipynb", out, fast=True,
                                       timeout=300)
    yield out, built


@pytest.fixture(scope="module")
def server(decks):
    with serve(decks[0]) as url:
        yield url


def _open(browser, base, name):
    """A page on the deck with every request to a host other than 127.0.0.1 recorded and refused,
    and every failed local response recorded."""
    context = browser.new_context(viewport={"width": slides.WIDTH, "height": slides.HEIGHT})
    outside, failed = [], []

    def route(r):
        url = r.request.url
        if url.startswith(base + "/") or url.startswith("data:"):
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("response", lambda resp: failed.append(f"{resp.status} {resp.url}")
            if resp.status >= 400 else None)
    page.on("requestfailed", lambda req: failed.append(f"failed {req.url}")
            if req.url.startswith(base) else None)
    page.goto(f"{base}/{name}.slides.html", wait_until="load")
    page.wait_for_function("window.Reveal && Reveal.isReady()", timeout=30_000)
    return context, page, outside, failed


@pytest.mark.browser
@pytest.mark.parametrize("name", DECK_NOTEBOOKS)
def test_deck_opens_offline_with_its_figures(browser, decks, server, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    deck = decks[1][name]
    kinds = [p.slide_type for p in deck.plan]
    context, page, outside, failed = _open(browser, server, name)
    try:
        total = page.evaluate("Reveal.getTotalSlides()")
        assert total == kinds.count("slide") + kinds.count("subslide") >= 5, (total, deck.plan)
        seen = [page.evaluate("JSON.stringify(Reveal.getIndices())")]
        for _ in range(4):
            page.evaluate("Reveal.next()")
            seen.append(page.evaluate("JSON.stringify(Reveal.getIndices())"))
        assert len(set(seen)) == 5, f"Reveal.next() did not move through the slides: {seen}"
        figures = page.eval_on_selector_all(
            ".jp-RenderedImage img", "els => els.map(e => [e.complete, e.naturalWidth])")
        expected = sum(1 for p in deck.plan if p.why.startswith("figure"))
        assert len(figures) >= expected >= 1, (figures, expected)
        assert all(done and width > 0 for done, width in figures), f"a figure did not load: {figures}"
        # go to the first figure's slide and make sure it is shown at a readable size
        page.evaluate("""() => { const img = document.querySelector('.jp-RenderedImage img');
            const s = img.closest('section'); const i = Reveal.getIndices(s); Reveal.slide(i.h, i.v); }""")
        box = page.evaluate("""() => { const r = Reveal.getCurrentSlide()
            .querySelector('.jp-RenderedImage img').getBoundingClientRect();
            return [r.width, r.height]; }""")
        assert box[0] >= 300 and box[1] >= 150, f"the figure is shown too small: {box}"
        notes = page.eval_on_selector_all("aside.notes", "els => els.length")
        assert notes == kinds.count("notes") >= 1, "the exercise answers are not in the notes"
        if name == "01_perceptron_nand":   # formulas typeset by the local MathJax
            page.wait_for_function("document.querySelectorAll('mjx-container').length > 0",
                                   timeout=30_000)
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        assert outside == [], f"requests left the machine: {outside}"
        assert failed == [], f"assets missing from the deck folder: {failed}"
    finally:
        context.close()
