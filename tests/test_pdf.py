"""The whole book as one PDF, ``_build/latex/cvae-book.pdf``, as ``make pdf`` built it.

Run by ``make pdf`` (a step of ``make test``, after ``make site``) right after the build::

    .venv/bin/python -m pytest tests/test_pdf.py

``make unit`` leaves this file out. Where the PDF or poppler's tools (``pdftotext``,
``pdffonts``, ``pdfinfo``) are missing the tests are skipped, with the reason; in CI
(``CI=true``, as ``.ci/run`` sets it) they fail instead. They check that

* the page count is in a sane range for the book;
* every page of ``_toc.yml`` is in the PDF under its title (the first heading of its
  notebook or Markdown file), after a table of contents;
* no reference is left unresolved (``??`` in the text, "undefined" in LaTeX's log) and no
  character fell out of its font ("Missing character" in the log);
* every figure made it in: each image the .tex includes exists, the PDF holds at least
  as many images as the chapters have picture outputs shown (``image/png``, not in a cell
  tagged ``remove-cell``/``remove-output``), and the figures carry numbered captions;
* every font is embedded (``pdffonts``: emb = yes);
* cells tagged ``remove-cell`` or ``remove-input`` hide their code in the PDF as on the site.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tools.toc import toc_docnames

ROOT = Path(__file__).resolve().parents[1]
LATEX = ROOT / "_build" / "latex"
PDF = LATEX / "cvae-book.pdf"
TEX = PDF.with_suffix(".tex")
LOG = PDF.with_suffix(".log")
IN_CI = os.environ.get("CI", "").lower() == "true"
PAGES = (80, 400)  # the book has about 150 pages; far outside this something was lost or repeated


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: make test builds the PDF with make pdf before this test)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def pdf() -> Path:
    for tool in ("pdftotext", "pdffonts", "pdfinfo", "pdfimages"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} not found: install poppler-utils (make pdf-debs lists what make pdf needs)")
    if not PDF.exists():
        unavailable(f"{PDF.relative_to(ROOT)} not built: run make pdf")
    return PDF


def run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def text(pdf: Path) -> str:
    return run("pdftotext", "-enc", "UTF-8", str(pdf), "-")


def squeeze(value: str) -> str:
    """Letters and digits only, lower case: a title reads the same however LaTeX broke, spaced or quoted it."""
    value = value.replace("`", "")
    return re.sub(r"[\W_]+", "", value).lower()


def first_heading(docname: str) -> str:
    notebook = ROOT / (docname + ".ipynb")
    if notebook.exists():
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        lines = [line for cell in cells if cell["cell_type"] == "markdown" for line in "".join(cell["source"]).splitlines()]
    else:
        lines = (ROOT / (docname + ".md")).read_text(encoding="utf-8").splitlines()
    return next(line[2:].strip() for line in lines if line.startswith("# "))


def notebook_cells() -> list[tuple[str, dict]]:
    cells = []
    for docname in toc_docnames(ROOT):
        notebook = ROOT / (docname + ".ipynb")
        if notebook.exists():
            cells += [(docname, cell) for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]]
    return cells


def test_page_count_is_sane(pdf):
    pages = int(re.search(r"^Pages:\s+(\d+)", run("pdfinfo", str(pdf)), re.M).group(1))
    assert PAGES[0] <= pages <= PAGES[1], f"{pages} pages, expected {PAGES[0]} to {PAGES[1]}"


def test_every_page_of_the_toc_is_there_under_its_title(text):
    assert "CONTENTS" in text.upper(), "no table of contents"
    body = squeeze(text)
    missing = [f"{docname}: {first_heading(docname)!r}" for docname in toc_docnames(ROOT)
               if squeeze(first_heading(docname)) not in body]
    assert not missing, f"titles not found in the PDF's text: {missing}"


def test_no_unresolved_reference(text):
    lines = [line.strip() for line in text.splitlines() if "??" in line]
    assert not lines, f"unresolved references ('??') in the PDF: {lines[:10]}"
    log = LOG.read_text(encoding="utf-8", errors="replace")
    undefined = sorted(set(re.findall(r"(?:Reference|Citation) `([^']+)' on page \d+ undefined", log)))
    assert not undefined and "There were undefined references" not in log, f"undefined in LaTeX's log: {undefined[:10]}"
    missing_chars = sorted(set(re.findall(r"Missing character: There is no (.+?) in font", log)))
    assert not missing_chars, f"characters the fonts lack (printed as nothing): {missing_chars}"


def test_every_figure_is_there(pdf, text):
    included = re.findall(r"\\sphinxincludegraphics(?:\[[^\]]*\])?\{\{([^}]+)\}(\.\w+)\}", TEX.read_text(encoding="utf-8"))
    absent = sorted({name + ext for name, ext in included if not (LATEX / (name + ext)).exists()})
    assert not absent, f"images the .tex includes but the build lacks: {absent}"
    shown = sum(
        1
        for _, cell in notebook_cells()
        if not {"remove-cell", "remove-output"} & set(cell.get("metadata", {}).get("tags", []))
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    )
    assert len(included) >= shown, f"the .tex includes {len(included)} images, the chapters show {shown}"
    rows = [line.split() for line in run("pdfimages", "-list", str(pdf)).splitlines()[2:]]
    images = sum(1 for row in rows if len(row) > 2 and row[2] == "image")
    assert images >= len(included), f"the PDF holds {images} images, the .tex includes {len(included)}"
    log = LOG.read_text(encoding="utf-8", errors="replace")
    assert "Unable to load picture" not in log and not re.search(r"File `[^']+' not found", log)
    captions = set(re.findall(r"Fig\. (\d+\.\d+):", text))
    assert {"1.1", "2.1", "3.1", "4.1"} <= captions, f"numbered figure captions found: {sorted(captions)}"


def test_every_font_is_embedded(pdf):
    rows = run("pdffonts", str(pdf)).splitlines()[2:]
    assert rows, "pdffonts lists no font"
    # columns: name, type (one or more words), encoding, emb, sub, uni, object ID (two numbers)
    not_embedded = [row for row in rows if row.split()[-5] != "yes"]
    assert not not_embedded, "fonts not embedded:\n" + "\n".join(not_embedded)


def test_hidden_code_stays_hidden(text):
    """A cell tagged remove-cell (code and output) or remove-input (code) shows no code in the PDF, as on the site."""
    body = squeeze(text)
    shown = []
    for docname, cell in notebook_cells():
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] != "code" or not {"remove-cell", "remove-input"} & tags:
            continue
        lines = [line.strip() for line in "".join(cell["source"]).splitlines()]
        lines = [line for line in lines if len(squeeze(line)) >= 20 and not line.startswith("#")]
        if lines:
            line = max(lines, key=len)
            if squeeze(line) in body:
                shown.append(f"{docname}: {line!r}")
    assert not shown, f"code of removed cells printed in the PDF: {shown}"


def test_each_builder_takes_its_representation_of_an_output():
    """_config.yml's nb_mime_priority_overrides: an output offering both an HTML player and a
    still picture (an animation) is the player on the site and the picture in the PDF; a
    results table is its HTML on the site and its text/plain in the PDF; a code listing's
    text/latex (which myst-nb would typeset as an equation) never reaches the PDF."""
    import yaml
    from myst_nb.core.render import get_mime_priority

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    overrides = [tuple(item) for item in config["sphinx"]["config"]["nb_mime_priority_overrides"]]

    def first(builder: str, mimes: set[str]) -> str:
        return next(mime for mime in get_mime_priority(builder, overrides) if mime in mimes)

    animation = {"text/html", "image/png", "text/plain"}
    table = {"text/html", "text/plain"}
    listing = {"text/html", "text/latex", "text/plain"}
    assert first("html", animation) == "text/html"
    assert first("latex", animation) == "image/png"
    assert first("html", table) == "text/html"
    assert first("latex", table) == "text/plain"
    assert first("html", listing) == "text/html"
    assert first("latex", listing) == "text/plain"
