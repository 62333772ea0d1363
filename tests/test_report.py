"""cvae.report: the summaries, and the one comparison rule the chapters' verdicts
rest on (its interval, its error rate, its verdict words)."""

import re

import pytest
import torch

from cvae.report import interval, mean_sd, paired, t_quantile, table


def test_mean_sd_uses_the_sample_standard_deviation():
    assert mean_sd([1.0, 2.0, 3.0]) == "2.0 ± 1.0"
    assert mean_sd([88.123], digits=2) == "88.12"
    with pytest.raises(ValueError, match="values is empty"):
        mean_sd([])


def test_t_quantile_matches_the_tables():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 4, 9, 30, 500):
        assert t_quantile(0.975, df) == pytest.approx(stats.t.ppf(0.975, df), 1e-9)


def test_interval_of_seed_values_is_the_t_interval():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]  # mean 3, sd sqrt(2.5)
    shown = interval(values)
    half = 2.7764451051977934 * (2.5 / 5) ** 0.5
    assert (shown.low, shown.high) == pytest.approx((3 - half, 3 + half))
    assert shown.format(2) == f"3.00 [{3 - half:.2f}, {3 + half:.2f}]"


def test_the_interval_adds_the_test_sets_sampling_error():
    generator = torch.Generator().manual_seed(0)
    examples = torch.randn(400, generator=generator)  # a shared, noisy test set
    values = 0.01 * torch.randn(5, 1, generator=generator) + examples
    seeds_only = interval(values.mean(1))
    both = interval(values)
    assert both.high - both.low > 10 * (seeds_only.high - seeds_only.low)
    assert both.low < 0 < both.high  # the examples' mean is within noise of zero


@pytest.mark.parametrize("effect", [0.0, 1.0])
def test_the_rule_errs_at_most_five_percent_and_finds_real_differences(effect):
    """Seeds, examples and their interaction all random: under no difference the
    interval excludes zero in at most ~5% of 2,000 experiments; a difference of 1.0
    (about five standard errors) is found almost always."""
    generator = torch.Generator().manual_seed(1)
    found = 0
    for _ in range(2000):
        seed = torch.randn(5, 1, generator=generator)
        example = torch.randn(1, 50, generator=generator)
        noise = torch.randn(5, 50, generator=generator)
        verdict = interval(effect + 0.2 * seed + example + noise).versus()
        found += verdict != "no clear difference"
    rate = found / 2000
    assert rate < 0.06 if effect == 0 else rate > 0.9, rate


def test_verdicts_follow_the_interval():
    low, high = torch.zeros(5, 3), torch.ones(5, 3)
    noisy = torch.tensor([[0.1], [-0.2], [0.3], [0.0], [-0.1]])
    assert paired(low + noisy, high).versus() == "better"
    assert paired(low + noisy, high).versus(lower_is_better=False) == "worse"
    assert paired(high + noisy, low).versus() == "worse"
    verdict = paired(low + noisy, low).versus()
    assert verdict == "no clear difference" and verdict.margin > 1
    assert interval(high[:, 0] + noisy[:, 0]).versus(0.5, lower_is_better=False) == (
        "better"
    )
    assert paired(low + noisy, high).versus().said("lower", "higher") == "lower"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: interval([1.0, 2.0, 3.0]), "at least 5 seeds, got 3"),
        (lambda: interval(torch.ones(5, 2, 2)), "must be (seeds, examples)"),
        (lambda: interval([1.0, 2.0, 3.0, 4.0, float("nan")]), "must be finite"),
        (lambda: paired(torch.ones(5, 3), torch.ones(5, 4)), "one shape"),
        (lambda: t_quantile(0.3, 4), "0.5 < probability < 1"),
    ],
)
def test_bad_input_is_refused_in_one_line(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_table_renders_escaped_html_and_plain_text():
    shown = table(
        [["CVAE", "88.1 ± 0.7"], ["<b>", "1"]], ["model", "nats"], caption="test"
    )
    assert (
        "<td>&lt;b&gt;</td>" in shown._repr_html_()
        and "<caption>test</caption>" in shown._repr_html_()
    )
    assert repr(shown).splitlines()[1].split() == ["model", "nats"]
    with pytest.raises(ValueError, match="every row must have 2 cells"):
        table([["a"]], ["model", "nats"])


def test_long_cells_may_wrap_and_short_ones_stay_on_one_line():
    shown = table(
        [
            ["gsnn, log-mean", "n/a"],
            ["CVAE (MLP, d = 4, N(0, I) prior): log p(x|y)", "-120.1 ± 0.4"],
        ],
        ["model", "read as the true / requested class"],
    )._repr_html_()
    assert (
        "<td>gsnn, log-mean</td><td>n/a</td>" in shown
        and "<td>-120.1 ± 0.4</td>" in shown
    )
    assert (
        '<td class="cvae-wrap">CVAE (MLP, d = 4, N(0, I) prior): log p(x|y)</td>'
        in shown
    )
    assert '<th class="cvae-wrap">read as the true / requested class</th>' in shown
