"""The benchmark command: every book model has a row, output as table and JSON, bad options refused.

These tests check what the benchmark measures and reports, never how fast anything is
(timings belong to ``python -m cvae.bench``, not to the test suite).
"""

import functools
import json

import pytest
import torch

from cvae import bench


def test_the_plan_covers_every_model_the_book_trains():
    names = [b.name for b in bench.plan()]
    for model in ("VAE", "label CVAE, MLP", "label CVAE, conv", "quadrant baseline", "quadrant CVAE"):
        assert f"train {model}" in names
    assert names[0] == "matmul 2048^3 fp32"
    assert any(n.startswith("IS log-likelihood, VAE") for n in names)
    assert any(n.startswith("IS log p(y|x), quadrant CVAE") for n in names)
    assert "train quadrant CVAE, 500-500/200" in names
    assert names.index("fit quadrant CVAE (2 epochs with validation)") == names.index("train quadrant CVAE") + 1
    assert len(set(names)) == len(names)


def test_the_fit_row_times_whole_epochs_of_fit_with_validation():
    benchmark = next(b for b in bench.plan() if b.kind == "fit")
    call, items, _ = benchmark.build(torch.device("cpu"))
    assert items == bench.FIT_EXAMPLES * bench.FIT_EPOCHS
    history = call()
    assert history.epochs == bench.FIT_EPOCHS and len(history.validation["loss"]) == bench.FIT_EPOCHS


def test_training_rows_count_the_matrix_flops_of_a_real_step():
    benchmark = next(b for b in bench.plan() if b.name == "train quadrant baseline")
    row = bench.measure(benchmark, torch.device("cpu"), min_seconds=0.01)
    # Baseline(1): 784-256-256-588 MLP, batch 100; forward + two backward products per layer.
    layers = [(784, 256), (256, 256), (256, 588)]
    forward = sum(2 * 100 * i * o for i, o in layers)
    backward = 2 * forward - 2 * 100 * 784 * 256  # no input gradient for the first layer
    assert row.unit == "examples/s" and row.rate > 0
    assert row.flops_per_second / row.rate * 100 == pytest.approx(forward + backward, rel=1e-6)


def test_a_run_reports_machine_versions_and_fractions_of_the_same_runs_matmul(monkeypatch):
    small = [b for b in bench.plan() if b.name in ("matmul 2048^3 fp32", "train quadrant baseline",
                                                   "IS log-likelihood, VAE (S = 100)")]
    monkeypatch.setattr(bench, "plan", lambda: small)
    results = bench.run(device="cpu", min_seconds=0.01)
    assert results["torch"] == torch.__version__ and results["device"] == "cpu" and results["threads"] >= 1
    matmul, train, evaluate = results["rows"]
    assert matmul["fraction_of_matmul"] == 1.0
    assert train["fraction_of_matmul"] == pytest.approx(train["flops_per_second"] / matmul["flops_per_second"])
    assert evaluate["unit"] == "examples x samples/s" and evaluate["fraction_of_matmul"] is None
    table = bench.format_table(results)
    assert "train quadrant baseline" in table and "of fp32 matmul" in table


def test_main_prints_the_table_and_writes_json(monkeypatch, tmp_path, capsys):
    small = [b for b in bench.plan() if b.name in ("matmul 2048^3 fp32", "train quadrant baseline")]
    monkeypatch.setattr(bench, "plan", lambda: small)
    monkeypatch.setattr(bench, "run", functools.partial(bench.run, min_seconds=0.01))
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--json", str(out), "--device", "cpu"]) == 0
    stored = json.loads(out.read_text())
    assert [r["name"] for r in stored["rows"]] == ["matmul 2048^3 fp32", "train quadrant baseline"]
    assert stored["quick"] is True
    assert "train quadrant baseline" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]


def test_bad_options_are_refused_by_name(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--device", "toaster"])
    assert "--device: 'toaster' is not a device name" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--json", str(tmp_path / "missing" / "x.json")])
    assert "--json: the folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--fast"])
    with pytest.raises(ValueError, match="min_seconds must be > 0"):
        bench.run(device="cpu", min_seconds=0)
