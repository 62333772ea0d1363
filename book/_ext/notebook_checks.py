"""Sphinx extension: a build with -W fails when a chapter's stored outputs hold an
error.

The site shows the outputs stored in the notebooks (execution is off in _config.yml), so
a notebook committed after a cell raised would otherwise publish the traceback quietly.
Cells tagged ``raises-exception`` (the book's deliberate bad-input demonstrations) are
allowed to hold one.
"""

from __future__ import annotations

import json
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)


def stored_errors(notebook: dict) -> list[int]:
    """Indices of code cells whose stored outputs contain an error not tagged as
    expected."""
    bad = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if "raises-exception" in cell.get("metadata", {}).get("tags", []):
            continue
        if any(
            output.get("output_type") == "error" for output in cell.get("outputs", [])
        ):
            bad.append(index)
    return bad


def check_notebooks(app: Sphinx) -> None:
    for docname in sorted(app.env.found_docs):
        path = Path(app.srcdir, docname + ".ipynb")
        if not path.exists():
            continue
        cells = stored_errors(json.loads(path.read_text(encoding="utf-8")))
        if cells:
            logger.warning(
                "%s: cells %s stored an error output; "
                "re-run `make execute` after fixing them",
                path.relative_to(app.srcdir),
                ", ".join(map(str, cells)),
                location=docname,
            )


def setup(app: Sphinx) -> dict:
    app.connect("env-updated", lambda app, env: check_notebooks(app))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
