"""Re-execute the book's notebooks in place, each in a fresh kernel, cells in order.

Run by ``make execute`` (and ``make book``) for authors who changed a chapter:

    .venv/bin/python book/_tools/execute_notebooks.py            # every notebook in _toc.yml
    .venv/bin/python book/_tools/execute_notebooks.py book/vae.ipynb

nbclient records each cell's start and end time in the cell metadata; the
reproducibility page reads those to report every notebook's execution time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]


def toc_entries(root: Path = ROOT) -> list[str]:
    """Every ``root`` and ``file`` of ``_toc.yml`` in reading order, as paths without suffix.

    The one reader of the table of contents: the Sphinx extension and the meta-tests use it too.
    """
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    entries: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    entries.append(str(Path(node[key]).with_suffix("")) if node[key].endswith((".ipynb", ".md")) else node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return list(dict.fromkeys(entries))


def toc_notebooks() -> list[Path]:
    """The notebooks listed in ``_toc.yml``, in reading order."""
    return [ROOT / (e + ".ipynb") for e in toc_entries() if (ROOT / (e + ".ipynb")).exists()]


def execute(path: Path, timeout: int) -> float:
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    start = time.perf_counter()
    NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=True,
    ).execute()
    elapsed = time.perf_counter() - start
    nbformat.write(notebook, path)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in _toc.yml")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    args = parser.parse_args(argv)
    for path in args.notebooks or toc_notebooks():
        print(f"executing {path.relative_to(ROOT) if path.is_absolute() else path} ...", flush=True)
        print(f"    {execute(path.resolve(), args.timeout):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
