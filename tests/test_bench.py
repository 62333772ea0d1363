"""The benchmark command: every book model has a row, output as table and JSON, bad options refused.

These tests check what the benchmark measures and reports, never how fast anything is
(timings belong to ``python -m cvae.run.bench``, not to the test suite).
"""

import contextlib
import functools
import json
import os
import warnings
from pathlib import Path

import pytest
import torch

import cvae.checks
from cvae.run import bench


@pytest.fixture(autouse=True)
def no_contracts():
    """Until the merge deletes the argument contracts: they would run inside the timed
    (and compiled) steps, which fit never checks. Delete this fixture then."""
    switch = getattr(cvae.checks, "validation", None)
    with switch(False) if switch else contextlib.nullcontext():
        yield


def test_the_plan_covers_every_model_the_book_trains():
    names = [b.name for b in bench.plan()]
    for model in (
        "VAE",
        "label CVAE, MLP",
        "label CVAE, conv",
        "quadrant baseline",
        "quadrant CVAE",
    ):
        assert f"train {model}" in names
    assert names[0] == "matmul 2048^3 fp32"
    assert any(n.startswith("IS log-likelihood, VAE") for n in names)
    assert any(n.startswith("IS log p(y|x), quadrant CVAE") for n in names)
    assert "train quadrant CVAE, 500-500/200" in names
    assert (
        names.index("train quadrant CVAE, torch.compile")
        == names.index("train quadrant CVAE") + 1
    )
    assert (
        names.index("fit quadrant CVAE (2 epochs with validation)")
        == names.index("train quadrant CVAE") + 2
    )
    assert len(set(names)) == len(names)


def test_the_fit_row_times_whole_epochs_of_fit_with_validation():
    benchmark = next(b for b in bench.plan() if b.kind == "fit")
    call, items, _ = benchmark.build(torch.device("cpu"))
    assert items == bench.FIT_EXAMPLES * bench.FIT_EPOCHS
    history = call()
    assert (
        history.epochs == bench.FIT_EPOCHS
        and len(history.validation["loss"]) == bench.FIT_EPOCHS
    )


def test_training_rows_count_the_matrix_flops_of_a_real_step():
    benchmark = next(b for b in bench.plan() if b.name == "train quadrant baseline")
    row = bench.measure(benchmark, torch.device("cpu"), min_seconds=0.01)
    # Baseline(1): 784-256-256-588 MLP, batch 100; forward + two backward products per layer.
    layers = [(784, 256), (256, 256), (256, 588)]
    forward = sum(2 * 100 * i * o for i, o in layers)
    backward = (
        2 * forward - 2 * 100 * 784 * 256
    )  # no input gradient for the first layer
    assert row.unit == "examples/s" and row.rate > 0 and row.first_call_seconds > 0
    assert row.flops_per_second / row.rate * 100 == pytest.approx(
        forward + backward, rel=1e-6
    )


def test_the_compiled_row_compiles_the_whole_loss_in_one_graph_and_counts_the_same_flops():
    # fullgraph=True: a graph break (such as a data-dependent nonzero in the pixel indices)
    # raises instead of silently running part of the step uncompiled.
    eager, compiled = (
        next(b for b in bench.plan() if b.name == name)
        for name in ("train quadrant CVAE", "train quadrant CVAE, torch.compile")
    )
    eager_row, compiled_row = (
        bench.measure(b, torch.device("cpu"), min_seconds=0.01)
        for b in (eager, compiled)
    )
    assert compiled_row.flops_per_second / compiled_row.rate == pytest.approx(
        eager_row.flops_per_second / eager_row.rate, rel=1e-6
    )
    assert (
        compiled_row.first_call_seconds > eager_row.first_call_seconds
    )  # the compilation


def test_a_run_reports_machine_versions_and_fractions_of_the_same_runs_matmul(
    monkeypatch,
):
    small = [
        b
        for b in bench.plan()
        if b.name
        in (
            "matmul 2048^3 fp32",
            "train quadrant baseline",
            "IS log-likelihood, VAE (S = 100)",
        )
    ]
    monkeypatch.setattr(bench, "plan", lambda: small)
    results = bench.run(device="cpu", min_seconds=0.01)
    assert (
        results["torch"] == torch.__version__
        and results["device"] == "cpu"
        and results["threads"] >= 1
    )
    matmul, train, evaluate = results["rows"]
    assert matmul["fraction_of_matmul"] == 1.0
    assert train["fraction_of_matmul"] == pytest.approx(
        train["flops_per_second"] / matmul["flops_per_second"]
    )
    assert (
        evaluate["unit"] == "examples x samples/s"
        and evaluate["fraction_of_matmul"] is None
    )
    table = bench.format_table(results)
    assert "train quadrant baseline" in table and "of fp32 matmul" in table


def test_main_prints_the_table_and_writes_json(monkeypatch, tmp_path, capsys):
    small = [
        b
        for b in bench.plan()
        if b.name in ("matmul 2048^3 fp32", "train quadrant baseline")
    ]
    monkeypatch.setattr(bench, "plan", lambda: small)
    monkeypatch.setattr(bench, "run", functools.partial(bench.run, min_seconds=0.01))
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--json", str(out), "--device", "cpu"]) == 0
    stored = json.loads(out.read_text())
    assert [r["name"] for r in stored["rows"]] == [
        "matmul 2048^3 fp32",
        "train quadrant baseline",
    ]
    assert stored["quick"] is True
    assert "train quadrant baseline" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]


def test_bad_options_are_refused_by_name_before_measuring(
    tmp_path, monkeypatch, capsys
):
    def measured(**kwargs):
        raise AssertionError("the benchmark ran before its options were checked")

    monkeypatch.setattr(bench, "run", measured)
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    unwritable = Path("/sys/kernel") if os.access(read_only, os.W_OK) else read_only
    for args, error in [
        (["--device", "toaster"], "--device: 'toaster' is not a device name"),
        (["--json", str(tmp_path / "missing" / "x.json")], "--json: the folder"),
        (["--json", str(tmp_path)], "--json: "),
        (["--json", str(unwritable / "b.json")], "--json: cannot write to the folder"),
        (["--fast"], "unrecognized arguments: --fast"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            bench.main([*args, "--device", "cpu"] if args[0] == "--json" else args)
        assert exit_info.value.code == 2 and error in capsys.readouterr().err


def test_a_compiled_row_that_cannot_compile_here_is_reported_as_skipped_with_the_reason(
    monkeypatch,
):
    import torch._inductor.config as inductor

    monkeypatch.setattr(
        inductor, "force_disable_caches", True
    )  # a cached graph would need no compiler
    warnings.simplefilter(
        "ignore", UserWarning
    )  # "dynamo_pgo force disabled", of the line above
    monkeypatch.setattr(inductor.cpp, "cxx", ("no-such-c++-compiler",))
    torch._dynamo.reset()
    compiled = next(
        b for b in bench.plan() if b.name == "train quadrant CVAE, torch.compile"
    )
    row = bench.measure(compiled, torch.device("cpu"), min_seconds=0.01)
    torch._dynamo.reset()
    assert row.rate is None and row.skipped.startswith("torch.compile failed here:")
    results = {
        "device_name": "cpu",
        "device": "cpu",
        "threads": 1,
        "torch": "x",
        "python": "y",
        "date": "z",
        "rows": [bench.asdict(row)],
    }
    assert "skipped" in bench.format_table(results)


def test_the_compile_payoff_is_the_rate_ratio_and_the_steps_that_repay_the_compilation():
    def row(name, rate, first):
        return {"name": name, "rate": rate, "first_call_seconds": first}

    results = {
        "batch_size": 100,
        "rows": [
            row("train quadrant CVAE", 20_000.0, 0.5),
            row("train quadrant CVAE, torch.compile", 25_000.0, 4.5),
        ],
    }
    # 5 ms -> 4 ms a step: 1 ms saved per step repays 4 s of compiling in 4,000 steps.
    assert bench.compile_payoff(results) == (
        "torch.compile: the compiled quadrant CVAE step runs at 1.25 times the eager step's rate; "
        "compiling took 4.0 s, repaid after 4,000 steps of 100 examples"
    )
    results["rows"][1]["rate"] = 19_000.0
    assert bench.compile_payoff(results).endswith("compiling took 4.0 s, never repaid")
    results["rows"][1]["rate"] = None
    assert bench.compile_payoff(results) is None
