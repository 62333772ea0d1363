"""Results as the chapters report them: HTML tables, mean ± standard deviation over runs, and comparisons
that speak only where a difference exceeds the spread.

Used by every chapter with measured results (first in :chapter:`The VAE on MNIST <book/vae>`).
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Sequence


def mean_sd(values: Sequence[float], digits: int = 1) -> str:
    """``"88.1 ± 0.7"``: the mean and the sample standard deviation of ``values`` (one run: the value alone)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("values is empty: there is nothing to summarize")
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def compare(a: Sequence[float], b: Sequence[float], lower_is_better: bool = True) -> str:
    """``"better"``, ``"worse"`` or ``"within spread"``: is ``a`` better than ``b`` by more than the spread?

    The difference of the means counts only when it exceeds the sum of the two sample
    standard deviations, a deliberately conservative rule for a handful of runs.
    """
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"compare needs at least two runs of each, got {len(a)} and {len(b)}")
    difference = statistics.fmean(a) - statistics.fmean(b)
    if abs(difference) <= statistics.stdev(a) + statistics.stdev(b):
        return "within spread"
    return "better" if (difference < 0) == lower_is_better else "worse"


class Table:
    """A results table shown as HTML in notebooks and on the website (plain text elsewhere)."""

    def __init__(self, rows: Sequence[Sequence[object]], columns: Sequence[str], caption: str | None = None) -> None:
        widths = {len(row) for row in rows}
        if widths - {len(columns)}:
            raise ValueError(f"every row must have {len(columns)} cells (one per column), got {sorted(widths)}")
        self.rows = [[str(cell) for cell in row] for row in rows]
        self.columns = [str(column) for column in columns]
        self.caption = caption

    def _repr_html_(self) -> str:
        head = "".join(_cell("th", c) for c in self.columns)
        body = "".join("<tr>" + "".join(_cell("td", c) for c in row) + "</tr>" for row in self.rows)
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f'<table class="cvae-results">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def __repr__(self) -> str:
        table = [self.columns, *self.rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(self.columns))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in table]
        return "\n".join(([self.caption] if self.caption else []) + lines)


# A cell longer than this may wrap onto a second line (class cvae-wrap); shorter ones, numbers
# such as "88.1 ± 0.7" and names such as "gsnn, log-mean", stay on one line (book/_static/cvae-book.css).
_WRAP_AFTER = 24


def _cell(tag: str, text: str) -> str:
    wrap = ' class="cvae-wrap"' if len(text) > _WRAP_AFTER else ""
    return f"<{tag}{wrap}>{html.escape(text)}</{tag}>"


def table(rows: Sequence[Sequence[object]], columns: Sequence[str], caption: str | None = None) -> Table:
    """A :class:`Table` of ``rows`` under ``columns``; the last expression of a cell displays it."""
    return Table(rows, columns, caption)
