"""cvae.report: the summaries and the spread-aware comparison the chapters' verdict
lines rest on."""

import pytest

from cvae.report import compare, mean_sd, table


def test_mean_sd_uses_the_sample_standard_deviation():
    assert mean_sd([1.0, 2.0, 3.0]) == "2.0 ± 1.0"
    assert mean_sd([88.123], digits=2) == "88.12"
    with pytest.raises(ValueError, match="values is empty"):
        mean_sd([])


def test_compare_speaks_only_beyond_the_spread():
    assert compare([10.0, 10.2, 9.8], [12.0, 12.1, 11.9]) == "better"
    assert compare([12.0, 12.1, 11.9], [10.0, 10.2, 9.8]) == "worse"
    assert compare([10.0, 11.0, 9.0], [10.5, 11.5, 9.5]) == "within spread"
    assert (
        compare([12.0, 12.1, 11.9], [10.0, 10.2, 9.8], lower_is_better=False)
        == "better"
    )
    with pytest.raises(ValueError, match="at least two runs"):
        compare([1.0], [2.0, 3.0])


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
