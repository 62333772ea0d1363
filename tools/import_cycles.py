"""Fail when the modules of ``cvae/`` import each other in a cycle.

An AST walk over every module of the package: each ``import`` and ``from ... import``
statement counts, those inside functions too (a function-local import hides a cycle
from Python until the function runs, not from this check). ``make lint`` runs it:
``python -m tools.import_cycles``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cvae"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports, wherever the statement stands."""
    found = set()
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}".rstrip(".")
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in modules}
    return found - {module_name(path)}


def cycles() -> list[list[str]]:
    """Import cycles among the package's modules, each as the modules it passes.

    A depth-first walk reports at least one cycle whenever there is any (each back
    edge it meets), and none when the import graph is acyclic.
    """
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: imports(path, set(paths)) for name, path in paths.items()}
    found, state = [], {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                found.append(trail[trail.index(target) :] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return found


if __name__ == "__main__":
    loops = cycles()
    for loop in loops:
        print("import cycle: " + " -> ".join(loop))
    print(f"{len(loops)} import cycles in {PACKAGE.name}/")
    sys.exit(1 if loops else 0)
