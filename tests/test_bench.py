"""The benchmark: every book model has a row, FLOPs counted, a table and JSON, bad
options refused. What it measures and reports, never how fast (``python -m
cvae.run.bench`` times; the test suite does not)."""

import json
import os
import warnings
from pathlib import Path

import pytest
import torch

from cvae.run import bench

CPU = torch.device("cpu")


def row(name: str) -> bench.Benchmark:
    return next(b for b in bench.plan() if b.name == name)


def test_the_plan_covers_every_model_the_book_trains():
    names = [b.name for b in bench.plan()]
    for model in ("VAE", "label CVAE, MLP", "label CVAE, conv", "quadrant baseline"):
        assert f"train {model}" in names
    step = names.index("train quadrant CVAE")
    assert names[step + 1 : step + 3] == [
        "train quadrant CVAE, torch.compile",
        "fit quadrant CVAE (2 epochs with validation)",
    ]
    assert (
        names[0] == "matmul 2048^3 fp32" and "train quadrant CVAE, 500-500/200" in names
    )
    assert names[-2:] == [
        "IS log-likelihood, VAE (S = 100)",
        "IS log p(y|x), quadrant CVAE (S = 100)",
    ]


def test_the_fit_row_times_whole_epochs_of_fit_with_validation():
    call, items, _ = next(b for b in bench.plan() if b.kind == "fit").build(CPU)
    history = call()
    assert items == bench.FIT_EXAMPLES * bench.FIT_EPOCHS
    assert history.epochs == len(history.validation["loss"]) == bench.FIT_EPOCHS


def test_training_rows_count_the_matrix_flops_of_a_real_step():
    measured = bench.measure(row("train quadrant baseline"), CPU, min_seconds=0.01)
    # Baseline(1): a 196-256-256-588 MLP (x: the given pixels), batch 100; forward and
    # two backward products per layer, but no input gradient for the first.
    forward = sum(2 * 100 * i * o for i, o in [(196, 256), (256, 256), (256, 588)])
    backward = 2 * forward - 2 * 100 * 196 * 256
    assert measured.unit == "examples/s" and measured.first_call_seconds > 0
    flops = measured.flops_per_second / measured.rate * 100
    assert flops == pytest.approx(forward + backward, rel=1e-6)


def test_the_compiled_row_compiles_the_whole_loss_in_one_graph_with_the_same_flops():
    """fullgraph=True: a graph break (such as a data-dependent nonzero in the pixel
    indices) raises instead of silently running part of the step uncompiled."""
    names = ("train quadrant CVAE", "train quadrant CVAE, torch.compile")
    eager, compiled = (
        bench.measure(row(name), CPU, min_seconds=0.01) for name in names
    )
    per_example = [m.flops_per_second / m.rate for m in (eager, compiled)]
    assert per_example[1] == pytest.approx(per_example[0], rel=1e-6)
    assert compiled.first_call_seconds > eager.first_call_seconds  # the compilation


def test_main_writes_fractions_of_the_same_runs_matmul_as_table_and_json(
    monkeypatch, tmp_path, capsys
):
    names = ("matmul 2048^3 fp32", "train quadrant baseline", "IS log-likelihood, VAE")
    rows = [b for b in bench.plan() if b.name.startswith(names)]
    monkeypatch.setattr(bench, "plan", lambda: rows)
    real = bench.run
    monkeypatch.setattr(
        bench, "run", lambda **options: real(**options, min_seconds=0.01)
    )
    assert (
        bench.main(["--quick", "--json", str(tmp_path / "b.json"), "--device=cpu"]) == 0
    )
    results = json.loads((tmp_path / "b.json").read_text())
    assert results["torch"] == torch.__version__ and results["device"] == "cpu"
    assert results["quick"] is True and os.listdir(tmp_path) == ["b.json"]
    matmul, train, evaluate = results["rows"]
    assert (
        matmul["fraction_of_matmul"] == 1.0 and evaluate["fraction_of_matmul"] is None
    )
    share = train["flops_per_second"] / matmul["flops_per_second"]
    assert train["fraction_of_matmul"] == pytest.approx(share)
    assert evaluate["unit"] == "examples x samples/s"
    assert "train quadrant baseline" in capsys.readouterr().out


def test_bad_options_are_refused_by_name_before_measuring(
    tmp_path, monkeypatch, capsys
):
    def measured(**options):
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
            bench.main(args)
        assert exit_info.value.code == 2 and error in capsys.readouterr().err


def test_a_compiled_row_that_cannot_compile_here_is_skipped_with_the_reason(
    monkeypatch,
):
    import torch._inductor.config as inductor

    monkeypatch.setattr(
        inductor, "force_disable_caches", True
    )  # a cached graph: no C++
    warnings.simplefilter("ignore", UserWarning)  # "dynamo_pgo force disabled"
    monkeypatch.setattr(inductor.cpp, "cxx", ("no-such-c++-compiler",))
    torch._dynamo.reset()
    measured = bench.measure(row("train quadrant CVAE, torch.compile"), CPU, 0.01)
    torch._dynamo.reset()
    assert measured.rate is None
    assert measured.skipped.startswith("torch.compile failed here:")
    machine = {"device_name": "cpu", "device": "cpu", "threads": 1, "torch": "x"}
    results = {**machine, "python": "y", "date": "z", "rows": [bench.asdict(measured)]}
    assert "skipped" in bench.format_table(results)


def test_the_compile_payoff_is_the_rate_ratio_and_the_steps_that_repay_compiling():
    def row(name, rate, first):
        return {"name": name, "rate": rate, "first_call_seconds": first}

    rows = [row("train quadrant CVAE", 20_000.0, 0.5),
            row("train quadrant CVAE, torch.compile", 25_000.0, 4.5)]  # fmt: skip
    results = {"batch_size": 100, "rows": rows}
    # 5 ms -> 4 ms a step: 1 ms saved per step repays 4 s of compiling in 4,000 steps.
    assert bench.compile_payoff(results) == (
        "torch.compile: the compiled quadrant CVAE step runs at 1.25 times the eager "
        "step's rate; compiling took 4.0 s, repaid after 4,000 steps of 100 examples"
    )
    rows[1]["rate"] = 19_000.0
    assert bench.compile_payoff(results).endswith("compiling took 4.0 s, never repaid")
    rows[1]["rate"] = None
    assert bench.compile_payoff(results) is None
