"""The ``reproducibility-report`` directive of the reproducibility page.

Used by ``book/reproducibility.md``. Renders, at build time, the versions of the
packages the book runs on, the machine, the build date, and for each notebook of
``_toc.yml`` its last execution time and wall time (from the nbclient cell timing that
the executor records, :mod:`.timing`) and its time budget
(``metadata["cvae_book"]["time_budget_s"]`` of the notebook, when declared)::

    ```{reproducibility-report} notebooks
    ```

``runs`` lists every stored run of ``python -m cvae.run`` whose files the chapters read
(``book/_data/<name>/run.json`` and ``results.csv``): its models, their summed training
and scoring time, the machine, when it finished and its commands.

The argument is one of ``software``, ``platform``, ``notebooks``, ``runs`` (default:
all four, each under a rubric). A page using it is rebuilt on every build.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import textwrap
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.docutils import SphinxDirective

from .chapters import doc_link
from .tables import table
from .timing import UTC, notebook_timing, timing_row

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
NOTEBOOK_HEADERS = [
    "chapter",
    "last executed",
    "wall time",
    "cells timed",
    "time budget",
    "kernel Python",
]


def toc_notebooks(env: BuildEnvironment) -> list[str]:
    """Docnames of the notebooks listed in ``_toc.yml``, in reading order: the table of
    contents jupyter-book parsed for this build (sphinx-external-toc's site map, whose
    order is the reading order), not a second reading of the file."""
    root = Path(env.srcdir)
    site_map = env.external_site_map
    return [name for name in site_map if (root / (name + ".ipynb")).exists()]


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


class ReproducibilityReport(SphinxDirective):
    """Tables of software, platform and notebook execution times, computed at build
    time."""

    optional_arguments = 1
    has_content = False
    PARTS = ("software", "platform", "notebooks", "runs")

    def run(self) -> list[nodes.Node]:
        parts = [self.arguments[0]] if self.arguments else list(self.PARTS)
        for part in parts:
            if part not in self.PARTS:
                raise self.error(
                    f"reproducibility-report: unknown part {part!r}; "
                    f"use one of {self.PARTS}"
                )
        reports = getattr(self.env, "cvae_report_docs", set())
        self.env.cvae_report_docs = reports | {self.env.docname}
        result: list[nodes.Node] = []
        for part in parts:
            if len(parts) > 1:
                result.append(nodes.rubric(text=part.capitalize()))
            result.append(getattr(self, part)())
        return result

    def software(self) -> nodes.Node:
        packages = self.config.reproducibility_packages
        rows = [[label, version_of(dist)] for label, dist in packages]
        return table(["package", "version"], rows, ["cvae-report-software"])

    def platform(self) -> nodes.Node:
        python = f"{platform.python_implementation()} {platform.python_version()}"
        rows = [
            ["built on", build_time().strftime(UTC)],
            ["operating system", platform.platform()],
            ["machine", f"{platform.machine()}, {os.cpu_count()} logical CPUs"],
            ["Python executable", python],
        ]
        return table(None, rows, ["cvae-report-platform"])

    def notebooks(self) -> nodes.Node:
        root = Path(self.env.srcdir)
        rows = []
        for docname in toc_notebooks(self.env):
            path = root / (docname + ".ipynb")
            self.env.note_dependency(str(path))
            timing = notebook_timing(json.loads(path.read_text(encoding="utf-8")))
            link = doc_link(docname, docname, self.env.docname)
            rows.append(timing_row(link, timing))
        return table(NOTEBOOK_HEADERS, rows, ["cvae-report-notebooks"])

    def runs(self) -> nodes.Node:
        folders = sorted(Path(self.env.srcdir, "book", "_data").glob("*/run.json"))
        result = nodes.container(classes=["cvae-report-runs"])
        for path in folders:
            self.env.note_dependency(str(path))
            result += stored_run(path.parent)
        if not folders:
            result += nodes.paragraph(text="No run is stored with the book.")
        return result


def stored_run(folder: Path) -> list[nodes.Node]:
    """One stored run: a paragraph with its folder, when it finished, the machine, its
    models and their summed training and scoring time (from ``results.csv``), and the
    commands of its ``run.json`` as a literal block."""
    from cvae.run.cli import read_run  # the run's reader, for either experiment

    stored = read_run(folder)
    record, rows = stored.record, stored.rows
    seconds = sum(float(r["train_seconds"]) + float(r["score_seconds"]) for r in rows)
    hours, minutes = divmod(round(seconds / 60), 60)
    paragraph = nodes.paragraph()
    paragraph += nodes.literal(text=f"book/_data/{folder.name}")
    paragraph += nodes.Text(
        f": {len(rows)} models, {hours} h {minutes:02d} min of training and scoring "
        f"on {record['device_name']} ({record['threads']} threads, torch "
        f"{record['torch']}), finished {record['finished'] or 'not yet'}; its "
        "commands, in the order they ran:"
    )
    wrapped = [  # shell-style, to fit the page's code column
        " \\\n    ".join(
            textwrap.wrap(command, 76, break_on_hyphens=False, break_long_words=False)
        )
        for command in record["commands"]
    ]
    return [paragraph, nodes.literal_block(text="\n".join(wrapped))]


def always_rebuild(app: Sphinx, env: BuildEnvironment, added, changed, removed):
    return sorted(getattr(env, "cvae_report_docs", set()) & env.found_docs)


def purge_doc(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    getattr(env, "cvae_report_docs", set()).discard(docname)


def merge_info(app: Sphinx, env: BuildEnvironment, docnames, other) -> None:
    env.cvae_report_docs = getattr(env, "cvae_report_docs", set()) | getattr(
        other, "cvae_report_docs", set()
    )


def setup(app: Sphinx) -> None:
    app.add_config_value("reproducibility_packages", DEFAULT_PACKAGES, "env")
    app.add_directive("reproducibility-report", ReproducibilityReport)
    app.connect("env-get-outdated", always_rebuild)
    app.connect("env-purge-doc", purge_doc)
    app.connect("env-merge-info", merge_info)
