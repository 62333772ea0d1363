"""The ``glued-figure`` directive: a chapter's computed figure on another page.

Used by the intro (``book/intro.md``). A numbered figure (``{numref}``-able) whose image
a chapter computed and glued, for a page that is not that chapter (myst-nb's
``glue:figure`` pastes from the page's own notebook only)::

    ```{glued-figure} cvae_labels.ipynb::labels_generated_grid
    :name: fig-intro-generated
    :alt: What the image shows.

    The caption.
    ```

The image is filled in from the chapter's glue data when the pages are written. In the
PDF, the pasted image is named by its file name alone.
"""

from __future__ import annotations

import posixpath
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from myst_nb.ext.glue.utils import PendingGlueReferenceError, create_pending_glue_ref
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective


class GluedFigure(SphinxDirective):
    """A figure whose image is the output ``doc::key`` glued by another chapter."""

    required_arguments = 1
    has_content = True
    option_spec = {"name": directives.unchanged, "alt": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        doc, separator, key = self.arguments[0].partition("::")
        if not separator:
            raise self.error(
                f"glued-figure: expected 'document::key', got {self.arguments[0]!r}"
            )
        try:
            image = create_pending_glue_ref(
                self.state.document, self.env.docname, self.lineno, doc, key
            )
        except PendingGlueReferenceError as exc:
            raise self.error(f"glued-figure: {exc}") from None
        figure = nodes.figure("", image, glued_alt=self.options.get("alt", ""))
        self.set_source_info(figure)
        self.add_name(figure)
        if self.content:
            parsed = nodes.Element()
            self.state.nested_parse(self.content, self.content_offset, parsed)
            paragraph = parsed[0]
            figure += nodes.caption(paragraph.rawsource, "", *paragraph.children)
        return [figure]


class GluedFigureAlt(SphinxPostTransform):
    """Gives the image pasted into a ``glued-figure`` the figure's alt text (after
    myst-nb pastes it)."""

    default_priority = 6  # myst-nb's ReplacePendingGlueReferences runs at 5

    def run(self, **kwargs: Any) -> None:
        # myst-nb makes the pasted image's path relative to the page's folder (book/),
        # which is right for the site but not for the PDF, whose one .tex file sits
        # next to every image: there the path is the file name alone.
        one_file = self.app.builder.format == "latex"
        for figure in self.document.findall(nodes.figure):
            if figure.get("glued_alt"):
                for image in figure.findall(nodes.image):
                    image["alt"] = figure["glued_alt"]
                    if one_file:
                        image["uri"] = posixpath.basename(image["uri"])
                        image["candidates"] = {"*": image["uri"]}


def setup(app: Sphinx) -> None:
    app.add_directive("glued-figure", GluedFigure)
    app.add_post_transform(GluedFigureAlt)
