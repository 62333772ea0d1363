"""The API page (``book/api.md``): completeness and class bases.

Every module of the ``cvae`` package must appear on the API page (``automodule``); a
module that does not is a build warning. Class bases are shown without ``object`` and
without private (``_Name``) classes; a class left with no base gets no "Bases:" line at
all.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.ext import autodoc
from sphinx.locale import _
from sphinx.util import logging

logger = logging.getLogger(__name__)

PACKAGE = "cvae"


def public_bases(app: Sphinx, name: str, obj: Any, options: Any, bases: list) -> None:
    """Show a class's public bases: a private base (``_Shared``, not on the API page) is
    replaced by its own bases, and "Bases: object" (which says nothing) is left out."""

    def public(base: Any) -> list:
        if base is object:
            return []
        if getattr(base, "__name__", "").startswith("_"):
            return [b for parent in base.__bases__ for b in public(parent)]
        return [base]

    bases[:] = list(dict.fromkeys(b for base in bases for b in public(base)))


class ClassDocumenter(autodoc.ClassDocumenter):
    """Autodoc's class documenter, less the "Bases:" line when :func:`public_bases` left
    no base."""

    EMPTY_BASES = (_("Bases: %s") % "").strip()

    def add_line(self, line: str, source: str, *lineno: int) -> None:
        if line.strip() != self.EMPTY_BASES:
            super().add_line(line, source, *lineno)


def check_api_complete(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn about a ``cvae`` module that the API page does not document."""
    documented = set(env.get_domain("py").modules)
    if not any(name.startswith(PACKAGE) for name in documented):
        return  # no API page in this build
    package = importlib.import_module(PACKAGE)
    for info in pkgutil.walk_packages(package.__path__, PACKAGE + "."):
        private = info.name.rpartition(".")[2].startswith("_")
        if info.name not in documented and not private:
            logger.warning(
                "module %s is not on the API page: "
                "add an automodule block for it to book/api.md",
                info.name,
            )


def setup(app: Sphinx) -> None:
    app.add_autodocumenter(ClassDocumenter, override=True)
    app.connect("autodoc-process-bases", public_bases)
    app.connect("env-check-consistency", check_api_complete)
