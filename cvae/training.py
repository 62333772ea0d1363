"""One training loop for every model in the book.

Explained in the chapter :chapter:`The VAE on MNIST <book/vae>` (section *Training*).
A model takes part by defining ``loss_terms(*batch) -> dict`` of per-example tensors
with a ``"loss"`` entry to minimize (the negative ELBO for the VAEs); every other entry
(reconstruction, KL, error rate ...) is averaged and recorded too.

:func:`fit` checks its arguments and each data set once, at its top; then every
:func:`train_step` runs unchecked, with one read of its results from the device.
Around the steps: :func:`evaluate` (validation), :class:`History` (learning curves),
the best weights with early stopping, divergence and checkpoints
(:mod:`cvae.run.checkpoints`).
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

from cvae.checks import (
    check_choice,
    check_positive_float,
    check_positive_int,
    check_seed,
    check_tensor,
)
from cvae.data import Batches
from cvae.run.checkpoints import (
    CheckpointError,
    read_checkpoint,
    save_checkpoint,
    writable_file,
)
from cvae.settings import training_device

PRECISIONS = ("fp32", "bf16")


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN or infinite; the best weights are restored."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training; the model holds its best weights, ``history`` the epochs
    run."""

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
        return dict(vars(self))

    @classmethod
    def from_dict(cls, values: dict) -> History:
        """The inverse of :meth:`as_dict` (missing entries take their defaults)."""
        return cls(**{key: values[key] for key in vars(cls()) if key in values})

    @property
    def epochs(self) -> int:
        """Number of epochs run (early stopping may end training before the budget)."""
        return len(self.train.get("loss", []))

    def plot(self, term: str = "loss", ax=None, label: str = ""):
        """Learning curves of ``term`` (train and validation) on a matplotlib axis."""
        import matplotlib.pyplot as plt

        ax, epochs, prefix = (
            ax or plt.gca(),
            range(1, self.epochs + 1),
            label and f"{label} ",
        )
        (line,) = ax.plot(epochs, self.train[term], label=f"{prefix}train")
        if term in self.validation:
            color, validation = line.get_color(), f"{prefix}validation"
            ax.plot(epochs, self.validation[term], "--", color=color, label=validation)
            ax.axvline(self.best_epoch, color=color, alpha=0.3, lw=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel(term)
        ax.legend()
        return ax


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """The mixed-precision context of a training step: ``"fp32"`` (off) or ``"bf16"``.

    With ``"bf16"`` the matrix products run in bfloat16 (four times the fp32 rate on
    CPUs with AVX512-BF16 or AMX, and on recent GPUs) while every density and sum is
    computed in float32 (:mod:`cvae.distributions` upcasts). The weights, the optimizer
    and evaluation stay in float32. Measured in the Performance appendix.
    """
    return torch.autocast(device.type, torch.bfloat16, enabled=precision == "bf16")


def adam(model: nn.Module, learning_rate: float) -> torch.optim.Adam:
    """Adam over the trainable parameters, one fused kernel per step where the device
    has it: the same arithmetic as the per-parameter loop, and on CPU about a third of
    its time (see the Performance appendix)."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    fused = parameters[0].device.type in ("cpu", "cuda")
    return torch.optim.Adam(parameters, lr=learning_rate, fused=fused)


def _batch_sums(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    """The sum over the batch of every term, read from the device in one transfer."""
    sums = torch.stack([value.detach().float().sum() for value in terms.values()])
    return dict(zip(terms, sums.tolist(), strict=True))


def _check_terms(model: nn.Module, terms: object, size: int) -> None:
    """What ``loss_terms`` must return: a dict of per-example tensors of shape
    ``(size,)``, with a ``"loss"``. A batch mean instead would silently divide every
    number of the History by the batch size. Shapes only: no value is read."""
    hook = f"{type(model).__name__}.loss_terms"
    if not isinstance(terms, dict):
        kind = type(terms).__name__
        raise TypeError(f"{hook} must return a dict of per-example tensors, got {kind}")
    if "loss" not in terms:
        only = ", ".join(map(repr, terms)) or "nothing"
        raise ValueError(
            f"{hook} returned no 'loss' entry (only {only}); fit needs one"
        )
    for name, value in terms.items():
        is_tensor = isinstance(value, torch.Tensor)
        shape = tuple(value.shape) if is_tensor else type(value).__name__
        if shape != (size,):
            raise ValueError(
                f"{hook} returned {name!r} as {shape} for a batch of {size}: "
                f"per-example tensors of shape ({size},) expected, not a mean"
            )


@torch.no_grad()
def evaluate(model: nn.Module, batches: Batches, device=None) -> dict[str, float]:
    """Mean of every per-example loss term over ``batches``, in evaluation mode."""
    device = device or next(model.parameters()).device
    was_training, sums, count = model.training, {}, 0
    model.eval()
    for batch in batches:
        for name, value in _batch_sums(model.loss_terms(*_to(batch, device))).items():
            sums[name] = sums.get(name, 0.0) + value
        count += len(batch[0])
    model.train(was_training)
    return {name: total / count for name, total in sums.items()}


def _to(batch: tuple[torch.Tensor, ...], device: torch.device) -> tuple:
    return tuple(t.to(device, non_blocking=True) for t in batch)


def train_step(model, optimizer, batch, precision="fp32", check=False) -> dict:
    """One Adam step on the mean of ``model.loss_terms(*batch)["loss"]``; returns the
    batch sum of every term.

    The sums come back from the device in one transfer (the step's only host
    synchronisation). A non-finite loss is not applied: the parameters stay as they
    were and the returned ``"loss"`` shows it (:func:`fit` then stops with
    :class:`TrainingDiverged`). ``check``: check the shapes ``loss_terms`` returned
    (fit's first step). This is the step :mod:`cvae.run.bench` times.
    """
    with autocast(batch[0].device, precision):
        terms = model.loss_terms(*batch)
    if check:
        _check_terms(model, terms, len(batch[0]))
    sums = _batch_sums(terms)
    if math.isfinite(sums["loss"]):
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].mean().backward()
        optimizer.step()
    return sums


@dataclass
class _Best:
    """The weights of the epoch with the lowest monitored loss so far, and the epoch
    whose weights this run wrote to the checkpoint (``saved``; 0: none)."""

    model: nn.Module
    checkpoint: str | Path | None
    loss: float = math.inf
    epoch: int = 0
    saved: int = 0

    def __post_init__(self) -> None:
        self.state = copy.deepcopy(self.model.state_dict())

    def update(self, loss: float, epoch: int) -> bool:
        if loss < self.loss:
            self.loss, self.epoch = loss, epoch
            self.state = copy.deepcopy(self.model.state_dict())
        return self.epoch == epoch

    def save(self, settings: dict, history: History) -> None:
        """Write the best weights. Also when Ctrl-C stops the write, ``saved`` tells the
        truth: the file holds the new weights exactly when it is a new file (the
        write's temporary one, moved into place)."""
        before = _file_id(self.checkpoint)
        try:
            curves = history.as_dict()
            save_checkpoint(
                self.checkpoint, self.model, config=settings, history=curves
            )
        finally:
            if _file_id(self.checkpoint) != before:
                self.saved = self.epoch

    def restore(self) -> str:
        """Restore the best weights; say which epoch's the model and checkpoint hold."""
        self.model.load_state_dict(self.state)
        self.model.eval()
        restored, file = (
            f"the weights of epoch {self.epoch} were restored",
            self.checkpoint,
        )
        if file is None:
            return restored
        if self.saved and self.saved == self.epoch:
            return f"{restored} (and are in {file})"
        if self.saved:
            return f"{restored}; {file} holds those of epoch {self.saved}"
        return f"{restored}; this run wrote nothing to {file}"


def _file_id(path: str | Path) -> tuple[int, int] | None:
    try:
        return os.stat(path).st_dev, os.stat(path).st_ino
    except FileNotFoundError:
        return None


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

    * The arguments and each data set are checked once, before the first step: finite
      values, and the model's own ``check_batch(*batch)`` where it has one (binary
      targets in [0, 1], labels that are class indices ...). The steps check nothing.
    * The sampling noise is seeded (``seed``), so a run is repeatable on one machine.
    * Each epoch ends with the mean loss terms on ``validation``; the weights of the
      epoch with the lowest validation loss are restored at the end (early stopping
      after ``patience`` epochs without improvement, if given).
    * ``precision="bf16"`` trains with bfloat16 matrix products (:func:`autocast`);
      the default ``"fp32"`` gives the book's numbers on every machine.
    * With ``checkpoint`` (a file path) the best weights so far are saved there,
      atomically, whenever validation improves. A file that is not a checkpoint of this
      model is refused before training (``CheckpointError``); an earlier run's
      checkpoint of this model is replaced, with a ``RuntimeWarning`` naming its loss.
    * A NaN or infinite loss or weight stops training with :class:`TrainingDiverged`,
      Ctrl-C with :class:`TrainingInterrupted` (carrying the history so far), a
      checkpoint that cannot be written (a full disk ...) with ``CheckpointError``: each
      time the best weights are restored first, the checkpoint file is left complete,
      and the message says which epoch's weights the model and the file hold.

    Returns:
        The :class:`History` of per-epoch means (the model is trained in place and
        left in evaluation mode).
    """
    if not callable(getattr(model, "loss_terms", None)):
        kind = type(model).__name__
        raise TypeError(f"model must define loss_terms(*batch); {kind} does not")
    data = {"train": train, "validation": validation}
    data = {name: batches for name, batches in data.items() if batches is not None}
    for name, batches in data.items():
        if not isinstance(batches, Batches):
            kind = type(batches).__name__
            raise TypeError(f"{name} must be cvae.data.Batches, got {kind}")
        elif len(batches) == 0:
            size, drop = len(batches.tensors[0]), batches.drop_last
            raise ValueError(
                f"{name} has no batches ({size} examples, batch_size="
                f"{batches.batch_size}, drop_last={drop}): nothing to train on"
            )
    settings = {  # plain Python values, as the checkpoint stores them (no NumPy scalar)
        "epochs": check_positive_int("epochs", epochs),
        "learning_rate": check_positive_float("learning_rate", learning_rate),
        "patience": patience,
        "seed": check_seed("seed", seed),
        "precision": check_choice("precision", precision, PRECISIONS),
    }
    if patience is not None:
        check_positive_int("patience", patience)
    if not isinstance(checkpoint, (str, Path, type(None))):
        kind = type(checkpoint).__name__
        raise TypeError(f"checkpoint must be a file path or None, got {kind}")
    device = training_device(device)  # before any weight moves: 'meta' would empty them
    if checkpoint is not None and writable_file("checkpoint", checkpoint).exists():
        _warn_replacing(read_checkpoint(checkpoint, model), checkpoint, description)
    for name, batches in data.items():  # the one pass over the data
        for position, tensor in enumerate(batches.tensors):
            check_tensor(f"{name}.tensors[{position}]", tensor)  # finite values
    model.to(device)
    if hasattr(model, "check_batch"):  # the model's own check of what it trains on
        for batches in data.values():
            model.check_batch(*(tensor.to(device) for tensor in batches.tensors))

    torch.manual_seed(seed)
    model.train()
    optimizer = adam(model, settings["learning_rate"])
    history, best, first = History(), _Best(model, checkpoint), None
    start, epoch = time.perf_counter(), 0
    bar = tqdm(total=epochs * len(train), desc=description, disable=not progress)
    try:
        for epoch in range(1, epochs + 1):
            sums, count = {}, 0
            for batch in train:
                size, batch = len(batch[0]), _to(batch, device)
                step = train_step(model, optimizer, batch, precision, first is None)
                first = step["loss"] / size if first is None else first
                if not math.isfinite(step["loss"]):
                    break
                sums = {name: sums.get(name, 0.0) + step[name] for name in step}
                count += size
                bar.update(1)
                bar.set_postfix(loss=f"{sums['loss'] / count:.2f}", refresh=False)
            if not math.isfinite(step["loss"]) or not _all_finite(model):
                raise _diverged(description, step["loss"], epoch, best)
            means = {name: total / count for name, total in sums.items()}
            monitored = _record(history.train, means)["loss"]
            if validation is not None:
                scores = evaluate(model, validation, device)
                monitored = _record(history.validation, scores)["loss"]
                bar.set_postfix(loss=f"{means['loss']:.2f}", val=f"{monitored:.2f}")
            if not math.isfinite(monitored):
                raise _diverged(description, monitored, epoch, best)
            if best.update(monitored, epoch):
                history.best_epoch = epoch
                if checkpoint is not None:
                    best.save(settings, history)
            elif patience is not None and epoch - best.epoch >= patience:
                break
    except KeyboardInterrupt:
        history.seconds = time.perf_counter() - start
        message = f"{description}: interrupted in epoch {epoch}; {best.restore()}"
        message += "; the history so far is in .history"
        raise TrainingInterrupted(message, history) from None
    except CheckpointError as error:  # the checkpoint could not be written
        raise CheckpointError(f"{description}: {error}; {best.restore()}") from None
    finally:
        bar.close()
    best.restore()
    history.seconds, history.first_loss = time.perf_counter() - start, first
    last = history.train["loss"][-1]
    if last > first + abs(first):  # more than doubled: gone astray
        warnings.warn(
            f"{description}: the training loss rose from {first:.4g} (first batch) to "
            f"{last:.4g} in epoch {epoch}; the learning rate is probably too large",
            RuntimeWarning,
            stacklevel=2,
        )
    return history


def _all_finite(model: nn.Module) -> bool:
    """Whether every parameter is finite (one read from the device)."""
    return bool(torch.stack([p.isfinite().all() for p in model.parameters()]).all())


def _record(curves: dict[str, list[float]], means: dict[str, float]) -> dict:
    for name, value in means.items():
        curves.setdefault(name, []).append(value)
    return means


def _warn_replacing(previous: dict, checkpoint: str | Path, description: str) -> None:
    """Warn that ``checkpoint``, an earlier run's of this model, is replaced."""
    history, loss = previous["history"], ""
    curves, epoch = (
        history.get("validation") or history.get("train"),
        history.get("best_epoch"),
    )
    try:
        loss = f" (loss {float(curves['loss'][epoch - 1]):.2f} in epoch {epoch})"
    except (LookupError, TypeError, ValueError):  # a history not written by fit
        pass
    warnings.warn(
        f"{description}: {checkpoint} holds an earlier run's checkpoint of this model"
        f"{loss}; this run replaces it with its own best weights from its first epoch "
        "on (move the file away to keep it)",
        RuntimeWarning,
        stacklevel=3,
    )


def _diverged(
    description: str, loss: float, epoch: int, best: _Best
) -> TrainingDiverged:
    what = "the weights" if math.isfinite(loss) else f"the loss became {loss}"
    what = "the weights became NaN or infinite" if what == "the weights" else what
    message = f"{description}: {what} in epoch {epoch}; {best.restore()}"
    return TrainingDiverged(f"{message}. Try a smaller learning_rate.")
