"""Meta-tests of the book: the table of contents, the stored outputs, the Sphinx extensions,
the strict build.

The site shows the outputs stored in the notebooks (execution is off in _config.yml), so
these tests make sure that what is stored is one clean, in-order run in a fresh kernel
(``make execute``), and that a strict site build refuses a notebook that raised. The
table of contents is read by ``tools.toc``, the executor's reader (run from the repository
root: ``python -m pytest``).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import yaml
from pybtex.database import parse_string

from tools.toc import toc_docnames

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
EXTENSIONS = BOOK / "_ext"  # the book's Sphinx extensions (local_extensions in _config.yml)
SKIPPED_DIRS = {"_build", ".ipynb_checkpoints"}
ALLOWED_ERROR_TAG = "raises-exception"
SKIP_EXECUTION_TAG = "skip-execution"  # nbclient's default: such cells are never run


def book_notebooks() -> list[Path]:
    return sorted(
        path
        for path in BOOK.rglob("*.ipynb")
        if not SKIPPED_DIRS & set(path.relative_to(BOOK).parts)
    )


def toc_entries() -> list[str]:
    """Every page of _toc.yml, relative to the repository, no suffix: the executor's reader."""
    return toc_docnames(ROOT)


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


NOTEBOOKS = book_notebooks()
NOTEBOOK_IDS = [str(p.relative_to(ROOT)) for p in NOTEBOOKS]


# ------------------------------------------------------------------ table of contents


def test_every_toc_entry_exists():
    missing = [e for e in toc_entries() if not any((ROOT / (e + s)).exists() for s in (".ipynb", ".md"))]
    assert not missing, f"_toc.yml lists files that do not exist (as .ipynb or .md): {missing}"


def test_toc_lists_every_notebook_and_nothing_else():
    in_toc = {e for e in toc_entries() if (ROOT / (e + ".ipynb")).exists()}
    on_disk = {str(p.relative_to(ROOT).with_suffix("")) for p in NOTEBOOKS}
    assert not on_disk - in_toc, f"notebooks under book/ missing from _toc.yml: {sorted(on_disk - in_toc)}"
    assert not in_toc - on_disk, f"_toc.yml notebooks outside book/: {sorted(in_toc - on_disk)}"


def test_toc_has_no_duplicates():
    entries = toc_entries()
    assert len(entries) == len(set(entries)), entries


# ---------------------------------------------------------------- stored outputs, per notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_kernelspec_is_python3(path):
    kernelspec = load(path).get("metadata", {}).get("kernelspec", {})
    assert kernelspec.get("name") == "python3", f"{path.name}: kernelspec {kernelspec!r}; run `make execute`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_outputs_are_one_in_order_run_in_a_fresh_kernel(path):
    cells = [c for c in load(path)["cells"] if c.get("cell_type") == "code"]
    run = [c for c in cells if source(c).strip() and SKIP_EXECUTION_TAG not in tags(c)]
    counts = [c.get("execution_count") for c in run]
    assert counts == list(range(1, len(run) + 1)), (
        f"{path.name}: execution counts {counts}; a fresh-kernel run gives 1..{len(run)}. "
        "Run `make execute` (or python -m tools.execute_notebooks) after editing"
    )
    for cell in run:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "execute_result":
                assert output.get("execution_count") == cell["execution_count"], (
                    f"{path.name}: a result stored from another run in cell {cell['execution_count']}"
                )
    assert any(c.get("outputs") for c in cells), f"{path.name}: no stored outputs; run `make execute`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_no_error_outputs_except_tagged(path):
    bad = []
    for index, cell in enumerate(load(path)["cells"]):
        if cell.get("cell_type") != "code" or ALLOWED_ERROR_TAG in tags(cell):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                bad.append(f"cell {index}: {output.get('ename')}: {output.get('evalue')}")
    assert not bad, f"{path.name} stored errors in cells not tagged {ALLOWED_ERROR_TAG!r}: {bad}"


# ------------------------------------------------------------- the Sphinx extensions


def load_extension(name: str = "notebook_checks") -> ModuleType:
    """A module of book/_ext, loaded from its file (Sphinx finds it through local_extensions)."""
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", EXTENSIONS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def code_cell(text: str, count: int | None, outputs: list[dict], cell_tags: list[str] = ()) -> dict:
    return {
        "cell_type": "code",
        "execution_count": count,
        "id": f"cell-{count}-{len(text)}",
        "metadata": {"tags": list(cell_tags)} if cell_tags else {},
        "outputs": outputs,
        "source": text,
    }


STREAM = {"output_type": "stream", "name": "stdout", "text": "hello\n"}
ERROR = {"output_type": "error", "ename": "ValueError", "evalue": "boom", "traceback": ["ValueError: boom"]}


def notebook(cells: list[dict]) -> dict:
    return {
        "cells": [{"cell_type": "markdown", "id": "title", "metadata": {}, "source": "# A chapter"}, *cells],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_stored_errors_flags_untagged_and_ignores_tagged():
    stored_errors = load_extension().stored_errors
    nb = notebook(
        [
            code_cell("print('hello')", 1, [STREAM]),
            code_cell("raise ValueError('boom')", 2, [ERROR]),
            code_cell("cvae.binarize(x, 'bad')", 3, [ERROR], [ALLOWED_ERROR_TAG]),
            code_cell("print('hello'); 1/0", 4, [STREAM, ERROR], ["hide-input"]),
        ]
    )
    assert stored_errors(nb) == [2, 4]  # indices count the markdown cell at 0
    assert stored_errors(notebook([code_cell("print('hello')", 1, [STREAM])])) == []
    assert stored_errors({"cells": []}) == []


def sphinx_config(repository_url: str) -> SimpleNamespace:
    """The part of the Sphinx config that jupyter-book fills from _config.yml's repository and launch_buttons."""
    return SimpleNamespace(
        html_theme_options={"repository_url": repository_url, "launch_buttons": {"colab_url": "https://colab"}},
        myst_substitutions={"other": "kept"},
    )


def test_repository_buttons_and_clone_instruction_follow_the_one_setting():
    follow = load_extension("book_site").follow_repository_url
    unpublished = sphinx_config("")
    follow(None, unpublished)
    assert unpublished.html_theme_options["use_repository_button"] is False
    assert unpublished.html_theme_options["launch_buttons"] == {}
    assert "git clone" not in unpublished.myst_substitutions["source_folder"]
    assert unpublished.myst_substitutions["other"] == "kept"

    published = sphinx_config("https://github.com/someone/cvae-book/")
    follow(None, published)
    assert published.html_theme_options["use_repository_button"] is True
    assert published.html_theme_options["launch_buttons"] == {"colab_url": "https://colab"}
    assert "`git clone https://github.com/someone/cvae-book`" in published.myst_substitutions["source_folder"]


def test_the_repository_address_is_one_setting():
    """``repository.url`` stays empty until the book has a public repository (the old placeholder
    cvae-book/cvae-book does not exist); _config.yml switches no button on by hand: they follow it."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert "cvae-book/cvae-book" not in (config["repository"]["url"] or "")
    assert "use_repository_button" not in config.get("html", {}), "book_site sets it from repository.url"


BIB = r"""
@misc{one, author = {Subramanian, A. K.}, title = {B}, year = {2020}}
@misc{two, author = {Kingma, Diederik P. and Welling, Max}, title = {A}, year = {2014}}
@misc{many, author = {Kingma, D. and Rezende, D. and Welling, M.}, title = {C}, year = {2014}}
@misc{group, author = {{Pyro contributors}}, title = {D}, year = {2020}}
@misc{von, author = {van der Maaten, Laurens and Hinton, Geoffrey}, title = {E}, year = {2008}}
@misc{twin1, author = {Doe, Jane}, title = {Second}, year = {2001}}
@misc{twin2, author = {Doe, Jane}, title = {First}, year = {2001}}
"""


def test_bibliography_labels_read_like_author_year_citations():
    book_site = load_extension("book_site")
    book_site.register_author_year_style()
    style = book_site.AuthorYearStyle()
    formatted = style.format_entries(style.sort(parse_string(BIB, "bibtex").entries.values()))
    assert [(entry.key, entry.label) for entry in formatted] == [
        ("twin2", "Doe, 2001a"),
        ("twin1", "Doe, 2001b"),
        ("two", "Kingma and Welling, 2014"),
        ("many", "Kingma et al., 2014"),
        ("group", "Pyro contributors, 2020"),
        ("one", "Subramanian, 2020"),
        ("von", "van der Maaten and Hinton, 2008"),
    ]


# ------------------------------------------------------------------ the import path is left alone


def test_nothing_edits_the_import_path():
    """Tools run as ``python -m tools.<name>``, tests import them as a package, Sphinx loads
    book/_ext through local_extensions: no module or notebook changes the import path."""
    needle = "sys." + "path"
    files = [*ROOT.glob("tools/**/*.py"), *EXTENSIONS.glob("*.py"), *ROOT.glob("tests/*.py"),
             *ROOT.glob("cvae/**/*.py"), *BOOK.glob("*.ipynb"), ROOT / "Makefile"]
    found = [str(path.relative_to(ROOT)) for path in files if needle in path.read_text(encoding="utf-8")]
    assert not found, f"{needle} in {found}"


# ---------------------------------------------------------------- strict site build


def write_book(folder: Path, cells: list[dict]) -> Path:
    folder.mkdir()
    (folder / "chapter.ipynb").write_text(json.dumps(notebook(cells), indent=1), encoding="utf-8")
    (folder / "_config.yml").write_text(
        "title: Throwaway\n"
        "execute:\n"
        '  execute_notebooks: "off"\n'
        "sphinx:\n"
        "  local_extensions:\n"
        f"    notebook_checks: {json.dumps(str(EXTENSIONS))}\n",
        encoding="utf-8",
    )
    (folder / "_toc.yml").write_text("format: jb-book\nroot: chapter\n", encoding="utf-8")
    return folder


@pytest.mark.slow
def test_strict_build_fails_on_a_stored_error(tmp_path):
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    assert jupyter_book.exists(), f"{jupyter_book} not found; run `make setup`"
    books = {
        "error": write_book(
            tmp_path / "error", [code_cell("print('hello')", 1, [STREAM]), code_cell("1/0", 2, [ERROR])]
        ),
        "clean": write_book(
            tmp_path / "clean", [code_cell("print('hello')", 1, [STREAM]), code_cell("2 + 2", 2, [])]
        ),
        "tagged": write_book(
            tmp_path / "tagged",
            [code_cell("print('hello')", 1, [STREAM]), code_cell("1/0", 2, [ERROR], [ALLOWED_ERROR_TAG])],
        ),
    }
    # the three builds are independent: run them side by side
    processes = {
        name: subprocess.Popen(
            [str(jupyter_book), "build", str(folder), "-W", "--path-output", str(tmp_path / f"out-{name}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )
        for name, folder in books.items()
    }
    results = {}
    for name, process in processes.items():
        output, _ = process.communicate(timeout=300)
        results[name] = (process.returncode, output)

    code, output = results["error"]
    assert code != 0, f"a strict build published a notebook with a stored error:\n{output[-3000:]}"
    assert "stored an error output" in output, f"the build failed, but not because of the error:\n{output[-3000:]}"
    for name in ("clean", "tagged"):
        code, output = results[name]
        assert code == 0, f"the {name} book failed to build:\n{output[-3000:]}"
        assert (tmp_path / f"out-{name}" / "_build" / "html" / "chapter.html").exists()
