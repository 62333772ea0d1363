"""The quadrant experiment's command line end to end on a tiny configuration: results, checkpoints, resuming, refusals."""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

import cvae
from cvae.checkpoints import checksum
from cvae.experiments import quadrants
from cvae.experiments.quadrants import (
    CheckpointError,
    QuadrantConfig,
    main,
    run_quadrant_experiment,
    save_trained,
)

TINY = ["--data", "sample", "--limit", "200", "--epochs", "1", "--samples", "5", "--hidden", "16", "--latent", "2", "--particles", "2", "--no-progress"]


@pytest.fixture(scope="module", autouse=True)
def load_the_sample_once():
    """Reading the offline sample takes ~2 s; every run of this module reads the same digits."""
    cached = functools.lru_cache(maxsize=None)(quadrants.load_digits)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(quadrants, "load_digits", cached)
        yield


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("CVAE_DATA", "CVAE_DATA_ROOT", "CVAE_EPOCHS", "CVAE_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CVAE_DEVICE", "cpu")


def read_rows(folder):
    with open(folder / "results.csv", newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One tiny run (1 and 3 given quadrants) shared by the tests below; they copy it before changing it."""
    out = tmp_path_factory.mktemp("quadrants")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CVAE_DEVICE", "cpu")
        code = main([*TINY, "--quadrants", "1", "3", "--out", str(out)])
    assert code == 0
    return out


def copy_run(source, destination):
    destination.mkdir()
    for path in source.iterdir():
        (destination / path.name).write_bytes(path.read_bytes())
    return destination


def test_first_run_writes_results_and_checkpoints(first_run):
    rows = read_rows(first_run)
    assert [(r["model"], r["num_given"]) for r in rows] == [(m, k) for k in ("1", "3") for m in quadrants.MODELS]
    for row in rows:
        assert math.isfinite(float(row["nll"])) and float(row["nll"]) > 0
        assert row["resumed"] == "False" and row["data"] == "sample"
        assert row["train_size"] == "180" and row["test_size"] == "200"
    estimators = {r["model"]: r["estimator"] for r in rows}
    assert estimators == {"baseline": "exact", "cvae": "importance", "gsnn": "monte_carlo", "hybrid": "importance"}
    assert all(math.isnan(float(r["nll_importance"])) for r in rows if r["model"] == "gsnn")
    names = sorted(p.name for p in first_run.iterdir())
    expected = [".lock", "results.csv", "run.json"] + [f"{m}-q{k}-s0.pt" for m in quadrants.MODELS for k in (1, 3)]
    assert names == sorted(expected)  # no temporary files


def test_the_run_record_says_how_the_results_were_made(first_run):
    record = json.loads((first_run / "run.json").read_text(encoding="utf-8"))
    assert record["command"] == "python -m cvae.experiments.quadrants " + " ".join(
        [*TINY, "--quadrants", "1", "3", "--out", str(first_run)])
    assert record["configuration"]["epochs"] == 1 and record["configuration"]["patience"] == 10
    assert record["configuration"]["seeds"] == [0] and record["configuration"]["hidden_dims"] == [16]
    assert record["torch"] == torch.__version__ and record["cvae"] == cvae.__version__
    assert record["device"] == "cpu" and record["device_name"] and record["finished"].endswith("UTC")


def test_checkpoints_load_weights_only_and_record_config_and_versions(first_run):
    payload = torch.load(first_run / "cvae-q3-s0.pt", weights_only=True)
    assert payload["architecture"]["class"] == "StructuredCVAE" and payload["kind"] == "cvae"
    assert payload["architecture"]["args"] == {
        "num_given": 3, "alpha": 1.0, "latent_dim": 2, "hidden_dims": [16],
        "num_particles": 5, "gsnn_objective": "mean_log",  # the defaults: the CVAE uses neither
        "baseline": {"num_given": 3, "hidden_dims": [16]},
    }
    assert payload["config"]["epochs"] == 1 and payload["config"]["limit"] == 200
    assert payload["versions"]["torch"] == str(torch.__version__)
    assert len(payload["history"]["train"]["loss"]) == 1


def test_second_run_resumes_without_retraining(first_run, tmp_path, capsys):
    out = copy_run(first_run, tmp_path / "again")
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.pt")}
    capsys.readouterr()
    assert main([*TINY, "--quadrants", "1", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("resumed ") == 8 and "trained " not in printed.replace("retrained", "")
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.pt")} == stamps
    before, after = read_rows(first_run), read_rows(out)
    assert all(r["resumed"] == "True" for r in after)
    assert [r["nll"] for r in after] == [r["nll"] for r in before]  # evaluation is seeded


def test_an_interrupted_run_trains_only_what_is_missing(first_run, tmp_path, capsys):
    out = copy_run(first_run, tmp_path / "partial")
    (out / "hybrid-q3-s0.pt").unlink()
    capsys.readouterr()
    assert main([*TINY, "--quadrants", "1", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("resumed ") == 7 and "trained hybrid, 3 given" in printed
    assert (out / "hybrid-q3-s0.pt").exists()


def test_mismatched_or_corrupted_checkpoints_are_refused_clearly(first_run, tmp_path, capsys):
    out = copy_run(first_run, tmp_path / "refused")
    (out / "run.json").unlink()  # checkpoints alone, as copied into a new folder: their own checks
    assert main([*TINY, "--hidden", "32", "--quadrants", "1", "--out", str(out)]) == 2
    assert "baseline-q1-s0.pt holds a different architecture: Baseline(num_given=1, hidden_dims=[16])" in capsys.readouterr().err
    assert main([*TINY, "--quadrants", "1", "--epochs", "2", "--out", str(out)]) == 2
    assert "trained with other settings: epochs 1 (checkpoint) vs 2 (this run)" in capsys.readouterr().err
    (out / "cvae-q1-s0.pt").write_bytes(b"not a checkpoint")
    assert main([*TINY, "--quadrants", "1", "--out", str(out)]) == 2
    assert "cvae-q1-s0.pt is not a readable checkpoint" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="delete it to retrain"):
        run_quadrant_experiment(
            QuadrantConfig(limit=200, epochs=1, patience=10, hidden_dims=(16,), latent_dim=2, num_particles=2, num_samples=5),
            [1], out=out, progress=False, log=lambda line: None,
        )


def test_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    from cvae.structured import Baseline
    from cvae.training import History

    def failing_save(payload, file):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_trained(tmp_path / "baseline-q1-s0.pt", "baseline", Baseline(1, (4,)), QuadrantConfig(), History())
    assert list(tmp_path.iterdir()) == []


def test_bad_settings_are_named(capsys):
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        QuadrantConfig(hybrid_alpha=1.5)
    with pytest.raises(ValueError, match="data must be one of"):
        QuadrantConfig(data="cifar")
    with pytest.raises(ValueError, match="quadrants must list"):
        run_quadrant_experiment(QuadrantConfig(limit=200), [1, 1], progress=False)
    assert main([*TINY, "--alpha", "2", "--out", "unused"]) == 2
    assert "alpha must be in [0, 1]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--quadrants", "4"])


def test_bf16_training_runs_and_is_recorded_in_the_checkpoints(tmp_path, capsys):
    out = tmp_path / "bf16"
    assert main([*TINY, "--quadrants", "3", "--precision", "bf16", "--out", str(out)]) == 0
    payload = torch.load(out / "cvae-q3-s0.pt", weights_only=True)
    assert payload["config"]["precision"] == "bf16"
    assert all(math.isfinite(float(r["nll"])) for r in read_rows(out))
    (out / "run.json").unlink()  # the checkpoints alone
    assert main([*TINY, "--quadrants", "3", "--out", str(out)]) == 2  # fp32 run refuses bf16 checkpoints
    assert "precision 'bf16' (checkpoint) vs 'fp32' (this run)" in capsys.readouterr().err
    with pytest.raises(ValueError, match="precision must be one of 'fp32', 'bf16'"):
        QuadrantConfig(precision="fp16")


def test_seeds_give_one_row_and_one_checkpoint_per_model_and_seed(first_run, tmp_path, capsys):
    out = copy_run(first_run, tmp_path / "seeds")
    assert main([*TINY, "--quadrants", "3", "--seeds", "0", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "seeds=[0, 1]" in printed and printed.count("resumed ") == 4 and printed.count("trained ") == 4
    rows = [r for r in read_rows(out) if r["num_given"] == "3"]
    assert [(r["model"], r["seed"]) for r in rows] == [(m, s) for m in quadrants.MODELS for s in ("0", "1")]
    assert {p.name for p in out.glob("*-q3-s1.pt")} == {f"{m}-q3-s1.pt" for m in quadrants.MODELS}
    payload = torch.load(out / "gsnn-q3-s1.pt", weights_only=True)
    assert payload["config"]["seed"] == 1
    by_seed = {r["seed"]: r["nll"] for r in rows if r["model"] == "baseline"}
    assert by_seed["0"] != by_seed["1"]  # another initialization, another result
    for row in rows:  # the test KL and active units of the models with a recognition network
        has_q = row["model"] in ("cvae", "hybrid")
        assert math.isnan(float(row["kl"])) != has_q and math.isnan(float(row["active_units"])) != has_q
        if has_q:
            assert float(row["kl"]) >= 0 and 0 <= float(row["active_units"]) <= 2
    with pytest.raises(ValueError, match="seeds must list at least one seed, each once"):
        run_quadrant_experiment(QuadrantConfig(limit=200), [1], seeds=[1, 1], progress=False)
    assert main([*TINY, "--seeds", "0", "-1", "--out", str(out)]) == 2
    assert "seeds[1] must be" in capsys.readouterr().err


def test_the_gsnn_objective_is_an_option_recorded_in_the_checkpoints(first_run, tmp_path, capsys):
    out = copy_run(first_run, tmp_path / "log-mean")
    (out / "run.json").unlink()  # the checkpoints alone
    assert main([*TINY, "--quadrants", "3", "--gsnn-objective", "log_mean", "--out", str(out)]) == 2
    assert "gsnn-q3-s0.pt holds a different architecture" in capsys.readouterr().err  # trained on mean_log
    out = tmp_path / "fresh"
    assert main([*TINY, "--quadrants", "3", "--gsnn-objective", "log_mean", "--out", str(out)]) == 0
    for kind in ("gsnn", "hybrid"):
        payload = torch.load(out / f"{kind}-q3-s0.pt", weights_only=True)
        assert payload["architecture"]["args"]["gsnn_objective"] == "log_mean"
        assert payload["config"]["gsnn_objective"] == "log_mean"
    with pytest.raises(ValueError, match="gsnn_objective must be one of 'mean_log', 'log_mean'"):
        QuadrantConfig(gsnn_objective="mean")


# --------------------------------------------------------------- nothing lost, nothing silently wrong


def test_a_run_of_other_quadrants_keeps_the_rows_already_there(first_run, tmp_path, capsys):
    out = copy_run(first_run, tmp_path / "merged")
    (out / ".results.csv.k3j4h5g6.cvae-tmp").write_text("half a file")  # what a killed write leaves
    (out / ".cvae-q2.pt.a1b2c3d4.cvae-tmp").write_bytes(b"half a checkpoint")
    (out / ".notes.abcdefgh.tmp").write_text("a reader's own")
    assert main([*TINY, "--quadrants", "2", "--out", str(out)]) == 0
    assert "removed what interrupted writes left" in capsys.readouterr().out
    rows = read_rows(out)
    assert [(r["model"], r["num_given"]) for r in rows] == [(m, k) for k in ("1", "2", "3") for m in quadrants.MODELS]
    assert [r for r in rows if r["num_given"] != "2"] == read_rows(first_run)  # untouched, not re-evaluated
    assert [p.name for p in out.glob("*tmp")] == [".notes.abcdefgh.tmp"]


def test_results_and_checkpoints_get_the_users_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        assert main([*TINY, "--quadrants", "3", "--out", str(tmp_path)]) == 0
    finally:
        os.umask(previous)
    assert {oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir() if p.name != ".lock"} == {"0o644"}


def test_damaged_checkpoints_are_one_error_line(first_run, tmp_path, capsys):
    out = copy_run(first_run, tmp_path / "damaged")
    data = bytearray((out / "gsnn-q1-s0.pt").read_bytes())
    data[len(data) // 2] ^= 0x01
    (out / "gsnn-q1-s0.pt").write_bytes(bytes(data))
    (out / "cvae-q3-s0.pt").unlink()
    (out / "cvae-q3-s0.pt").mkdir()
    for quadrant, expected in (("1", "gsnn-q1-s0.pt"), ("3", "cvae-q3-s0.pt is a folder, not a checkpoint file")):
        assert main([*TINY, "--quadrants", quadrant, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and expected in err, err
    def scores(folder):
        return [(r["model"], r["num_given"], r["nll"]) for r in read_rows(folder)]

    assert scores(out) == scores(first_run)  # a refused run loses no row


def test_checkpoints_with_nan_weights_are_refused(first_run, tmp_path, capsys):
    """Made by hand (save_checkpoint refuses NaN weights), with a valid checksum."""
    out = copy_run(first_run, tmp_path / "nan")
    payload = torch.load(out / "baseline-q1-s0.pt", weights_only=True)
    next(iter(payload["state_dict"].values()))[0, 0] = float("nan")
    payload["checksum"] = checksum(payload)
    torch.save(payload, out / "baseline-q1-s0.pt")
    assert main([*TINY, "--quadrants", "1", "--out", str(out)]) == 2
    assert "baseline-q1-s0.pt holds NaN or infinite weights" in capsys.readouterr().err


def test_the_reported_flipped_bit_is_one_error_line(first_run, tmp_path, capsys):
    """Offset 2025 XOR 0x80 of the CVAE's checkpoint: it turned a key of the stored config into
    a tuple, which reached the checksum's JSON as a TypeError."""
    out = copy_run(first_run, tmp_path / "flipped")
    data = bytearray((out / "cvae-q1-s0.pt").read_bytes())
    data[2025] ^= 0x80
    (out / "cvae-q1-s0.pt").write_bytes(bytes(data))
    assert main([*TINY, "--quadrants", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "cvae-q1-s0.pt" in err, err
    assert err.endswith("delete it to retrain\n"), err


def test_a_numpy_learning_rate_is_kept_as_a_float_and_the_model_resumes(tmp_path):
    """np.logspace gives NumPy scalars: stored as they were, no checkpoint of them loaded back."""
    learning_rate = np.logspace(-3, -2, 3)[1]
    config = QuadrantConfig(data=np.str_("sample"), limit=200, epochs=1, hidden_dims=(16,),
                            learning_rate=learning_rate)
    assert type(config.learning_rate) is float and type(config.data) is str
    digits, lines = quadrants.load_experiment_digits(config), []
    for _ in range(2):
        quadrants.train_model("baseline", 1, digits, config, checkpoint_dir=tmp_path,
                              progress=False, log=lines.append)
    assert lines[0].startswith("trained baseline") and lines[1].startswith("resumed baseline")


PYTHON = [sys.executable, "-m", "cvae.experiments.quadrants"]


def start_run(out, *args) -> subprocess.Popen:
    """The command line in a child process that trains until stopped (no early stopping, a huge budget)."""
    env = {**os.environ, "CVAE_DEVICE": "cpu", "PYTHONUNBUFFERED": "1"}
    env.pop("CVAE_EPOCHS", None)
    command = [*PYTHON, *TINY, "--epochs", "100000", "--patience", "0", "--out", str(out), *args]
    # Ctrl-C as in a terminal: a test run started in the background (``make test &``, some CI
    # runners) passes SIGINT on ignored, and Python keeps ignoring a signal it inherits ignored.
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_training(process: subprocess.Popen) -> None:
    """Read the child's output until it has loaded the data (it is training then); kill it after 60 s."""
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        for line in process.stdout:
            if line.startswith("data:"):
                time.sleep(0.5)
                return
    finally:
        watchdog.cancel()
    pytest.fail(f"the run ended early: {process.wait()} {process.stderr.read()}")


@pytest.fixture
def child():
    processes = []
    yield processes.append
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_ctrl_c_keeps_every_row_and_a_killed_run_leaves_the_folder_usable(first_run, tmp_path, capsys, child):
    out = copy_run(first_run, tmp_path / "stopped")
    (out / "run.json").unlink()  # the children train with another budget (and finish no row)
    before = (out / "results.csv").read_bytes()
    run = start_run(out, "--quadrants", "2")
    child(run)
    wait_for_training(run)
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=30) == 130
    err = run.stderr.read()
    assert err.startswith("error: interrupted; rerun to resume") and err.count("\n") == 1, err
    assert (out / "results.csv").read_bytes() == before
    killed = start_run(out, "--quadrants", "2")
    child(killed)
    wait_for_training(killed)
    killed.kill()
    killed.wait(timeout=10)
    assert (out / "results.csv").read_bytes() == before
    capsys.readouterr()
    assert main([*TINY, "--quadrants", "1", "2", "3", "--out", str(out)]) == 0  # the lock died with the process
    printed = capsys.readouterr().out
    assert printed.count("resumed ") == 8 and printed.count("trained ") == 4
    assert len(read_rows(out)) == 12


def test_a_second_run_on_a_folder_in_use_is_refused(tmp_path, capsys, child):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)", str(tmp_path / ".lock")],
        stdout=subprocess.PIPE, text=True,
    )
    child(holder)
    assert holder.stdout.readline() == "locked\n"
    assert main([*TINY, "--quadrants", "3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: another run is using {tmp_path}") and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]  # nothing trained, nothing written


def test_ctrl_c_in_the_first_seconds_is_one_line_and_status_130(tmp_path, child):
    """While torch is imported, and at the first output line: no traceback (there was one)."""
    early = [start_run(tmp_path / f"early-{index}") for index in range(2)]
    for process in early:
        child(process)
    time.sleep(1.0)
    early[0].send_signal(signal.SIGINT)
    time.sleep(1.5)
    early[1].send_signal(signal.SIGINT)
    first_line = start_run(tmp_path / "first-line")
    child(first_line)
    assert first_line.stdout.readline().startswith("configuration: ")
    first_line.send_signal(signal.SIGINT)
    for process in (*early, first_line):
        assert process.wait(timeout=60) == 130
        err = process.stderr.read()
        assert err.startswith("error: interrupted") and err.count("\n") == 1 and "Traceback" not in err, err


def test_a_folder_holds_one_configuration_and_out_must_name_a_folder(first_run, tmp_path, capsys):
    out = copy_run(first_run, tmp_path / "one-configuration")
    assert main([*TINY, "--quadrants", "2", "--samples", "7", "--particles", "3", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: {out} holds the results of another configuration (num_particles 2 there, 3 here; num_samples 5 "
        "there, 7 here; see its run.json): pick another --out for this one\n"
    )
    assert read_rows(out) == read_rows(first_run)
    assert main([*TINY, "--out", ""]) == 2  # was: the current folder
    assert "error: --out is empty; give a folder name" in capsys.readouterr().err
    (out / "run.json").unlink()
    (out / "run.json").mkdir()
    assert main([*TINY, "--quadrants", "2", "--out", str(out)]) == 2
    assert "run.json is a folder, not this experiment's run record; move it away" in capsys.readouterr().err


def file_size_quota():
    """In the child: files may not grow past 300 bytes, and a write past that fails (EFBIG), as on a quota."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (300, 300))


def test_a_run_record_that_cannot_be_written_is_one_line(first_run, tmp_path):
    out = copy_run(first_run, tmp_path / "quota")
    before = read_rows(out)
    env = {**os.environ, "CVAE_DEVICE": "cpu", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([*PYTHON, *TINY, "--quadrants", "1", "3", "--out", str(out)], capture_output=True,
                          text=True, env=env, preexec_fn=file_size_quota, timeout=600)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"{out / 'run.json'} cannot be written (File too large)" in done.stderr
    assert read_rows(out) == before


def test_a_results_file_garbled_while_a_run_trains_is_one_line(tmp_path, capsys, monkeypatch):
    out, real_fit = tmp_path / "garbled", quadrants.fit

    def fit_then_garble(*args, **kwargs):
        (out / "results.csv").write_bytes(b"\xff\xfe saved over by another program")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(quadrants, "fit", fit_then_garble)
    assert main([*TINY, "--quadrants", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out / 'results.csv'} cannot be read as results") and err.count("\n") == 1
    assert (out / "baseline-q3-s0.pt").exists()  # the trained model is kept


def test_seeds_and_sizes_beyond_what_can_run_are_one_line(tmp_path, capsys):
    assert main([*TINY, "--seeds", str(2**63), "--out", str(tmp_path)]) == 2
    assert "error: seeds[0] must be an int in [0, 2**63), got 9223372036854775808" in capsys.readouterr().err
    assert main([*TINY, "--quadrants", "1", "--particles", "10000000", "--out", str(tmp_path)]) == 2  # was: killed
    err = capsys.readouterr().err
    assert err.startswith("error: this configuration needs at least 2,257.5 GiB of memory to train, but cpu has ")
    assert "lower num_particles (--particles), batch_size (--batch-size) or hidden_dims (--hidden)" in err
    assert not list(tmp_path.glob("*.pt"))


def test_mnist_files_with_too_few_digits_are_one_line(tmp_path, monkeypatch, capsys):
    from test_data import write_tiny_mnist

    write_tiny_mnist(tmp_path / "data", n_train=5, n_test=2)
    monkeypatch.setenv("CVAE_DATA_ROOT", str(tmp_path / "data"))
    assert main([*TINY, "--data", "mnist", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        "error: the 'mnist' data hold 5 training and 2 test digits: too few for this experiment, which holds "
        "out 0.1 of the training digits for validation and needs test digits\n"
    )


def test_a_finite_blow_up_is_not_kept(tmp_path, capsys):
    """Baseline at a learning rate of 1e6: its loss went from 412 to 3.7e7, and its checkpoint and row were kept."""
    assert main([*TINY, "--quadrants", "1", "--lr", "1e6", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'baseline-q1-s0.pt'} not written: the best validation loss, ")
    assert "is more than twice the untrained model's" in err and err.count("\n") == 1, err
    assert not list(tmp_path.glob("*.pt")) and not (tmp_path / "results.csv").exists()


def test_the_cvae_checkpoint_serves_any_particle_count(first_run, tmp_path, capsys):
    out = copy_run(first_run, tmp_path / "particles")
    (out / "run.json").unlink()  # the checkpoints alone
    assert main([*TINY, "--quadrants", "1", "--particles", "3", "--out", str(out)]) == 2
    printed = capsys.readouterr()
    assert "resumed cvae, 1 given quadrant(s), seed 0" in printed.out  # was: refused
    assert "gsnn-q1-s0.pt holds a different architecture" in printed.err  # the GSNN draws them
