"""The PDF of the whole book: linked from every page, and its appendices.

When ``make pdf`` has built ``_build/latex/cvae-book.pdf``, the site build copies it
next to ``index.html`` and every page's sidebar links it ("PDF of the whole book",
template ``book/_ext/templates/book-pdf.html``); without it no page links a PDF. In the
PDF, the back matter (the unnumbered part of ``_toc.yml``) is appendices A, B, ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging

logger = logging.getLogger(__name__)

BOOK_PDF = "cvae-book.pdf"  # make pdf's output, _build/latex/cvae-book.pdf


class BackMatterAppendices(SphinxPostTransform):
    """In the PDF, the chapters of the first unnumbered part of ``_toc.yml`` after the
    numbered ones (the back matter) are appendices, lettered A, B, ...: ``\\appendix``
    before that part. On the site they are unnumbered; the text calls them appendices
    ("the Performance appendix")."""

    # after sphinx-jupyterbook-latex made the toc's captions \part (700)
    default_priority = 710
    formats = ("latex",)

    def run(self, **kwargs: Any) -> None:
        site_map = getattr(self.env, "external_site_map", None)
        if site_map is None:
            return
        parts = site_map[site_map.root.docname].subtrees
        back = next(
            (
                part.caption
                for i, part in enumerate(parts)
                if not part.numbered and any(p.numbered for p in parts[:i])
            ),
            None,
        )
        for node in self.document.findall(addnodes.start_of_file):
            # the part's heading (its docname: the part's caption)
            if back and node.get("docname") == back:
                appendix = nodes.raw("", "\\appendix\n", format="latex")
                node.parent.insert(node.parent.index(node), appendix)
                return


def built_pdf(app: Sphinx) -> Path | None:
    """The whole-book PDF that ``make pdf`` built beside this site (``_build/latex/``),
    if any."""
    path = Path(app.outdir).parent / "latex" / BOOK_PDF
    return path if app.builder.format == "html" and path.is_file() else None


def link_pdf(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """``book_pdf`` (its file name) and ``book_pdf_size`` for the sidebar's link: set
    only when the PDF is there to link."""
    path = built_pdf(app)
    if path is not None:
        context["book_pdf"] = BOOK_PDF
        context["book_pdf_size"] = f"{path.stat().st_size / 1e6:.1f} MB"


def copy_pdf(app: Sphinx, exception: Exception | None) -> None:
    """Put the PDF the pages link into the site, next to index.html."""
    path = built_pdf(app) if exception is None else None
    if path is not None:
        (Path(app.outdir) / BOOK_PDF).write_bytes(path.read_bytes())
        logger.info("the site links %s", path)
    elif exception is None and app.builder.format == "html":
        logger.info(
            "no %s beside the site (make pdf builds it): the pages do not link one",
            BOOK_PDF,
        )


def setup(app: Sphinx) -> None:
    app.add_post_transform(BackMatterAppendices)
    app.connect("html-page-context", link_pdf)
    app.connect("build-finished", copy_pdf)
