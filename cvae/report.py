"""Results as the chapters report them: HTML tables, mean ± standard deviation over
runs, and the one rule every comparison follows, each verdict with its margin.

The rule (:func:`paired`, :func:`interval`): a comparison of two models uses paired
differences, seed by seed and, where the measure is an average over test examples,
example by example, over at least :data:`MIN_SEEDS` random seeds. Its 95% interval
accounts for both sources of chance, the seeds and the finite test set; "better" or
"worse" is said only when the interval excludes zero, "no clear difference" otherwise.

Used by every chapter with measured results (first in
:chapter:`The VAE on MNIST <book/vae>`).
"""

from __future__ import annotations

import functools
import html
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import torch

#: The fewest random seeds a comparison accepts.
MIN_SEEDS = 5

#: How far a verdict must sit from the threshold that would change it (its ``margin``,
#: see :class:`Verdict`) before the notebook checks compare it. Trained models differ
#: between CPUs (another instruction set rounds differently, and training carries that
#: into different weights), much as another set of seeds would: the mean of a paired
#: difference moves by about one standard error, a third of the interval's half-width.
#: A "better" at margin 3 needs a move of two half-widths (over five standard errors)
#: to flip; "no clear difference" at margin 3 one of two thirds of a half-width. A
#: closer verdict is shown and glued for the text, in a cell the checks do not
#: compare; ``tests/test_verdict_margins.py`` checks the stored runs against it.
ROBUST_MARGIN = 3.0

#: A table cell longer than this may wrap onto a second line (class cvae-wrap); shorter
#: ones, numbers such as "88.1 ± 0.7" and names such as "gsnn, log-mean", stay on one
#: line (book/_static/cvae-book.css).
_WRAP_AFTER = 24

NO_CLEAR_DIFFERENCE = "no clear difference"


class Verdict(str):
    """A verdict word that knows its ``margin``: how far the statistic that decided it
    sits from the threshold that would change it, as a ratio (1: on the threshold;
    infinite when there is no spread). ``said(better, worse)`` gives the same verdict
    in other words."""

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


@functools.cache
def t_quantile(probability: float, df: int) -> float:
    """The ``probability`` quantile of Student's t with ``df`` degrees of freedom (in
    (0.5, 1)): its CDF, integrated by Simpson's rule, inverted by bisection."""
    if not 0.5 < probability < 1 or df < 1:
        raise ValueError(f"need 0.5 < probability < 1 and df >= 1: {probability}, {df}")
    scale = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2))
    scale /= math.sqrt(df * math.pi)

    def cdf(t: float, steps: int = 2000) -> float:
        density = [
            scale * (1 + (t * i / steps) ** 2 / df) ** (-(df + 1) / 2)
            for i in range(steps + 1)
        ]
        weights = [1] + [4 if i % 2 else 2 for i in range(1, steps)] + [1]
        area = sum(w * f for w, f in zip(weights, density, strict=True))
        return 0.5 + area * t / steps / 3

    low, high = 0.0, 1.0
    while cdf(high) < probability:
        low, high = high, 2 * high
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) < probability else (low, middle)
    return (low + high) / 2


@dataclass(frozen=True)
class Interval:
    """A mean with its 95% interval, over ``seeds`` random seeds and ``examples``
    test examples (1 when the measure has one value per seed)."""

    mean: float
    low: float
    high: float
    seeds: int
    examples: int

    def __str__(self) -> str:
        return self.format(1)

    def format(self, digits: int = 1) -> str:
        """``"-2.2 [-2.6, -1.8]"``: the mean and the interval."""
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    def versus(self, threshold: float = 0.0, *, lower_is_better=True) -> Verdict:
        """``"better"`` when the whole interval lies on the good side of ``threshold``
        (below it when ``lower_is_better``), ``"worse"`` when on the other side,
        ``"no clear difference"`` when it contains the threshold. The margin is the
        distance of the mean from the threshold in half-widths (its inverse for no
        clear difference)."""
        half, distance = (self.high - self.low) / 2, abs(self.mean - threshold)
        if self.low <= threshold <= self.high:
            return Verdict(NO_CLEAR_DIFFERENCE, _ratio(half, distance))
        below = self.high < threshold
        word = "better" if below == lower_is_better else "worse"
        return Verdict(word, _ratio(distance, half))


def interval(values, min_seeds: int = MIN_SEEDS) -> Interval:
    r"""The mean of ``values`` (seeds, examples), or (seeds,), with a 95% interval.

    With ``S`` seeds and ``n`` examples, :math:`\bar d_s` the mean of seed ``s`` and
    :math:`\bar d_i` the mean of example ``i`` over the seeds, the standard error is
    :math:`\sqrt{s^2(\bar d_s)/S + s^2(\bar d_i)/n}` and the interval is the mean
    :math:`\pm t_{0.975, S-1}` standard errors. With seed effects :math:`a_s`, example
    effects :math:`b_i` and noise :math:`e_{si}` the variance of the mean is
    :math:`\sigma_a^2/S + \sigma_b^2/n + \sigma_e^2/(Sn)`; the two terms estimate it
    plus one more :math:`\sigma_e^2/(Sn)`, so the interval errs wide. When the true mean
    is zero it excludes zero in at most about 5% of experiments (two-sided;
    ``tests/test_report.py`` measures it by simulation).
    """
    values = torch.as_tensor(values, dtype=torch.float64)
    if values.dim() == 1:
        values = values[:, None]
    if values.dim() != 2 or not values.numel():
        raise ValueError(
            f"values must be (seeds, examples) or (seeds,), got {values.shape}"
        )
    seeds, examples = values.shape
    if seeds < min_seeds:
        raise ValueError(f"a comparison needs at least {min_seeds} seeds, got {seeds}")
    if not torch.isfinite(values).all():
        raise ValueError("values must be finite")
    mean = float(values.mean())
    variance = float(values.mean(1).var()) / seeds
    if examples > 1:
        variance += float(values.mean(0).var()) / examples
    half = t_quantile(0.975, seeds - 1) * math.sqrt(variance)
    return Interval(mean, mean - half, mean + half, seeds, examples)


def paired(a, b, min_seeds: int = MIN_SEEDS) -> Interval:
    """:func:`interval` of the paired differences ``a - b``: both (seeds, examples) or
    (seeds,), row ``s`` of each from seed ``s``, column ``i`` from test example
    ``i``. ``paired(a, b).versus()`` is the verdict on ``a`` against ``b``."""
    a, b = (torch.as_tensor(v, dtype=torch.float64) for v in (a, b))
    if a.shape != b.shape:
        raise ValueError(f"paired values must have one shape, got {a.shape}, {b.shape}")
    return interval(a - b, min_seeds)


def exceeds(value: float, threshold: float) -> Verdict:
    """``"yes"`` when ``value > threshold`` (both positive), else ``"no"``, with the
    margin: for a number that does not vary with a random seed."""
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
