"""Every chapter opens with the cell that gets the book's package, from the one
configured address."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))


def configured_repository() -> str:
    return str(
        (
            yaml.safe_load((ROOT / "_config.yml").read_text()).get("repository") or {}
        ).get("url")
        or ""
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_the_first_code_cell_gets_the_package_from_the_configured_address(path):
    cells = [
        c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"
    ]
    source = "".join(cells[0]["source"])
    assert (
        re.search(r"^BOOK_REPOSITORY = \"(.*)\"", source, re.M).group(1)
        == configured_repository()
    )
    assert (
        "import cvae" in source
        and '%pip install --quiet "cvae @ git+{BOOK_REPOSITORY}"' in source
    )
    assert "remove-cell" in cells[0]["metadata"].get(
        "tags", []
    )  # for notebook readers, not the website


def test_without_the_package_and_without_an_address_the_cell_says_how_to_get_it():
    import subprocess
    import sys

    from IPython.core.inputtransformer2 import TransformerManager

    cells = [
        c
        for c in json.loads(CHAPTERS[0].read_text())["cells"]
        if c["cell_type"] == "code"
    ]
    python = TransformerManager().transform_cell(
        "".join(cells[0]["source"]).replace(
            f'BOOK_REPOSITORY = "{configured_repository()}"', 'BOOK_REPOSITORY = ""'
        )
    )
    # -S: no site-packages, so `import cvae` fails as outside the book's environment
    done = subprocess.run(
        [sys.executable, "-S", "-c", python],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert done.returncode != 0
    assert (
        "this chapter needs the book's package cvae" in done.stderr
        and "make lab" in done.stderr
    )
