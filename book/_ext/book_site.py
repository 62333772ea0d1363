"""Sphinx extension: the book's site features that need code.

Registered in ``_config.yml`` (``sphinx: local_extensions: book_site: book/_ext``).

``:chapter:`` role
    Links a docstring to the chapter that explains it::

        Explained in the chapter :chapter:`From likelihood to the ELBO <book/elbo>`.

    The target is a document path from the repository root (``book/elbo``; a leading
    ``/`` or an ``.ipynb``/``.md`` suffix is accepted). Without an explicit title the
    chapter's own title is used. A chapter that is not in ``_toc.yml`` yet is shown as
    plain italic text, not as a broken link, so the package can name chapters that are
    still being written. On the API page every module-level function and class inherits
    the *first* ``:chapter:`` of its module's docstring as an "Explained in:" line.

``cvae.<name>`` cross-references
    ``{py:func}`cvae.gaussian_kl``` (a name re-exported by ``cvae/__init__.py``)
    resolves to the documented ``cvae.distributions.gaussian_kl``.

API completeness
    Every module of the ``cvae`` package must appear on the API page
    (``automodule``); a module that does not is a build warning. Class bases are shown
    without ``object`` and without private (``_Name``) classes; a class left with no base
    gets no "Bases:" line at all.

The repository address, one setting
    ``repository: url:`` in ``_config.yml``, empty while the book has no public
    repository. The repository button and the Colab/Binder launch buttons are shown
    exactly when it is set, and the substitution ``{{ source_folder }}`` (the intro's
    "How to run it") says ``git clone <url>`` only then.

Author-year bibliography
    The bibliography lists its works under author-year labels ("Kingma and Welling,
    2014", "Blei et al., 2017"), in the labels' order, the way the text cites them
    (``bibtex_reference_style: author_year``): pybtex style ``cvae_author_year``.

Offline pages
    sphinx-thebe's CDN script is left off the pages while thebe is not enabled
    (MathJax is served from ``book/_static/mathjax``, see ``_config.yml``).

``glued-figure`` directive
    A numbered figure (``{numref}``-able) whose image a chapter computed and glued,
    for a page that is not that chapter (myst-nb's ``glue:figure`` pastes from the
    page's own notebook only)::

        ```{glued-figure} cvae_labels.ipynb::labels_generated_grid
        :name: fig-intro-generated
        :alt: What the image shows.

        The caption.
        ```

    The image is filled in from the chapter's glue data when the pages are written.

The PDF of the whole book
    When ``make pdf`` has built ``_build/latex/cvae-book.pdf``, the site build copies it
    next to ``index.html`` and every page's sidebar links it ("PDF of the whole book",
    template ``book/_ext/templates/book-pdf.html``); without it no page links a PDF. In the
    PDF, an image pasted by ``glued-figure`` is named by its file name alone, and the back
    matter (the unnumbered part of ``_toc.yml``) is appendices A, B, ...

``reproducibility-report`` directive
    Renders, at build time, the versions of the packages the book runs on, the machine,
    the build date, and for each notebook of ``_toc.yml`` its last execution time and
    wall time (from the nbclient cell timing that the executor records) and its time
    budget (``metadata["cvae_book"]["time_budget_s"]`` of the notebook, when declared)::

        ```{reproducibility-report} notebooks
        ```

    The argument is one of ``software``, ``platform``, ``notebooks`` (default: all
    three, each under a rubric). A page using it is rebuilt on every build.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.metadata
import json
import os
import pkgutil
import platform
import posixpath
import re
import sys
from pathlib import Path
from typing import Any

from collections import Counter
from collections.abc import Iterable, Iterator

from docutils import nodes
from docutils.parsers.rst import directives
from myst_nb.ext.glue.utils import PendingGlueReferenceError, create_pending_glue_ref
from pybtex.database import Entry
from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting import BaseSortingStyle
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.environment import BuildEnvironment
from sphinx.ext import autodoc
from sphinx.locale import _
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole
from sphinx.util.nodes import split_explicit_title

logger = logging.getLogger(__name__)

PACKAGE = "cvae"
CHAPTER_ROLE = re.compile(r":chapter:`([^`]+)`")

# (label shown, distribution name); "Python" is the interpreter itself.
DEFAULT_PACKAGES = [
    ("Python", None),
    ("torch", "torch"),
    ("torchvision", "torchvision"),
    ("numpy", "numpy"),
    ("matplotlib", "matplotlib"),
    ("jupyter-book", "jupyter-book"),
    ("Sphinx", "sphinx"),
    ("myst-nb", "myst-nb"),
    ("nbclient", "nbclient"),
    ("cvae (this book's package)", "cvae"),
]


# --------------------------------------------------------------------------- :chapter:


def chapter_docname(target: str) -> str:
    """``/book/elbo.ipynb`` -> ``book/elbo``."""
    target = target.strip().lstrip("/")
    for suffix in (".ipynb", ".md"):
        if target.endswith(suffix):
            target = target[: -len(suffix)]
    return target


class ChapterRole(SphinxRole):
    """``:chapter:`Title <book/name>``` -> a link to that chapter, or italic text if it is not built."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        explicit, title, target = split_explicit_title(self.text)
        docname = chapter_docname(target)
        if docname in self.env.found_docs:
            ref = addnodes.pending_xref(
                self.rawtext,
                refdomain="std",
                reftype="doc",
                reftarget="/" + docname,
                refexplicit=explicit,
                refwarn=True,
                refdoc=self.env.docname,
            )
            ref += nodes.inline(title, title)
            return [ref], []
        logger.info("chapter %s is not in the book (yet): shown unlinked", docname, location=self.get_location())
        text = title if explicit else docname
        return [nodes.emphasis(text, text, classes=["cvae-chapter-missing"])], []


def add_chapter_line(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """Give each module-level function/class on the API page its module's chapter link."""
    if what not in ("function", "class", "exception") or not name.startswith(PACKAGE + "."):
        return
    module = sys.modules.get(name.rpartition(".")[0])
    if module is None or any(":chapter:" in line for line in lines):
        return  # a method, or the object names its own chapter
    found = CHAPTER_ROLE.search(module.__doc__ or "")
    if found:
        lines.extend(["", f"**Explained in:** :chapter:`{found.group(1)}`"])


def public_bases(app: Sphinx, name: str, obj: Any, options: Any, bases: list) -> None:
    """Show a class's public bases: a private base (``_Shared``, not on the API page) is
    replaced by its own bases, and "Bases: object" (which says nothing) is left out."""

    def public(base: Any) -> list:
        if base is object:
            return []
        if getattr(base, "__name__", "").startswith("_"):
            return [b for parent in base.__bases__ for b in public(parent)]
        return [base]

    bases[:] = list(dict.fromkeys(b for base in bases for b in public(base)))


class ClassDocumenter(autodoc.ClassDocumenter):
    """Autodoc's class documenter, less the "Bases:" line when :func:`public_bases` left no base."""

    EMPTY_BASES = (_("Bases: %s") % "").strip()

    def add_line(self, line: str, source: str, *lineno: int) -> None:
        if line.strip() != self.EMPTY_BASES:
            super().add_line(line, source, *lineno)


# ------------------------------------------------------------- cvae.<name> aliases


def resolve_reexport(app: Sphinx, env: BuildEnvironment, node: addnodes.pending_xref, contnode: nodes.Element):
    """``cvae.gaussian_kl`` -> ``cvae.distributions.gaussian_kl`` (where it is documented)."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target.startswith(PACKAGE + "."):
        return None
    obj: Any = importlib.import_module(PACKAGE)
    for part in target.split(".")[1:]:
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname or f"{module}.{qualname}" == target:
        return None
    return env.get_domain("py").resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], f"{module}.{qualname}", node, contnode
    )


def check_api_complete(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn about a ``cvae`` module that the API page does not document."""
    if not any(name.startswith(PACKAGE) for name in env.get_domain("py").modules):
        return  # no API page in this build
    package = importlib.import_module(PACKAGE)
    documented = set(env.get_domain("py").modules)
    for info in pkgutil.walk_packages(package.__path__, PACKAGE + "."):
        if info.name not in documented and not info.name.rpartition(".")[2].startswith("_"):
            logger.warning(
                "module %s is not on the API page: add an automodule block for it to book/api.md",
                info.name,
            )


# ------------------------------------------------------------ reproducibility report


def toc_notebooks(env: BuildEnvironment) -> list[str]:
    """Docnames of the notebooks listed in ``_toc.yml``, in reading order: the table of
    contents jupyter-book parsed for this build (sphinx-external-toc's site map, whose
    order is the reading order), not a second reading of the file."""
    root = Path(env.srcdir)
    return [name for name in env.external_site_map if (root / (name + ".ipynb")).exists()]


def parse_time(stamp: str) -> dt.datetime | None:
    """nbclient's ISO timestamps (``2026-11-23T19:49:52.447710Z``) as aware datetimes."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?", stamp.strip())
    if not match:
        return None
    base, fraction, zone = match.groups()
    moment = dt.datetime.fromisoformat(base + (fraction or "")[:7])
    if zone in (None, "Z"):
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment.replace(tzinfo=dt.datetime.strptime(zone.replace(":", ""), "%z").tzinfo)


def notebook_timing(notebook: dict) -> dict[str, Any]:
    """Start, end, wall time and timed/total code cells from the stored cell metadata."""
    starts, ends = [], []
    code_cells = timed = 0
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        code_cells += 1
        execution = cell.get("metadata", {}).get("execution", {})
        start = execution.get("iopub.execute_input") or execution.get("iopub.status.busy")
        end = execution.get("shell.execute_reply") or execution.get("iopub.status.idle")
        start, end = (parse_time(start) if start else None), (parse_time(end) if end else None)
        if start and end:
            timed += 1
            starts.append(start)
            ends.append(end)
    budget = notebook.get("metadata", {}).get("cvae_book", {}).get("time_budget_s")
    return {
        "start": min(starts) if starts else None,
        "end": max(ends) if ends else None,
        "wall_s": (max(ends) - min(starts)).total_seconds() if starts else None,
        "code_cells": code_cells,
        "timed": timed,
        "budget_s": budget,
        "kernel_python": notebook.get("metadata", {}).get("language_info", {}).get("version"),
    }


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def build_time() -> dt.datetime:
    """Now, or ``SOURCE_DATE_EPOCH`` for a reproducible build."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.timezone.utc)
    return dt.datetime.now(dt.timezone.utc)


def version_of(distribution: str | None) -> str:
    if distribution is None:
        return f"{platform.python_version()} ({platform.python_implementation()})"
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def table(headers: list[str] | None, rows: list[list[nodes.Node | str]], classes: list[str]) -> nodes.table:
    """A docutils table (no header row if ``headers`` is None); a cell is a string or a node."""
    columns = len(headers) if headers else len(rows[0])
    group = nodes.tgroup(cols=columns)
    group += [nodes.colspec(colwidth=1) for _ in range(columns)]
    head, body = nodes.thead(), nodes.tbody()
    for target, cells in ((head, [headers] if headers else []), (body, rows)):
        for cells_of_row in cells:
            row = nodes.row()
            for cell in cells_of_row:
                entry = nodes.entry()
                paragraph = nodes.paragraph()
                paragraph += nodes.Text(cell) if isinstance(cell, str) else cell
                entry += paragraph
                row += entry
            target += row
    if headers:
        group += head
    group += body
    result = nodes.table(classes=["colwidths-auto", *classes])
    result += group
    return result


class GluedFigure(SphinxDirective):
    """A figure whose image is the output ``doc::key`` glued by another chapter (see the module docstring)."""

    required_arguments = 1
    has_content = True
    option_spec = {"name": directives.unchanged, "alt": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        doc, separator, key = self.arguments[0].partition("::")
        if not separator:
            raise self.error(f"glued-figure: expected 'document::key', got {self.arguments[0]!r}")
        try:
            image = create_pending_glue_ref(self.state.document, self.env.docname, self.lineno, doc, key)
        except PendingGlueReferenceError as exc:
            raise self.error(f"glued-figure: {exc}") from None
        figure = nodes.figure("", image, glued_alt=self.options.get("alt", ""))
        self.set_source_info(figure)
        self.add_name(figure)
        if self.content:
            parsed = nodes.Element()
            self.state.nested_parse(self.content, self.content_offset, parsed)
            paragraph = parsed[0]
            figure += nodes.caption(paragraph.rawsource, "", *paragraph.children)
        return [figure]


class GluedFigureAlt(SphinxPostTransform):
    """Gives the image pasted into a ``glued-figure`` the figure's alt text (after myst-nb pastes it)."""

    default_priority = 6  # myst-nb's ReplacePendingGlueReferences runs at 5

    def run(self, **kwargs: Any) -> None:
        # myst-nb makes the pasted image's path relative to the page's folder (book/), which
        # is right for the site but not for the PDF, whose one .tex file sits next to every
        # image: there the path is the file name alone.
        one_file = self.app.builder.format == "latex"
        for figure in self.document.findall(nodes.figure):
            if figure.get("glued_alt"):
                for image in figure.findall(nodes.image):
                    image["alt"] = figure["glued_alt"]
                    if one_file:
                        image["uri"] = posixpath.basename(image["uri"])
                        image["candidates"] = {"*": image["uri"]}


class BackMatterAppendices(SphinxPostTransform):
    """In the PDF, the chapters of the first unnumbered part of ``_toc.yml`` after the numbered
    ones (the back matter) are appendices, lettered A, B, ...: ``\\appendix`` before that part.
    On the site they are unnumbered; the text calls them appendices ("the Performance appendix")."""

    default_priority = 710  # after sphinx-jupyterbook-latex made the toc's captions \part (700)
    formats = ("latex",)

    def run(self, **kwargs: Any) -> None:
        site_map = getattr(self.env, "external_site_map", None)
        if site_map is None:
            return
        parts = site_map[site_map.root.docname].subtrees
        back = next((part.caption for i, part in enumerate(parts)
                     if not part.numbered and any(p.numbered for p in parts[:i])), None)
        for node in self.document.findall(addnodes.start_of_file):
            if back and node.get("docname") == back:  # the part's heading (docname: its caption)
                node.parent.insert(node.parent.index(node), nodes.raw("", "\\appendix\n", format="latex"))
                return


class ReproducibilityReport(SphinxDirective):
    """Tables of software, platform and notebook execution times, computed at build time."""

    optional_arguments = 1
    has_content = False
    PARTS = ("software", "platform", "notebooks")

    def run(self) -> list[nodes.Node]:
        parts = [self.arguments[0]] if self.arguments else list(self.PARTS)
        for part in parts:
            if part not in self.PARTS:
                raise self.error(f"reproducibility-report: unknown part {part!r}; use one of {self.PARTS}")
        self.env.cvae_report_docs = getattr(self.env, "cvae_report_docs", set()) | {self.env.docname}
        result: list[nodes.Node] = []
        for part in parts:
            if len(parts) > 1:
                result.append(nodes.rubric(text=part.capitalize()))
            result.append(getattr(self, part)())
        return result

    def software(self) -> nodes.Node:
        rows = [[label, version_of(dist)] for label, dist in self.config.reproducibility_packages]
        return table(["package", "version"], rows, ["cvae-report-software"])

    def platform(self) -> nodes.Node:
        rows = [
            ["built on", build_time().strftime("%Y-%m-%d %H:%M UTC")],
            ["operating system", platform.platform()],
            ["machine", f"{platform.machine()}, {os.cpu_count()} logical CPUs"],
            ["Python executable", f"{platform.python_implementation()} {platform.python_version()}"],
        ]
        return table(None, rows, ["cvae-report-platform"])

    def notebooks(self) -> nodes.Node:
        root = Path(self.env.srcdir)
        rows = []
        for docname in toc_notebooks(self.env):
            path = root / (docname + ".ipynb")
            self.env.note_dependency(str(path))
            timing = notebook_timing(json.loads(path.read_text(encoding="utf-8")))
            link = addnodes.pending_xref(
                "", refdomain="std", reftype="doc", reftarget="/" + docname, refexplicit=False,
                refwarn=True, refdoc=self.env.docname,
            )
            link += nodes.inline(docname, docname)
            if timing["wall_s"] is None:
                executed, wall = "no timing stored", "—"
            else:
                executed = timing["end"].astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
                wall = format_seconds(timing["wall_s"])
            budget = timing["budget_s"]
            if budget is None:
                budget_text = "—"
            else:
                budget_text = format_seconds(float(budget))
                if timing["wall_s"] is not None:
                    budget_text += " (within)" if timing["wall_s"] <= float(budget) else " (OVER)"
            rows.append([
                link,
                executed,
                wall,
                f"{timing['timed']}/{timing['code_cells']}",
                budget_text,
                timing["kernel_python"] or "—",
            ])
        return table(
            ["chapter", "last executed", "wall time", "cells timed", "time budget", "kernel Python"],
            rows,
            ["cvae-report-notebooks"],
        )


class BenchmarkReport(SphinxDirective):
    """The table of the latest ``python -m cvae.bench --json`` run, read from the JSON it wrote.

    The build fails (a warning under -W) when the stored rows are not the rows
    :func:`cvae.bench.plan` measures today: the page never shows a stale benchmark.
    """

    required_arguments = 1  # the JSON file, relative to the page
    has_content = False

    def run(self) -> list[nodes.Node]:
        from cvae.bench import compile_payoff, plan

        path = (Path(self.env.srcdir) / Path(self.env.docname).parent / self.arguments[0]).resolve()
        self.env.note_dependency(str(path))
        if not path.is_file():
            raise self.error(f"benchmark-report: {path} does not exist; run `make bench`")
        results = json.loads(path.read_text(encoding="utf-8"))
        stored = [row["name"] for row in results["rows"]]
        planned = [benchmark.name for benchmark in plan()]
        if stored != planned:
            logger.warning(
                f"benchmark-report: {path.name} holds rows {stored} but cvae.bench measures {planned}; run `make bench`",
                location=(self.env.docname, self.lineno),
            )
        machine = table(None, [
            ["device", f"{results['device_name']} ({results['device']})"],
            ["threads", f"{results['threads']} of {results['cpu_count']} logical CPUs"],
            ["software", f"torch {results['torch']}, Python {results['python']}"],
            ["platform", results["platform"]],
            ["measured", f"{results['date']}, at least {results['seconds_per_row']:g} s per row"
                         + (" (--quick)" if results["quick"] else "")],
        ], ["cvae-report-benchmark-machine"])
        rows = []
        for row in results["rows"]:
            if row["rate"] is None:
                rows.append([row["name"], "skipped", row["skipped"], "—", "—", "—"])
                continue
            rate = f"{row['rate']:,.0f}" if row["rate"] >= 100 else f"{row['rate']:.1f}"
            gflops = "—" if row["flops_per_second"] is None else f"{row['flops_per_second'] / 1e9:,.1f}"
            share = "—" if row["fraction_of_matmul"] is None else f"{row['fraction_of_matmul']:.0%}"
            first = "—" if row.get("first_call_seconds") is None else f"{row['first_call_seconds']:.2f}"
            rows.append([row["name"], rate, row["unit"], gflops, share, first])
        measurements = table(["benchmark", "rate", "unit", "GFLOP/s", "of fp32 matmul", "first call, s"], rows,
                             ["cvae-report-benchmark"])
        payoff = compile_payoff(results)
        return [machine, measurements] + ([nodes.paragraph(text=f"{payoff}.")] if payoff else [])


def always_rebuild(app: Sphinx, env: BuildEnvironment, added, changed, removed) -> list[str]:
    return sorted(getattr(env, "cvae_report_docs", set()) & env.found_docs)


def purge_doc(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    getattr(env, "cvae_report_docs", set()).discard(docname)


def merge_info(app: Sphinx, env: BuildEnvironment, docnames, other: BuildEnvironment) -> None:
    env.cvae_report_docs = getattr(env, "cvae_report_docs", set()) | getattr(other, "cvae_report_docs", set())


# ------------------------------------------------------------------- the repository address


def repository_url(config: Config) -> str:
    """The book's public repository (``repository: url:`` in ``_config.yml``); "" while it has none."""
    return str(config.html_theme_options.get("repository_url") or "").strip().rstrip("/")


def source_folder(url: str) -> str:
    """How the intro's "How to run it" begins: a clone command only when there is an address to clone."""
    if url:
        return f"Clone the book's repository (`git clone {url}`) and, in that folder"
    return "In a copy of the book's source (the folder that holds its `Makefile`)"


def follow_repository_url(app: Sphinx, config: Config) -> None:
    """The repository and launch (Colab, Binder) buttons exist exactly when the address is set."""
    url = repository_url(config)
    config.html_theme_options["use_repository_button"] = bool(url)
    if not url:
        config.html_theme_options["launch_buttons"] = {}
    config.myst_substitutions = {**config.myst_substitutions, "source_folder": source_folder(url)}


# ----------------------------------------------------------------- author-year bibliography


def plain(latex: str) -> str:
    """BibTeX text as a reader sees it: ``{Pyro contributors}`` -> ``Pyro contributors``."""
    return Text.from_latex(latex).render_as("text")


def author_year(entry: Entry) -> str:
    """The entry as the author-year citations in the text name it (sphinxcontrib-bibtex's
    ``author_year``): "Subramanian, 2020", "Kingma and Welling, 2014", "Blei et al., 2017"."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [plain(" ".join(person.prelast_names + person.last_names)) for person in people]
    who = f"{names[0]} et al." if len(names) > 2 else " and ".join(names) or plain(entry.fields.get("title", "?"))
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    """Labels that read like the citations; works that would share one get "2014a", "2014b"."""

    def format_labels(self, sorted_entries: Iterable[Entry]) -> Iterator[str]:
        labels = [author_year(entry) for entry in sorted_entries]
        repeated, seen = Counter(labels), Counter()
        for label in labels:
            seen[label] += 1
            yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1] if repeated[label] > 1 else label


class AuthorYearOrder(BaseSortingStyle):
    """Alphabetical by label, then title: the list reads in the order of its labels."""

    def sorting_key(self, entry: Entry) -> tuple[str, str]:
        return author_year(entry).casefold(), plain(entry.fields.get("title", "")).casefold()


class AuthorYearStyle(UnsrtStyle):
    """pybtex's ``unsrt`` entries under author-year labels, in the labels' order."""

    default_label_style = "cvae_author_year"
    default_sorting_style = "cvae_author_year"


def register_author_year_style() -> None:
    """Make ``cvae_author_year`` (``bibtex_default_style`` in _config.yml) known to pybtex."""
    register_plugin("pybtex.style.labels", "cvae_author_year", AuthorYearLabels, force=True)
    register_plugin("pybtex.style.sorting", "cvae_author_year", AuthorYearOrder, force=True)
    register_plugin("pybtex.style.formatting", "cvae_author_year", AuthorYearStyle, force=True)


# ------------------------------------------------------------------------ offline pages


def thebe_enabled(app: Sphinx) -> bool:
    options = app.config.html_theme_options or {}
    return bool((options.get("launch_buttons") or {}).get("thebe"))


def is_thebe_script(script: Any) -> bool:
    filename = str(getattr(script, "filename", "") or "")
    body = str((getattr(script, "attributes", None) or {}).get("body", ""))
    return filename.endswith("sphinx-thebe.js") or "thebe@" in filename or "THEBE_JS_URL" in body


def drop_unused_thebe(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Jupyter Book always loads sphinx-thebe, which names a CDN URL (unpkg.com) on every
    page. With ``launch_buttons: thebe: false`` nothing uses it: leave it off the pages."""
    if thebe_enabled(app) or not context.get("script_files"):
        return
    context["script_files"] = [script for script in context["script_files"] if not is_thebe_script(script)]


# ------------------------------------------------------------------ the PDF of the whole book

BOOK_PDF = "cvae-book.pdf"  # make pdf's output, _build/latex/cvae-book.pdf (latex_documents)


def built_pdf(app: Sphinx) -> Path | None:
    """The whole-book PDF that ``make pdf`` built beside this site (``_build/latex/``), if any."""
    path = Path(app.outdir).parent / "latex" / BOOK_PDF
    return path if app.builder.format == "html" and path.is_file() else None


def link_pdf(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """``book_pdf`` (its file name) and ``book_pdf_size`` for the sidebar's link
    (book/_ext/templates/book-pdf.html): set only when the PDF is there to link."""
    path = built_pdf(app)
    if path is not None:
        context["book_pdf"] = BOOK_PDF
        context["book_pdf_size"] = f"{path.stat().st_size / 1e6:.1f} MB"


def copy_pdf(app: Sphinx, exception: Exception | None) -> None:
    """Put the PDF the pages link into the site, next to index.html."""
    path = built_pdf(app) if exception is None else None
    if path is not None:
        (Path(app.outdir) / BOOK_PDF).write_bytes(path.read_bytes())
        logger.info("the site links %s", path)
    elif exception is None and app.builder.format == "html":
        logger.info("no %s beside the site (make pdf builds it): the pages do not link one", BOOK_PDF)


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx.ext.autodoc")
    app.add_config_value("reproducibility_packages", DEFAULT_PACKAGES, "env")
    app.add_autodocumenter(ClassDocumenter, override=True)
    register_author_year_style()
    app.connect("config-inited", follow_repository_url, priority=100)  # before the theme reads them
    app.add_role("chapter", ChapterRole())
    app.add_directive("glued-figure", GluedFigure)
    app.add_post_transform(GluedFigureAlt)
    app.add_post_transform(BackMatterAppendices)
    app.add_directive("reproducibility-report", ReproducibilityReport)
    app.add_directive("benchmark-report", BenchmarkReport)
    # after napoleon (priority 500) has turned Google/NumPy sections into reST
    app.connect("autodoc-process-docstring", add_chapter_line, priority=600)
    app.connect("autodoc-process-bases", public_bases)
    app.connect("missing-reference", resolve_reexport)
    app.connect("env-check-consistency", check_api_complete)
    app.connect("env-get-outdated", always_rebuild)
    app.connect("env-purge-doc", purge_doc)
    app.connect("env-merge-info", merge_info)
    app.connect("html-page-context", drop_unused_thebe)
    app.connect("html-page-context", link_pdf)
    app.connect("build-finished", copy_pdf)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
