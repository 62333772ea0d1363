"""Every number in a chapter's prose is computed: glued from the cell that computes it,
never typed.

A digit left in a chapter's Markdown after removing math, code, roles (glue, citations,
cross-references), directive options, link targets and the chapter's allow-list of
setup facts (image sizes, data set sizes, the number of given quadrants, years of
publication, chapter numbers) fails this test, naming the cell and the text.
The reader's text also never speaks of how the book was made.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))

# Setup facts a chapter may state in words (each a regex); everything measured is glued.
COMMON = [
    r"28\s?[x×]\s?28|\b\d+x\d+\b|\bstride-2\b",  # image and layer shapes
    r"\b(784|[145],000|60,000|10,000|10 classes|0\.\.9|0 and 1|2-D)\b",  # the data
    r"\b(19|20)\d\d\b|\bTable 1\b",  # years of publication, the paper's table
    r"\bchapters? [1-4]\b|\bsection [1-4]\.\d+\b|\bN\(0, I\)|\b1 ?/ ?2 ?/ ?3\b",
    r"^\s*(\*\*)?\d+\.(?=\s|\*)",  # the number of a list item or an exercise
    r"\b95%|\bExercise [1-9]\b",  # the comparison rule's interval; a cross-reference
]
ALLOWED = {"quadrants": [r"\b[123] given quadrants?\b|\b(one|two|three) quadrants?\b"]}
STRIP = [
    r"\$\$.*?\$\$(\s*\([\w-]+\))?",  # display math with its label
    r"\$[^$\n]+\$",  # inline math
    r"```.*?```",  # code blocks
    r"`[^`\n]*`",  # inline code (roles' targets are removed first)
    r"<!--.*?-->",
]
ROLE = r"\{[\w:-]+\}`[^`]*`"
DIRECTIVE = r"^```\{[\w:-]+\}.*$"  # a directive's opening line: its body is kept
DIRECTIVE_OPTION = r"^:[\w-]+:.*$"
LINK_TARGET = r"\]\([^)]*\)"
MAKING = r"\bthe seed\b|\bseed post\b|\bunchecked\b|\bnobody here\b|\bthe seed's\b"


def prose(markdown: str) -> str:
    text = re.sub(ROLE, " ", markdown)
    text = re.sub(DIRECTIVE, " ", text, flags=re.M)
    for pattern in STRIP:
        text = re.sub(pattern, " ", text, flags=re.S)
    text = re.sub(DIRECTIVE_OPTION, " ", text, flags=re.M)
    return re.sub(LINK_TARGET, "]", text)


def markdown_cells(path: Path):
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] == "markdown":
            yield index, "".join(cell["source"])


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_no_number_in_a_chapter_prose_is_typed_by_hand(path):
    allowed = COMMON + ALLOWED.get(path.stem, [])
    typed = []
    for index, markdown in markdown_cells(path):
        text = prose(markdown)
        for pattern in allowed:
            text = re.sub(pattern, " ", text, flags=re.I | re.M)
        for match in re.finditer(r"[^\n]{0,30}\d[^\n]{0,30}", text):
            typed.append(f"cell {index}: ...{match.group(0).strip()}...")
    assert not typed, (
        f"{len(typed)} typed numbers (glue them, or allow-list a setup fact):\n"
        + "\n".join(typed)
    )


@pytest.mark.parametrize(
    "path", CHAPTERS + sorted(BOOK.glob("*.md")), ids=lambda p: p.name
)
def test_the_reader_text_never_speaks_of_how_the_book_was_made(path):
    texts = [t for _, t in markdown_cells(path)] if path.suffix == ".ipynb" else []
    texts = texts or [path.read_text()]
    found = [m.group(0) for t in texts for m in re.finditer(MAKING, prose(t), re.I)]
    assert not found, f"{path.name}: {found}"
