"""The quadrant experiment and its command line, ``python -m cvae.run``, end to end on
a tiny configuration: results, checkpoints, resuming, merging, refusals, Ctrl-C."""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import cvae
import cvae.experiment as experiment
from cvae.experiment import (
    MODELS,
    QuadrantConfig,
    completions,
    run_quadrant_experiment,
)
from cvae.quadrants import quadrant_mask
from cvae.run.checkpoints import checksum
from cvae.run.cli import (
    COMMAND_LINE_EPOCHS,
    _config,
    _parse_args,
    main,
    read_results,
    read_run,
    write_results,
)

TINY = "--data sample --limit 200 --epochs 1 --samples 5 --hidden 16 --latent 2".split()
TINY += ["--particles", "2", "--no-progress"]
SMALL = {"limit": 200, "epochs": 1, "hidden_dims": (16,), "latent_dim": 2}


@pytest.fixture(scope="module", autouse=True)
def load_the_sample_once():
    """Reading the offline sample takes ~2 s; every run here reads the same digits."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            experiment, "load_digits", functools.cache(experiment.load_digits)
        )
        yield


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("CVAE_DATASET", "CVAE_DATA", "CVAE_DATA_ROOT", "CVAE_EPOCHS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CVAE_DEVICE", "cpu")


def read_rows(folder: Path) -> list[dict]:
    with open(folder / "results.csv", newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def run(capsys, folder, *args) -> tuple[int, str, str]:
    code = main([*TINY, *args, "--out", str(folder)])
    out, err = capsys.readouterr()
    if code:  # one line, no traceback
        assert err.startswith("error: ") and err.count("\n") == 1, err
    return code, out, err


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One tiny run (1 and 3 given quadrants); the tests copy it before changing it."""
    out = tmp_path_factory.mktemp("quadrants")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CVAE_DEVICE", "cpu")
        assert main([*TINY, "--quadrants", "1", "3", "--out", str(out)]) == 0
    return out


def copy_run(source: Path, destination: Path) -> Path:
    destination.mkdir()
    for path in source.iterdir():
        (destination / path.name).write_bytes(path.read_bytes())
    return destination


def test_the_experiment_keeps_every_test_examples_scores_for_paired_comparisons():
    result = run_quadrant_experiment(
        QuadrantConfig(**SMALL), [1], seeds=[0, 1], device="cpu", progress=False,
        log=lambda line: None,
    )  # fmt: skip
    for kind in MODELS:
        scores = result.per_example(kind, 1, "nll")
        assert scores.shape == (2, 200) and torch.isfinite(scores).all()
        torch.testing.assert_close(
            scores.double().mean(1).tolist(), result.values(kind, 1, "nll")
        )
    gsnn = result.per_example("gsnn", 1, "nll_importance")
    assert gsnn.isnan().all()  # a GSNN has no q: no importance-sampled score
    baseline = [
        result.per_example("baseline", 1, c) for c in ("nll", "nll_monte_carlo")
    ]
    assert torch.equal(*baseline)  # exact: the same under either name


def test_a_run_writes_rows_checkpoints_and_its_record(first_run):
    rows = read_rows(first_run)
    assert [(r["model"], r["num_given"]) for r in rows] == [
        (m, k) for k in "13" for m in MODELS
    ]
    assert all(float(r["nll"]) > 0 and r["resumed"] == "False" for r in rows)
    assert {(r["train_size"], r["test_size"]) for r in rows} == {("180", "200")}
    assert [r["estimator"] for r in rows[:4]] == [
        "exact", "importance", "monte_carlo", "importance"
    ]  # fmt: skip
    names = {f"{m}-q{k}-s0.pt" for m in MODELS for k in (1, 3)}
    figures = {"completions-q1.png", "completions-q3.png"}
    stored = {".lock", "results.csv", "run.json", "scores.pt", *figures}
    assert set(os.listdir(first_run)) == stored | names
    record = json.loads((first_run / "run.json").read_text(encoding="utf-8"))
    command = [*TINY, "--quadrants", "1", "3", "--out", str(first_run)]
    assert record["command"] == "python -m cvae.run " + " ".join(command)
    assert record["configuration"]["patience"] == 10
    assert (
        record["configuration"]["seeds"] == [0] and record["cvae"] == cvae.__version__
    )
    assert record["finished"].endswith("UTC") and record["commands"] == [
        record["command"]
    ]
    payload = torch.load(first_run / "cvae-q3-s0.pt", weights_only=True)
    assert payload["kind"] == "cvae" and payload["config"]["limit"] == 200
    assert payload["architecture"]["args"] == {
        "num_given": 3, "alpha": 1.0, "latent_dim": 2, "hidden_dims": [16],
        "num_particles": 5, "gsnn_objective": "mean_log",  # defaults: CVAE uses none
        "baseline": {"num_given": 3, "hidden_dims": [16]},
    }  # fmt: skip


def test_a_rerun_resumes_and_trains_only_what_is_missing(first_run, tmp_path, capsys):
    out = copy_run(first_run, tmp_path / "again")
    (out / "hybrid-q3-s0.pt").unlink()
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*-s0.pt")}  # models
    code, printed, _ = run(capsys, out, "--quadrants", "1", "3")
    assert code == 0 and printed.count("resumed ") == 7
    assert "trained hybrid, 3 given" in printed
    assert {p: os.stat(out / p).st_mtime_ns for p in stamps} == stamps
    nll = [[r["nll"] for r in read_rows(folder)[:7]] for folder in (out, first_run)]
    assert nll[0] == nll[1]  # evaluation is seeded
    code, _, _ = run(capsys, out, "--quadrants", "1", "3", "--seeds", "1")
    commands = json.loads((out / "run.json").read_text(encoding="utf-8"))["commands"]
    assert (
        code == 0 and len(commands) == 3 and commands[2].endswith("1 --out " + str(out))
    )
    assert read_run(out).seeds == [0, 1] and read_run(out).settings == [1, 3]


def test_a_stored_run_reads_back_every_test_examples_scores(first_run, tmp_path):
    stored = read_run(first_run)
    assert stored.seeds == [0] and stored.settings == [1, 3]
    for row in stored.rows:
        kind, num_given = row["model"], int(row["num_given"])
        for column in ("nll_importance", "nll_monte_carlo"):
            scores = stored.per_example(kind, num_given, column)
            assert scores.shape == (1, 200) and scores.dtype == torch.float32
            mean = float(scores.double().mean())  # the row's mean, to its 4 decimals
            assert mean == pytest.approx(float(row[column]), abs=1e-4, nan_ok=True)
    unfinished = copy_run(first_run, tmp_path / "unfinished")
    lines = (unfinished / "results.csv").read_text(encoding="utf-8").splitlines()
    (unfinished / "results.csv").write_text("\n".join(lines[:-1]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"not finished \(hybrid/3/0 missing\)"):
        read_run(unfinished)
    damaged = copy_run(first_run, tmp_path / "damaged")
    (damaged / "scores.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=r"scores.pt cannot be read as scores"):
        read_run(damaged)
    torch.save({"cvae/1/0": {}}, damaged / "scores.pt")
    with pytest.raises(ValueError, match=r"no per-example scores of baseline/1/0, "):
        read_run(damaged)
    (damaged / "run.json").unlink()
    with pytest.raises(ValueError, match=r"holds no finished run: run.json missing"):
        read_run(damaged)


def test_completions_show_the_truth_the_input_and_each_models_draws():
    result = run_quadrant_experiment(
        QuadrantConfig(**SMALL), [1], device="cpu", progress=False, log=lambda x: None
    )
    images, names = completions(result, 1, draws=2)
    assert names == [
        "truth",
        "input",
        "baseline",
        *(k for k in MODELS[1:] for _ in "ab"),
    ]
    labels = result.digits.test_labels
    assert images.shape == (len(labels.unique()), 9, 1, 28, 28)
    first = [int((labels == c).nonzero()[0]) for c in labels.unique()]
    truth = (result.digits.test_images[first] > 0.5).float()
    torch.testing.assert_close(images[:, 0], truth)  # the binarized test image
    hidden, flat, truth = (
        quadrant_mask(1).flatten(),
        images.flatten(2),
        truth.flatten(1),
    )
    assert (flat[:, :, ~hidden] == truth[:, None, ~hidden]).all()  # x kept everywhere
    assert (flat[:, 1, hidden] == 0.35).all()  # the input: hidden pixels grey
    assert not torch.equal(images[:, 3], images[:, 4])  # two draws of the CVAE


def test_options_are_recorded_and_refuse_other_checkpoints(first_run, tmp_path, capsys):
    out = copy_run(first_run, tmp_path / "options")
    (out / "run.json").unlink()  # the checkpoints alone: their own checks
    code, printed, err = run(capsys, out, "--quadrants", "1", "--particles", "3")
    assert code == 2 and "resumed cvae, 1 given quadrant(s), seed 0" in printed  # any L
    assert "gsnn-q1-s0.pt holds a different architecture" in err  # the GSNN draws them
    (out / "run.json").unlink()  # written by that run, with its L
    err = run(capsys, out, "--quadrants", "1", "--precision", "bf16")[2]
    assert "precision 'fp32' (checkpoint) vs 'bf16' (this run). Use another" in err
    out = tmp_path / "fresh"
    options = [
        "--seeds",
        "0",
        "1",
        "--gsnn-objective",
        "log_mean",
        "--precision",
        "bf16",
    ]
    code, printed, _ = run(capsys, out, "--quadrants", "3", *options)
    assert code == 0 and "seeds=[0, 1]" in printed
    rows = read_rows(out)
    assert [(r["model"], r["seed"]) for r in rows] == [
        (m, s) for m in MODELS for s in "01"
    ]
    payload = torch.load(out / "gsnn-q3-s1.pt", weights_only=True)
    assert payload["config"]["seed"] == 1 and payload["config"]["precision"] == "bf16"
    assert payload["architecture"]["args"]["gsnn_objective"] == "log_mean"
    baseline = {r["seed"]: r["nll"] for r in rows if r["model"] == "baseline"}
    assert baseline["0"] != baseline["1"]  # another initialization, another result
    for (
        row
    ) in rows:  # the test KL and active units of the models with a recognition net
        has_q, kl, active = (
            row["model"] in ("cvae", "hybrid"),
            row["kl"],
            row["active_units"],
        )
        assert math.isnan(float(kl)) != has_q and math.isnan(float(active)) != has_q
        assert not has_q or (float(kl) >= 0 and 0 <= float(active) <= 2)


def test_other_quadrants_keep_the_rows_there_and_leftovers_go(
    first_run, tmp_path, capsys
):
    out = copy_run(first_run, tmp_path / "merged")
    (out / ".results.csv.k3j4h5g6.cvae-tmp").write_text("half")  # a killed write's
    (out / ".notes.abcdefgh.tmp").write_text("a reader's own")
    code, printed, _ = run(capsys, out, "--quadrants", "2")
    assert code == 0 and "removed what interrupted writes left" in printed
    rows = read_rows(out)
    assert [(r["model"], r["num_given"]) for r in rows] == [
        (m, k) for k in "123" for m in MODELS
    ]
    assert [r for r in rows if r["num_given"] != "2"] == read_rows(first_run)
    assert [p.name for p in out.glob("*tmp")] == [".notes.abcdefgh.tmp"]


def test_damaged_checkpoints_are_one_error_line_and_lose_no_row(
    first_run, tmp_path, capsys
):
    """Offset 2025 XOR 0x80 of the CVAE's checkpoint turned a key of its config into a
    tuple, which reached the checksum as a TypeError; NaN weights had a checksum."""
    out = copy_run(first_run, tmp_path / "damaged")
    data = bytearray((out / "cvae-q1-s0.pt").read_bytes())
    data[2025] ^= 0x80
    (out / "cvae-q1-s0.pt").write_bytes(bytes(data))
    payload = torch.load(out / "baseline-q3-s0.pt", weights_only=True)
    next(iter(payload["state_dict"].values()))[0, 0] = float("nan")
    payload["checksum"] = checksum(payload)
    torch.save(payload, out / "baseline-q3-s0.pt")
    for quadrant, damaged in (("1", "cvae-q1-s0.pt"), ("3", "baseline-q3-s0.pt")):
        code, _, err = run(capsys, out, "--quadrants", quadrant)
        assert code == 2 and damaged in err and err.endswith("delete it to retrain\n")
    nll = [[(r["model"], r["nll"]) for r in read_rows(f)] for f in (out, first_run)]
    assert nll[0] == nll[1]


def test_a_numpy_learning_rate_is_kept_as_a_float_and_the_model_resumes(tmp_path):
    """np.logspace gives NumPy scalars: stored as they were, no checkpoint loaded."""
    rate = np.logspace(-3, -2, 3)[1]
    config = QuadrantConfig(data=np.str_("sample"), learning_rate=rate, **SMALL)
    assert type(config.learning_rate) is float and type(config.data) is str
    digits, lines = experiment.load_experiment_digits(config), []
    for _ in range(2):
        options = {"checkpoint_dir": tmp_path, "progress": False, "log": lines.append}
        experiment.train_model("baseline", 1, digits, config, **options)
    assert lines[0].startswith("trained baseline")
    assert lines[1].startswith("resumed baseline")


def test_a_finite_blow_up_is_not_kept(tmp_path, capsys):
    """Baseline at lr 1e6: its loss went from 412 to 3.7e7, and its row was kept."""
    with pytest.warns(RuntimeWarning, match="the learning rate is probably too large"):
        code, _, err = run(capsys, tmp_path, "--quadrants", "1", "--lr", "1e6")
    path = tmp_path / "baseline-q1-s0.pt"
    assert code == 2 and err.startswith(
        f"error: {path} not written: the best validation"
    )
    assert "is more than twice the untrained model's" in err
    assert not list(tmp_path.glob("*.pt")) and not (tmp_path / "results.csv").exists()


@pytest.mark.parametrize(
    "options, error",
    [
        (
            {"hybrid_alpha": 1.5},
            r"hybrid_alpha must be in \[0, 1\] \(1: CVAE\), got 1.5",
        ),
        ({"data": "mnist"}, "data must be one of 'sample', 'full'"),
        ({"dataset": "cifar"}, "dataset must be one of 'mnist', 'fashion-mnist'"),
        ({"precision": "fp16"}, "precision must be one of 'fp32', 'bf16'"),
        ({"gsnn_objective": "mean"}, "gsnn_objective must be one of 'mean_log', 'log_"),
        ({"limit": 10}, "limit must be >= 20"),
        ({"validation_fraction": 1.0}, r"validation_fraction must be in \(0, 1\), got"),
        ({"hidden_dims": (16, 0)}, r"hidden_dims\[1\] must be >= 1"),
        (
            {"quadrants": [1, 1]},
            r"quadrants must list 1, 2 and/or 3 once each: \[1, 1\]",
        ),
        ({"seeds": [1, 1]}, "seeds must list at least one seed, each once"),
        ({"seeds": 3}, "seeds must be a sequence of ints, got int"),
    ],
)
def test_the_experiment_refuses_bad_settings_in_one_line(options, error):
    runs = {
        key: options.pop(key)
        for key in ("quadrants", "seeds", "device")
        if key in options
    }
    with pytest.raises((TypeError, ValueError), match=error):
        run_quadrant_experiment(
            QuadrantConfig(**options), runs.pop("quadrants", [1]), **runs
        )


@pytest.mark.parametrize(
    "env, args, error",
    [
        ({}, ["--seeds", "0", "-1"], "seeds[1] must be an int in [0, 2**63), got -"),
        ({}, ["--seeds", str(2**63)], "seeds[0] must be an int in [0, 2**63), got 9"),
        ({}, ["--out", ""], "--out is empty; give a folder name"),
        ({}, ["--out", "{file}"], "is a file, not a folder; pick another folder"),
        ({}, ["--out", "{unwritable}"], "--out: cannot write to the folder"),
        ({"CVAE_EPOCHS": "abc"}, [], "CVAE_EPOCHS must be a positive integer, got"),
        ({"CVAE_DATA": "mnist"}, [], "CVAE_DATASET names the data set"),
        ({}, ["--particles", "10000000"], "this configuration needs at least 2,257.5 "
         "GiB of memory to train, but cpu has "),
    ],
)  # fmt: skip
def test_the_command_line_refuses_bad_settings_in_one_line_before_any_work(
    tmp_path, monkeypatch, capsys, env, args, error
):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "file").write_text("x")
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    unwritable = Path("/sys/kernel") if os.access(read_only, os.W_OK) else read_only
    places = {"file": tmp_path / "file", "unwritable": unwritable / "runs"}
    argv = [*TINY, "--out", str(tmp_path / "out"), *(a.format(**places) for a in args)]
    option = {"CVAE_EPOCHS": "--epochs", "CVAE_DATA": "--data"}.get(next(iter(env), ""))
    if option:  # so that the switch is read
        del argv[argv.index(option) : argv.index(option) + 2]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and error in err, err
    assert not list(tmp_path.glob("**/*.pt")) and not list(tmp_path.glob("**/*.csv"))


def test_the_command_line_honours_cvae_epochs_and_documents_it(monkeypatch, capsys):
    monkeypatch.setenv("CVAE_EPOCHS", "3")
    assert _config(_parse_args([])).epochs == 3
    assert _config(_parse_args(["--epochs", "5"])).epochs == 5
    monkeypatch.delenv("CVAE_EPOCHS")
    assert _config(_parse_args([])).epochs == COMMAND_LINE_EPOCHS
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "CVAE_EPOCHS" in " ".join(capsys.readouterr().out.split())


def test_a_folder_holds_one_configuration_and_a_readable_record(
    first_run, tmp_path, capsys
):
    out = copy_run(first_run, tmp_path / "one")
    code, _, err = run(
        capsys, out, "--quadrants", "2", "--samples", "7", "--particles", "3"
    )
    assert code == 2 and err == (
        f"error: {out} holds the results of another configuration (num_particles 2 "
        "there, 3 here; num_samples 5 there, 7 here; see its run.json): pick another "
        "--out for this one\n"
    )
    (out / "run.json").unlink()
    (out / "run.json").mkdir()
    _, _, err = run(capsys, out, "--quadrants", "2")
    assert "run.json is a folder, not this experiment's run record; move it away" in err
    assert read_rows(out) == read_rows(first_run)


def test_results_are_merged_keeping_added_columns_and_refused_if_unreadable(tmp_path):
    path = tmp_path / "results.csv"  # saved by a spreadsheet: a BOM, a seed 0.0, notes
    head = "\ufeffmodel,num_given,seed,nll,note\n"
    path.write_text(
        f"{head}baseline,1,0.0,9.0,by hand\ncvae,1,0,8.0,\n", encoding="utf-8"
    )
    rows = [
        {"model": "baseline", "num_given": n, "seed": 0, "nll": 1.0 * n} for n in (1, 2)
    ]
    write_results(path, rows)
    keys = ("model", "num_given", "seed", "nll", "note")
    assert [tuple(r[key] for key in keys) for r in read_results(path)] == [
        ("baseline", "1", "0", "1.0000", "by hand"),
        ("cvae", "1", "0", "8.0", ""),
        ("baseline", "2", "0", "2.0000", ""),
    ]
    for content, error in [
        (b"\xff\xfe binary", "cannot be read as results"),
        (b"a,b\n1,2\n", "has no model and num_given columns"),
        (b"model,num_given,nll\nbaseline,1,1.0,extra\n", "row 1 has more values than"),
    ]:
        path.write_bytes(content)
        with pytest.raises(ValueError, match=error):
            write_results(path, rows)
        assert path.read_bytes() == content


def test_a_results_file_garbled_while_a_run_trains_is_one_line(
    tmp_path, capsys, monkeypatch
):
    out, real_fit = tmp_path / "garbled", experiment.fit

    def fit_then_garble(*args, **kwargs):
        (out / "results.csv").write_bytes(b"\xff\xfe saved over by another program")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(experiment, "fit", fit_then_garble)
    code, _, err = run(capsys, out, "--quadrants", "3")
    assert code == 2 and err.startswith(f"error: {out / 'results.csv'} cannot be read")
    assert (out / "baseline-q3-s0.pt").exists()  # the trained model is kept


def test_files_with_too_few_images_are_one_line(
    tmp_path, monkeypatch, capsys, tiny_idx
):
    tiny_idx(tmp_path / "data", "fashion-mnist", n_train=5, n_test=2)
    monkeypatch.setenv("CVAE_DATA_ROOT", str(tmp_path / "data"))
    args = "--data", "full", "--dataset", "fashion-mnist"
    assert run(capsys, tmp_path / "out", *args)[2] == (
        "error: the fashion-mnist 'full' data hold 5 training and 2 test images: too "
        "few for this experiment, which holds out 0.1 of the training digits for "
        "validation and needs test digits\n"
    )


COMMAND = [sys.executable, "-m", "cvae.run", *TINY]
FOREVER = ["--epochs", "100000", "--patience", "0"]  # trains until stopped


def start_run(out: Path, *args: str, limit=None) -> subprocess.Popen:
    """The command line in a child process."""
    env = {**os.environ, "CVAE_DEVICE": "cpu", "PYTHONUNBUFFERED": "1"}
    env.pop("CVAE_EPOCHS", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"

    def child() -> (
        None
    ):  # Ctrl-C as in a terminal: a background run inherits it ignored
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if limit:  # files may not grow past it (EFBIG), as on a quota
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    command = [*COMMAND, *args, "--out", str(out)]
    return subprocess.Popen(command, env=env, preexec_fn=child, **pipes)


def wait_for_training(process: subprocess.Popen) -> None:
    """Read the child's output until it has loaded the data (it trains then)."""
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        for line in process.stdout:
            if line.startswith("data:"):
                return time.sleep(0.5)
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


def one_line(process: subprocess.Popen, status: int, text: str) -> None:
    assert process.wait(timeout=600) == status
    err = process.stderr.read()
    assert err.startswith(f"error: {text}") and err.count("\n") == 1, err


def test_ctrl_c_and_a_kill_keep_every_row_and_a_rerun_resumes(
    first_run, tmp_path, capsys, child
):
    out = copy_run(first_run, tmp_path / "stopped")
    (out / "run.json").unlink()  # the children train with another budget, finish no row
    before = (out / "results.csv").read_bytes()
    for stop in (signal.SIGINT, signal.SIGKILL):
        process = start_run(out, "--quadrants", "2", *FOREVER)
        child(process)
        wait_for_training(process)
        process.send_signal(stop)
        if stop == signal.SIGINT:
            one_line(process, 130, "interrupted; rerun to resume")
        process.wait(timeout=10)
        assert (out / "results.csv").read_bytes() == before
    code, printed, _ = run(capsys, out, "--quadrants", "1", "2", "3")  # the lock died
    assert code == 0 and printed.count("resumed ") == 8
    assert printed.count("trained ") == 4 and len(read_rows(out)) == 12


def test_ctrl_c_in_the_first_seconds_is_one_line_and_status_130(tmp_path, child):
    """While torch is imported, and at the first output line: no traceback."""
    early = [start_run(tmp_path / f"early-{index}", *FOREVER) for index in range(2)]
    for process in early:
        child(process)
    time.sleep(1.0)
    early[0].send_signal(signal.SIGINT)
    time.sleep(1.5)
    early[1].send_signal(signal.SIGINT)
    first_line = start_run(tmp_path / "first-line", *FOREVER)
    child(first_line)
    assert first_line.stdout.readline().startswith("configuration: ")
    first_line.send_signal(signal.SIGINT)
    for process in (*early, first_line):
        one_line(process, 130, "interrupted")


def test_a_second_run_on_a_folder_in_use_is_refused(tmp_path, capsys, child):
    code = (
        "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, "
        "fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)"
    )
    command = [sys.executable, "-c", code, str(tmp_path / ".lock")]
    holder = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    child(holder)
    assert holder.stdout.readline() == "locked\n"
    _, _, err = run(capsys, tmp_path, "--quadrants", "3")
    assert err.startswith(f"error: another run is using {tmp_path}")
    assert os.listdir(tmp_path) == [".lock"]  # nothing trained, nothing written


def test_a_run_record_that_cannot_be_written_is_one_line(first_run, tmp_path, child):
    out = copy_run(first_run, tmp_path / "quota")
    process = start_run(out, "--quadrants", "1", "3", limit=300)
    child(process)
    one_line(process, 2, f"{out / 'run.json'} cannot be written (File too large)")
    assert read_rows(out) == read_rows(first_run)


def test_the_full_scale_command_runs_on_full_mnist_files(
    tmp_path, tiny_idx, capsys, monkeypatch
):
    """A reader with a network runs the stored Fashion-MNIST run's command on full
    MNIST: the same command with --dataset mnist (here tiny IDX files where torchvision
    would download them)."""
    tiny_idx(tmp_path / "data", "mnist", n_train=60, n_test=30)
    monkeypatch.setenv("CVAE_DATA_ROOT", str(tmp_path / "data"))
    out = tmp_path / "mnist"
    code, printed, _ = run(capsys, out, "--dataset", "mnist", "--data", "full")
    assert (
        code == 0
        and "data: mnist 'full': 54 training, 6 validation and 30 test" in printed
    )
    stored = read_run(out)
    assert stored.record["configuration"]["dataset"] == "mnist"
    assert {(r["train_size"], r["test_size"]) for r in stored.rows} == {("54", "30")}
    assert stored.per_example("cvae", 3, "nll_importance").shape == (1, 30)
    assert all((out / f"completions-q{k}.png").is_file() for k in (1, 2, 3))
