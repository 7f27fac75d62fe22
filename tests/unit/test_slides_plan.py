"""Slides for the instructor (cnncourse.tools.slides): where slides break, what a deck holds, the
``cnncourse slides`` command. The decks in a browser: tests/system/test_slides.py."""
from __future__ import annotations

import base64
import io
import re

import nbformat
import pytest

from cnncourse import config
from cnncourse.tools import cli, lessons, slides


def _png(width: int, height: int) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _figure_output(width=400, height=300):
    return nbformat.v4.new_output("display_data", data={"image/png": _png(width, height),
                                                        "text/plain": "<Figure>"})


def _stdout(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def _notebook():
    """A small executed-looking solution notebook covering every rule of the plan."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    cells = [
        md("# 99 · Title\n\nWhat this is about.\n\n## 1. First section\nSome prose."),
        code("import cnncourse\ncnncourse.setup()", outputs=[_stdout("device: CPU\n")]),
        md("### Exercise 1: do it"),
        code("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"),
        code("f = checks.x.f(f)\nprint('the answer: 42')",
             outputs=[_stdout("✅ f: correct on 3 inputs\nthe answer: 42\n"),
                      nbformat.v4.new_output("stream", name="stderr", text="a warning\n")]),
        code("x = 1"),   # nothing to show
        code("\n".join(f"line{i} = {i}" for i in range(12)) + "\nplt.show()",
             outputs=[_figure_output()]),
        code("w = widgets.explorer()", outputs=[nbformat.v4.new_output(
            "display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "m"},
                                  "text/plain": "interactive(children=...)"})]),
        md("The talk's number."),
        code("print(196_608)", outputs=[_stdout("196608\n")]),
        md("## Summary\n* one\n* two"),
        code("### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS"),
    ]
    cells[9].metadata["slideshow"] = {"slide_type": "subslide"}      # an explicit override
    for c in cells:
        if c.cell_type == "code":
            c.setdefault("outputs", [])
    cells[3].metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "answer-1"}
    return nbformat.v4.new_notebook(cells=cells)


# ---------------------------------------------------------------------------------------------
# The plan (no browser)
# ---------------------------------------------------------------------------------------------

def test_split_markdown_keeps_fences_and_display_math_whole():
    text = ("## A\nintro\n\n```python\nx = 1\n\ny = 2\n```\n\n$$\na\n\nb\n$$\n### B\nend\n\n"
            "1. item\n\n   more of it\n2. next")
    pieces = slides.split_markdown(text)
    assert pieces == ["## A\nintro", "```python\nx = 1\n\ny = 2\n```", "$$\na\n\nb\n$$",
                      "### B\nend", "1. item\n\n   more of it\n2. next"]
    with pytest.raises(TypeError, match="source"):
        slides.split_markdown(None)


def test_png_size_reads_the_header_and_rejects_other_data():
    assert slides.png_size(_png(37, 11)) == (37, 11)
    with pytest.raises(ValueError, match="not a PNG"):
        slides.png_size(b"GIF89a" + b"\0" * 30)


def test_plan_follows_headings_figures_and_exercises():
    deck, plan = slides.deck_notebook(_notebook())
    kinds = [(p.slide_type, p.first_line[:20]) for p in plan]
    assert kinds == [
        ("slide", "# 99 · Title"), ("-", "What this is about."),
        ("slide", "## 1. First section"),           # the markdown cell split at its heading
        ("skip", "import cnncourse"),              # setup cell
        ("subslide", "### Exercise 1: do i"),
        ("notes", "def f(x):"),                    # the answer goes to the speaker notes
        ("-", "f = checks.x.f(f)"),                # a check that prints a number
        ("skip", "x = 1"),                         # nothing to show
        ("subslide", "line0 = 0"),                 # a figure too big for the slide so far
        ("-", "w = widgets.explorer"),
        ("-", "The talk's number."),
        ("subslide", "print(196_608)"),            # explicit slideshow metadata wins
        ("slide", "## Summary"), ("skip", "### BEGIN HIDDEN TES"),
    ], kinds
    cells = deck.cells
    assert all(c.metadata.slideshow.slide_type == p.slide_type for c, p in zip(cells, plan))
    check = cells[6]
    assert [o["text"] for o in check.outputs] == ["the answer: 42\n"], "✅ lines and stderr stay off slides"
    figure = cells[8]
    assert figure.metadata["transient"]["remove_source"], "a long figure cell shows only its figure"
    shown = figure.outputs[0].metadata["image/png"]
    assert (shown["width"], shown["height"]) == (600, 450), "a small figure is enlarged 1.5x"
    assert slides.WIDGET_NOTE in cells[9].outputs[0].data["text/html"]
    assert "remove_source" not in cells[5].metadata.get("transient", {}), "notes show the answer"


def test_a_figure_that_fits_joins_a_short_slide_and_a_big_one_gets_its_own():
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook(cells=[
        md("## Short"), code("plt.show()", outputs=[_figure_output(400, 200)]),
        md("## Long\n" + "word " * 600), code("plt.show()", outputs=[_figure_output(400, 200)]),
        code("plt.show()", outputs=[_figure_output(1200, 1200)])])
    _, plan = slides.deck_notebook(nb)
    assert [p.slide_type for p in plan] == ["slide", "-", "slide", "subslide", "subslide"]
    big = plan[-1]
    assert big.height <= slides.MAX_IMAGE_HEIGHT + 12 + slides.CODE_LINE * 2 + 20


def test_plan_rejects_bad_metadata_and_error_outputs():
    nb = _notebook()
    nb.cells[0].metadata["slideshow"] = {"slide_type": "title"}
    with pytest.raises(ValueError, match="slide_type 'title'"):
        slides.deck_notebook(nb)
    nb = _notebook()
    nb.cells[4].outputs.append(nbformat.v4.new_output("error", ename="E", evalue="x", traceback=[]))
    with pytest.raises(slides.SlidesError, match="error output"):
        slides.deck_notebook(nb)
    with pytest.raises(TypeError, match="nb"):
        slides.deck_notebook({"cells": []})


def test_slide_metadata_survives_lessons_build_and_output_stripping(tmp_path):
    sol, les = tmp_path / "solutions", tmp_path / "lessons"
    sol.mkdir()
    nb = _notebook()
    nbformat.write(nb, sol / "99_test.ipynb")
    lessons.build(sol, les)
    stripped = nbformat.read(sol / "99_test.ipynb", as_version=4)
    lesson = nbformat.read(les / "99_test.ipynb", as_version=4)
    assert not any(c.get("outputs") for c in stripped.cells if c.cell_type == "code")
    for book in (stripped, lesson):
        carried = [c for c in book.cells if "slideshow" in c.metadata]
        assert [c.source for c in carried] == ["print(196_608)"]
        assert carried[0].metadata.slideshow.slide_type == "subslide"


def test_solutions_carry_only_valid_slide_metadata():
    for path in sorted(config.SOLUTIONS_DIR.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        explicit = [c.metadata.slideshow.get("slide_type") for c in nb.cells if "slideshow" in c.metadata]
        assert set(explicit) <= set(slides.SLIDE_TYPES), path.name
        assert len(explicit) <= 3, f"{path.name}: the plan's rules should do the work, not metadata"
        _, plan = slides.deck_notebook(nb)   # unexecuted: the rules still give a deck
        assert plan[0].slide_type == "slide" and plan[0].first_line.startswith("# ")


def test_exported_deck_loads_nothing_from_the_network(tmp_path):
    deck, _ = slides.deck_notebook(_notebook())
    html = slides.export(deck)
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html)
    urls += re.findall(r"""url\(\s*["']?([^"')]+)""", html)
    remote = sorted({u for u in urls if re.match(r"(https?:)?//", u)})
    assert not remote, f"the deck loads from the network: {remote}"
    assert f"{slides.ASSETS}/reveal.js/dist/reveal.js" in html
    assert f"{slides.ASSETS}/mathjax/tex-chtml-full.js" in html
    assert "require(" not in html and "jquery" not in html.lower()


def test_cli_refuses_executed_with_several_notebooks_and_unknown_names(capsys):
    assert cli.main(["slides", "00", "01", "--executed", "x.ipynb"]) == 2
    assert "exactly one notebook" in capsys.readouterr().err
    assert cli.main(["slides", "no_such_notebook"]) == 2
    assert "no such notebook" in capsys.readouterr().err


def test_cli_writes_a_deck_from_an_executed_copy_and_reports_one_it_cannot_make(tmp_path, capsys):
    source, good, bad = tmp_path / "99_test.ipynb", tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    nbformat.write(_notebook(), source)
    nbformat.write(_notebook(), good)
    broken = _notebook()
    broken.cells[4].outputs.append(nbformat.v4.new_output("error", ename="E", evalue="x", traceback=[]))
    nbformat.write(broken, bad)
    out = tmp_path / "decks"
    assert cli.main(["slides", str(source), "--executed", str(good), "--out", str(out)]) == 0
    assert (out / "99_test.slides.html").exists()
    assert (out / slides.ASSETS / "reveal.js" / "dist" / "reveal.js").exists()
    assert (out / slides.ASSETS / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    assert cli.main(["slides", str(source), "--executed", str(bad), "--out", str(out)]) == 1
    assert "no deck for 1 notebook(s): 99_test.ipynb" in capsys.readouterr().err


def test_index_links_every_deck_in_the_folder(tmp_path):
    (tmp_path / "01_a.slides.html").write_text("x")
    (tmp_path / "02_b.slides.html").write_text("x")
    deck = slides.Deck(tmp_path / "02_b.slides.html", 3, 4, [])
    page = slides.write_index(tmp_path, [deck]).read_text()
    assert '<a href="01_a.slides.html">01_a</a></li>' in page
    assert '<a href="02_b.slides.html">02_b</a> (3 slides, 4 subslides)</li>' in page
