"""Show the package's own source in a chapter, so the code a reader sees is the code that runs.

Used by every chapter (first in :chapter:`From likelihood to the ELBO <book/elbo>`):
a cell tagged ``remove-input`` calls :func:`show_source` and the page shows the
highlighted source of a function, a method or a small class. The listing is the code
as it runs, with what the chapter's text already gives left out: the ``@checked(...)``
line that names the argument contract and any other call into :mod:`cvae.contracts`
(the checks run once, where data enters), and the long docstring, trimmed to its
one-line summary with reST markup turned to plain text.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap

# TeX in docstring summaries, as plain text a code listing can show.
_TEX = {
    r"\mathcal N": "N", r"\mathbb E": "E", r"\mathrm{KL}": "KL", r"\operatorname{diag}": "diag",
    r"\mu": "μ", r"\sigma": "σ", r"\varepsilon": "ε", r"\epsilon": "ε", r"\alpha": "α", r"\theta": "θ",
    r"\phi": "φ", r"\Lambda": "Λ", r"\lambda": "λ", r"\pi": "π", r"\odot": "⊙", r"\mid": "|", r"\sim": "~",
    r"\le": "≤", r"\ge": "≥", r"\log": "log", r"\sum": "Σ", r"\int": "∫", r"\cdot": "·", r"\hat y": "ŷ",
    r"\,": " ", r"\;": " ", r"\|": "||", r"\tfrac12": "½", r"\frac1S": "1/S", r"\frac1L": "1/L",
}
_ROLE = re.compile(r":(?:math|func|class|meth|mod|data|attr|chapter):`~?([^`]*)`")


def plain_text(text: str) -> str:
    """reST and TeX markup of a docstring line as plain text: ``:math:`\\mu``` becomes ``μ``, ``:func:`~a.b``` ``b``."""

    def role(match: re.Match) -> str:
        body = match.group(1)
        body = re.sub(r"^(.*?)\s*<[^>]+>$", r"\1", body)  # :chapter:`title <path>` -> title
        if match.group(0).startswith((":func:", ":class:", ":meth:", ":mod:", ":data:", ":attr:")):
            return body.rsplit(".", 1)[-1] if match.group(0)[match.group(0).index("`") + 1] == "~" else body
        body = re.sub(r"\\(?:text|mathrm|operatorname|mathbf|mathit)\{([^}]*)\}", r"\1", body)
        for tex, plain in sorted(_TEX.items(), key=lambda item: -len(item[0])):
            body = body.replace(tex, plain)
        return body.replace("{", "").replace("}", "").replace("^2", "²")

    return _ROLE.sub(role, text).replace("``", "`")


def _summary(docstring: str) -> str:
    first_paragraph = inspect.cleandoc(docstring).split("\n\n", 1)[0]
    return plain_text(" ".join(line.strip() for line in first_paragraph.splitlines()))


def _trimmed(source: str) -> str:
    """``source`` without ``@checked(...)`` lines or ``contracts.*(...)`` calls, every docstring cut to its summary."""
    tree = ast.parse(source)
    lines = source.splitlines()
    edits: list[tuple[int, int, list[str]]] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for decorator in node.decorator_list:
            call = decorator.func if isinstance(decorator, ast.Call) else decorator
            if getattr(call, "id", getattr(call, "attr", "")) == "checked":
                edits.append((decorator.lineno - 1, decorator.end_lineno, []))
        for statement in ast.walk(node):
            if (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
                    and getattr(statement.value.func, "value", None) is not None
                    and getattr(statement.value.func.value, "id", "") == "contracts"):
                edits.append((statement.lineno - 1, statement.end_lineno, []))
        docstring = ast.get_docstring(node, clean=False)
        if docstring is not None:
            first = node.body[0]
            indent = lines[first.lineno - 1][: len(lines[first.lineno - 1]) - len(lines[first.lineno - 1].lstrip())]
            edits.append((first.lineno - 1, first.end_lineno, [f'{indent}"""{_summary(docstring)}"""']))
    for start, end, replacement in sorted(edits, reverse=True):
        lines[start:end] = replacement
    return "\n".join(lines)


def listing(obj: object, name: str = "obj") -> str:
    """The source of one function, method, class or module of :mod:`cvae`, as :func:`show_source` shows it."""
    if not (inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismethod(obj)):
        raise TypeError(f"{name} must be a function, method, class or module, got {type(obj).__name__}")
    module = inspect.getmodule(inspect.unwrap(obj) if callable(obj) else obj)
    if module is None or not module.__name__.startswith("cvae"):
        raise ValueError(f"show_source shows the book's package only; {obj!r} is not from cvae")
    return _trimmed(textwrap.dedent(inspect.getsource(obj))).rstrip()


def show_source(*objects: object):
    """Syntax-highlighted listings of functions, methods or classes of :mod:`cvae`, one after another.

    Returns an ``IPython.display.Code`` object (rendered as highlighted Python in
    notebooks and on the website).
    """
    from IPython.display import Code

    if not objects:
        raise ValueError("show_source needs at least one function, class or module")
    parts = [listing(obj, f"objects[{position}]") for position, obj in enumerate(objects)]
    return Code("\n\n\n".join(parts), language="python")
