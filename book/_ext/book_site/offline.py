"""Offline pages: sphinx-thebe's CDN script is left off every page while thebe is off.

Jupyter Book always loads sphinx-thebe, which names a CDN URL (unpkg.com) on every
page. With ``launch_buttons: thebe: false`` nothing uses it. (MathJax is served from
``book/_static/mathjax``, see ``_config.yml``.)
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def thebe_enabled(app: Sphinx) -> bool:
    options = app.config.html_theme_options or {}
    return bool((options.get("launch_buttons") or {}).get("thebe"))


def is_thebe_script(script: Any) -> bool:
    filename = str(getattr(script, "filename", "") or "")
    body = str((getattr(script, "attributes", None) or {}).get("body", ""))
    return (
        filename.endswith("sphinx-thebe.js")
        or "thebe@" in filename
        or "THEBE_JS_URL" in body
    )


def drop_unused_thebe(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """Leave sphinx-thebe's script off the page unless thebe is enabled."""
    if thebe_enabled(app) or not context.get("script_files"):
        return
    scripts = context["script_files"]
    context["script_files"] = [s for s in scripts if not is_thebe_script(s)]


def setup(app: Sphinx) -> None:
    app.connect("html-page-context", drop_unused_thebe)
