"""One training loop for every model in the book.

Explained in the chapter :chapter:`The VAE on MNIST <book/vae>` (section *Training*).
A model takes part by defining ``loss_terms(*batch) -> dict`` of per-example tensors
with a ``"loss"`` entry to minimize (the negative ELBO for the VAEs); every other entry
(reconstruction, KL, error rate ...) is averaged and recorded too.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from cvae.checkpoints import save_checkpoint
from cvae.checks import check_choice, check_positive_float, check_positive_int
from cvae.data import Batches
from cvae.settings import default_device


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the model holds its last good weights."""


@dataclass
class History:
    """Per-epoch means of every loss term, on the training and validation batches."""

    train: dict[str, list[float]] = field(default_factory=dict)
    validation: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """Plain values, as stored in checkpoints."""
        return {"train": self.train, "validation": self.validation, "best_epoch": self.best_epoch, "seconds": self.seconds}

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


@torch.no_grad()
def evaluate(model: nn.Module, batches: Batches, device: torch.device | None = None) -> dict[str, float]:
    """Mean of every per-example loss term over ``batches``, in evaluation mode."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    count = 0
    for batch in batches:
        terms = model.loss_terms(*_move(batch, device))
        for name, value in terms.items():
            sums[name] = sums.get(name, 0.0) + float(value.sum())
        count += len(batch[0])
    model.train(was_training)
    return {name: total / count for name, total in sums.items()}


def train_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, batch: tuple[torch.Tensor, ...], precision: str = "fp32"
) -> dict[str, torch.Tensor]:
    """One Adam step on the mean of ``model.loss_terms(*batch)["loss"]``; returns the detached terms.

    A non-finite loss is not applied: the parameters are left as they were and the
    terms returned show it (:func:`fit` then stops with :class:`TrainingDiverged`).
    This is the step :mod:`cvae.bench` times.
    """
    if not hasattr(model, "loss_terms"):
        raise TypeError(f"model must define loss_terms(*batch); {type(model).__name__} does not")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    if not isinstance(batch, tuple) or not batch or not all(isinstance(t, torch.Tensor) for t in batch):
        raise TypeError("batch must be a non-empty tuple of tensors (one element of cvae.data.Batches)")
    device = batch[0].device
    with autocast(device, precision):
        terms = model.loss_terms(*batch)
    loss = terms["loss"].mean()
    optimizer.zero_grad(set_to_none=True)
    if torch.isfinite(loss):
        loss.backward()
        optimizer.step()
    return {name: value.detach() for name, value in terms.items()}


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
      atomically, whenever validation improves (:mod:`cvae.checkpoints`).
    * A NaN or infinite loss stops training with :class:`TrainingDiverged`, after
      restoring the last good weights (and leaving the last good checkpoint as it
      was): nothing trained so far is lost.

    Returns:
        The :class:`History` of per-epoch means (the model is trained in place).
    """
    if not hasattr(model, "loss_terms"):
        raise TypeError(f"model must define loss_terms(*batch); {type(model).__name__} does not")
    if not isinstance(train, Batches):
        raise TypeError(f"train must be cvae.data.Batches, got {type(train).__name__}")
    if validation is not None and not isinstance(validation, Batches):
        raise TypeError(f"validation must be cvae.data.Batches or None, got {type(validation).__name__}")
    check_positive_int("epochs", epochs)
    check_positive_float("learning_rate", learning_rate)
    check_choice("precision", precision, PRECISIONS)
    if patience is not None:
        check_positive_int("patience", patience)
    if checkpoint is not None and not isinstance(checkpoint, (str, Path)):
        raise TypeError(f"checkpoint must be a file path or None, got {type(checkpoint).__name__}")
    device = torch.device(device) if device is not None else default_device()
    settings = {"epochs": epochs, "learning_rate": learning_rate, "patience": patience, "seed": seed, "precision": precision}

    torch.manual_seed(seed)
    model.to(device).train()
    optimizer = adam(model, learning_rate)
    history = History()
    best_loss, best_state = math.inf, copy.deepcopy(model.state_dict())
    start = time.perf_counter()
    bar = tqdm(total=epochs * len(train), desc=description, disable=not progress, mininterval=0.5, leave=True)
    try:
        for epoch in range(1, epochs + 1):
            sums: dict[str, float] = {}
            count = 0
            for batch in train:
                terms = train_step(model, optimizer, _move(batch, device), precision)
                mean_loss = terms["loss"].mean().item()
                if not math.isfinite(mean_loss):
                    model.load_state_dict(best_state)
                    kept = f" (and are in {checkpoint})" if checkpoint is not None and history.best_epoch else ""
                    raise TrainingDiverged(
                        f"{description}: the loss became {mean_loss} in epoch {epoch}; "
                        f"the weights of epoch {history.best_epoch} were restored{kept}. "
                        "Try a smaller learning_rate."
                    )
                for name, value in terms.items():
                    sums[name] = sums.get(name, 0.0) + float(value.sum())  # train_step detached them
                count += len(batch[0])
                bar.update(1)
                bar.set_postfix(loss=f"{sums['loss'] / count:.2f}", refresh=False)
            for name, total in sums.items():
                history.train.setdefault(name, []).append(total / count)
            monitored = history.train["loss"][-1]
            if validation is not None:
                for name, value in evaluate(model, validation, device).items():
                    history.validation.setdefault(name, []).append(value)
                monitored = history.validation["loss"][-1]
                bar.set_postfix(loss=f"{history.train['loss'][-1]:.2f}", val=f"{monitored:.2f}")
            if monitored < best_loss:
                best_loss, history.best_epoch = monitored, epoch
                best_state = copy.deepcopy(model.state_dict())
                if checkpoint is not None:
                    save_checkpoint(checkpoint, model, config=settings, history=history.as_dict())
            elif patience is not None and epoch - history.best_epoch >= patience:
                break
    finally:
        bar.close()
    model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - start
    return history
