"""Show the package's own source in a chapter: the code a reader sees is the code that
runs.

Used by every chapter (first in :chapter:`From likelihood to the ELBO <book/elbo>`):
a cell tagged ``remove-input`` calls :func:`show_source` and the page shows the
highlighted source of a function, a method or a small class, exactly as it runs, its
checks included, with each docstring (which the chapter's text already gives) cut to
its one-line summary and reST markup turned to plain text.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap

# TeX in docstring summaries, as plain text a code listing can show.
_TEX = {
    r"\mathcal N": "N",
    r"\mathbb E": "E",
    r"\mathrm{KL}": "KL",
    r"\operatorname{diag}": "diag",
    r"\mu": "μ",
    r"\sigma": "σ",
    r"\varepsilon": "ε",
    r"\epsilon": "ε",
    r"\alpha": "α",
    r"\theta": "θ",
    r"\phi": "φ",
    r"\Lambda": "Λ",
    r"\lambda": "λ",
    r"\pi": "π",
    r"\odot": "⊙",
    r"\mid": "|",
    r"\sim": "~",
    r"\le": "≤",
    r"\ge": "≥",
    r"\log": "log",
    r"\sum": "Σ",
    r"\int": "∫",
    r"\cdot": "·",
    r"\hat y": "ŷ",
    r"\,": " ",
    r"\;": " ",
    r"\|": "||",
    r"\tfrac12": "½",
    r"\frac1S": "1/S",
    r"\frac1L": "1/L",
}
_ROLE = re.compile(r":(?:math|func|class|meth|mod|data|attr|chapter):`(~?)([^`]*)`")
_NAME_ROLES = (":func:", ":class:", ":meth:", ":mod:", ":data:", ":attr:")
_TEXT_COMMAND = re.compile(r"\\(?:text|mathrm|operatorname|mathbf|mathit)\{([^}]*)\}")


def plain_text(text: str) -> str:
    """reST and TeX markup of a docstring line as plain text: ``:math:`\\mu``` becomes
    ``μ``, ``:func:`~a.b``` becomes ``b``."""

    def role(match: re.Match) -> str:
        short, body = match.group(1), match.group(2)
        body = re.sub(r"^(.*?)\s*<[^>]+>$", r"\1", body)  # `title <path>` -> title
        if match.group(0).startswith(_NAME_ROLES):
            return body.rsplit(".", 1)[-1] if short else body
        body = _TEXT_COMMAND.sub(r"\1", body)
        for tex, plain in sorted(_TEX.items(), key=lambda item: -len(item[0])):
            body = body.replace(tex, plain)
        return body.replace("{", "").replace("}", "").replace("^2", "²")

    return _ROLE.sub(role, text).replace("``", "`")


def _trimmed(source: str) -> str:
    """``source`` with every docstring cut to its first paragraph, as plain text."""
    lines = source.splitlines()
    edits = []
    for node in ast.walk(ast.parse(source)):
        kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        if isinstance(node, kinds) and (docstring := ast.get_docstring(node)):
            first = node.body[0]
            line = lines[first.lineno - 1]
            summary = " ".join(docstring.split("\n\n", 1)[0].split())
            text = (
                f'{line[: len(line) - len(line.lstrip())]}"""{plain_text(summary)}"""'
            )
            edits.append((first.lineno - 1, first.end_lineno, text))
    for start, end, text in sorted(edits, reverse=True):
        lines[start:end] = [text]
    return "\n".join(lines)


def listing(obj: object, name: str = "obj") -> str:
    """The source of a function, method, class or module of :mod:`cvae`, as
    :func:`show_source` shows it."""
    kinds = (inspect.ismodule, inspect.isclass, inspect.isfunction, inspect.ismethod)
    if not any(kind(obj) for kind in kinds):
        kind = type(obj).__name__
        raise TypeError(
            f"{name} must be a function, method, class or module, got {kind}"
        )
    module = inspect.getmodule(obj)
    if module is None or not module.__name__.startswith("cvae"):
        raise ValueError(f"show_source shows the book's package only, not {obj!r}")
    return _trimmed(textwrap.dedent(inspect.getsource(obj))).rstrip()


def show_source(*objects: object):
    """Syntax-highlighted listings of functions, methods or classes of :mod:`cvae`,
    one after another, as an ``IPython.display.Code`` object (highlighted Python in
    notebooks and on the website)."""
    from IPython.display import Code

    if not objects:
        raise ValueError("show_source needs at least one function, class or module")
    parts = [listing(obj, f"objects[{i}]") for i, obj in enumerate(objects)]
    return Code("\n\n\n".join(parts), language="python")
