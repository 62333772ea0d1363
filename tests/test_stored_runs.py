"""The runs stored with the book (``book/_data/<name>/``, made by ``python -m
cvae.run``) are finished, and what the chapters show of them is what they hold."""

from __future__ import annotations

import re

import nbformat
import pytest

from cvae.report import MIN_SEEDS, mean_sd, paired
from cvae.run.cli import read_run
from tools.toc import ROOT

STORED = sorted(path.parent for path in (ROOT / "book/_data").glob("*/run.json"))
FULL = ROOT / "book/_data/quadrants-fashion-mnist"
IS, MC = "nll_importance", "nll_monte_carlo"
COMPARISONS = {  # chapter 4's, on the stored run: a vs b, the estimator of both
    "CVAE vs baseline": (("cvae", IS), ("baseline", IS)),
    "CVAE vs GSNN": (("cvae", MC), ("gsnn", MC)),
    "GSNN vs baseline": (("gsnn", MC), ("baseline", MC)),
    "hybrid vs CVAE": (("hybrid", IS), ("cvae", IS)),
    "CVAE: IS vs Monte Carlo": (("cvae", IS), ("cvae", MC)),
}


def shown_table(caption: str) -> list[list[str]]:
    """The rows of the table chapter 4 shows under ``caption`` (its text form)."""
    notebook = nbformat.read(ROOT / "book/quadrants.ipynb", as_version=4)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/plain", "")
            if text.startswith(caption):
                lines = text.splitlines()[2:]  # the caption, the header
                return [re.split(r"\s{2,}", line.strip()) for line in lines]
    raise AssertionError(f"chapter 4 shows no table captioned {caption!r}")


def test_the_book_stores_the_full_scale_quadrant_run():
    assert FULL in STORED


@pytest.mark.parametrize("folder", STORED, ids=[path.name for path in STORED])
def test_a_stored_run_is_finished_and_its_scores_are_its_rows(folder):
    stored = read_run(folder)  # every model of every quadrant count and seed
    assert stored.record["finished"] and len(stored.seeds) >= MIN_SEEDS
    for row in stored.rows:
        for column in (IS, MC):
            scores = stored.per_example(row["model"], int(row["num_given"]), column)
            mean = float(scores[stored.seeds.index(int(row["seed"]))].double().mean())
            assert mean == pytest.approx(float(row[column]), abs=1e-4, nan_ok=True)
    for num_given in stored.quadrants:
        assert (folder / f"completions-q{num_given}.png").stat().st_size > 10_000


def test_the_full_scale_run_is_all_of_fashion_mnist():
    stored = read_run(FULL)
    configuration = stored.record["configuration"]
    assert (configuration["dataset"], configuration["data"]) == (
        "fashion-mnist",
        "full",
    )
    assert configuration["limit"] is None and stored.quadrants == [1, 2, 3]
    sizes = {(row["train_size"], row["test_size"]) for row in stored.rows}
    assert sizes == {("54000", "10000")}  # 6,000 of the 60,000 held out to stop early


def test_chapter_4_shows_the_numbers_the_stored_run_holds():
    stored = read_run(FULL)
    means = shown_table("Fashion-MNIST, full: -log p(y | x), nats per image, mean ±")
    expected = []
    for num_given in stored.quadrants:
        for kind in ("baseline", "cvae", "gsnn", "hybrid"):
            values = [stored.per_example(kind, num_given, c).mean(1) for c in (IS, MC)]
            if kind == "baseline":
                cells = [f"{mean_sd(values[0])} (exact)"]
            elif kind == "gsnn":
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
            paired(
                stored.per_example(a, k, column_a), stored.per_example(b, k, column_b)
            ).format(1)
            for k in stored.quadrants
        ]


def test_chapter_4_shows_the_stored_figures():
    notebook = nbformat.read(ROOT / "book/quadrants.ipynb", as_version=4)
    text = "\n".join(cell.source for cell in notebook.cells)
    shown = re.findall(r"_data/quadrants-fashion-mnist/(completions-q\d\.png)", text)
    assert shown and all((FULL / name).is_file() for name in shown)
