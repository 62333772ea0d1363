"""The whole book as one PDF, ``_build/latex/cvae-book.pdf``, built by ``make pdf``.

Run by ``make pdf`` right after the build (``make unit`` leaves this file out). Where
the PDF or poppler's tools are missing the tests are skipped, with the reason; in CI
(``CI=true``, as ``.ci/run`` sets it) they fail instead. The page count is sane; every
page of ``_toc.yml`` is there under its title, after a table of contents; no reference
is unresolved and no character fell out of its font; every figure made it in, with a
numbered caption; every font is embedded; code hidden on the site (``remove-cell``,
``remove-input``) is hidden in the PDF.
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
# the book has about 150 pages; outside this, pages were lost or doubled
PAGES = (80, 400)
HIDDEN = {"remove-cell", "remove-input"}


@pytest.fixture(scope="module")
def pdf() -> Path:
    tools = ("pdftotext", "pdffonts", "pdfinfo", "pdfimages")
    if missing := [t for t in tools if not shutil.which(t)]:
        reason = f"{missing} not found: install poppler-utils (make pdf-debs)"
    elif not PDF.exists():
        reason = f"{PDF.relative_to(ROOT)} not built: run make pdf"
    else:
        return PDF
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: make test builds the PDF before this test)")
    pytest.skip(reason)


def run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def text(pdf: Path) -> str:
    return run("pdftotext", "-enc", "UTF-8", str(pdf), "-")


@pytest.fixture(scope="module")
def log(pdf: Path) -> str:
    return pdf.with_suffix(".log").read_text(encoding="utf-8", errors="replace")


def squeeze(value: str) -> str:
    """Letters and digits only, lower case: a title reads the same however LaTeX broke,
    spaced or quoted it."""
    return re.sub(r"[\W_]+", "", value.replace("`", "")).lower()


def chapter_cells() -> list[tuple[str, dict, set[str]]]:
    """(docname, cell, its tags) of every chapter of _toc.yml."""
    found = []
    for docname in toc_docnames(ROOT):
        if (notebook := ROOT / (docname + ".ipynb")).exists():
            for cell in json.loads(notebook.read_text())["cells"]:
                found.append((docname, cell, set(cell["metadata"].get("tags", []))))
    return found


def first_heading(docname: str) -> str:
    notebook, page = ROOT / (docname + ".ipynb"), ROOT / (docname + ".md")
    if notebook.exists():
        cells = json.loads(notebook.read_text())["cells"]
        text = "\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
        )
    else:
        text = page.read_text(encoding="utf-8")
    return next(line[2:].strip() for line in text.splitlines() if line.startswith("# "))


def test_page_count_is_sane(pdf):
    pages = int(re.search(r"^Pages:\s+(\d+)", run("pdfinfo", str(pdf)), re.M).group(1))
    assert PAGES[0] <= pages <= PAGES[1], f"{pages} pages, expected {PAGES}"


def test_every_page_of_the_toc_is_there_under_its_title(text):
    assert "CONTENTS" in text.upper(), "no table of contents"
    titles = {docname: first_heading(docname) for docname in toc_docnames(ROOT)}
    body = squeeze(text)
    missing = {d: t for d, t in titles.items() if squeeze(t) not in body}
    assert not missing, f"titles not found in the PDF's text: {missing}"


def test_no_unresolved_reference_or_missing_character(text, log):
    lines = [line.strip() for line in text.splitlines() if "??" in line]
    assert not lines, f"unresolved references ('??') in the PDF: {lines[:10]}"
    undefined = r"(?:Reference|Citation) `([^']+)' on page \d+ undefined"
    undefined = sorted(set(re.findall(undefined, log)))
    assert not undefined and "There were undefined references" not in log, undefined
    missing = set(re.findall(r"Missing character: There is no (.+?) in font", log))
    assert not missing, f"characters the fonts lack (printed as nothing): {missing}"


def test_every_figure_is_there(pdf, text, log):
    tex = pdf.with_suffix(".tex").read_text(encoding="utf-8")
    graphics = r"\\sphinxincludegraphics(?:\[[^\]]*\])?\{\{([^}]+)\}(\.\w+)\}"
    included = [name + ext for name, ext in re.findall(graphics, tex)]
    absent = sorted({name for name in included if not (LATEX / name).exists()})
    assert not absent, f"images the .tex includes but the build lacks: {absent}"
    shown = [
        output
        for _, cell, tags in chapter_cells()
        if not {"remove-cell", "remove-output"} & tags
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(included) >= len(shown), f"{len(included)} images, {len(shown)} shown"
    rows = [line.split() for line in run("pdfimages", "-list", str(pdf)).splitlines()]
    images = sum(1 for row in rows[2:] if len(row) > 2 and row[2] == "image")
    assert images >= len(included), f"the PDF holds {images} of {len(included)} images"
    assert "Unable to load picture" not in log
    assert not re.search(r"File `[^']+' not found", log)
    captions = set(re.findall(r"Fig\. (\d+\.\d+):", text))
    assert {"1.1", "2.1", "3.1", "4.1"} <= captions, f"figure captions: {captions}"


def test_every_font_is_embedded(pdf):
    rows = run("pdffonts", str(pdf)).splitlines()[2:]
    assert rows, "pdffonts lists no font"
    # columns: name, type (words), encoding, emb, sub, uni, object ID (two numbers)
    not_embedded = [row for row in rows if row.split()[-5] != "yes"]
    assert not not_embedded, "fonts not embedded:\n" + "\n".join(not_embedded)


def test_hidden_code_stays_hidden(text):
    """A cell tagged remove-cell or remove-input shows no code in the PDF, as on the
    site (its longest line that is not a comment is searched for)."""
    shown, body = [], squeeze(text)
    for docname, cell, tags in chapter_cells():
        if cell["cell_type"] != "code" or not HIDDEN & tags:
            continue
        lines = [line.strip() for line in "".join(cell["source"]).splitlines()]
        lines = [line for line in lines if len(squeeze(line)) >= 20 and line[0] != "#"]
        if lines and squeeze(max(lines, key=len)) in body:
            shown.append(f"{docname}: {max(lines, key=len)!r}")
    assert not shown, f"code of removed cells printed in the PDF: {shown}"


def test_each_builder_takes_its_representation_of_an_output():
    """_config.yml's nb_mime_priority_overrides: an animation (an HTML player and a
    still picture) is the player on the site, the picture in the PDF; a results table
    and a code listing are HTML on the site and text/plain in the PDF (a listing's
    text/latex, which myst-nb would typeset as an equation, never reaches it)."""
    import yaml
    from myst_nb.core.render import get_mime_priority

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    overrides = config["sphinx"]["config"]["nb_mime_priority_overrides"]
    overrides = [tuple(override) for override in overrides]
    for mimes, latex in (
        ({"text/html", "image/png", "text/plain"}, "image/png"),
        ({"text/html", "text/plain"}, "text/plain"),
        ({"text/html", "text/latex", "text/plain"}, "text/plain"),
    ):
        for builder, wanted in (("html", "text/html"), ("latex", latex)):
            order = get_mime_priority(builder, overrides)
            assert next(m for m in order if m in mimes) == wanted, (builder, mimes)
