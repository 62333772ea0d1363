"""Execute the book's notebooks, each in a fresh kernel, cells in order.

    python -m tools.execute_notebooks                 # every chapter, in place
    python -m tools.execute_notebooks book/vae.ipynb  # one chapter, in place
    python -m tools.execute_notebooks --output-dir _build/book-source

In place (``make execute``) is for authors who changed a chapter: the stored outputs are
what the site shows and what nbval checks. With ``--output-dir`` (``make book``) no
notebook is touched: each executed copy goes to the same path under that folder, and
links to every other input of the site build (``_config.yml``, ``_toc.yml``, the rest of
``book/``) complete it into a source tree, so that

    jupyter-book build _build/book-source --path-output .

builds ``_build/html`` from the fresh copies. Either way a notebook runs in its own
folder, so relative paths mean what they mean in place.

nbclient records each cell's start and end time in the cell metadata; the
reproducibility page reads those to report every notebook's execution time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tools.toc import ROOT, toc_notebooks

# what jupyter-book reads to build the site
BOOK_INPUTS = ("_config.yml", "_toc.yml", "book")


def execute(path: Path, timeout: int, output: Path | None = None) -> float:
    """Run ``path`` in a fresh python3 kernel started in its folder and write the result
    to ``output`` (default: back to ``path``); the seconds it took."""
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    start = time.perf_counter()
    NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=True,
    ).execute()
    elapsed = time.perf_counter() - start
    output = output or path
    output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, output)
    return elapsed


def link_book_inputs(output_dir: Path, root: Path = ROOT) -> None:
    """Complete ``output_dir`` into a source tree of the site: a relative link to each
    input of the build that is not there yet; a folder that holds an executed copy is a
    real folder whose other entries are links."""

    def mirror(source: Path, target: Path) -> None:
        if target.is_dir() and not target.is_symlink():
            for entry in source.iterdir():
                mirror(entry, target / entry.name)
        elif not target.exists():
            target.symlink_to(os.path.relpath(source, target.parent))

    for name in BOOK_INPUTS:
        mirror(root / name, output_dir / name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="default: every notebook in _toc.yml"
    )
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    parser.add_argument(
        "--output-dir",
        type=Path,
        help="write executed copies (and links to the "
        "other inputs of the site build) here, a new folder, instead of in place",
    )
    args = parser.parse_args(argv)
    output_dir = args.output_dir.resolve() if args.output_dir else None
    if output_dir and output_dir.exists() and any(output_dir.iterdir()):
        parser.error(f"--output-dir {args.output_dir} is not empty: remove it first")
    for path in [p.resolve() for p in args.notebooks] or toc_notebooks():
        output = output_dir / path.relative_to(ROOT) if output_dir else None
        where = f" into {args.output_dir}" if output else ""
        print(f"executing {path.relative_to(ROOT)}{where} ...", flush=True)
        print(f"    {execute(path, args.timeout, output):.1f} s", flush=True)
    if output_dir:
        link_book_inputs(output_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
