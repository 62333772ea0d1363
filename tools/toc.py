"""The book's table of contents, ``_toc.yml``, read the way Jupyter Book reads it.

The one reader of the file for the executor (``tools/execute_notebooks.py``), the
Makefile and the tests: sphinx-external-toc's parser, the one jupyter-book builds the
site with, so none of them can disagree with the site about which pages the book has or
their order. The Sphinx extension (``book/_ext/book_site/reproducibility.py``) does not
read the file again: it takes the same parse from the build, ``env.external_site_map``.

    python -m tools.toc  # the notebooks, one path per line (the Makefile's NOTEBOOKS)
"""

from __future__ import annotations

from pathlib import Path

from sphinx_external_toc.parsing import parse_toc_yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_docnames(root: Path = ROOT) -> list[str]:
    """Every page of ``root/_toc.yml``, root page first, in reading order, as paths from
    ``root`` without suffix (``book/elbo``): the parse's order, a depth-first walk."""
    return list(parse_toc_yaml(root / "_toc.yml"))


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks among the pages of ``root/_toc.yml``, in reading order."""
    return [
        root / (name + ".ipynb")
        for name in toc_docnames(root)
        if (root / (name + ".ipynb")).exists()
    ]


if __name__ == "__main__":
    print("\n".join(str(path.relative_to(ROOT)) for path in toc_notebooks()))
