"""The ``benchmark-report`` directive: the Performance appendix's table.

Used by ``book/performance.md``.

Renders the table of the latest ``python -m cvae.run.bench --json`` run, read from the
JSON it wrote (``make bench``). The build fails (a warning under -W) when the stored
rows are not the rows :func:`cvae.run.bench.plan` measures today: the page never shows
a stale benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from .tables import table

logger = logging.getLogger(__name__)

HEADERS = ["benchmark", "rate", "unit", "GFLOP/s", "of fp32 matmul", "first call, s"]


def number(value: float | None, form: str) -> str:
    return "—" if value is None else format(value, form)


def measurement(row: dict) -> list[str]:
    """One row of the table: a benchmark's rate, its share of a matmul, its first
    call."""
    if row["rate"] is None:
        return [row["name"], "skipped", row["skipped"], "—", "—", "—"]
    rate = f"{row['rate']:,.0f}" if row["rate"] >= 100 else f"{row['rate']:.1f}"
    flops = row["flops_per_second"]
    gflops = number(None if flops is None else flops / 1e9, ",.1f")
    share = number(row["fraction_of_matmul"], ".0%")
    first = number(row.get("first_call_seconds"), ".2f")
    return [row["name"], rate, row["unit"], gflops, share, first]


class BenchmarkReport(SphinxDirective):
    """The machine a benchmark ran on, its table, and what compiling paid."""

    required_arguments = 1  # the JSON file, relative to the page
    has_content = False

    def run(self) -> list[nodes.Node]:
        from cvae.run.bench import compile_payoff, plan

        page = Path(self.env.srcdir) / Path(self.env.docname).parent
        path = (page / self.arguments[0]).resolve()
        self.env.note_dependency(str(path))
        if not path.is_file():
            raise self.error(
                f"benchmark-report: {path} does not exist; run `make bench`"
            )
        results = json.loads(path.read_text(encoding="utf-8"))
        stored = [row["name"] for row in results["rows"]]
        planned = [benchmark.name for benchmark in plan()]
        if stored != planned:
            logger.warning(
                f"benchmark-report: {path.name} holds rows {stored} but cvae.run.bench "
                f"measures {planned}; run `make bench`",
                location=(self.env.docname, self.lineno),
            )
        quick = " (--quick)" if results["quick"] else ""
        seconds = results["seconds_per_row"]
        cpus = f"{results['threads']} of {results['cpu_count']} logical CPUs"
        machine = [
            ["device", f"{results['device_name']} ({results['device']})"],
            ["threads", cpus],
            ["software", f"torch {results['torch']}, Python {results['python']}"],
            ["platform", results["platform"]],
            ["measured", f"{results['date']}, at least {seconds:g} s per row{quick}"],
        ]
        rows = [measurement(row) for row in results["rows"]]
        payoff = compile_payoff(results)
        return [
            table(None, machine, ["cvae-report-benchmark-machine"]),
            table(HEADERS, rows, ["cvae-report-benchmark"]),
        ] + ([nodes.paragraph(text=f"{payoff}.")] if payoff else [])


def setup(app: Sphinx) -> None:
    app.add_directive("benchmark-report", BenchmarkReport)
