"""The parts of the course's website (``cnncourse book``): titles and objectives, outputs from
executed copies, alt text, widgets, the talk's references, CITATION.cff. The site itself, in
Chromium: tests/system/test_book_site.py."""
from __future__ import annotations

import nbformat
import pytest
import yaml

from cnncourse import config

book = pytest.importorskip("cnncourse.tools.book", reason="the book extra (sphinx, myst-nb) is missing")


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
