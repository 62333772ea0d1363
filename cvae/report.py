"""Results as the chapters report them: HTML tables, mean ± standard deviation over
runs, and comparisons that speak only where a difference exceeds the spread, each
verdict with its margin.

Used by every chapter with measured results (first in
:chapter:`The VAE on MNIST <book/vae>`).
"""

from __future__ import annotations

import html
import math
import re
import statistics
from collections.abc import Sequence

#: The margin a verdict needs before the notebook checks compare it. Trained models
#: differ between CPUs (another instruction set rounds differently, and training
#: carries that into different weights), so a verdict can flip on another machine: one
#: of the chapter 3 verdicts stored on an AMD EPYC with a margin of at most 3.7 read
#: "within spread" on an Intel Xeon. A verdict closer to its threshold than this is
#: shown and glued for the text, in a cell the checks do not compare;
#: ``tests/test_verdict_margins.py`` checks the stored runs against it.
ROBUST_MARGIN = 5.0

#: A table cell longer than this may wrap onto a second line (class cvae-wrap); shorter
#: ones, numbers such as "88.1 ± 0.7" and names such as "gsnn, log-mean", stay on one
#: line (book/_static/cvae-book.css).
_WRAP_AFTER = 24


class Verdict(str):
    """A verdict word that knows its ``margin``: how far the statistic that decided it
    sits from the threshold that would change it, as a ratio (1: on the threshold;
    infinite when the spread is zero). ``said(more, less)`` gives the same verdict in
    other words."""

    margin: float

    def __new__(cls, word: str, margin: float) -> Verdict:
        verdict = super().__new__(cls, word)
        verdict.margin = margin
        return verdict

    def said(self, better: str, worse: str) -> Verdict:
        """The verdict with ``better``/``worse`` in place of those words."""
        words = {"better": better, "worse": worse}
        return Verdict(words.get(str(self), str(self)), self.margin)


def _ratio(value: float, threshold: float) -> float:
    return math.inf if threshold == 0 else value / threshold


def mean_sd(values: Sequence[float], digits: int = 1) -> str:
    """``"88.1 ± 0.7"``: the mean and the sample standard deviation of ``values`` (one
    run: the value alone)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("values is empty: there is nothing to summarize")
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def compare(
    a: Sequence[float], b: Sequence[float], lower_is_better=True, resolution=0.0
) -> Verdict:
    """``"better"``, ``"worse"`` or ``"within spread"``: is ``a`` better than ``b`` by
    more than the spread?

    The difference of the means counts only when it exceeds the sum of the two sample
    standard deviations (and ``resolution``, the smallest difference the measure can
    resolve). With ``b`` all zeros and ``a`` the per-seed differences, this is a paired
    comparison: the mean difference against its standard deviation.
    """
    if len(a) < 2 or len(b) < 2:
        got = f"{len(a)} and {len(b)}"
        raise ValueError(f"compare needs at least two runs of each, got {got}")
    difference = abs(statistics.fmean(a) - statistics.fmean(b))
    threshold = max(statistics.stdev(a) + statistics.stdev(b), resolution)
    if difference <= threshold:
        return Verdict("within spread", _ratio(threshold, difference))
    lower = statistics.fmean(a) < statistics.fmean(b)
    word = "better" if lower == lower_is_better else "worse"
    return Verdict(word, _ratio(difference, threshold))


def exceeds(value: float, threshold: float) -> Verdict:
    """``"yes"`` when ``value > threshold`` (both positive), else ``"no"``, with the
    margin."""
    if value <= 0 or threshold <= 0:
        raise ValueError(f"exceeds compares positive numbers, got {value}, {threshold}")
    if value > threshold:
        return Verdict("yes", value / threshold)
    return Verdict("no", threshold / value)


def glue_margins(name: str, verdicts: Sequence[Verdict]) -> None:
    """Store the margins of ``verdicts`` in the notebook (glue ``margin_<name>``, not
    shown).

    The record is masked for the notebook checks (its numbers differ between CPUs); the
    verdict words themselves are compared, so each must be at least
    :data:`ROBUST_MARGIN`.
    """
    from myst_nb import glue  # the book's dependency; the package does not need it

    shown = " | ".join(f"{min(verdict.margin, 99.99):.2f}" for verdict in verdicts)
    glue("margin_" + re.sub(r"\W+", "_", name).strip("_").lower(), shown, display=False)


class Table:
    """A results table shown as HTML in notebooks and on the website (plain text
    elsewhere)."""

    def __init__(self, rows, columns: Sequence[str], caption: str | None = None):
        widths = {len(row) for row in rows}
        if widths - {len(columns)}:
            got = sorted(widths)
            raise ValueError(f"every row must have {len(columns)} cells, got {got}")
        self.rows = [[str(cell) for cell in row] for row in rows]
        self.columns = [str(column) for column in columns]
        self.caption = caption

    def _repr_html_(self) -> str:
        head = "".join(_cell("th", c) for c in self.columns)
        rows = ("".join(_cell("td", c) for c in row) for row in self.rows)
        body = "".join(f"<tr>{row}</tr>" for row in rows)
        caption = (
            f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        )
        parts = f"{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        return f'<table class="cvae-results">{parts}</table>'

    def __repr__(self) -> str:
        table = [self.columns, *self.rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(self.columns))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in table
        ]
        return "\n".join(([self.caption] if self.caption else []) + lines)


def _cell(tag: str, text: str) -> str:
    wrap = ' class="cvae-wrap"' if len(text) > _WRAP_AFTER else ""
    return f"<{tag}{wrap}>{html.escape(text)}</{tag}>"


def table(rows, columns: Sequence[str], caption: str | None = None) -> Table:
    """A :class:`Table` of ``rows`` under ``columns``; the last expression of a cell
    displays it."""
    return Table(rows, columns, caption)
