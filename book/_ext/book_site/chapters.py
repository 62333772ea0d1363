"""The ``:chapter:`` role: a docstring links the chapter that explains it.

Used by the package's docstrings, shown on the API page (``book/api.md``)::

    Explained in the chapter :chapter:`From likelihood to the ELBO <book/elbo>`.

The target is a document path from the repository root (``book/elbo``; a leading
``/`` or an ``.ipynb``/``.md`` suffix is accepted). Without an explicit title the
chapter's own title is used. A chapter that is not in ``_toc.yml`` yet is shown as plain
italic text, not as a broken link, so the package can name chapters that are still being
written. On the API page every module-level function and class inherits the *first*
``:chapter:`` of its module's docstring as an "Explained in:" line.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxRole
from sphinx.util.nodes import split_explicit_title

logger = logging.getLogger(__name__)

PACKAGE = "cvae"
CHAPTER_ROLE = re.compile(r":chapter:`([^`]+)`")


def chapter_docname(target: str) -> str:
    """``/book/elbo.ipynb`` -> ``book/elbo``."""
    target = target.strip().lstrip("/")
    for suffix in (".ipynb", ".md"):
        if target.endswith(suffix):
            target = target[: -len(suffix)]
    return target


def doc_link(docname: str, title: str, refdoc: str, rawtext: str = "", explicit=False):
    """A link to the page ``docname`` of the book, shown as ``title``."""
    ref = addnodes.pending_xref(
        rawtext,
        refdomain="std",
        reftype="doc",
        reftarget="/" + docname,
        refexplicit=explicit,
        refwarn=True,
        refdoc=refdoc,
    )
    ref += nodes.inline(title, title)
    return ref


class ChapterRole(SphinxRole):
    """``:chapter:`Title <book/name>``` -> a link to that chapter, or italic text if it
    is not built."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        explicit, title, target = split_explicit_title(self.text)
        docname = chapter_docname(target)
        if docname in self.env.found_docs:
            ref = doc_link(docname, title, self.env.docname, self.rawtext, explicit)
            return [ref], []
        logger.info(
            "chapter %s is not in the book (yet): shown unlinked",
            docname,
            location=self.get_location(),
        )
        text = title if explicit else docname
        return [nodes.emphasis(text, text, classes=["cvae-chapter-missing"])], []


def add_chapter_line(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Give each module-level function/class on the API page its module's chapter
    link."""
    if what not in ("function", "class", "exception"):
        return
    if not name.startswith(PACKAGE + "."):
        return
    module = sys.modules.get(name.rpartition(".")[0])
    if module is None or any(":chapter:" in line for line in lines):
        return  # a method, or the object names its own chapter
    found = CHAPTER_ROLE.search(module.__doc__ or "")
    if found:
        lines.extend(["", f"**Explained in:** :chapter:`{found.group(1)}`"])


def setup(app: Sphinx) -> None:
    app.add_role("chapter", ChapterRole())
    # after napoleon (priority 500) has turned Google/NumPy sections into reST
    app.connect("autodoc-process-docstring", add_chapter_line, priority=600)
