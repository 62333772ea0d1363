"""One training loop for every model in the book.

Explained in the chapter :chapter:`The VAE on MNIST <book/vae>` (section *Training*).
A model takes part by defining ``loss_terms(*batch) -> dict`` of per-example tensors
with a ``"loss"`` entry to minimize (the negative ELBO for the VAEs); every other entry
(reconstruction, KL, error rate ...) is averaged and recorded too.

:func:`fit` is built from small parts: :func:`train_step` (one optimizer step, one read
of the results from the device), :func:`evaluate` (validation), :class:`History`
(learning curves), best-weights tracking with early stopping, divergence detection and
checkpoints. It validates the whole data set once, against the model's ``loss_terms``
contract, before the first step; each step checks only what ``loss_terms`` returned
(per-example tensors, a ``"loss"`` among them: no reading of values, no device sync).
"""

from __future__ import annotations

import copy
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from cvae.checkpoints import CheckpointError, read_checkpoint, save_checkpoint, writable_file
from cvae.checks import (
    checked_region, check_choice, check_positive_float, check_positive_int, check_seed, validation_enabled,
)
from cvae.data import Batches
from cvae.settings import training_device


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN or infinite; the model holds its best weights so far."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training was stopped by Ctrl-C; the model holds its best weights, ``history`` the epochs run."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


@dataclass
class History:
    """Per-epoch means of every loss term, on the training and validation batches.

    ``first_loss`` is the mean loss of the run's very first batch: the untrained model's
    (``None`` until :func:`fit` ends).
    """

    train: dict[str, list[float]] = field(default_factory=dict)
    validation: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    seconds: float = 0.0
    first_loss: float | None = None

    def as_dict(self) -> dict:
        """Plain values, as stored in checkpoints."""
        return {"train": self.train, "validation": self.validation, "best_epoch": self.best_epoch,
                "seconds": self.seconds, "first_loss": self.first_loss}

    @classmethod
    def from_dict(cls, values: dict) -> History:
        """The inverse of :meth:`as_dict` (missing entries take their defaults)."""
        if not isinstance(values, dict):
            raise TypeError(f"values must be a dict from History.as_dict(), got {type(values).__name__}")
        return cls(
            train=values.get("train", {}),
            validation=values.get("validation", {}),
            best_epoch=values.get("best_epoch", 0),
            seconds=values.get("seconds", 0.0),
            first_loss=values.get("first_loss"),
        )

    @property
    def epochs(self) -> int:
        """Number of epochs run (early stopping may end training before the budget)."""
        return len(self.train.get("loss", []))

    def plot(self, term: str = "loss", ax=None, label: str = ""):
        """Learning curves of ``term`` (train and validation) on a matplotlib axis."""
        import matplotlib.pyplot as plt

        if term not in self.train:
            raise ValueError(f"term must be one of {sorted(self.train)}; got {term!r}")
        ax = ax or plt.gca()
        epochs = range(1, self.epochs + 1)
        prefix = f"{label} " if label else ""
        line, = ax.plot(epochs, self.train[term], label=f"{prefix}train")
        if term in self.validation:
            ax.plot(epochs, self.validation[term], "--", color=line.get_color(), label=f"{prefix}validation")
            ax.axvline(self.best_epoch, color=line.get_color(), alpha=0.3, lw=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel(term)
        ax.legend()
        return ax


def _move(batch: tuple[torch.Tensor, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(t.to(device, non_blocking=True) for t in batch)


PRECISIONS = ("fp32", "bf16")


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """The mixed-precision context of a training step: ``"fp32"`` (off) or ``"bf16"``.

    With ``"bf16"`` the matrix products run in bfloat16 (four times the fp32 rate on
    CPUs with AVX512-BF16 or AMX, and on recent GPUs) while every density and sum is
    computed in float32 (:mod:`cvae.distributions` upcasts). The weights, the optimizer
    and evaluation stay in float32. Measured in the Performance appendix.
    """
    check_choice("precision", precision, PRECISIONS)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def adam(model: nn.Module, learning_rate: float) -> torch.optim.Adam:
    """Adam over the trainable parameters, one fused kernel per step where the device has it.

    The fused update is the same arithmetic as the per-parameter loop (deterministic);
    on CPU it took the optimizer's share of a training step down about threefold
    (see the Performance appendix).
    """
    check_positive_float("learning_rate", learning_rate)
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    device = parameters[0].device
    fused = device.type in ("cpu", "cuda")
    return torch.optim.Adam(parameters, lr=learning_rate, fused=fused)


def _batch_sums(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    """The sum over the batch of every term, read from the device in one transfer."""
    sums = torch.stack([value.detach().float().sum() for value in terms.values()]).tolist()
    return dict(zip(terms, sums))


def _check_terms(model: nn.Module, terms: object, size: int) -> None:
    """What ``loss_terms`` must return: a dict of per-example tensors of shape ``(size,)`` with a ``"loss"``.

    A batch mean instead would silently divide every number of the History by the batch size.
    """
    hook = f"{type(model).__name__}.loss_terms"
    if not isinstance(terms, dict):
        raise TypeError(f"{hook} must return a dict of per-example tensors, got {type(terms).__name__}")
    if "loss" not in terms:
        raise ValueError(f"{hook} returned no 'loss' entry (only {', '.join(map(repr, terms)) or 'nothing'}); "
                         "fit minimizes the mean of terms['loss']")
    for name, value in terms.items():
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        if shape != (size,):
            raise ValueError(f"{hook} returned {name!r} as {shape} for a batch of {size}: "
                             f"per-example tensors of shape ({size},) expected, not a batch mean")


def _check_model(model: object) -> None:
    if not callable(getattr(model, "loss_terms", None)):
        raise TypeError(f"model must define loss_terms(*batch); {type(model).__name__} does not")


@torch.no_grad()
def evaluate(model: nn.Module, batches: Batches, device: torch.device | None = None) -> dict[str, float]:
    """Mean of every per-example loss term over ``batches``, in evaluation mode."""
    _check_model(model)
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    count = 0
    for batch in batches:
        for name, value in _batch_sums(model.loss_terms(*_move(batch, device))).items():
            sums[name] = sums.get(name, 0.0) + value
        count += len(batch[0])
    model.train(was_training)
    if not count:
        raise ValueError("batches holds no examples: there is nothing to evaluate")
    return {name: total / count for name, total in sums.items()}


def train_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[torch.Tensor, ...], precision: str = "fp32"
) -> dict[str, float]:
    """One Adam step on the mean of ``model.loss_terms(*batch)["loss"]``; returns the batch sum of every term.

    The sums come back from the device in one transfer (the step's only host
    synchronisation). A non-finite loss is not applied: the parameters are left as
    they were and the returned ``"loss"`` shows it (:func:`fit` then stops with
    :class:`TrainingDiverged`). This is the step :mod:`cvae.bench` times.
    """
    if validation_enabled():
        _check_model(model)
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if not isinstance(batch, tuple) or not batch or not all(isinstance(t, torch.Tensor) for t in batch):
            raise TypeError("batch must be a non-empty tuple of tensors (one element of cvae.data.Batches)")
    with autocast(batch[0].device, precision):
        terms = model.loss_terms(*batch)
    if validation_enabled():
        _check_terms(model, terms, len(batch[0]))
    sums = _batch_sums(terms)
    if math.isfinite(sums["loss"]):
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].mean().backward()
        optimizer.step()
    return sums


def _check_fit_arguments(
    model, train, validation, epochs, learning_rate, patience, precision, checkpoint, seed
) -> dict:
    """Check fit's arguments; return its settings as the plain Python values a checkpoint stores."""
    _check_model(model)
    for name, batches in (("train", train), ("validation", validation)):
        if batches is None and name == "validation":
            continue
        if not isinstance(batches, Batches):
            raise TypeError(f"{name} must be cvae.data.Batches{' or None' if name == 'validation' else ''}, "
                            f"got {type(batches).__name__}")
        if len(batches) == 0:
            raise ValueError(f"{name} has no batches ({len(batches.tensors[0])} examples, batch_size="
                             f"{batches.batch_size}, drop_last={batches.drop_last}): there is nothing to train on")
    epochs = check_positive_int("epochs", epochs)
    learning_rate = check_positive_float("learning_rate", learning_rate)  # not a NumPy scalar
    precision = check_choice("precision", precision, PRECISIONS)
    if patience is not None:
        patience = check_positive_int("patience", patience)
    if checkpoint is not None and not isinstance(checkpoint, (str, Path)):
        raise TypeError(f"checkpoint must be a file path or None, got {type(checkpoint).__name__}")
    if checkpoint is not None:
        writable_file("checkpoint", checkpoint)
    seed = check_seed("seed", seed)
    return {"epochs": epochs, "learning_rate": learning_rate, "patience": patience,
            "seed": int(seed), "precision": precision}


def _check_data(model: nn.Module, device: torch.device, *data: Batches | None) -> None:
    """Run the model's ``loss_terms`` contract once on each whole data set: fit's one check of the data."""
    contract = getattr(model.loss_terms, "contract", None)
    if contract is None or not validation_enabled():
        return
    for batches in data:
        if batches is not None:
            contract(model, *(t.to(device) for t in batches.tensors))


def _all_finite(model: nn.Module) -> bool:
    """Whether every parameter is finite (one read from the device)."""
    return bool(torch.stack([p.isfinite().all() for p in model.parameters()]).all())


def _train_epoch(
    model, optimizer, train: Batches, device, precision: str, bar: tqdm, first_loss: list[float]
) -> dict[str, float]:
    """One pass over ``train``; returns the per-example mean of every term (NaN if a step diverged).

    ``first_loss`` receives the mean loss of the run's very first batch (the untrained model's).
    """
    sums: dict[str, float] = {}
    count = 0
    for batch in train:
        batch_sums = train_step(model, optimizer, _move(batch, device), precision)
        if not first_loss:
            first_loss.append(batch_sums["loss"] / len(batch[0]))
        if not math.isfinite(batch_sums["loss"]):
            return {name: math.nan for name in batch_sums}
        for name, value in batch_sums.items():
            sums[name] = sums.get(name, 0.0) + value
        count += len(batch[0])
        bar.update(1)
        bar.set_postfix(loss=f"{sums['loss'] / count:.2f}", refresh=False)
    return {name: total / count for name, total in sums.items()}


@dataclass
class _Best:
    """The weights of the epoch with the lowest monitored loss so far; which epoch's are saved."""

    model: nn.Module
    loss: float = math.inf
    epoch: int = 0
    state: dict = field(default_factory=dict)
    saved: int = 0  # the epoch whose weights this run wrote to the checkpoint (0: none)

    def __post_init__(self) -> None:
        self.state = copy.deepcopy(self.model.state_dict())

    def update(self, loss: float, epoch: int) -> bool:
        if not loss < self.loss:
            return False
        self.loss, self.epoch, self.state = loss, epoch, copy.deepcopy(self.model.state_dict())
        return True

    def restore(self) -> None:
        self.model.load_state_dict(self.state)
        self.model.eval()

    def save(self, path: str | Path, settings: dict, history: History) -> None:
        """Write the best weights to ``path``, atomically; ``saved`` then says which it holds.

        Also when Ctrl-C stops the write: the file holds the new weights exactly when it
        is a new file (the write's temporary one, moved into place), not the one it was.
        """
        before = _file_id(path)
        try:
            save_checkpoint(path, self.model, config=settings, history=history.as_dict())
        finally:
            if _file_id(path) != before:
                self.saved = self.epoch


def _file_id(path: str | Path) -> tuple[int, int] | None:
    """The device and inode of the file at ``path`` (None when there is none)."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def fit(
    model: nn.Module,
    train: Batches,
    validation: Batches | None = None,
    *,
    epochs: int,
    learning_rate: float = 1e-3,
    patience: int | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = True,
    description: str = "training",
    precision: str = "fp32",
    checkpoint: str | Path | None = None,
) -> History:
    """Train ``model`` with Adam on ``train``, validating after each epoch.

    * The sampling noise is seeded (``seed``), so a run is repeatable on one machine.
    * Each epoch ends with the mean loss terms on ``validation``; the weights of the
      epoch with the lowest validation loss are restored at the end (early stopping
      after ``patience`` epochs without improvement, if given).
    * ``precision="bf16"`` trains with bfloat16 matrix products (:func:`autocast`);
      the default ``"fp32"`` gives the book's numbers on every machine.
    * With ``checkpoint`` (a file path) the best weights so far are saved there,
      atomically, whenever validation improves (:mod:`cvae.checkpoints`). A file that is
      not a checkpoint of this model (another architecture, damaged, not a checkpoint)
      is refused before training with :class:`~cvae.checkpoints.CheckpointError`; an
      earlier run's checkpoint of this model is replaced from this run's first epoch on,
      with a ``RuntimeWarning`` that names its loss (move the file away to keep it).
    * A NaN or infinite loss or weight stops training with :class:`TrainingDiverged`,
      Ctrl-C with :class:`TrainingInterrupted` (carrying the history so far), and a
      checkpoint that cannot be written (a full disk ...) with
      :class:`~cvae.checkpoints.CheckpointError`: in each case the best weights are
      restored first, the checkpoint file is left complete, and the message says which
      epoch's weights the model and the file hold, so nothing trained so far is lost.

    Returns:
        The :class:`History` of per-epoch means (the model is trained in place and
        left in evaluation mode).
    """
    settings = _check_fit_arguments(
        model, train, validation, epochs, learning_rate, patience, precision, checkpoint, seed
    )
    device = training_device(device)  # before any weight moves: 'meta' would empty them
    if checkpoint is not None and Path(checkpoint).exists():
        _warn_replacing(read_checkpoint(checkpoint, model), checkpoint, description)
    model.to(device)
    _check_data(model, device, train, validation)

    torch.manual_seed(seed)
    model.train()
    optimizer = adam(model, settings["learning_rate"])
    history, best, first_loss = History(), _Best(model), []
    start = time.perf_counter()
    bar = tqdm(total=epochs * len(train), desc=description, disable=not progress, mininterval=0.5, leave=True)
    epoch = 0
    try:
        with checked_region():
            for epoch in range(1, epochs + 1):
                means = _train_epoch(model, optimizer, train, device, precision, bar, first_loss)
                if not math.isfinite(means["loss"]) or not _all_finite(model):
                    raise _diverged(description, means["loss"], epoch, best, checkpoint)
                _record(history.train, means)
                monitored = means["loss"]
                if validation is not None:
                    monitored = _record(history.validation, evaluate(model, validation, device))["loss"]
                    bar.set_postfix(loss=f"{means['loss']:.2f}", val=f"{monitored:.2f}")
                if not math.isfinite(monitored):
                    raise _diverged(description, monitored, epoch, best, checkpoint)
                if best.update(monitored, epoch):
                    history.best_epoch = epoch
                    if checkpoint is not None:
                        best.save(checkpoint, settings, history)
                elif patience is not None and epoch - best.epoch >= patience:
                    break
    except KeyboardInterrupt:
        best.restore()
        history.seconds = time.perf_counter() - start
        raise TrainingInterrupted(
            f"{description}: interrupted in epoch {epoch}; {_restored(best, checkpoint)}; "
            "the history of the finished epochs is in this error's .history",
            history,
        ) from None
    except CheckpointError as error:  # the checkpoint could not be written
        best.restore()
        raise CheckpointError(f"{description}: {error}; {_restored(best, checkpoint)}") from None
    finally:
        bar.close()
    best.restore()
    history.seconds, history.first_loss = time.perf_counter() - start, first_loss[0]
    _warn_if_training_got_worse(history, first_loss[0], description)
    return history


def _warn_if_training_got_worse(history: History, first_loss: float, description: str) -> None:
    """A run whose last epoch's training loss exceeds its first batch's by more than that loss itself went astray."""
    last = history.train["loss"][-1]
    if last > first_loss + abs(first_loss):
        warnings.warn(
            f"{description}: the training loss rose from {first_loss:.4g} (first batch) to {last:.4g} in epoch "
            f"{history.epochs}; the learning rate is probably too large",
            RuntimeWarning,
            stacklevel=3,
        )


def _record(curves: dict[str, list[float]], means: dict[str, float]) -> dict[str, float]:
    for name, value in means.items():
        curves.setdefault(name, []).append(value)
    return means


def _restored(best: _Best, checkpoint: str | Path | None) -> str:
    """Which epoch's weights the model got back, and which the checkpoint file holds."""
    restored = f"the weights of epoch {best.epoch} were restored"
    if checkpoint is None:
        return restored
    if best.saved and best.saved == best.epoch:
        return f"{restored} (and are in {checkpoint})"
    if best.saved:
        return f"{restored}; {checkpoint} holds those of epoch {best.saved}"
    return f"{restored}; this run wrote nothing to {checkpoint}"


def _warn_replacing(previous: dict, checkpoint: str | Path, description: str) -> None:
    """Warn that ``checkpoint``, an earlier run's of this model, is replaced; name its loss."""
    history = previous["history"]
    curves, epoch = history.get("validation") or history.get("train"), history.get("best_epoch")
    try:
        loss = f" (loss {float(curves['loss'][epoch - 1]):.2f} in epoch {epoch})" if epoch >= 1 else ""
    except (LookupError, TypeError, ValueError):  # a history not written by fit
        loss = ""
    warnings.warn(
        f"{description}: {checkpoint} holds an earlier run's checkpoint of this model{loss}; this "
        "run replaces it with its own best weights from its first epoch on (move the file away "
        "to keep it)",
        RuntimeWarning,
        stacklevel=3,
    )


def _diverged(description: str, value: float, epoch: int, best: _Best, checkpoint: str | Path | None) -> TrainingDiverged:
    best.restore()
    what = f"the loss became {value}" if not math.isfinite(value) else "the weights became NaN or infinite"
    return TrainingDiverged(
        f"{description}: {what} in epoch {epoch}; {_restored(best, checkpoint)}. "
        "Try a smaller learning_rate."
    )
