"""The repository address, one setting: ``repository: url:`` in ``_config.yml``.

Empty while the book has no public repository. The repository button and the Colab and
Binder launch buttons (on every chapter's page) are shown exactly when it is set, and
the substitution ``{{ source_folder }}`` (the intro's "How to run it") says
``git clone <url>`` only then.
"""

from __future__ import annotations

from sphinx.application import Sphinx
from sphinx.config import Config


def repository_url(config: Config) -> str:
    """The book's public repository (``repository: url:`` in ``_config.yml``); "" while
    it has none."""
    url = config.html_theme_options.get("repository_url") or ""
    return str(url).strip().rstrip("/")


def source_folder(url: str) -> str:
    """How the intro's "How to run it" begins: a clone command only when there is an
    address to clone."""
    if url:
        return f"Clone the book's repository (`git clone {url}`) and, in that folder"
    return "In a copy of the book's source (the folder that holds its `Makefile`)"


def follow_repository_url(app: Sphinx, config: Config) -> None:
    """The repository and launch (Colab, Binder) buttons exist exactly when the address
    is set."""
    url = repository_url(config)
    config.html_theme_options["use_repository_button"] = bool(url)
    if not url:
        config.html_theme_options["launch_buttons"] = {}
    config.myst_substitutions = {
        **config.myst_substitutions,
        "source_folder": source_folder(url),
    }


def setup(app: Sphinx) -> None:
    # before the theme reads the options
    app.connect("config-inited", follow_repository_url, priority=100)
