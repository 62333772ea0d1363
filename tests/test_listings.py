"""The package listings the chapters show: short, without raw reST, and the package's
source as it is now."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from cvae.source import listing

BOOK = Path(__file__).resolve().parents[1] / "book"
MAX_LINES = 40


def listing_cells():
    """Each chapter cell that calls show_source: its stored text, and the listing of
    the same objects today (the chapter's imports run to find them)."""
    namespace: dict = {}
    for path in sorted(BOOK.glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            tree = ast.parse(re.sub(r"(?m)^\s*[%!].*$", "", source))  # no magics
            imports = (
                n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
            )
            exec("\n".join(ast.unparse(node) for node in imports), namespace)
            calls = [
                node.args
                for node in ast.walk(tree)
                if isinstance(node, ast.Call)
                and ast.unparse(node.func) == "show_source"
            ]
            if calls:  # one call a cell, on one line or several
                data = (o.get("data", {}) for o in cell.get("outputs", []))
                shown = "".join("".join(d.get("text/plain", "")) for d in data)
                objects = eval(f"({', '.join(map(ast.unparse, calls[0]))},)", namespace)
                now = "\n\n\n".join(listing(o) for o in objects)
                yield pytest.param(shown, now, id=f"{path.stem}-cell{index}")


LISTINGS = list(listing_cells())


@pytest.mark.parametrize("shown, now", LISTINGS)
def test_a_listing_is_short_and_plain(shown, now):
    lines = now.splitlines()
    assert len(lines) <= MAX_LINES, f"{len(lines)} lines: show it method by method"
    assert not re.search(r":(math|func|class|meth|mod):`", now), "raw reST in a listing"


@pytest.mark.parametrize("shown, now", LISTINGS)
def test_the_stored_listing_is_the_source_as_it_is_now(shown, now):
    assert shown.strip() == now.strip(), "re-execute the chapter"
