"""Every verdict nbval compares survives another CPU: it sits far from its threshold.

Trained models differ slightly between CPUs, so a verdict close to its threshold can
flip there (``better`` on one machine, ``no clear difference`` on another) and fail
nbval. The chapters record each verdict's margin in the stored run
(``cvae.report.glue_margins``, masked for nbval); in every cell that nbval compares,
each recorded margin must be at least ``cvae.report.ROBUST_MARGIN``, and a cell that
shows a verdict word must record its margins. Closer verdicts belong in a cell tagged
``nbval-ignore-output``. A cell tagged ``stored-run`` computes its verdicts from a run
stored with the book (``book/_data``), which are the same on every CPU: it records no
margins (``tests/test_stored_runs.py`` checks what it shows).
"""

from __future__ import annotations

import ast
import re

import nbformat
import pytest

from cvae.report import ROBUST_MARGIN
from tools.toc import toc_notebooks

CHAPTERS = toc_notebooks()
NOT_COMPARED = {"nbval-ignore-output", "nbval-skip", "raises-exception"}
VERDICT_WORDS = re.compile(r"\b(better|worse|no clear difference)\b")
RECORD = "application/papermill.record/text/plain"


def shown_text(cell) -> str:
    """What nbval compares as text: streams, plain-text reprs and glued values."""
    parts = []
    for output in cell.outputs:
        data = output.get("data", {})
        parts += [
            output.get("text", ""),
            data.get("text/plain", ""),
            data.get(RECORD, ""),
        ]
    return "\n".join(parts)


def margins(cell) -> dict[str, list[float]]:
    """The margins a cell recorded, by name (``glue_margins``' records)."""
    found = {}
    for output in cell.outputs:
        name = output.get("metadata", {}).get("scrapbook", {}).get("name", "")
        if name.startswith("margin_"):
            shown = ast.literal_eval(output["data"][RECORD])
            found[name] = [float(value) for value in shown.split(" | ")]
    return found


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_compared_verdict_sits_outside_the_margin(path):
    close, unrecorded = [], []
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "code" or NOT_COMPARED & set(
            cell.metadata.get("tags", [])
        ):
            continue
        recorded = margins(cell)
        for name, values in recorded.items():
            if min(values) < ROBUST_MARGIN:
                close.append(f"cell {index}, {name}: {values}")
        stored = "stored-run" in cell.metadata.get("tags", [])
        if VERDICT_WORDS.search(shown_text(cell)) and not recorded and not stored:
            unrecorded.append(f"cell {index}")
    assert not close, (
        f"verdicts within {ROBUST_MARGIN}x of their threshold are compared by nbval "
        f"(tag their cell nbval-ignore-output): {close}"
    )
    assert not unrecorded, f"compared verdicts without a recorded margin: {unrecorded}"
