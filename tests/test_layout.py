"""The package's layout promises: the math modules read as math, with no checked/unchecked twins.

Counted with the AST, so comments, blank lines and docstrings do not count:

* code lines: physical lines that hold code (not blank, not comment-only, not a docstring);
* check lines: statements that call a ``check_*``/``_check*`` helper, ``if ...: raise``
  blocks, and ``@checked(...)`` decorator lines.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cvae"
MATH_MODULES = ["distributions", "elbo", "estimators", "networks", "vae", "label_cvae", "structured",
                "linear_gaussian", "classifier"]
HOT_BODIES = {  # module: functions and methods a training step runs, which must not read values on the host
    "distributions": ["gaussian_kl", "gaussian_log_density", "bernoulli_log_likelihood", "reparameterize"],
    "networks": ["forward"],
    "elbo": ["elbo_terms"],
    "vae": ["loss_terms"],
    "label_cvae": ["loss_terms", "forward", "decode"],
    "structured": ["loss_terms", "forward", "prior", "recognize", "generate_logits"],
}
HOST_READS = {"item", "tolist", "aminmax", "cpu", "numpy"}


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def code_lines(source: str, tree: ast.AST) -> set[int]:
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            lines.update(range(token.start[0], token.end[0] + 1))
    return lines - _docstring_lines(tree)


def _calls_check(node: ast.AST) -> bool:
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            name = getattr(call.func, "id", getattr(call.func, "attr", ""))
            if name.startswith(("check_", "_check")):
                return True
    return False


def check_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and not node.orelse and all(isinstance(b, ast.Raise) for b in node.body):
            lines.update(range(node.lineno, node.end_lineno + 1))
        elif isinstance(node, (ast.Expr, ast.Assign, ast.AnnAssign, ast.Return)) and _calls_check(node):
            lines.update(range(node.lineno, node.end_lineno + 1))
        elif isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "") == "checked":
                    lines.update(range(decorator.lineno, decorator.end_lineno + 1))
    return lines


def _parse(module: str) -> tuple[str, ast.Module]:
    source = (PACKAGE / f"{module}.py").read_text()
    return source, ast.parse(source)


def test_check_lines_are_under_a_tenth_of_the_math_modules_code():
    code = checks = 0
    report = []
    for module in MATH_MODULES:
        source, tree = _parse(module)
        module_code = code_lines(source, tree)
        module_checks = check_lines(tree) & module_code
        code, checks = code + len(module_code), checks + len(module_checks)
        report.append(f"{module}: {len(module_checks)}/{len(module_code)}")
    assert checks < 0.10 * code, f"{checks} check lines of {code} code lines ({'; '.join(report)})"


@pytest.mark.parametrize("module", sorted(set(MATH_MODULES) | {"quadrants", "training", "data"}))
def test_no_checked_and_unchecked_twins(module):
    """No ``_name`` beside a public ``name`` in one module or class (the twins the contracts replaced)."""
    _, tree = _parse(module)
    scopes = [tree] + [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    for scope in scopes:
        names = {node.name for node in scope.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        twins = sorted(name for name in names if name.startswith("_") and not name.startswith("__")
                       and name.lstrip("_") in names)
        assert not twins, f"{module}: {twins} duplicate public functions of the same name"


@pytest.mark.parametrize("module", sorted(HOT_BODIES))
def test_the_hot_path_reads_nothing_back_from_the_device(module):
    _, tree = _parse(module)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in HOT_BODIES[module]:
            reads = sorted({call.func.attr for call in ast.walk(node)
                            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                            and call.func.attr in HOST_READS})
            assert not reads, f"{module}.{node.name} reads values on the host: {reads}"
