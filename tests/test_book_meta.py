"""The book's sources: the table of contents, the stored outputs, the Sphinx extensions
of ``book/_ext``, the strict build.

The site shows the outputs stored in the notebooks (execution is off in _config.yml), so
what is stored must be one clean, in-order run in a fresh python3 kernel (``make
execute``), and a strict site build must refuse a notebook that stored an error.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from pybtex.database import parse_string

from tools.toc import toc_docnames

ROOT = Path(__file__).resolve().parents[1]
EXTENSIONS = ROOT / "book" / "_ext"  # local_extensions in _config.yml
NOTEBOOKS = sorted(p for p in (ROOT / "book").glob("*.ipynb"))
TAGGED = "raises-exception"  # cells that may store an error


def test_the_toc_lists_every_chapter_once_and_nothing_else():
    entries = toc_docnames(ROOT)
    assert len(entries) == len(set(entries)), entries
    notebooks = {e for e in entries if (ROOT / (e + ".ipynb")).exists()}
    markdown = {e for e in entries if (ROOT / (e + ".md")).exists()}
    missing = set(entries) - notebooks - markdown
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"
    on_disk = {str(p.relative_to(ROOT).with_suffix("")) for p in NOTEBOOKS}
    assert notebooks == on_disk, f"book/ and _toc.yml differ: {notebooks ^ on_disk}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_are_one_clean_run_in_a_fresh_kernel(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    kernel = notebook["metadata"].get("kernelspec", {}).get("name")
    assert kernel == "python3", f"kernelspec {kernel!r}; run `make execute`"
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert any(c.get("outputs") for c in cells), "no stored outputs; run `make execute`"
    run = [c for c in cells if "".join(c["source"]).strip()]
    run = [c for c in run if "skip-execution" not in c["metadata"].get("tags", [])]
    counts = [c.get("execution_count") for c in run]
    assert counts == list(range(1, len(run) + 1)), f"not one fresh run: {counts}"
    for cell in cells:
        tagged = TAGGED in cell["metadata"].get("tags", [])
        for output in cell.get("outputs", []):
            count = output.get("execution_count", cell["execution_count"])
            assert count == cell["execution_count"], (
                f"cell {count}: another run's result"
            )
            error = output["output_type"] == "error"
            assert tagged or not error, f"cell {count} stored {output.get('evalue')}"


@pytest.fixture
def extension(monkeypatch):
    """A module of book/_ext, imported the way Sphinx imports it (local_extensions)."""
    monkeypatch.syspath_prepend(str(EXTENSIONS))
    return importlib.import_module


def test_repository_buttons_and_clone_instruction_follow_the_one_setting(extension):
    follow = extension("book_site.repository").follow_repository_url
    for url, shown in (("", False), ("https://github.com/someone/cvae-book/", True)):
        options = {"repository_url": url, "launch_buttons": {"colab_url": "https://c"}}
        config = SimpleNamespace(
            html_theme_options=options, myst_substitutions={"a": 1}
        )
        follow(None, config)
        assert options["use_repository_button"] is shown
        assert bool(options["launch_buttons"]) is shown
        clone = "`git clone https://github.com/someone/cvae-book`"
        assert (clone in config.myst_substitutions["source_folder"]) is shown
        assert config.myst_substitutions["a"] == 1


BIB = r"""
@misc{one, author = {Subramanian, A. K.}, title = {B}, year = {2020}}
@misc{two, author = {Kingma, Diederik P. and Welling, Max}, title = {A}, year = {2014}}
@misc{many, author = {Kingma, D. and Rezende, D. and Welling, M.}, title={C}, year=2014}
@misc{group, author = {{Pyro contributors}}, title = {D}, year = {2020}}
@misc{von, author = {van der Maaten, L. and Hinton, G.}, title = {E}, year = 2008}
@misc{twin1, author = {Doe, Jane}, title = {Second}, year = {2001}}
@misc{twin2, author = {Doe, Jane}, title = {First}, year = {2001}}
"""


def test_bibliography_labels_read_like_author_year_citations(extension):
    bibliography = extension("book_site.bibliography")
    bibliography.register_author_year_style()
    style = bibliography.AuthorYearStyle()
    entries = style.sort(parse_string(BIB, "bibtex").entries.values())
    assert [(entry.key, entry.label) for entry in style.format_entries(entries)] == [
        ("twin2", "Doe, 2001a"),
        ("twin1", "Doe, 2001b"),
        ("two", "Kingma and Welling, 2014"),
        ("many", "Kingma et al., 2014"),
        ("group", "Pyro contributors, 2020"),
        ("one", "Subramanian, 2020"),
        ("von", "van der Maaten and Hinton, 2008"),
    ]


@pytest.mark.slow
def test_strict_build_fails_on_a_stored_error(tmp_path):
    """A throwaway book with the notebook_checks extension, built with -W three ways."""
    from nbformat import v4, write

    error = v4.new_output("error", ename="E", evalue="boom", traceback=[])
    last = {"error": ([error], []), "clean": ([], []), "tagged": ([error], [TAGGED])}
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    config = 'title: T\nexecute:\n  execute_notebooks: "off"\nsphinx:\n'
    config += (
        f"  local_extensions:\n    notebook_checks: {json.dumps(str(EXTENSIONS))}\n"
    )
    builds = {}
    for name, (outputs, tags) in last.items():
        (book := tmp_path / name).mkdir()
        last_cell = v4.new_code_cell("1/0", outputs=outputs, metadata={"tags": tags})
        cells = [v4.new_markdown_cell("# A"), v4.new_code_cell("print(1)"), last_cell]
        write(
            v4.new_notebook(cells=cells, metadata={"kernelspec": kernel}),
            book / "c.ipynb",
        )
        (book / "_toc.yml").write_text("format: jb-book\nroot: c\n")
        (book / "_config.yml").write_text(config)
        jupyter_book = Path(sys.executable).with_name("jupyter-book")
        command = [jupyter_book, "build", book, "-W", "--path-output", f"out-{name}"]
        builds[name] = subprocess.Popen(  # the three builds run side by side
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path
        )
    for name, build in builds.items():
        output = build.communicate(timeout=300)[0].decode()[-3000:]
        if name == "error":
            assert build.returncode != 0, f"a stored error was published:\n{output}"
            assert "stored an error output" in output, output
        else:
            assert build.returncode == 0, f"the {name} book failed:\n{output}"
            assert (tmp_path / f"out-{name}/_build/html/c.html").exists()
