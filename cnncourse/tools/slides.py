"""Reveal.js decks for the instructor, one per notebook (``cnncourse slides``, ``make slides``).

A deck is made from an *executed* solution notebook (figures and printed numbers included) with
nbconvert's ``SlidesExporter`` and a template that loads nothing from the network: reveal.js and
MathJax 3 are copied next to the decks (``_assets/``, from the ``slides`` extra: reveal.js from
``sphinx-revealjs``, MathJax 3.2 from ``django-static-mathjax``), figures are inlined as data URIs,
and the CDN scripts of nbconvert's template (require.js, jQuery, mermaid, the widget manager) are
left out. A deck opens from the file system or any static web server, offline.

Where the slides break is decided by :func:`plan`, from the notebook itself, so a new notebook
gets a deck with no hand work:

* the title (``#``) and every section (``##``) start a new **slide**; ``###`` headings (exercises)
  start a **subslide** (reveal.js stacks subslides vertically under their section);
* a markdown cell is split at its headings and paragraphs, and a paragraph, figure or output that
  would overflow the slide starts a **subslide** (a continuation), from an estimate of its height
  (text lines, code lines, the pixel size of each figure);
* a figure starts a subslide of its own unless the slide so far is short enough to hold it whole;
  the code that drew it is hidden when longer than :data:`MAX_CODE_LINES`;
* exercise answer cells (nbgrader ``solution``) go to the speaker **notes** (key ``s``), so the
  teacher sees the solution while the room sees the exercise;
* the setup cell, code with nothing to show (definitions, imports), cells that only hold hidden
  tests, and ``✅`` verdict lines are **skip**\\ ped; a widget becomes a line saying to run it live.

An explicit ``cell.metadata.slideshow.slide_type`` in ``solutions/`` (the single source; kept by
``cnncourse lessons build`` and by output stripping) always wins: it is how a cell with one of
the talk's numbers gets a slide of its own.
"""
from __future__ import annotations

import base64
import copy
import json
import math
import os
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import nbformat

SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "skip", "notes")
#: reveal.js's virtual slide size in pixels (16:9); reveal scales it to the screen.
WIDTH, HEIGHT = 1280, 720
#: usable height of a slide for content, pixels (the rest: reveal's margins, the slide number)
BUDGET = 560
#: height for a figure cell's figures and printed text (their sizes are known, not estimated)
FIGURE_BUDGET = 650
#: code cells with more lines than this show only their outputs on a slide
MAX_CODE_LINES = 8
#: a figure joins the slide before it only if that slide has used less than this share of BUDGET
FIGURE_JOIN = 0.35
#: estimated heights (px) of the template's text: prose line, code/output line, headings by level
PROSE_LINE, CODE_LINE, OUTPUT_LINE = 34, 27, 23
HEADING = {1: 100, 2: 78, 3: 60, 4: 48, 5: 40, 6: 40}
PROSE_CHARS = 96   # characters of prose per line at the template's font size
OUTPUT_CHARS = 110   # characters of printed output per line (longer lines wrap)
CODE_CHARS = 100
PARAGRAPH_GAP = 18
MAX_IMAGE_HEIGHT = 560   # the tallest a figure is shown (px of the virtual slide)
MIN_IMAGE_HEIGHT = 300   # ... and the least a figure is shrunk to, to leave room for its cell's text
MAX_IMAGE_WIDTH = WIDTH - 80
#: a figure smaller than the slide is shown up to this many times its size (it is drawn at 2x)
MAX_UPSCALE = 1.5
#: a figure's code is shown only when this short (the figure is what the room looks at)
MAX_FIGURE_CODE_LINES = 3
VERDICT_PASSED = "✅"
RETINA = "%config InlineBackend.figure_formats = ['retina']"
#: one asset folder next to the decks, shared by all of them
ASSETS = "_assets"

_HEADING = re.compile(r"^(#{1,6})\s+\S")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s+")
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_SIZED = "cnncourse_slide_size"   # output metadata: width/height are the size on the slide
WIDGET_NOTE = ('<p class="cc-widget">&#9654; An interactive widget: run this cell live in '
               'JupyterLab to use it.</p>')


class SlidesError(RuntimeError):
    """A deck cannot be made: a missing asset package, a notebook that does not execute."""


# ---------------------------------------------------------------------------------------------
# Splitting markdown and estimating heights
# ---------------------------------------------------------------------------------------------

def split_markdown(source: str) -> list[str]:
    """Split one markdown cell's ``source`` into pieces: each heading line with what follows it
    up to the next blank line, and each paragraph (blank-line separated; fenced code blocks,
    ``$$`` display math and a list item's indented continuation stay whole). Joining the pieces
    with blank lines gives the same rendering.

    >>> split_markdown("## A\\ntext\\n\\nmore\\n### B")
    ['## A\\ntext', 'more', '### B']
    """
    if not isinstance(source, str):
        raise TypeError(f"source: expected a str, got {type(source).__name__}")
    pieces, current, fence, display, blank = [], [], None, False, False

    def flush():
        if any(line.strip() for line in current):
            pieces.append("\n".join(current).strip("\n"))
        current.clear()

    for line in source.split("\n"):
        if fence:
            current.append(line)
            if line.strip().startswith(fence):
                fence = None
            continue
        m = _FENCE.match(line)
        if m:
            if blank:
                flush()
                blank = False
            fence = m.group(1)
            current.append(line)
            continue
        if line.strip().count("$$") % 2 == 1:
            display = not display
        if not display and not line.strip():
            blank = True
            continue
        if blank:   # a paragraph ends, unless an indented line continues a list item
            if line[:1] in (" ", "\t") and current:
                current.append("")
            else:
                flush()
            blank = False
        if not display and _HEADING.match(line) and current:
            flush()
        current.append(line)
    flush()
    return pieces or [source]


def _prose_height(text: str) -> int:
    height, in_fence = PARAGRAPH_GAP, False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            height += CODE_LINE // 2
            continue
        if in_fence:
            height += CODE_LINE
            continue
        m = _HEADING.match(line)
        if m:
            height += HEADING[len(m.group(1))]
        elif line.strip().startswith("|"):
            height += PROSE_LINE + 4           # a table row
        elif line.strip() == "$$" or line.strip().startswith("\\begin"):
            height += PROSE_LINE // 2
        elif "$$" in line or "\\frac" in line or "\\sum" in line:   # display math: tall
            height += 2 * PROSE_LINE
        elif _LIST_ITEM.match(line):   # starts a line of its own
            height += PROSE_LINE * max(1, math.ceil(len(line.strip()) / PROSE_CHARS))
        elif line.strip():   # hard-wrapped prose reflows: count its characters
            height += int(PROSE_LINE * len(line.strip()) / PROSE_CHARS) + 1
    return height


def png_size(data: str | bytes) -> tuple[int, int]:
    """(width, height) in pixels of a PNG given as bytes or as base64 text (a notebook output)."""
    raw = base64.b64decode(data) if isinstance(data, str) else bytes(data)
    if raw[:8] != b"\x89PNG\r\n\x1a\n" or raw[12:16] != b"IHDR":
        raise ValueError("data: not a PNG image")
    return struct.unpack(">II", raw[16:24])


def display_size(output, max_height: int = MAX_IMAGE_HEIGHT) -> tuple[int, int] | None:
    """(width, height) at which an image output is shown on a slide, in px of the virtual slide:
    its own display size (a retina PNG says it in its metadata), enlarged up to
    :data:`MAX_UPSCALE` times or shrunk to fit :data:`MAX_IMAGE_WIDTH` x ``max_height``;
    ``None`` for an output without an image."""
    data = output.get("data", {})
    if "image/png" in data:
        w, h = png_size(data["image/png"])
        meta = output.get("metadata", {}).get("image/png", {})
        w, h = int(meta.get("width", w)), int(meta.get("height", h))
        if output.get("metadata", {}).get(_SIZED):   # already sized for the slide
            return w, h
    elif "image/jpeg" in data or "image/svg+xml" in data:
        return MAX_IMAGE_WIDTH // 2, MAX_IMAGE_HEIGHT // 2   # none in the course; a guess
    else:
        return None
    scale = min(MAX_UPSCALE, MAX_IMAGE_WIDTH / max(w, 1), max_height / max(h, 1))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _image_height(output) -> int:
    size = display_size(output)
    return 0 if size is None else size[1] + 12


def _text_lines(output) -> int:
    """Lines of text an output shows (rows for an HTML table; 0 for an image)."""
    if output.get("output_type") == "stream":
        text = output.get("text", "")
    else:
        data = output.get("data", {})
        if any(k.startswith("image/") for k in data):
            return 0
        html = "".join(data.get("text/html", ""))
        if "<table" in html:   # a table: its rows
            return max(2, html.count("<tr"))
        text = data.get("text/plain", "") if "text/plain" in data else (html and "\n\n")
    text = "".join(text) if isinstance(text, list) else text
    if not text.strip():
        return 0
    return sum(max(1, math.ceil(len(line) / OUTPUT_CHARS)) for line in text.rstrip("\n").split("\n"))


def has_figure(cell) -> bool:
    """Whether a code cell has an image among its outputs."""
    return any(k.startswith("image/") for out in cell.get("outputs", [])
               for k in out.get("data", {}))


def cell_height(cell, *, show_input: bool) -> int:
    """Estimated height (px of the virtual slide) of one cell of a deck notebook."""
    if cell.cell_type == "markdown":
        return _prose_height(cell.source)
    height = 0
    if show_input and cell.source.strip():
        height += CODE_LINE * sum(max(1, math.ceil(len(line) / CODE_CHARS))
                                  for line in cell.source.split("\n")) + 20
    for out in cell.get("outputs", []):
        height += _image_height(out) + OUTPUT_LINE * _text_lines(out)
    return height


# ---------------------------------------------------------------------------------------------
# The deck notebook: outputs cleaned, markdown split, slide types assigned
# ---------------------------------------------------------------------------------------------

def _explicit(cell) -> str | None:
    kind = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
    if kind is not None and kind not in SLIDE_TYPES:
        raise ValueError(f"cell {cell.get('id', '?')}: slideshow.slide_type {kind!r} is not one of "
                         f"{SLIDE_TYPES}")
    return kind


def _only_hidden_tests(source: str) -> bool:
    from cnncourse.tools.lessons import lesson_source

    return lesson_source(source, "code", "slides") is None


def _clean_outputs(cell) -> None:
    """Drop stderr and ✅ verdict lines (noise on a slide); a widget becomes :data:`WIDGET_NOTE`."""
    outputs = []
    # a figure shares the slide with the text its cell prints (the talk's table above its ROC)
    text_px = OUTPUT_LINE * sum(_text_lines(o) for o in cell.get("outputs", [])
                                if o.get("name") != "stderr" and _WIDGET_VIEW not in o.get("data", {}))
    n_images = max(1, sum(1 for o in cell.get("outputs", []) if "image/png" in o.get("data", {})))
    room = FIGURE_BUDGET - text_px
    max_height = max(MIN_IMAGE_HEIGHT, min(MAX_IMAGE_HEIGHT * n_images, room)) // n_images
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            if out.get("name") == "stderr":
                continue
            text = "".join(out["text"]) if isinstance(out["text"], list) else out["text"]
            kept = [line for line in text.split("\n") if not line.startswith(VERDICT_PASSED)]
            text = "\n".join(kept)
            if not text.strip():
                continue
            out = copy.deepcopy(out)
            out["text"] = text
        elif kind in ("display_data", "execute_result") and _WIDGET_VIEW in out.get("data", {}):
            out = nbformat.v4.new_output("display_data", data={"text/html": WIDGET_NOTE})
        elif "image/png" in out.get("data", {}):
            out = copy.deepcopy(out)
            w, h = display_size(out, max_height)
            out.setdefault("metadata", {})["image/png"] = {"width": w, "height": h}
            out["metadata"][_SIZED] = True
        elif kind == "error":
            raise SlidesError(f"cell {cell.get('id', '?')} has an error output: execute the "
                              "notebook without errors before making slides")
        outputs.append(out)
    cell["outputs"] = outputs


@dataclass
class PlannedCell:
    """One cell of a deck: its slide type, whether its code is shown, its estimated height."""

    slide_type: str
    show_input: bool
    height: int
    why: str
    first_line: str


def deck_notebook(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[PlannedCell]]:
    """The notebook to export as slides, and the plan of its cells (see the module docstring).

    Parameters
    ----------
    nb : nbformat.NotebookNode
        An executed solution notebook (version 4); not modified.

    Returns
    -------
    (deck, plan)
        ``deck``: a copy whose markdown is split at headings and paragraphs, with cleaned outputs,
        ``metadata.slideshow.slide_type`` set on every cell and ``transient.remove_source`` on code
        shown without its input; ``plan``: one :class:`PlannedCell` per cell of ``deck``.
    """
    if not isinstance(nb, nbformat.NotebookNode) or "cells" not in nb:
        raise TypeError("nb: expected an nbformat notebook (nbformat.read(..., as_version=4))")
    deck = copy.deepcopy(nb)
    deck.metadata.pop("widgets", None)   # no widget manager in an offline deck
    cells = []
    for cell in deck.cells:
        if cell.cell_type == "markdown":
            explicit = _explicit(cell)
            for i, piece in enumerate(split_markdown(cell.source)):
                new = nbformat.v4.new_markdown_cell(piece)
                new.metadata = {k: v for k, v in cell.metadata.items() if k != "slideshow"}
                if i == 0 and explicit:
                    new.metadata["slideshow"] = {"slide_type": explicit}
                if "attachments" in cell:
                    new["attachments"] = cell["attachments"]
                cells.append(new)
        else:
            if cell.cell_type == "code":
                _clean_outputs(cell)
            cells.append(cell)
    deck.cells = cells
    plan = _assign(deck.cells)
    for cell, p in zip(deck.cells, plan):
        cell.metadata["slideshow"] = {"slide_type": p.slide_type}
        if cell.cell_type == "code" and not p.show_input:
            cell.metadata.setdefault("transient", {})["remove_source"] = True
    return deck, plan


def _assign(cells) -> list[PlannedCell]:
    plan: list[PlannedCell] = []
    used = 0          # estimated height of the current (sub)slide so far
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), None)
    for index, cell in enumerate(cells):
        explicit = _explicit(cell)
        first = (cell.source.strip().split("\n") or [""])[0][:70]
        show_input = (cell.cell_type != "code" or len(cell.source.split("\n")) <= MAX_CODE_LINES
                      or bool(cell.metadata.get("nbgrader", {}).get("solution")))  # notes: the code
        if cell.cell_type == "code" and has_figure(cell) and not cell.metadata.get("nbgrader", {}).get("solution"):
            show_input = len(cell.source.split("\n")) <= MAX_FIGURE_CODE_LINES
        elif cell.cell_type == "code" and explicit in ("slide", "subslide"):
            show_input = True   # a cell chosen for a slide of its own: its code is part of it
        height = cell_height(cell, show_input=show_input)

        def put(kind, why):
            plan.append(PlannedCell(kind, show_input, height, why, first))

        if explicit is not None:
            put(explicit, "explicit slideshow metadata")
            if explicit in ("slide", "subslide"):
                used = height
            elif explicit in ("-", "fragment"):
                used += height
            continue
        if cell.cell_type == "markdown":
            m = _HEADING.match(cell.source)
            level = len(m.group(1)) if m else 0
            if level in (1, 2) or not plan:
                put("slide", f"heading level {level}" if level else "first cell")
                used = height
            elif level >= 3 or used + height > BUDGET:
                put("subslide", f"heading level {level}" if level >= 3 else "slide full")
                used = height
            else:
                put("-", "prose")
                used += height
            continue
        if cell.cell_type != "code":
            put("skip", f"{cell.cell_type} cell")
            continue
        nbgrader = cell.metadata.get("nbgrader", {})
        if nbgrader.get("solution"):
            put("notes", "exercise answer: speaker notes")
            continue
        if index == first_code and "cnncourse.setup(" in cell.source:
            put("skip", "setup cell")
            continue
        if _only_hidden_tests(cell.source):
            put("skip", "hidden tests only")
            continue
        if not cell.get("outputs"):
            put("skip", "no output to show")
            continue
        if has_figure(cell):
            if used + height > BUDGET or used > FIGURE_JOIN * BUDGET:
                put("subslide", "figure")
                used = height
            else:
                put("-", "figure, fits")
                used += height
            continue
        if used + height > BUDGET:
            put("subslide", "output, slide full")
            used = height
        else:
            put("-", "output")
            used += height
    return plan


# ---------------------------------------------------------------------------------------------
# Assets, template, export
# ---------------------------------------------------------------------------------------------

def asset_sources() -> dict[str, Path]:
    """Folders of the local copies of reveal.js (``dist/``, ``plugin/``) and MathJax 3 (``es5/``).

    Raises
    ------
    SlidesError
        If the ``slides`` extra is not installed, naming the command that installs it.
    """
    hint = 'install the slides extra: pip install "cnncourse[slides]" (a clone: make install)'
    try:
        import sphinx_revealjs
        import mathjax   # the django-static-mathjax distribution (MathJax 3, no dependencies)
    except ImportError as exc:
        raise SlidesError(f"reveal.js or MathJax is missing ({exc.name}): {hint}") from exc
    reveal = Path(sphinx_revealjs.__file__).parent / "_static" / "revealjs"
    mj = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    for path, what in ((reveal / "dist" / "reveal.js", "reveal.js"),
                       (mj / "tex-chtml-full.js", "MathJax 3")):
        if not path.exists():
            raise SlidesError(f"{what} not found at {path}: {hint}")
    return {"reveal.js": reveal, "mathjax": mj}


def _mathjax_files(src: Path, names: list[str]) -> list[str]:
    """shutil.copytree ignore function for MathJax's es5/: keep the one combined component."""
    if Path(src).name == "es5":
        return [n for n in names if n.endswith(".js") and n != "tex-chtml-full.js"]
    return []


def copy_assets(out_dir: Path) -> Path:
    """Copy reveal.js and MathJax into ``out_dir/_assets`` (once; kept when already current)."""
    out = Path(out_dir) / ASSETS
    sources = asset_sources()
    stamp = out / "SOURCES.json"
    wanted = {k: str(v) for k, v in sources.items()}
    if stamp.exists() and json.loads(stamp.read_text(encoding="utf-8")) == wanted:
        return out
    if out.exists():
        shutil.rmtree(out)
    reveal = sources["reveal.js"]
    for part in ("dist", "plugin"):
        shutil.copytree(reveal / part, out / "reveal.js" / part,
                        ignore=shutil.ignore_patterns("*.map", "*.esm.js"))
    shutil.copy(reveal / "LICENSE", out / "reveal.js" / "LICENSE")
    shutil.copytree(sources["mathjax"], out / "mathjax", ignore=_mathjax_files)
    shutil.copy(sources["mathjax"].parent / "LICENSE", out / "mathjax" / "LICENSE")
    stamp.write_text(json.dumps(wanted, indent=1), encoding="utf-8")
    return out


# The deck's template: nbconvert's reveal template with every network load replaced by a local
# file (reveal.js, MathJax 3) or left out (jQuery, require.js, mermaid, the widget manager).
TEMPLATE = r"""
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}
<script>
window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'], ['\\[', '\\]']],
        processEscapes: true, processEnvironments: true, tags: 'ams'},
  options: {menuOptions: {settings: {assistiveMml: false}}},
  startup: {typeset: true}
};
</script>
<script defer src="{{ resources.cnncourse_assets }}/mathjax/tex-chtml-full.js"></script>
<link rel="icon" href="data:,">
<style type="text/css">
{{ resources.cnncourse_css }}
</style>
{%- endblock html_head_js_mathjax -%}
{% block footer_js %}
<script src="{{ resources.cnncourse_assets }}/reveal.js/dist/reveal.js"></script>
<script src="{{ resources.cnncourse_assets }}/reveal.js/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({
  controls: true, progress: true, history: true, hash: true, center: false,
  transition: "{{ resources.reveal.transition }}", slideNumber: "c/t",
  width: {{ resources.reveal.width }}, height: {{ resources.reveal.height }}, margin: 0.03,
  plugins: [RevealNotes]
});
</script>
{% endblock footer_js %}
"""

# Sizes for a room: body text 26 px and code 20 px on a 1280x720 slide (scaled with the screen),
# figures as large as the slide allows, no "In [ ]:" prompts, long slides scroll.
CSS = f"""
.reveal {{ font-size: 26px; }}
:root {{ --jp-content-font-size1: 26px; --jp-ui-font-size1: 22px; --jp-code-font-size: 20px;
        --jp-cell-prompt-width: 0px; }}
.reveal .slides {{ text-align: left; }}
.reveal .slides section {{ height: 100%; overflow-y: auto; overflow-x: hidden; }}
.reveal .slides h1 {{ font-size: 2.0em; }} .reveal .slides h2 {{ font-size: 1.55em; }}
.reveal .slides h3 {{ font-size: 1.2em; }} .reveal .slides h4 {{ font-size: 1.05em; }}
.reveal .slides h1, .reveal .slides h2, .reveal .slides h3, .reveal .slides h4 {{
        text-transform: none; margin: 0 0 0.4em 0; }}
.reveal p, .reveal li {{ line-height: 1.3; }}
.reveal table {{ font-size: 0.85em; margin: 0.4em 0; }}
.jp-InputPrompt, .jp-OutputPrompt {{ display: none; }}
.jp-RenderedImage {{ text-align: center; }}
.reveal .slides section .jp-RenderedImage img {{ max-width: 100%; max-height: none;
        object-fit: contain; margin: 0 auto; }}
.jp-RenderedText pre {{ font-size: 18px; line-height: 1.25; word-break: normal; }}
.cc-widget {{ font-style: italic; color: #555; }}
"""


def export(deck: nbformat.NotebookNode, *, assets: str = ASSETS) -> str:
    """HTML of a reveal.js deck from a deck notebook (:func:`deck_notebook`), loading reveal.js
    and MathJax from the relative folder ``assets``."""
    from jinja2 import DictLoader
    from nbconvert import SlidesExporter

    exporter = SlidesExporter(
        extra_loaders=[DictLoader({"cnncourse_slides.html.j2": TEMPLATE})],
        template_file="cnncourse_slides.html.j2",
        reveal_url_prefix=f"{assets}/reveal.js", reveal_theme="white", reveal_transition="none",
        reveal_width=str(WIDTH), reveal_height=str(HEIGHT),
        exclude_input_prompt=True, exclude_output_prompt=True, exclude_anchor_links=True)
    resources = {"cnncourse_assets": assets, "cnncourse_css": CSS}
    body, _ = exporter.from_notebook_node(deck, resources=resources)
    return body


def execute(path: Path, *, fast: bool = True, timeout: int = 900) -> nbformat.NotebookNode:
    """Run the notebook at ``path`` in a fresh kernel (working directory: its folder) and return
    it with its outputs; ``fast`` runs the kernel with ``CNNCOURSE_FAST=1``. Nothing is written.

    Raises
    ------
    SlidesError
        If a cell fails (naming the cell).
    """
    from nbclient.exceptions import CellExecutionError

    from cnncourse.tools import runner

    path = Path(path)
    nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    env = dict(os.environ)
    if fast:
        env["CNNCOURSE_FAST"] = "1"
    # figures drawn at twice their pixel density (shown at their usual size): sharp on a projector
    nb.cells.insert(0, nbformat.v4.new_code_cell(RETINA))
    client = runner.notebook_client(nb, timeout=timeout, cwd=path.parent)
    try:
        client.execute(env=env, stderr=subprocess.DEVNULL)
    except CellExecutionError as exc:
        raise SlidesError(f"{path}: a cell failed, no deck made: "
                          f"{str(exc).strip().splitlines()[-1]}") from exc
    finally:
        nb.cells.pop(0)
    return nb


def _take_slide_metadata(executed, source) -> None:
    """Give the cells of an executed copy the slide metadata of the same cells (by id) in the
    source notebook, which may have changed since the copy was run."""
    by_id = {c.get("id"): c.metadata.get("slideshow") for c in source.cells if c.get("id")}
    for cell in executed.cells:
        if cell.get("id") in by_id:
            if by_id[cell["id"]] is None:
                cell.metadata.pop("slideshow", None)
            else:
                cell.metadata["slideshow"] = copy.deepcopy(by_id[cell["id"]])


@dataclass
class Deck:
    """One written deck: its HTML file, the slides and subslides it has, the plan of its cells."""

    path: Path
    slides: int
    subslides: int
    plan: list[PlannedCell]


def make_deck(notebook: Path, out_dir: Path, *, executed: Path | None = None, fast: bool = True,
              timeout: int = 900) -> Deck:
    """Write ``out_dir/<name>.slides.html`` for ``notebook`` (and the shared ``_assets/``).

    Parameters
    ----------
    notebook : Path
        A solution notebook.
    out_dir : Path
        Folder for the decks (created).
    executed : Path, optional
        An executed copy of the notebook to use instead of running it (e.g. saved from JupyterLab
        or by ``jupyter nbconvert --execute``).
    fast, timeout
        For running it: fast mode (default; the figures of a deck need no full-size training),
        seconds per cell.
    """
    notebook = Path(notebook)
    if not notebook.exists():
        raise FileNotFoundError(f"notebook: no such file {notebook}")
    if executed is not None:
        executed = Path(executed)
        if not executed.exists():
            raise FileNotFoundError(f"executed: no such file {executed}")
        nb = nbformat.reads(executed.read_text(encoding="utf-8"), as_version=4)
        if not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
            raise SlidesError(f"executed: {executed} has no outputs; run it first or leave "
                              "--executed out")
        _take_slide_metadata(nb, nbformat.reads(notebook.read_text(encoding="utf-8"), as_version=4))
    else:
        nb = execute(notebook, fast=fast, timeout=timeout)
    deck, plan = deck_notebook(nb)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    copy_assets(out_dir)
    target = out_dir / f"{notebook.stem}.slides.html"
    target.write_text(export(deck), encoding="utf-8")
    kinds = [p.slide_type for p in plan]
    return Deck(target, kinds.count("slide"), kinds.count("subslide"), plan)


def format_plan(plan: Sequence[PlannedCell]) -> str:
    """The plan as a table: one line per cell (slide type, code shown, height, reason, start)."""
    lines = [f"{'#':>3}  {'type':<8} {'code':<4} {'px':>4}  {'why':<32} first line"]
    for i, p in enumerate(plan):
        lines.append(f"{i:>3}  {p.slide_type:<8} {'yes' if p.show_input else 'no':<4} "
                     f"{p.height:>4}  {p.why:<32} {p.first_line}")
    return "\n".join(lines)


def write_index(out_dir: Path, decks: Sequence[Deck] = ()) -> Path:
    """Write ``out_dir/index.html``: a plain page linking every deck in the folder (relative links,
    offline), with the slide counts of ``decks`` (those just written)."""
    from html import escape

    counts = {d.path.name: f" ({d.slides} slides, {d.subslides} subslides)" for d in decks}
    items = "\n".join(f'<li><a href="{escape(path.name)}">{escape(path.name.split(".")[0])}</a>'
                      f"{counts.get(path.name, '')}</li>"
                      for path in sorted(Path(out_dir).glob("*.slides.html")))
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>cnncourse "
            "slides</title><link rel=\"icon\" href=\"data:,\"></head>\n<body style=\"font-family: "
            "sans-serif; font-size: 20px\"><h1>cnncourse: slides</h1>\n<p>Arrow keys move; "
            "<kbd>s</kbd> opens the speaker notes (exercise answers), <kbd>f</kbd> full screen, "
            f"<kbd>Esc</kbd> an overview.</p>\n<ul>\n{items}\n</ul></body></html>\n")
    target = Path(out_dir) / "index.html"
    target.write_text(page, encoding="utf-8")
    return target
