"""The label CVAE's prior comparison (cvae.label_experiment) and its command line,
``python -m cvae.run labels``, end to end on a tiny configuration: rows, per-example
scores, figures, resuming, refusals, and the same command on full MNIST files."""

from __future__ import annotations

import functools
import json
import os

import pytest
import torch

import cvae.label_experiment as label_experiment
from cvae.classifier import DigitClassifier
from cvae.label_cvae import LabelCVAE
from cvae.label_experiment import (
    PRIORS_COMPARED,
    LabelConfig,
    requested_classes,
    score_label_cvae,
)
from cvae.run.__main__ import main
from cvae.run.cli import read_run

TINY = "labels --data sample --limit 200 --epochs 1 --samples 5 --per-class 4".split()
TINY += ["--classifier-epochs", "1", "--no-progress"]
PER_EXAMPLE = ("elbo", "log_px_y", "kl", "recognised")


@pytest.fixture(scope="module", autouse=True)
def load_the_sample_once():
    with pytest.MonkeyPatch.context() as patch:
        cached = functools.cache(label_experiment.load_digits)
        patch.setattr(label_experiment, "load_digits", cached)
        yield


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("CVAE_DATASET", "CVAE_DATA", "CVAE_DATA_ROOT", "CVAE_EPOCHS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CVAE_DEVICE", "cpu")


def run(capsys, out, *args) -> tuple[int, str, str]:
    code = main([*TINY, *args, "--out", str(out)])
    printed, err = capsys.readouterr()
    if code:  # one line, no traceback
        assert err.startswith("error: ") and err.count("\n") == 1, err
    return code, printed, err


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("labels")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CVAE_DEVICE", "cpu")
        assert (
            main([*TINY, "--latent", "2", "3", "--seeds", "0", "1", "--out", str(out)])
            == 0
        )
    return out


def test_a_run_writes_rows_scores_figures_and_its_record(first_run):
    stored = read_run(first_run)
    keys = [(r["model"], r["latent_dim"], r["seed"]) for r in stored.rows]
    assert keys == [(p, d, s) for d in "23" for p in PRIORS_COMPARED for s in "01"]
    assert stored.settings == [2, 3] and stored.seeds == [0, 1]
    assert stored.record["experiment"] == "labels" and stored.record["finished"]
    assert stored.record["command"].startswith("python -m cvae.run labels --data")
    checkpoints = {
        f"{p}-d{d}-s{s}.pt" for p in PRIORS_COMPARED for d in (2, 3) for s in (0, 1)
    }
    written = {"results.csv", "run.json", "scores.pt", "classifier.pt", ".lock"}
    figures = {"generated-d2.png", "generated-d3.png"}
    assert set(os.listdir(first_run)) == checkpoints | written | figures
    for row in stored.rows:
        prior, d, seed = row["model"], int(row["latent_dim"]), int(row["seed"])
        for column in PER_EXAMPLE:
            scores = stored.per_example(prior, d, column)
            want = (2, 40) if column == "recognised" else (2, 200)
            assert scores.shape == want and torch.isfinite(scores).all()
            mean = float(scores[stored.seeds.index(seed)].double().mean())
            assert mean == pytest.approx(float(row[column]), abs=1e-4)
        # an importance-weighted bound lies above the ELBO; the KL is positive
        assert float(row["log_px_y"]) > float(row["elbo"]) and float(row["kl"]) > 0
        assert 0 <= int(row["active_units"]) <= d and row["resumed"] == "False"
    assert len({row["classifier_accuracy"] for row in stored.rows}) == 1


def test_a_rerun_resumes_every_model_with_the_same_scores(first_run, tmp_path, capsys):
    out = tmp_path / "again"
    out.mkdir()
    for path in first_run.iterdir():
        (out / path.name).write_bytes(path.read_bytes())
    code, printed, _ = run(capsys, out, "--latent", "2", "3", "--seeds", "0", "1")
    assert code == 0 and printed.count("(not retrained)") == 9  # with the classifier
    before, after = read_run(first_run), read_run(out)
    assert all(row["resumed"] == "True" for row in after.rows)
    for prior in PRIORS_COMPARED:
        for column in PER_EXAMPLE:
            torch.testing.assert_close(
                after.per_example(prior, 3, column),
                before.per_example(prior, 3, column),
            )
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert len(record["commands"]) == 2


def test_recognised_is_the_share_of_generated_digits_read_back_as_requested():
    class AlwaysThree(DigitClassifier):
        def predict(self, images, batch_size=1000):
            return torch.full((len(images),), 3)

    config = LabelConfig(num_samples=2, generated_per_class=7)
    images = (torch.rand(30, 1, 28, 28) > 0.5).float()
    labels = torch.arange(30) % 10
    scores = score_label_cvae(
        LabelCVAE("mlp", latent_dim=2), images, labels, AlwaysThree(), config, seed=0
    )
    hits = scores["examples"]["recognised"]
    assert torch.equal(hits, (requested_classes(config) == 3).float())
    assert scores["recognised"] == pytest.approx(0.1)


@pytest.mark.parametrize(
    "args, error",
    [
        (["--latent", "0"], "latent_dims must be >= 1, got 0"),
        (["--latent", "2", "2"], "latent_dims must list positive sizes once each"),
        (["--seeds", "0", "0"], "seeds must list at least one seed, each once"),
        (["--epochs", "0"], "epochs must be >= 1, got 0"),
        (["--samples", "0"], "num_samples must be >= 1, got 0"),
        (["--per-class", "0"], "generated_per_class must be >= 1, got 0"),
        (["--limit", "5"], "limit must be >= 20, got 5"),
        (["--lr", "-1"], "learning_rate must be > 0, got -1.0"),
        (["--out", ""], "--out is empty; give a folder name"),
        (["--out", "{quadrants}"], "holds the results of another experiment (quad"),
    ],
)  # fmt: skip
def test_the_labels_command_refuses_bad_settings_in_one_line(
    tmp_path, capsys, args, error
):
    quadrants = tmp_path / "quadrants"  # a quadrant run's folder
    quadrants.mkdir()
    record = {"command": "python -m cvae.run", "configuration": {"dataset": "mnist"}}
    (quadrants / "run.json").write_text(json.dumps(record), encoding="utf-8")
    argv = [*TINY, "--out", str(tmp_path / "out")]
    argv += [a.format(quadrants=quadrants) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and error in err, err
    assert not list(tmp_path.glob("**/*.pt")) and not list(tmp_path.glob("**/*.csv"))


def test_the_commands_document_each_other_and_cvae_epochs(capsys):
    for argv, wanted in (
        (["--help"], "labels --help"),
        (["labels", "--help"], "CVAE_EPOCHS"),
    ):
        with pytest.raises(SystemExit):
            main(argv)
        assert wanted in " ".join(capsys.readouterr().out.split())


def test_the_full_scale_command_runs_on_full_mnist_files(
    tmp_path, tiny_idx, capsys, monkeypatch
):
    """A reader with a network runs the stored Fashion-MNIST run's command on full
    MNIST: the same command with --dataset mnist (here tiny IDX files where torchvision
    would download them)."""
    tiny_idx(tmp_path / "data", "mnist", n_train=60, n_test=30)
    monkeypatch.setenv("CVAE_DATA_ROOT", str(tmp_path / "data"))
    out = tmp_path / "mnist"
    code, printed, _ = run(
        capsys, out, "--dataset", "mnist", "--data", "full", "--latent", "2"
    )
    assert (
        code == 0
        and "data: mnist 'full': 54 training, 6 validation and 30 test" in printed
    )
    stored = read_run(out)
    assert stored.record["configuration"]["dataset"] == "mnist"
    assert stored.per_example("learned", 2, "log_px_y").shape == (1, 30)
    assert (out / "generated-d2.png").is_file()
