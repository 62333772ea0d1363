"""The runs stored with the book (``book/_data/<name>/``, made by ``python -m
cvae.run`` and ``python -m cvae.run labels``) are finished, and what chapters 3 and 4
show of them is what they hold."""

from __future__ import annotations

import functools
import re

import nbformat
import pytest
import torch

from cvae.label_experiment import PRIORS_COMPARED
from cvae.report import MIN_SEEDS, interval, mean_sd, paired
from cvae.run.cli import read_run
from tools.toc import ROOT

STORED = sorted(path.parent for path in (ROOT / "book/_data").glob("*/run.json"))
FULL = ROOT / "book/_data/quadrants-fashion-mnist"
LOG_MEAN = ROOT / "book/_data/quadrants-fashion-mnist-log-mean"  # its GSNN, hybrid
LABELS = ROOT / "book/_data/labels-fashion-mnist"
IS, MC = "nll_importance", "nll_monte_carlo"
COLUMNS = {  # each experiment's per-example columns, and its figure per setting
    "quadrants": ((IS, MC), "completions-q{}.png"),
    "labels": (("elbo", "log_px_y", "kl", "recognised"), "generated-d{}.png"),
}
FULL_MODELS = (
    "baseline",
    "cvae",
    "gsnn",
    "hybrid",
    "gsnn, log-mean",
    "hybrid, log-mean",
)
COMPARISONS = {  # chapter 4's, on the stored runs: a vs b, the estimator of both
    "CVAE vs baseline": (("cvae", IS), ("baseline", IS)),
    "CVAE vs GSNN": (("cvae", MC), ("gsnn", MC)),
    "GSNN vs baseline": (("gsnn", MC), ("baseline", MC)),
    "log-mean GSNN vs GSNN": (("gsnn, log-mean", MC), ("gsnn", MC)),
    "log-mean GSNN vs CVAE": (("gsnn, log-mean", MC), ("cvae", MC)),
    "hybrid vs CVAE": (("hybrid", IS), ("cvae", IS)),
    "CVAE: IS vs Monte Carlo": (("cvae", IS), ("cvae", MC)),
    "log-mean hybrid vs hybrid": (("hybrid, log-mean", IS), ("hybrid", IS)),
    "log-mean hybrid vs CVAE": (("hybrid, log-mean", IS), ("cvae", IS)),
}


def shown_table(caption: str, chapter: str = "quadrants") -> list[list[str]]:
    """The rows of the table a chapter shows under ``caption`` (its text form)."""
    notebook = nbformat.read(ROOT / f"book/{chapter}.ipynb", as_version=4)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/plain", "")
            if text.startswith(caption):
                lines = text.splitlines()[2:]  # the caption, the header
                return [re.split(r"\s{2,}", line.strip()) for line in lines]
    raise AssertionError(f"{chapter} shows no table captioned {caption!r}")


def full_scores(kind: str, num_given: int, column: str):
    """Chapter 4's models at full scale: ", log-mean" ones come from the second run."""
    name, _, objective = kind.partition(", ")
    return stored_run(LOG_MEAN if objective else FULL).per_example(
        name, num_given, column
    )


@functools.cache
def stored_run(folder):
    return read_run(folder)


def test_the_book_stores_the_full_scale_runs():
    assert {FULL, LOG_MEAN, LABELS} <= set(STORED)


def test_the_log_mean_run_loaded_the_first_runs_baselines_and_cvaes():
    first, second = read_run(FULL), read_run(LOG_MEAN)
    assert second.record["configuration"]["gsnn_objective"] == "log_mean"
    assert first.record["configuration"]["gsnn_objective"] == "mean_log"
    for kind in ("baseline", "cvae"):
        for num_given in first.settings:
            for column in (IS, MC):  # rescored from the same checkpoints
                torch.testing.assert_close(
                    second.per_example(kind, num_given, column),
                    first.per_example(kind, num_given, column),
                    rtol=0,
                    atol=1e-3,
                )


@pytest.mark.parametrize("folder", STORED, ids=[path.name for path in STORED])
def test_a_stored_run_is_finished_and_its_scores_are_its_rows(folder):
    stored = read_run(folder)  # every model of every setting and seed
    assert stored.record["finished"] and len(stored.seeds) >= MIN_SEEDS
    columns, figure = COLUMNS[stored.record.get("experiment", "quadrants")]
    for row in stored.rows:
        setting = int(row[stored.layout.setting])
        for column in columns:
            scores = stored.per_example(row["model"], setting, column)
            mean = float(scores[stored.seeds.index(int(row["seed"]))].double().mean())
            assert mean == pytest.approx(float(row[column]), abs=1e-4, nan_ok=True)
    for setting in stored.settings:
        assert (folder / figure.format(setting)).stat().st_size > 10_000


@pytest.mark.parametrize(
    "folder, settings", [(FULL, [1, 2, 3]), (LOG_MEAN, [1, 2, 3]), (LABELS, [2, 16])]
)
def test_the_full_scale_runs_are_all_of_fashion_mnist(folder, settings):
    stored = read_run(folder)
    configuration = stored.record["configuration"]
    assert (configuration["dataset"], configuration["data"]) == (
        "fashion-mnist",
        "full",
    )
    assert configuration["limit"] is None and stored.settings == settings
    sizes = {(row["train_size"], row["test_size"]) for row in stored.rows}
    assert sizes == {("54000", "10000")}  # 6,000 of the 60,000 held out to stop early


def test_chapter_4_shows_the_numbers_the_stored_runs_hold():
    settings = read_run(FULL).settings
    means = shown_table("Fashion-MNIST, full: -log p(y | x), nats per image, mean ±")
    expected = []
    for num_given in settings:
        for kind in FULL_MODELS:
            values = [full_scores(kind, num_given, c).mean(1) for c in (IS, MC)]
            if kind == "baseline":
                cells = [f"{mean_sd(values[0])} (exact)"]
            elif kind.startswith("gsnn"):
                cells = ["n/a", mean_sd(values[1])]
            else:
                cells = [mean_sd(v) for v in values]
            expected.append([str(num_given), kind, *cells])
    assert means == expected
    differences = shown_table("Fashion-MNIST, full: -log p(y | x) of a minus b")
    assert [row[0] for row in differences] == list(COMPARISONS)
    for row in differences:
        (a, column_a), (b, column_b) = COMPARISONS[row[0]]
        assert row[2:] == [
            paired(full_scores(a, k, column_a), full_scores(b, k, column_b)).format(1)
            for k in settings
        ]


def test_chapter_3_shows_the_numbers_the_stored_run_holds():
    stored = read_run(LABELS)
    titles = {"standard_normal": "N(0, I)", "learned": "learned"}
    means = shown_table("Fashion-MNIST, full: MLP CVAE, mean and 95%", "cvae_labels")
    expected = []
    for d in stored.settings:
        for prior in PRIORS_COMPARED:
            cells = [
                interval(stored.per_example(prior, d, key)).format(1)
                for key in ("elbo", "log_px_y", "kl")
            ]
            cells.append(interval(stored.values(prior, d, "active_units")).format(1))
            cells.append(interval(stored.per_example(prior, d, "recognised")).format(2))
            expected.append([str(d), titles[prior], *cells])
    assert means == expected
    differences = shown_table("Fashion-MNIST, full: paired differences", "cvae_labels")
    names = {"test ELBO": "elbo", "log p(x|y)": "log_px_y", "recognised": "recognised"}
    low, high = stored.settings[0], stored.settings[-1]
    for name, *shown in differences:
        if name.startswith("learned"):
            measure, d = re.fullmatch(
                r"learned vs N\(0, I\), (.+), d = (\d+)", name
            ).groups()
            a, b = (("learned", int(d)), ("standard_normal", int(d)))
        else:
            first, second, measure = re.fullmatch(
                r"N\(0, I\), d = (\d+) vs (\d+), (.+)", name
            ).groups()
            a, b = ("standard_normal", int(first)), ("standard_normal", int(second))
            assert {a[1], b[1]} == {low, high}
        key = names[measure]
        difference = paired(stored.per_example(*a, key), stored.per_example(*b, key))
        assert shown[0] == difference.format(2), name
        assert shown[1] == difference.versus(lower_is_better=False), name
    assert len(differences) == 3 * len(stored.settings) + 2


@pytest.mark.parametrize(
    "chapter, folder, pattern",
    [
        ("quadrants", FULL, r"completions-q\d\.png"),
        ("cvae_labels", LABELS, r"generated-d\d+\.png"),
    ],
)
def test_the_chapters_show_the_stored_figures(chapter, folder, pattern):
    notebook = nbformat.read(ROOT / f"book/{chapter}.ipynb", as_version=4)
    text = "\n".join(cell.source for cell in notebook.cells)
    shown = re.findall(rf"_data/{folder.name}/({pattern})", text)
    assert shown and all((folder / name).is_file() for name in shown)
