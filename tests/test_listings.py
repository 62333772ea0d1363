"""The package listings the chapters show: short, the math only, no raw reST, the package's current source."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
MAX_LINES = 40


def listing_cells():
    for path in NOTEBOOKS:
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code" and "show_source(" in "".join(cell["source"]):
                text = "".join(
                    "".join(output.get("data", {}).get("text/plain", "")) for output in cell.get("outputs", [])
                )
                yield pytest.param(text, id=f"{path.stem}-cell{index}")


@pytest.mark.parametrize("text", list(listing_cells()))
def test_a_listing_is_short_and_shows_the_math_only(text):
    lines = text.splitlines()
    assert lines, "the listing cell has no stored output"
    assert len(lines) <= MAX_LINES, f"{len(lines)} lines: show it method by method"
    assert not re.search(r"\bcheck_\w+\(|@checked|contracts\.", text), "argument checks in a listing"
    assert not re.search(r":(math|func|class|meth|mod):`", text), "raw reST roles in a listing"


def test_listings_render_the_package_source_as_it_is_now():
    """The stored listing equals what show_source renders today (nbval checks it too; this names the cell)."""
    from cvae.source import listing

    namespace: dict = {}
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] != "code":
                continue
            python = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
            imports = [node for node in ast.parse(python).body if isinstance(node, (ast.Import, ast.ImportFrom))]
            exec("\n".join(ast.unparse(node) for node in imports), namespace)
            call = re.search(r"show_source\((.*)\)", source)
            if call:
                shown = "".join("".join(o.get("data", {}).get("text/plain", "")) for o in cell.get("outputs", []))
                objects = eval(f"({call.group(1)},)", namespace)
                assert shown.strip() == "\n\n\n".join(listing(o) for o in objects).strip(), f"{path.name}: {call.group(0)}"
