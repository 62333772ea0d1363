"""fit: the best weights restored, early stopping, divergence, bit-identical reruns, its
one check of the arguments and the data, and checkpoints that nothing loses."""

import math
import os
import re
import shutil
import signal
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cvae.data import Batches
from cvae.quadrants import split_quadrants
from cvae.run.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from cvae.structured import Baseline, StructuredCVAE
from cvae.training import (
    TrainingDiverged,
    TrainingInterrupted,
    adam,
    evaluate,
    fit,
    train_step,
)
from cvae.vae import VAE

CPU = {"progress": False, "device": "cpu"}


def digits(count=64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(count, 1, 28, 28, generator=generator) > 0.7).float()


class Weight(nn.Module):
    """One weight ``w``, loss ``w * x``, which turns NaN (or Ctrl-C) after ``good``
    calls."""

    def __init__(self, good=10**9, interrupt=False):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.calls, self.good, self.interrupt = 0, good, interrupt

    def loss_terms(self, x):
        self.calls += 1
        if self.calls > self.good and self.interrupt:
            raise KeyboardInterrupt
        if self.calls > self.good:
            return {"loss": torch.full((len(x),), float("nan"))}
        return {"loss": self.w * x.squeeze(1)}


def ones(sign=1.0):
    return Batches(sign * torch.ones(4, 1), batch_size=4)


def test_fit_records_every_term_and_restores_the_best_epochs_weights():
    torch.manual_seed(0)
    vae, data = VAE(latent_dim=2, hidden_dims=(16,)), digits()
    train, validation = (
        Batches(data[:48], batch_size=16),
        Batches(data[48:], batch_size=16),
    )
    history = fit(vae, train, validation, epochs=4, **CPU)
    assert set(history.validation) == {"loss", "reconstruction", "kl", "elbo"}
    best = history.validation["loss"][history.best_epoch - 1]
    assert history.epochs == 4 and best == min(history.validation["loss"])
    # Training pushes w down; the validation data see the other sign: epoch 1 wins.
    model = Weight()
    history = fit(model, ones(), ones(-1.0), epochs=5, learning_rate=0.1, **CPU)
    assert history.best_epoch == 1 and model.w.item() == pytest.approx(0.9, abs=1e-6)
    loss = evaluate(model, ones(-1.0))["loss"]
    assert loss == pytest.approx(min(history.validation["loss"])) and not model.training
    history = fit(Weight(), ones(), ones(-1.0), epochs=20, patience=2, **CPU)
    assert history.epochs == 3 and history.best_epoch == 1


def test_divergence_stops_in_one_line_keeping_the_last_good_weights(tmp_path):
    model, path = Weight(good=2), tmp_path / "run" / "model.pt"  # epoch 1: 2 calls
    error = r"the loss became nan in epoch 2; the weights of epoch 1 were restored"
    with pytest.raises(TrainingDiverged, match=rf"{error} \(and are in .*model.pt\)"):
        fit(model, ones(), ones(), epochs=3, learning_rate=0.5, checkpoint=path, **CPU)
    assert model.w.item() == pytest.approx(0.5)  # after the one good step of epoch 1
    settings = {"config": {"learning_rate": 0.5}, "settings": ["learning_rate"]}
    assert load_checkpoint(path, Weight(), **settings)["history"]["best_epoch"] == 1
    assert os.listdir(path.parent) == ["model.pt"]
    torch.manual_seed(0)  # a real blow-up: a VAE at a learning rate of 1e3
    model, batches = (
        VAE(latent_dim=2, hidden_dims=(16,)),
        Batches(digits(), batch_size=16),
    )
    with pytest.raises(
        TrainingDiverged, match="in epoch [0-9]+; the weights of epoch "
    ):
        fit(model, batches, epochs=20, learning_rate=1e3, **CPU)
    assert (
        all(torch.isfinite(p).all() for p in model.parameters()) and not model.training
    )


def test_a_run_that_ends_worse_than_it_started_warns():
    torch.manual_seed(0)
    batches = Batches(*split_quadrants(digits(256), 1), batch_size=32)
    with pytest.warns(
        RuntimeWarning, match="loss rose from .* learning rate is probably"
    ):
        fit(Baseline(1, (32,)), batches, epochs=3, learning_rate=1e6, **CPU)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fit(Baseline(1, (32,)), batches, epochs=3, learning_rate=1e-3, **CPU)


def quadrant_cvae():
    torch.manual_seed(4)
    data = split_quadrants(digits(48, seed=1), 2)
    model = StructuredCVAE(2, Baseline(2, (16,)), latent_dim=2, hidden_dims=(16,))
    return model, Batches(*data, batch_size=16, shuffle=True, seed=5)


@pytest.mark.parametrize(
    "kind, precision", [("vae", "fp32"), ("cvae", "fp32"), ("cvae", "bf16")]
)
def test_same_seed_same_machine_gives_bit_identical_parameters(kind, precision):
    runs = []
    for _ in range(2):
        torch.manual_seed(4)
        model, batches = VAE(2, (16,)), Batches(digits(), batch_size=16, shuffle=True)
        if kind == "cvae":
            model, batches = quadrant_cvae()
        fit(model, batches, epochs=2, seed=7, precision=precision, **CPU)
        runs.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))


def test_bf16_training_follows_fp32_training():
    """Mixed precision changes the arithmetic, not the model: the two runs end close."""
    losses = {}
    for precision in ("fp32", "bf16"):
        history = fit(*quadrant_cvae(), epochs=3, precision=precision, **CPU)
        losses[precision] = history.train["loss"]
    assert losses["fp32"][-1] < losses["fp32"][0]
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.02)


def test_train_step_applies_finite_losses_only():
    model = Weight()
    sums = train_step(model, adam(model, 0.1), (torch.full((3, 1), 2.0),))
    assert sums == {"loss": 6.0} and model.w.item() == pytest.approx(0.9)
    sums = train_step(model, adam(model, 0.1), (torch.full((3, 1), float("nan")),))
    assert math.isnan(sums["loss"]) and model.w.item() == pytest.approx(0.9)


def test_ctrl_c_restores_the_best_weights_and_keeps_the_history():
    model = Weight(good=2, interrupt=True)  # epoch 1: a step, a validation; Ctrl-C in 2
    error = "interrupted in epoch 2; the weights of epoch 1 were restored"
    with pytest.raises(TrainingInterrupted, match=error) as caught:
        fit(model, ones(), ones(), epochs=5, learning_rate=0.5, **CPU)
    assert caught.value.history.epochs == caught.value.history.best_epoch == 1
    assert model.w.item() == pytest.approx(0.5) and not model.training


class Regression(nn.Linear):
    """A custom model: ``loss_terms`` returns what ``terms`` makes of the losses."""

    def __init__(self, terms):
        super().__init__(4, 1)
        self.terms = terms

    def loss_terms(self, x):
        return self.terms((self(x).squeeze(1) - 1.0) ** 2)


def test_fit_checks_the_data_once_and_no_step_checks_again(monkeypatch):
    calls, original = [], torch.aminmax
    monkeypatch.setattr(
        torch, "aminmax", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    counts = []
    for epochs in (1, 3):
        calls.clear()
        model = Regression(lambda loss: {"loss": loss, "mse": loss})
        history = fit(
            model, Batches(torch.rand(64, 4), batch_size=8), epochs=epochs, **CPU
        )
        counts.append(len(calls))
    assert counts[0] == counts[1] > 0 and history.train["loss"] == history.train["mse"]


LOSS = {"loss": lambda loss: {"loss": loss}}
FOUR = Batches(torch.ones(20, 4), batch_size=8)
BAD_FIT = [  # (loss_terms or model, data, options, error)
    (nn.Linear(2, 2), FOUR, {}, "model must define loss_terms"),
    (LOSS, [torch.ones(4)], {}, "train must be cvae.data.Batches, got list"),
    (LOSS, FOUR, {"epochs": 0}, "epochs must be >= 1"),
    (LOSS, FOUR, {"learning_rate": -1.0}, "learning_rate must be > 0"),
    (LOSS, FOUR, {"patience": 0}, "patience must be >= 1"),
    (LOSS, FOUR, {"precision": "fp16"}, "precision must be one of 'fp32', 'bf16'"),
    (LOSS, FOUR, {"checkpoint": 3}, "checkpoint must be a file path or None, got int"),
    (LOSS, FOUR, {"checkpoint": "."}, "checkpoint: .* is a folder; give a file name"),
    (LOSS, FOUR, {"checkpoint": "unwritable"}, "checkpoint: cannot write to the fold"),
    *[(LOSS, FOUR, {"seed": seed}, r"seed must be an int in \[0, 2\*\*63\)")
      for seed in ("abc", 1.5, 2**70, -1, True)],
    (LOSS, FOUR, {"device": "meta"}, "device: 'meta' is a meta device; this package "
     "trains on cpu or cuda devices only"),
    (LOSS, FOUR, {"device": "mps"}, "device: 'mps' is a mps device"),
    (LOSS, FOUR, {"device": "cuda:99"}, "device: 'cuda:99' is not available on this"),
    (LOSS, Batches(torch.ones(3, 4), batch_size=4, drop_last=True), {},
     r"train has no batches \(3 examples, batch_size=4, drop_last=True\)"),
    (LOSS, Batches(torch.full((4, 4), math.nan), batch_size=2), {},
     r"train.tensors\[0\] contains NaN or infinite values"),
    ({"loss": lambda loss: {"loss": loss.mean()}}, FOUR, {}, r"^Regression.loss_terms "
     r"returned 'loss' as \(\) for a batch of 8: per-example tensors of shape \(8,\) "
     "expected, not a mean$"),
    ({"loss": lambda loss: {"e": loss}}, FOUR, {}, r"no 'loss' entry \(only 'e'\)"),
    ({"loss": lambda loss: {"loss": loss, "m": 0.5}}, FOUR, {}, "'m' as float for a"),
    ({"loss": lambda loss: loss}, FOUR, {}, "must return a dict of per-example tensor"),
    # grey levels 0..255 as Bernoulli targets: a finite, wrong ELBO without check_batch
    (VAE(2, (8,)), Batches(torch.full((4, 1, 28, 28), 255.0), batch_size=2), {},
     r"images must lie in \[0.0, 1.0\], got values in \[255, 255\]"),
]  # fmt: skip


@pytest.mark.parametrize("model, data, options, error", BAD_FIT)
def test_fit_refuses_bad_arguments_and_data_before_changing_a_weight(
    tmp_path, model, data, options, error
):
    """A batch mean used to divide every History number by the batch size, and 'meta'
    emptied the caller's weights: each is one line now, before any step."""
    model = Regression(model["loss"]) if isinstance(model, dict) else model
    before = [p.detach().clone() for p in model.parameters()]
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    unwritable = Path("/sys/kernel") if os.access(read_only, os.W_OK) else read_only
    places = {".": tmp_path, "unwritable": unwritable / "m.pt"}
    options = {
        k: places.get(v, v) if isinstance(v, str) else v for k, v in options.items()
    }
    with pytest.raises((TypeError, ValueError), match=error):
        fit(model, data, **{"epochs": 1, **CPU, **options})
    assert all(
        torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)
    )
    assert all(p.device.type == "cpu" for p in model.parameters())


class Wide(nn.Module):
    """A linear map with 40 kB of weights (a 42 kB checkpoint) whose loss falls every
    epoch, so every epoch is the best so far and is checkpointed."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Linear(100, 100)

    def loss_terms(self, x):
        return {"loss": self.layer(x).pow(2).sum(1)}


def fit_wide(model: Wide, epochs: int = 3, **options):
    batches = Batches(torch.ones(4, 100), batch_size=4)
    return fit(model, batches, batches, epochs=epochs, **CPU, **options)


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    return all(torch.equal(x, y) for x, y in pairs)


def test_fit_stores_a_numpy_learning_rate_as_a_float_so_its_checkpoint_loads(tmp_path):
    rate = np.logspace(-3, -1, 3)[0]  # np.float64, refused by weights-only loading
    fit_wide(Wide(), epochs=1, learning_rate=rate, checkpoint=tmp_path / "m.pt")
    config = {"learning_rate": 1e-3}
    payload = load_checkpoint(
        tmp_path / "m.pt", Wide(), config=config, settings=[*config]
    )
    assert type(payload["config"]["learning_rate"]) is float


@pytest.fixture
def small_filesystem(tmp_path):
    """A 64 kB tmpfs mounted for the test: room for one checkpoint of Wide, not two."""
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("the small file system is a tmpfs, and only root can mount one")
    command = ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)]
    mount = subprocess.run(command, capture_output=True, text=True)
    if mount.returncode:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mount.stderr.strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_stops_fit_in_one_line_keeping_the_best_weights(small_filesystem):
    path, folder = (
        re.escape(str(p)) for p in (small_filesystem / "m.pt", small_filesystem)
    )
    model = Wide()
    with pytest.raises(CheckpointError) as caught:
        fit_wide(
            model, checkpoint=small_filesystem / "m.pt"
        )  # epoch 2's fills the disk
    assert re.fullmatch(
        rf"training: cannot write the checkpoint {path}: no space left on device \(\d+ "
        rf"kB free in {folder}\) \({path} keeps its previous content\); the weights of "
        rf"epoch 2 were restored; {path} holds those of epoch 1",
        str(caught.value),
    ), str(caught.value)
    two_epochs = Wide()
    fit_wide(two_epochs, epochs=2)
    assert same_weights(model, two_epochs) and not model.training
    assert (
        load_checkpoint(small_filesystem / "m.pt", Wide())["history"]["best_epoch"] == 1
    )
    assert list(small_filesystem.iterdir()) == [
        small_filesystem / "m.pt"
    ]  # no temporary


@pytest.fixture
def ctrl_c():
    """Press Ctrl-C: a real SIGINT to this process (as in a terminal: a test run started
    in the background inherits SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield lambda: os.kill(os.getpid(), signal.SIGINT)
    signal.signal(signal.SIGINT, previous)


class CtrlCWhileWriting:
    """A file in which Ctrl-C is pressed after the first write: inside torch.save."""

    def __init__(self, file, press) -> None:
        self.file, self.press = file, press

    def write(self, data) -> int:
        written, press, self.press = self.file.write(data), self.press, lambda: None
        press()
        return written

    def flush(self) -> None:
        self.file.flush()


@pytest.mark.parametrize(
    "moment, saved", [("torch.save", 1), ("os.fsync", 1), ("os.replace", 2)]
)
def test_ctrl_c_in_a_checkpoint_write_says_which_epoch_the_file_holds(
    tmp_path, monkeypatch, ctrl_c, moment, saved
):
    """Ctrl-C in epoch 2's save: during its writes, after its fsync, after its move."""
    module, name = moment.split(".")
    module = {"torch": torch, "os": os}[module]
    real, calls = getattr(module, name), []

    def pressed(*args):
        calls.append(name)
        if len(calls) == 2 and moment == "torch.save":
            return real(args[0], CtrlCWhileWriting(args[1], ctrl_c))
        result = real(*args)
        if len(calls) == 2:
            ctrl_c()
        return result

    monkeypatch.setattr(module, name, pressed)
    path, model = tmp_path / "m.pt", Wide()
    with pytest.raises(TrainingInterrupted) as caught:
        fit_wide(model, checkpoint=path)
    held = f" (and are in {path})" if saved == 2 else f"; {path} holds those of epoch 1"
    restored = "training: interrupted in epoch 2; the weights of epoch 2 were restored"
    assert str(caught.value).startswith(f"{restored}{held};"), str(caught.value)
    reloaded = Wide()
    assert load_checkpoint(path, reloaded)["history"]["best_epoch"] == saved
    assert same_weights(reloaded, model) == (saved == 2) and os.listdir(tmp_path) == [
        "m.pt"
    ]


def test_fit_refuses_another_models_checkpoint_and_warns_it_replaces_its_own(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", nn.Linear(4, 3))
    before, model = path.read_bytes(), Wide()
    error = r"m.pt holds a different architecture: Linear with 2 tensors, but this run "
    with pytest.raises(CheckpointError, match=error + "builds Wide with 2 tensors"):
        fit_wide(model, checkpoint=path)
    assert path.read_bytes() == before and same_weights(model, Wide())
    path.unlink()
    fit_wide(Wide(), epochs=3, checkpoint=path)
    loss = load_checkpoint(path, Wide())["history"]["validation"]["loss"][2]
    warning = (
        rf"training: .*m.pt holds an earlier run's checkpoint of this model \(loss "
        rf"{loss:.2f} in epoch 3\); this run replaces it with its own best weights from"
    )
    with pytest.warns(RuntimeWarning, match=warning):
        fit_wide(Wide(), epochs=1, checkpoint=path)
    assert load_checkpoint(path, Wide())["history"]["best_epoch"] == 1
