"""The course as a static website (``cnncourse book``, ``make book``): Sphinx with myst-nb.

The site is built from the solution notebooks with the outputs of a ``cnncourse run``: each
executed copy (``cnncourse run --keep DIR`` writes them) lends its outputs to the current
solution, whose prose, code and cell metadata are used as they are, so editing prose or alt text
needs no new run. A copy whose code differs from the solution's is stale; ``build`` runs the
missing and stale ones itself (full mode unless ``CNNCOURSE_FAST=1``), so the long run is paid
once and again only for the notebooks that changed.

The pages:

* ``index``: the course map, derived from each notebook's title (its first heading) and its
  "**Learning objectives.**" list, with the mode and date of the run that made the outputs;
* one page per notebook (myst-nb, ``nb_execution_mode="off"``: nothing is executed by Sphinx);
* ``references``: the references of the talk the course teaches (from its text,
  ``shared/reference/seed-talk-cnn-biomedical.txt``, or the copy of them in
  ``docs/talk-references.txt``), each with the notebooks that discuss it, and any "References"
  section of a notebook;
* ``cite``: how to cite the course and the talk (from ``CITATION.cff``).

Accessibility: every figure needs alt text, set in the solution as the cell metadata that
myst-nb reads (``{"mystnb": {"image": {"alt": "..."}}}``) and written into ``<img alt=...>``;
a figure without it stops the build (:class:`BookError` lists the cells).

Offline: the theme (furo) ships its fonts and scripts, MathJax 3 is copied into the site from
the ``django-static-mathjax`` package (as ``cnncourse slides`` does), widget outputs become a
note (their JavaScript would come from a CDN), so a page requests nothing from another host.
"""
from __future__ import annotations

import copy
import html
import re
import shutil
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence, TextIO

import nbformat

from cnncourse import config

#: Where ``cnncourse book`` keeps the executed notebooks and writes the site, in a clone.
DEFAULT_EXECUTED = config.ROOT / "build" / "executed"
DEFAULT_OUT = config.ROOT / "build" / "book"
#: The talk the course teaches, as text, where the project keeps it (in or beside the clone): its
#: references are read from it. :data:`TALK_REFERENCES` is the copy of them in the repository,
#: used where the talk is not there.
TALK = next((p for p in (config.ROOT / "shared", config.ROOT.parent / "shared")
             if (p / "reference" / "seed-talk-cnn-biomedical.txt").exists()),
            config.ROOT / "shared") / "reference" / "seed-talk-cnn-biomedical.txt"
TALK_REFERENCES = config.ROOT / "docs" / "talk-references.txt"
CITATION = config.ROOT / "CITATION.cff"

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ('<p class="cnncourse-widget"><em>An interactive widget is here in the notebook '
               '(sliders and their picture): open the notebook in JupyterLab to use it.</em></p>')

CONF_PY = '''\
# Written by cnncourse.tools.book; rebuilt on every `cnncourse book`.
project = {project!r}
author = {author!r}
copyright = {copyright!r}
extensions = ["myst_nb"]
html_static_path = ["_mathjax"]   # MathJax 3, copied from django-static-mathjax: _static/mathjax/
mathjax_path = "mathjax/tex-chtml-full.js"
html_theme = "furo"
html_title = {project!r}
html_copy_source = False          # no _sources/ copies of the notebooks
html_show_sourcelink = False
exclude_patterns = [".doctrees", "**.ipynb_checkpoints"]
nb_execution_mode = "off"         # outputs come from `cnncourse run --keep`
nb_output_stderr = "remove"       # kernel warnings are not part of the lesson
nb_ipywidgets_js = {{}}             # no require.js / widget manager from a CDN
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]
'''


class BookError(ValueError):
    """The book cannot be built as asked (stale or failed outputs, figures without alt text...)."""


@dataclass
class BookReport:
    """What :func:`build` did: the site's folder, its notebook pages, the notebooks it ran."""

    site: Path
    pages: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    mode: str = ""


# --------------------------------------------------------------------------------------------
# What the front page reads from a notebook


def notebook_title(nb: nbformat.NotebookNode) -> str:
    """The text of the notebook's first level-1 heading (``# 01 · The perceptron and NAND``).

    Raises
    ------
    BookError
        No markdown cell starts with a ``#`` heading.
    """
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise BookError("nb: no '# title' heading in any markdown cell")


def learning_objectives(nb: nbformat.NotebookNode) -> list[str]:
    """The items of the numbered list that follows "**Learning objectives.**" in the first
    markdown cell that has one, each on one line (``[]`` if there is none).

    Examples
    --------
    >>> cell = nbformat.v4.new_markdown_cell("**Learning objectives.** You will:\\n\\n"
    ...                                      "1. add numbers;\\n2. multiply\\n   them.\\n\\nMore.")
    >>> learning_objectives(nbformat.v4.new_notebook(cells=[cell]))
    ['add numbers;', 'multiply them.']
    """
    for cell in nb.cells:
        if cell.cell_type != "markdown" or "**Learning objectives.**" not in cell.source:
            continue
        after = cell.source.split("**Learning objectives.**", 1)[1]
        items: list[str] = []
        for line in after.splitlines():
            item = re.match(r"\s*\d+\.\s+(.*)", line)
            if item:
                items.append(item.group(1).strip())
            elif items and line.strip() and line.startswith(" "):
                items[-1] += " " + line.strip()
            elif items and not line.strip():
                break
        return items
    return []


# --------------------------------------------------------------------------------------------
# Executed copies: reused, checked, run when missing or stale


def _code_sources(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def stale_reason(solution: nbformat.NotebookNode, executed: nbformat.NotebookNode) -> str | None:
    """Why ``executed`` cannot lend its outputs to ``solution`` (its code differs), or ``None``."""
    mine, theirs = _code_sources(solution), _code_sources(executed)
    if len(mine) != len(theirs):
        return f"{len(theirs)} code cells, the solution has {len(mine)}"
    for number, (a, b) in enumerate(zip(mine, theirs), 1):
        if a != b:
            return f"code cell {number} differs from the solution's"
    return None


def with_outputs(solution: nbformat.NotebookNode,
                 executed: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``solution`` carrying the outputs and execution counts of ``executed``.

    Raises
    ------
    BookError
        ``executed`` is stale (:func:`stale_reason`).
    """
    why = stale_reason(solution, executed)
    if why:
        raise BookError(f"executed: stale copy ({why})")
    nb = copy.deepcopy(solution)
    runs = iter([c for c in executed.cells if c.cell_type == "code"])
    for cell in nb.cells:
        if cell.cell_type == "code":
            ran = next(runs)
            cell.outputs, cell.execution_count = ran.get("outputs", []), ran.get("execution_count")
    nb.metadata["cnncourse_run"] = executed.metadata.get("cnncourse_run", {})
    return nb


def _has_image(output) -> bool:
    return any(mime.startswith("image/") for mime in output.get("data", {}))


def figure_alt(cell) -> str:
    """The alt text the cell's figures carry (``metadata.mystnb.image.alt``), or ``""``."""
    return str(cell.get("metadata", {}).get("mystnb", {}).get("image", {}).get("alt", "")).strip()


def page_problems(nb: nbformat.NotebookNode, name: str) -> list[str]:
    """What keeps an executed notebook off the site: error outputs, and figures whose cell has
    no alt text (one line each, naming the notebook and the code cell)."""
    problems = []
    for number, cell in enumerate([c for c in nb.cells if c.cell_type == "code"], 1):
        first = (cell.source.splitlines() or [""])[0][:60]
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"{name} code cell {number} ({first!r}): error output "
                                f"{out.get('ename')}: {out.get('evalue', '')[:100]}")
        if any(_has_image(out) for out in cell.get("outputs", [])) and not figure_alt(cell):
            problems.append(f"{name} code cell {number} ({first!r}): a figure without alt text "
                            f"(set metadata.mystnb.image.alt in solutions/{name}.ipynb)")
    return problems


def for_the_web(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` ready for a static page: each widget output replaced by a note saying where to use
    it, and the saved widget state dropped (its JavaScript would be loaded from a CDN)."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if WIDGET_MIME in out.get("data", {}):
                out["data"] = {"text/html": WIDGET_NOTE}
                out["metadata"] = {}
    return nb


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.reads(Path(path).read_text(encoding="utf-8"), as_version=4)


def executed_notebooks(paths: Sequence[Path], executed: Path, *, run_missing: bool = True,
                       timeout: int = 900, stream: TextIO | None = None
                       ) -> tuple[dict[str, nbformat.NotebookNode], list[str]]:
    """The solutions at ``paths`` with the outputs of their executed copies in ``executed``
    (``{name: notebook}``), and the names that had to be run first (missing or stale copies;
    with ``run_missing=False`` those raise :class:`BookError` instead)."""
    from cnncourse.tools import runner

    stream = sys.stderr if stream is None else stream
    solutions = {Path(p).stem: _read(p) for p in paths}
    todo = []
    for p in paths:
        copy_path = Path(executed) / Path(p).name
        why = "no executed copy" if not copy_path.exists() else stale_reason(
            solutions[Path(p).stem], _read(copy_path))
        if why:
            todo.append((Path(p), why))
    if todo and not run_missing:
        lines = "\n".join(f"  {p.name}: {why}" for p, why in todo)
        raise BookError(f"executed: {executed} lacks up-to-date copies of:\n{lines}\n"
                        f"run `cnncourse run --keep {executed}` first")
    for p, why in todo:
        stream.write(f"book: running {p.name} ({why})\n")
    results = runner.run([p for p, _ in todo], timeout=timeout, stream=stream,
                         keep=Path(executed)) if todo else []
    failed = [f"{r.notebook.name}: {r.error}" for r in results if r.error]
    if failed:
        raise BookError("a notebook failed, so its page would show an error:\n  " + "\n  ".join(failed))
    merged = {name: with_outputs(nb, _read(Path(executed) / f"{name}.ipynb"))
              for name, nb in solutions.items()}
    return merged, [p.stem for p, _ in todo]


# --------------------------------------------------------------------------------------------
# The generated pages


def _cell_text(text: str) -> str:
    """One table cell of Markdown: one line, no unescaped pipe."""
    return " ".join(text.split()).replace("|", "\\|")


def course_map(notebooks: dict[str, nbformat.NotebookNode]) -> str:
    """The front page (MyST Markdown): what the course is, then one table row per notebook with
    its title (a link to its page) and its learning objectives, then the hidden table of contents."""
    runs = [nb.metadata.get("cnncourse_run", {}) for nb in notebooks.values()]
    modes = sorted({r.get("mode", "unknown") for r in runs})
    dates = sorted(r["date"] for r in runs if r.get("date"))
    when = f", {dates[0][:10]}" + (f" to {dates[-1][:10]}" if dates[-1][:10] != dates[0][:10] else "") if dates else ""
    lines = [
        "# CNNs for Biomedical Image Analysis",
        "",
        "A hands-on Jupyter course that follows the talk *Convolutional Neural Networks for "
        "Biomedical Image Analysis* (A. Kalinin, 2017), from one neuron that computes NAND to a "
        "sparse 3D convolutional network that classifies the shapes of cell nuclei.",
        "",
        "Each page below is a notebook of the course with its solutions and the outputs of a "
        f"run ({' and '.join(modes)} mode{when}); in the course itself you work in the lessons, "
        "where the exercises are blank and a check cell tells you whether your answer is right. "
        "The [references](references.md) list the papers of the talk; [how to cite](cite.md) "
        "says how to cite the course.",
        "",
        "## Course map",
        "",
        "| notebook | you will |",
        "| --- | --- |",
    ]
    for name, nb in notebooks.items():
        objectives = learning_objectives(nb)
        you_will = "; ".join(o.rstrip(";.") for o in objectives) or "—"
        lines.append(f"| [{_cell_text(notebook_title(nb))}]({name}.ipynb) | {_cell_text(you_will)} |")
    lines += ["", "```{toctree}", ":hidden:", ":caption: Notebooks", ""]
    lines += list(notebooks)
    lines += ["```", "", "```{toctree}", ":hidden:", ":caption: About", "", "references", "cite",
              "```", ""]
    return "\n".join(lines)


_YEAR = re.compile(r"\b(19[5-9]\d|20[0-4]\d)[a-z]?\b|Submitted to")
_CITATION_MARK = re.compile(r'"|\bet al\b|arXiv|Proceedings|Press|Journal|Nature|Bioinformatics|JAMA')


def talk_references(text: str) -> tuple[list[str], list[str]]:
    """The references in the talk's text: (papers cited on its slides, in order, without
    duplicates; the reading list under its "Literature" heading). Markdown links keep their
    text; a trailing "– N citations" is dropped."""
    def clean(s: str) -> str:
        s = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", s)
        s = re.sub(r"\\([()\[\]])", r"\1", s)
        s = re.sub(r"\s+[–-]\s+\d+\s+citations\s*$", "", s)
        return " ".join(s.replace("*", "").split())

    head, _, literature = text.partition("\nLiterature\n")
    papers: list[str] = []
    for block in re.split(r"\n\s*\n", head):
        block = clean(block)
        if (len(block) > 40 and not block.startswith("-") and _YEAR.search(block)
                and _CITATION_MARK.search(block) and block not in papers):
            papers.append(block)
    reading = []
    for line in literature.splitlines():
        line = line.strip()
        if re.match(r"\d+\.\s", line):
            reading.append(clean(re.sub(r"^\d+\.\s+", "", line)))
        elif len(line) > 40 and _YEAR.search(line):
            reading.append(clean(line))
        elif line.startswith("Questions"):
            break
    return papers, reading


def talk_references_file(text: str) -> str:
    """The content of :data:`TALK_REFERENCES` for the talk's ``text``: its references in the
    talk's own layout, so :func:`talk_references` reads the copy as it reads the talk."""
    papers, reading = talk_references(text)
    lines = ["The references of the talk the course teaches, extracted from its text",
             "(shared/reference/seed-talk-cnn-biomedical.txt) by cnncourse.tools.book; the book",
             "reads the talk where it is, else this copy (tests/unit/test_book.py keeps them equal).", ""]
    for paper in papers:
        lines += [paper, ""]
    lines += ["Literature", ""] + [f"{i}. {r}" for i, r in enumerate(reading, 1)] + ["", "Questions?"]
    return "\n".join(lines) + "\n"


def _first_author(reference: str) -> str:
    return re.split(r"[,\s.]", reference, maxsplit=1)[0]


def notebook_references(nb: nbformat.NotebookNode) -> str:
    """The Markdown of a notebook's "References" (or "Further reading") section, or ``""``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^(#+)\s*(References|Further reading)\b.*$", cell.source, re.M | re.I)
            if m:
                return cell.source[m.end():].strip()
    return ""


def references_page(notebooks: dict[str, nbformat.NotebookNode], talk: str | None) -> str:
    """The references page (MyST Markdown): the talk's papers, each with the notebooks whose
    prose names its first author; its reading list; the notebooks' own reference sections."""
    prose = {name: "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
             for name, nb in notebooks.items()}
    lines = ["# References", ""]
    if talk:
        papers, reading = talk_references(talk)
        lines += ["## Cited in the talk", "",
                  "The papers on the slides of *Convolutional Neural Networks for Biomedical "
                  "Image Analysis* (A. Kalinin, 2017), with the notebooks that discuss them.", ""]
        for ref in papers:
            author = _first_author(ref)
            where = [f"[{name[:2]}]({name}.ipynb)" for name, text in prose.items()
                     if re.search(rf"\b{re.escape(author)}\b", text)]
            lines.append(f"* {ref}" + (f" — notebooks {', '.join(where)}" if where else ""))
        if reading:
            lines += ["", "## The talk's reading list", ""] + [f"* {r}" for r in reading]
    own = [(name, notebook_references(nb)) for name, nb in notebooks.items()]
    own = [(name, text) for name, text in own if text]
    if own:
        lines += ["", "## The notebooks' references", ""]
        for name, text in own:
            lines += [f"### [{notebook_title(notebooks[name])}]({name}.ipynb)", "", text, ""]
    return "\n".join(lines) + "\n"


def cite_page(citation: Path) -> str:
    """The "how to cite" page: the course and the talk from ``CITATION.cff``, and the file."""
    import yaml

    cff = yaml.safe_load(citation.read_text(encoding="utf-8"))
    authors = ", ".join(" ".join(filter(None, [a.get("given-names"), a.get("family-names")])) or
                        a.get("name", "") for a in cff.get("authors", []))
    lines = ["# How to cite", "", "The course:", "",
             f"> {authors}. *{cff['title']}*, version {cff.get('version', '')}"
             f"{', ' + str(cff['date-released']) if cff.get('date-released') else ''}.", ""]
    pref = cff.get("preferred-citation")
    if pref:
        pa = ", ".join(" ".join(filter(None, [a.get("given-names"), a.get("family-names")]))
                       for a in pref.get("authors", []))
        where = pref.get("institution", {}).get("name", "")
        lines += ["The talk it teaches:", "",
                  f"> {pa}. *{pref['title']}*. Talk, {where + ', ' if where else ''}"
                  f"{pref.get('date-published', pref.get('year', ''))}.", ""]
    lines += ["The repository's `CITATION.cff` (Citation File Format 1.2):", "", "```yaml",
              citation.read_text(encoding="utf-8").rstrip(), "```", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The build


def copy_mathjax(dest: Path) -> Path:
    """Copy MathJax 3 (its combined ``tex-chtml-full.js`` and the fonts it loads) from the
    ``django-static-mathjax`` package to ``dest``; return ``dest``.

    Raises
    ------
    BookError
        The package is missing (the ``book`` extra installs it).
    """
    try:
        import mathjax   # the django-static-mathjax distribution: MathJax 3's files, no Django
    except ImportError as exc:
        raise BookError("MathJax is missing: pip install django-static-mathjax (the book extra; "
                        "a clone: make install)") from exc
    source = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"

    def others(folder, names):   # in es5/ itself only the one combined component is needed
        return [n for n in names if n.endswith(".js") and n != "tex-chtml-full.js"] \
            if Path(folder) == source else []

    shutil.copytree(source, dest, ignore=others, dirs_exist_ok=True)
    shutil.copy(source.parent / "LICENSE", Path(dest) / "LICENSE")
    return Path(dest)


def build(paths: Sequence[Path] | None = None, *, executed: Path = DEFAULT_EXECUTED,
          out: Path = DEFAULT_OUT, run_missing: bool = True, timeout: int = 900,
          talk: Path | None = TALK, citation: Path = CITATION,
          stream: TextIO | None = None) -> BookReport:
    """Build the site into ``out`` (``out/index.html``) from the solutions at ``paths`` (default:
    all of ``solutions/``) with the outputs of their executed copies in ``executed`` (run first
    where missing or stale, unless ``run_missing=False``). The Sphinx sources are written to
    ``out`` + ``.src`` beside it.

    Raises
    ------
    BookError
        A notebook's run failed or shows an error output; a figure has no alt text; with
        ``run_missing=False``, an executed copy is missing or stale; ``paths`` empty.
    FileNotFoundError
        A path in ``paths`` does not exist.
    """
    stream = sys.stderr if stream is None else stream
    paths = [Path(p) for p in paths] if paths else sorted(config.SOLUTIONS_DIR.glob("*.ipynb"))
    if not paths:
        raise BookError("paths: no notebooks to build a book from")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"paths: no such notebook: {', '.join(missing)}")
    notebooks, ran = executed_notebooks(paths, Path(executed), run_missing=run_missing,
                                        timeout=timeout, stream=stream)
    problems = [line for name, nb in notebooks.items() for line in page_problems(nb, name)]
    if problems:
        raise BookError("the book would have broken pages:\n  " + "\n  ".join(problems))

    out = Path(out).resolve()
    src = out.with_name(out.name + ".src")
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    for name, nb in notebooks.items():
        nbformat.write(for_the_web(nb), src / f"{name}.ipynb")
    copy_mathjax(src / "_mathjax" / "mathjax")
    (src / "index.md").write_text(course_map(notebooks), encoding="utf-8")
    talk = next((Path(p) for p in (talk, TALK_REFERENCES) if p and Path(p).exists()), None)
    talk_text = talk.read_text(encoding="utf-8") if talk else None
    (src / "references.md").write_text(references_page(notebooks, talk_text), encoding="utf-8")
    (src / "cite.md").write_text(cite_page(Path(citation)), encoding="utf-8")
    year = datetime.now(timezone.utc).year
    (src / "conf.py").write_text(CONF_PY.format(
        project="CNNs for Biomedical Image Analysis", author="the cnncourse authors",
        copyright=f"{year}, the cnncourse authors (MIT licence)"), encoding="utf-8")

    from sphinx.cmd.build import build_main

    shutil.rmtree(out, ignore_errors=True)
    args = ["-b", "html", "-q", "-d", str(src / ".doctrees"), str(src), str(out)]
    if build_main(args) != 0:
        raise BookError(f"Sphinx failed (sources in {src}); see the messages above")
    modes = sorted({nb.metadata.get("cnncourse_run", {}).get("mode", "unknown")
                    for nb in notebooks.values()})
    return BookReport(site=out, pages=list(notebooks), ran=ran, mode=" and ".join(modes))


def site_files(site: Path) -> list[Path]:
    """The HTML pages of a built site (``site/**/*.html``), sorted."""
    return sorted(Path(site).rglob("*.html"))


def external_references(site: Path) -> list[str]:
    """``page: url`` for every ``src=``/``href=`` of a script, stylesheet, image, font or frame
    in the site's HTML that points to another host (``http(s)://`` or ``//``); plain ``<a>``
    links a reader may follow are not counted. Empty for an offline site."""
    found = []
    tag = re.compile(r"<(script|link|img|iframe|source)\b[^>]*?\b(?:src|href)=[\"']([^\"']+)", re.I)
    for page in site_files(site):
        for kind, url in tag.findall(page.read_text(encoding="utf-8", errors="replace")):
            url = html.unescape(url)
            if re.match(r"(https?:)?//", url) and not (kind.lower() == "link" and "canonical" in url):
                found.append(f"{page.relative_to(site)}: {url}")
    return found


def tree_size(folder: Path) -> int:
    """Bytes of all files under ``folder``."""
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())

