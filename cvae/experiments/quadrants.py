r"""The quadrant experiment of Sohn et al.: four models, 1 to 3 given quadrants, :math:`-\log p(y \mid x)` of each.

Explained in the chapter :chapter:`Structured output prediction: completing digits <book/quadrants>`,
which calls :func:`run_quadrant_experiment` with a small budget and several random seeds.
The same function runs from the command line with a large one::

    python -m cvae.experiments.quadrants --quadrants 1 2 3 --data mnist \
        --epochs 100 --seeds 0 1 2 --out runs/quadrants

It trains, for each random seed and number of given quadrants, the
:class:`~cvae.structured.Baseline` first and then the CVAE, the GSNN and the hybrid
(:class:`~cvae.structured.StructuredCVAE` with ``alpha`` 1, 0 and ``hybrid_alpha``, and
the GSNN objective ``gsnn_objective``) on top of it; estimates the negative conditional
log-likelihood on the test digits (and, for the models with a recognition network, the
test KL and the active latent units); and writes ``results.csv`` plus one checkpoint per
model, quadrant count and seed to the output folder, with ``run.json``: the command line,
the machine and the versions that made them. Run it again and it
resumes: a model whose checkpoint exists is loaded, not retrained. Checkpoints are
written atomically, record the configuration and the versions, carry a checksum, load
with ``torch.load(..., weights_only=True)`` and are refused, with a message saying why,
when they are damaged or were made for another architecture or other training settings.

Nothing is lost: the output folder is checked before any work and locked while a run
uses it (a second run on it is refused), ``results.csv`` is merged with the rows it
already holds (a run of ``--quadrants 2`` keeps the rows of 1 and 3, and columns added
by hand), and Ctrl-C or a killed process leaves every finished model and row in place.
One folder holds one configuration: a run whose settings differ from those its
``run.json`` records (other than the seeds) is refused. A configuration that cannot fit
in memory is refused before training, and a model whose training blew up (its best
validation loss more than twice the untrained model's) is written neither as a
checkpoint nor as a row (:func:`save_trained`). The command line reports every such problem as one ``error:`` line (exit
status 2; 130 after Ctrl-C, also while it is still importing torch).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import math
import os
import shlex
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

INTERRUPTED_EARLY = "interrupted before the run started; nothing was written"


def _interrupted_early(signum: int, frame: object) -> None:
    """Ctrl-C while torch is imported (seconds): one line and status 130, as main() says later."""
    os.write(2, f"error: {INTERRUPTED_EARLY}\n".encode())
    os._exit(130)


if __name__ == "__main__" and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _interrupted_early)

import torch
from torch import Tensor, nn

import cvae
from cvae import settings
from cvae.checkpoints import (
    CheckpointError,
    FolderInUse,
    atomic_write,
    folder_lock,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
    writable_folder,
)
from cvae.checks import check_choice, check_positive_float, check_positive_int, check_seed, check_sizes
from cvae.settings import DATA_SOURCES, data_source
from cvae.data import (
    IMAGE_PIXELS, Batches, DataUnavailableError, DigitData, binarize, load_digits, split_validation,
)
from cvae.distributions import gaussian_kl, standardize
from cvae.estimators import count_active_units
from cvae.quadrants import check_num_given, output_size, split_quadrants
from cvae.settings import available_memory, default_device, machine, seed_everything, training_device
from cvae.contracts import check_alpha
from cvae.structured import GSNN_OBJECTIVES, Baseline, StructuredCVAE, negative_conditional_log_likelihood
from cvae.training import PRECISIONS, History, TrainingDiverged, fit

MODELS = ("baseline", "cvae", "gsnn", "hybrid")
RESULTS_FILE = "results.csv"
RUN_FILE = "run.json"  # how the command line made results.csv: the command, the machine, the versions
COMMAND = ("python", "-m", "cvae.experiments.quadrants")
COMMAND_LINE_EPOCHS = 100  # the command line's epoch budget unless --epochs or CVAE_EPOCHS says otherwise
RESULT_FIELDS = (
    "model", "num_given", "seed", "nll", "estimator", "nll_importance", "nll_monte_carlo", "kl", "active_units",
    "active_units_vs_prior",
    "num_samples", "epochs_run", "best_epoch", "train_seconds", "data", "train_size", "test_size", "resumed",
)
# Settings that change what a trained model is: a checkpoint made with other values is refused.
TRAINING_SETTINGS = (
    "data", "limit", "epochs", "batch_size", "learning_rate", "patience", "validation_fraction", "seed", "precision",
)


@dataclass(frozen=True)
class QuadrantConfig:
    """Every setting of the experiment; the defaults are the chapter's small budget.

    Attributes:
        data: ``"sample"`` or ``"mnist"`` (see :func:`cvae.data.load_digits`).
        limit: use only the first ``limit`` training and test digits (quick checks).
        epochs, batch_size, learning_rate, patience: passed to :func:`cvae.training.fit`
            (``patience=None``: no early stopping).
        hidden_dims, latent_dim: the MLPs of every network and the size of :math:`z`.
        hybrid_alpha: :math:`\\alpha` of the hybrid model.
        num_particles: :math:`L`, the prior samples of the GSNN term.
        gsnn_objective: the GSNN term of the GSNN and the hybrid: ``"mean_log"``, Sohn
            et al.'s mean of log-likelihoods, or ``"log_mean"``, the logarithm of the mean
            (see :class:`~cvae.structured.StructuredCVAE`).
        num_samples: :math:`S`, the samples of the likelihood estimators.
        validation_fraction: share of the training digits held out for early stopping.
        seed: seeds every model's initialization, training and evaluation.
        precision: ``"fp32"`` or ``"bf16"`` matrix products in training
            (:func:`cvae.training.autocast`; see the Performance appendix).
    """

    data: str = "sample"
    limit: int | None = None
    epochs: int = 20
    batch_size: int = 100
    learning_rate: float = 3e-3
    patience: int | None = 5
    hidden_dims: tuple[int, ...] = (256, 256)
    latent_dim: int = 32
    hybrid_alpha: float = 0.5
    num_particles: int = 5
    gsnn_objective: str = "mean_log"
    num_samples: int = 100
    validation_fraction: float = 0.1
    seed: int = 0
    precision: str = "fp32"

    def __post_init__(self) -> None:
        """Check every setting and store the checked value: plain Python numbers and strings,
        as checkpoints store them (a NumPy learning rate becomes a float)."""
        def keep(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        keep("data", check_choice("data", self.data, DATA_SOURCES))
        if self.limit is not None:
            keep("limit", check_positive_int("limit", self.limit, minimum=20))
        keep("epochs", check_positive_int("epochs", self.epochs))
        keep("batch_size", check_positive_int("batch_size", self.batch_size))
        keep("learning_rate", check_positive_float("learning_rate", self.learning_rate))
        if self.patience is not None:
            keep("patience", check_positive_int("patience", self.patience))
        keep("hidden_dims", tuple(check_sizes("hidden_dims", self.hidden_dims)))
        keep("latent_dim", check_positive_int("latent_dim", self.latent_dim))
        keep("hybrid_alpha", check_alpha(self.hybrid_alpha))
        keep("num_particles", check_positive_int("num_particles", self.num_particles))
        keep("gsnn_objective", check_choice("gsnn_objective", self.gsnn_objective, GSNN_OBJECTIVES))
        keep("num_samples", check_positive_int("num_samples", self.num_samples))
        keep("validation_fraction", check_positive_float("validation_fraction", self.validation_fraction))
        if self.validation_fraction >= 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")
        keep("seed", check_positive_int("seed", self.seed, minimum=0))
        keep("precision", check_choice("precision", self.precision, PRECISIONS))

    def as_dict(self) -> dict:
        """Plain types only (lists, not tuples), as stored in checkpoints."""
        values = asdict(self)
        values["hidden_dims"] = list(self.hidden_dims)
        return values


@dataclass(frozen=True)
class Digits:
    """The experiment's digits (grey levels, as loaded): training, validation and test splits."""

    source: str
    train_images: Tensor
    train_labels: Tensor
    validation_images: Tensor
    validation_labels: Tensor
    test_images: Tensor
    test_labels: Tensor

    def __str__(self) -> str:
        return (
            f"data: {self.source!r}: {len(self.train_images):,} training, "
            f"{len(self.validation_images):,} validation and {len(self.test_images):,} test digits"
        )


def load_experiment_digits(config: QuadrantConfig, data: DigitData | None = None) -> Digits:
    """Load ``config.data`` (unless given), keep the first ``config.limit`` digits, hold out the validation split.

    The validation split is drawn with ``config.seed``.
    """
    data = data if data is not None else load_digits(config.data)
    train_images, train_labels = data.train_images, data.train_labels
    test_images, test_labels = data.test_images, data.test_labels
    if config.limit is not None:
        train_images, train_labels = train_images[: config.limit], train_labels[: config.limit]
        test_images, test_labels = test_images[: config.limit], test_labels[: config.limit]
    held_out = round(len(train_images) * config.validation_fraction)
    if not 0 < held_out < len(train_images) or not len(test_images):
        raise DataUnavailableError(
            f"the {data.source!r} data hold {len(train_images):,} training and {len(test_images):,} test "
            f"digits: too few for this experiment, which holds out {config.validation_fraction:g} of the "
            "training digits for validation and needs test digits"
        )
    (train_images, train_labels), (val_images, val_labels) = split_validation(
        train_images, train_labels, config.validation_fraction, seed=config.seed
    )
    return Digits(data.source, train_images, train_labels, val_images, val_labels, test_images, test_labels)


def quadrant_split(images: Tensor, num_given: int) -> tuple[Tensor, Tensor]:
    """Binarize grey-level digits (threshold 0.5) and split them: ``(inputs, targets)`` of the task."""
    return split_quadrants(binarize(images), num_given)


def build_model(kind: str, num_given: int, config: QuadrantConfig, baseline: Baseline | None = None) -> nn.Module:
    """A fresh, untrained model of ``kind`` (one of ``MODELS``); the latent models need the trained ``baseline``."""
    check_choice("kind", kind, MODELS)
    check_num_given(num_given)
    if kind == "baseline":
        return Baseline(num_given, config.hidden_dims)
    if baseline is None:
        raise ValueError(f"a {kind} model needs the trained baseline (its prior network's initial guess)")
    alpha = {"cvae": 1.0, "gsnn": 0.0, "hybrid": config.hybrid_alpha}[kind]
    return StructuredCVAE(
        num_given,
        baseline,
        alpha=alpha,
        latent_dim=config.latent_dim,
        hidden_dims=config.hidden_dims,
        # The CVAE has no GSNN term: its checkpoints serve runs of any objective and particle count.
        num_particles=config.num_particles if alpha < 1 else QuadrantConfig.num_particles,
        gsnn_objective=config.gsnn_objective if alpha < 1 else GSNN_OBJECTIVES[0],
    )


# --------------------------------------------------------------------------- checkpoints


def checkpoint_path(folder: str | Path, kind: str, num_given: int, seed: int) -> Path:
    """Where the final checkpoint of one model lives: ``<folder>/<kind>-q<num_given>-s<seed>.pt``."""
    return Path(folder) / f"{kind}-q{num_given}-s{seed}.pt"


def save_trained(path: str | Path, kind: str, model: nn.Module, config: QuadrantConfig, history: History) -> Path:
    """Checkpoint one trained model with the run's configuration (:func:`cvae.checkpoints.save_checkpoint`).

    A model whose best validation loss is more than twice its untrained loss (its first
    batch's, ``history.first_loss``) is not stored: that is a finite blow-up (far too
    large a learning rate), whose row would be noise. :class:`~cvae.training.TrainingDiverged`
    says so, and the experiment stops before the row is written.
    """
    if history.best_epoch and history.validation and history.first_loss is not None:
        best, untrained = history.validation["loss"][history.best_epoch - 1], history.first_loss
        if best > untrained + abs(untrained):
            raise TrainingDiverged(
                f"{path} not written: the best validation loss, {best:.4g}, is more than twice the untrained "
                f"model's ({untrained:.4g}): training blew up. Try a smaller learning rate"
            )
    return save_checkpoint(path, model, config=config.as_dict(), history=history.as_dict(), kind=kind)


def load_trained(path: str | Path, model: nn.Module, config: QuadrantConfig) -> History:
    """Load a checkpoint into ``model``; refuse one of another architecture or other ``TRAINING_SETTINGS``.

    Returns the stored :class:`~cvae.training.History`; raises
    :class:`~cvae.checkpoints.CheckpointError` saying what differs.
    """
    payload = load_checkpoint(path, model, config=config.as_dict(), settings=TRAINING_SETTINGS)
    return History.from_dict(payload.get("history", {}))


# --------------------------------------------------------------------------- one model


@dataclass
class TrainedModel:
    """A trained (or resumed) model with its learning curves."""

    kind: str
    num_given: int
    model: nn.Module
    history: History
    resumed: bool = False


def train_model(
    kind: str,
    num_given: int,
    digits: Digits,
    config: QuadrantConfig,
    *,
    baseline: Baseline | None = None,
    checkpoint_dir: str | Path | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> TrainedModel:
    """Train one model with :func:`cvae.training.fit`, or load it from its checkpoint.

    Everything random (initialization, batches, sampling) is seeded with ``config.seed``.
    With ``checkpoint_dir`` the final checkpoint is written after training, and a model
    whose checkpoint already exists is loaded instead of trained (after checking that
    it matches this architecture and these settings).
    """
    device = torch.device(device) if device is not None else default_device()
    seed_everything(config.seed)
    model = build_model(kind, num_given, config, baseline)
    name = f"{kind}, {num_given} given quadrant(s), seed {config.seed}"
    path = None
    if checkpoint_dir is not None:
        path = checkpoint_path(checkpoint_dir, kind, num_given, config.seed)
    if path is not None and path.exists():
        history = load_trained(path, model, config)
        log(f"resumed {name}, from {path} (not retrained)")
        return TrainedModel(kind, num_given, model.to(device), history, resumed=True)
    train = quadrant_split(digits.train_images, num_given)
    validation = quadrant_split(digits.validation_images, num_given)
    history = fit(
        model,
        Batches(*train, batch_size=config.batch_size, shuffle=True, seed=config.seed),
        Batches(*validation, batch_size=500),
        epochs=config.epochs, learning_rate=config.learning_rate,
        patience=config.patience, precision=config.precision, seed=config.seed,
        device=device, progress=progress, description=name,
    )
    log(f"trained {name}: {history.epochs} epochs in {history.seconds:.0f} s")
    if path is not None:
        save_trained(path, kind, model, config, history)
    return TrainedModel(kind, num_given, model, history)


def evaluate_model(model: nn.Module, inputs: Tensor, targets: Tensor, config: QuadrantConfig) -> dict[str, float]:
    r"""Mean :math:`-\log p(y \mid x)` (nats per image) of ``model`` on a test split, and its latent code.

    ``nll_importance`` and ``nll_monte_carlo`` are the two estimators with ``S =
    config.num_samples``; ``nll`` is the number the paper's table reports: exact for the
    baseline, importance-sampled for the models with a recognition network, Monte Carlo
    from the prior for the GSNN (which has none). ``kl`` and ``active_units`` are those
    of :func:`latent_summary`. Missing values are NaN.
    """
    def mean(estimator: str) -> float:
        return float(
            negative_conditional_log_likelihood(
                model, inputs, targets, estimator=estimator, num_samples=config.num_samples, seed=config.seed
            ).mean()
        )

    if isinstance(model, Baseline):
        exact = mean("importance")
        return {"nll": exact, "estimator": "exact", "nll_importance": exact, "nll_monte_carlo": exact,
                "kl": math.nan, "active_units": math.nan}
    monte_carlo = mean("monte_carlo")
    latent = latent_summary(model, inputs, targets)
    if model.recognition_net is None:
        return {"nll": monte_carlo, "estimator": "monte_carlo", "nll_importance": math.nan,
                "nll_monte_carlo": monte_carlo, **latent}
    importance = mean("importance")
    return {"nll": importance, "estimator": "importance", "nll_importance": importance,
            "nll_monte_carlo": monte_carlo, **latent}


@torch.no_grad()
def latent_summary(model: StructuredCVAE, inputs: Tensor, targets: Tensor, batch_size: int = 500) -> dict[str, float]:
    r"""The mean test :math:`\mathrm{KL}(q(z \mid x, y) \,\|\, p(z \mid x))` and the active units of ``q``.

    ``active_units`` is Burda et al.'s count (:func:`cvae.estimators.count_active_units`):
    the units whose mean :math:`\mathbb E_q[z_u]` varies across the test pairs by more
    than 0.01. With a prior that depends on :math:`x` a unit can pass it by following the
    prior's mean, which carries nothing about :math:`y` beyond :math:`x`;
    ``active_units_vs_prior`` therefore counts the same on the means measured from the
    prior in its own standard deviations, :math:`(\mathbb E_q[z_u] - \mu_{p,u}(x)) /
    \sigma_{p,u}(x)`: zero for a unit whose posterior is its prior. All three are NaN
    for a GSNN, which has no recognition network :math:`q`.
    """
    if model.recognition_net is None:
        return {"kl": math.nan, "active_units": math.nan, "active_units_vs_prior": math.nan}
    device = next(model.parameters()).device
    kls, means, standardized = [], [], []
    for x, y in zip(inputs.split(batch_size), targets.split(batch_size)):
        x, y = x.to(device), y.to(device)
        (mu_q, logvar_q), (mu_p, logvar_p) = model.recognize(x, y), model.prior(x)
        kls.append(gaussian_kl(mu_q, logvar_q, mu_p, logvar_p).cpu())
        means.append(mu_q.cpu())
        standardized.append(standardize(mu_q, (mu_p, logvar_p)).cpu())
    return {
        "kl": float(torch.cat(kls).mean()),
        "active_units": float(count_active_units(torch.cat(means))),
        "active_units_vs_prior": float(count_active_units(torch.cat(standardized))),
    }


# --------------------------------------------------------------------------- the experiment


@dataclass
class ExperimentResult:
    """What :func:`run_quadrant_experiment` returns: one row per model, quadrant count and seed, and the models.

    ``digits`` are those of the first seed (the test digits are the same for every seed;
    the validation split is drawn with each seed).
    """

    config: QuadrantConfig
    digits: Digits
    seeds: list[int] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    models: dict[tuple[str, int, int], TrainedModel] = field(default_factory=dict)

    def model(self, kind: str, num_given: int, seed: int | None = None) -> nn.Module:
        """The trained model of ``kind`` for ``num_given`` quadrants and ``seed`` (default: the first seed)."""
        return self.models[(kind, num_given, self.seeds[0] if seed is None else seed)].model

    def row(self, kind: str, num_given: int, seed: int | None = None) -> dict:
        """The result row of one model (default: the first seed)."""
        seed = self.seeds[0] if seed is None else seed
        for row in self.rows:
            if (row["model"], row["num_given"], row["seed"]) == (kind, num_given, seed):
                return row
        raise KeyError(f"no result for {kind!r} with {num_given} given quadrant(s) and seed {seed}")

    def nll(self, kind: str, num_given: int, seed: int | None = None) -> float:
        """The reported :math:`-\\log p(y \\mid x)` of one model (see :func:`evaluate_model`)."""
        return self.row(kind, num_given, seed)["nll"]

    def values(self, kind: str, num_given: int, column: str = "nll") -> list[float]:
        """One ``column`` of the result rows of ``kind`` and ``num_given``: a value per seed, in seed order."""
        return [self.row(kind, num_given, seed)[column] for seed in self.seeds]


def read_results(path: str | Path) -> list[dict[str, str]]:
    """The rows a results file already holds (values as stored); none when there is no file.

    Raises:
        ValueError: the file is not a results file of this experiment (not UTF-8 CSV,
            or without the ``model`` and ``num_given`` columns); rows are merged by
            those two columns, so it is refused rather than overwritten.
    """
    path = Path(path)
    if not path.exists():
        return []
    try:  # utf-8-sig: also a file that a spreadsheet saved with a byte-order mark
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file)
            rows, columns = list(reader), reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{path} cannot be read as results ({error}); move it away to start a new one") from None
    if rows and not {"model", "num_given"} <= set(columns):
        raise ValueError(f"{path} has no model and num_given columns; move it away to start a new results file")
    for number, row in enumerate(rows, start=1):
        if None in row or None in row.values():
            raise ValueError(f"{path}: row {number} has {'more' if None in row else 'fewer'} values than the "
                             "header has columns; repair it, or move the file away to start a new one")
    return rows


def _row_key(row: dict) -> tuple[str, str, str]:
    return row["model"], _number(row["num_given"]), _number(row.get("seed", ""))


def _number(value: object) -> str:
    """A quadrant count or seed as the rows are merged by it: ``0``, ``0.0`` and ``"0"`` are one seed."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _row_order(key: tuple[str, str, str]) -> tuple:
    kind, num_given, seed = key
    return num_given, MODELS.index(kind) if kind in MODELS else len(MODELS), kind, int(seed) if seed.isdigit() else -1


def write_results(path: str | Path, rows: Sequence[dict]) -> Path:
    """Merge the result rows into the CSV file at ``path`` (one row per model, quadrant count and seed), atomically.

    Rows for other models, quadrant counts or seeds that the file already holds are kept,
    so no run ever leaves fewer rows than it found (:func:`cvae.checkpoints.atomic_write`);
    so are columns a reader added by hand, with their values in the rows this run replaces.
    """
    merged = {_row_key(row): row for row in read_results(path)}
    for row in rows:
        added = {key: value for key, value in merged.get(_row_key(row), {}).items() if key not in RESULT_FIELDS}
        merged[_row_key(row)] = {
            **added, **{key: f"{value:.4f}" if isinstance(value, float) else value for key, value in row.items()}
        }
    columns = dict.fromkeys([*RESULT_FIELDS, *(key for row in merged.values() for key in row)])
    with atomic_write(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(columns), restval="")
        writer.writeheader()
        writer.writerows(merged[key] for key in sorted(merged, key=_row_order))
    return Path(path)


def check_output_folder(name: str, out: str | Path, configuration: dict | None = None) -> Path:
    """Create ``out`` if needed and check that it can hold this experiment's files; a ValueError naming ``name``.

    With ``configuration`` (:func:`run_configuration`), a folder whose ``run.json`` records
    another one is refused: its ``results.csv`` would mix the rows of two configurations.
    Only the seeds may differ (each seed has rows of its own).
    """
    if not str(out).strip():
        raise ValueError(f"{name} is empty; give a folder name (runs/quadrants, or . for the current folder)")
    folder = writable_folder(name, out)
    read_results(folder / RESULTS_FILE)
    record = folder / RUN_FILE
    if record.is_dir():
        raise ValueError(f"{record} is a folder, not this experiment's run record; move it away")
    if configuration is not None and record.exists():
        try:
            stored = json.loads(record.read_text(encoding="utf-8"))["configuration"]
            differ = [f"{key} {stored[key]!r} there, {value!r} here" for key, value in configuration.items()
                      if key != "seeds" and key in stored and stored[key] != value]
        except (OSError, UnicodeDecodeError, ValueError, LookupError, TypeError) as error:
            raise ValueError(f"{record} cannot be read as a run record ({type(error).__name__}: {error}); "
                             "move it away, or pick another --out") from None
        if differ:
            raise ValueError(f"{folder} holds the results of another configuration ({'; '.join(differ)}; "
                             f"see its {RUN_FILE}): pick another --out for this one")
    return folder


@contextlib.contextmanager
def output_folder(
    out: str | Path | None, log: Callable[[str], None] = print, configuration: dict | None = None
) -> Iterator[Path | None]:
    """The run's output folder, checked (:func:`check_output_folder`) and locked for the block (``None``: no output).

    Raises :class:`~cvae.checkpoints.FolderInUse` when another run holds it, and clears
    the temporary files that killed writes left there.
    """
    if out is None:
        yield None
        return
    folder = check_output_folder("out", out, configuration)
    with folder_lock(folder):
        stale = remove_stale_temporaries(folder)
        if stale:
            log(f"removed what interrupted writes left: {', '.join(path.name for path in stale)}")
        yield folder


def check_quadrants(quadrants: Sequence[int]) -> list[int]:
    """Require 1, 2 and/or 3 given quadrants, each once."""
    checked = [check_num_given(k) for k in quadrants]
    if not checked or len(set(checked)) != len(checked):
        raise ValueError(f"quadrants must list 1, 2 and/or 3 once each, got {list(quadrants)}")
    return checked


def check_seeds(seeds: Sequence[int]) -> list[int]:
    """Require at least one random seed, each an int in ``[0, 2**63)``, each once."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise TypeError(f"seeds must be a sequence of ints, got {type(seeds).__name__}")
    checked = [check_seed(f"seeds[{position}]", seed) for position, seed in enumerate(seeds)]
    if not checked or len(set(checked)) != len(checked):
        raise ValueError(f"seeds must list at least one seed, each once, got {list(seeds)}")
    return checked


def run_quadrant_experiment(
    config: QuadrantConfig | None = None,
    quadrants: Sequence[int] = (1, 2, 3),
    *,
    seeds: Sequence[int] | None = None,
    out: str | Path | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    command: str | None = None,
) -> ExperimentResult:
    """Train and evaluate the four models for each number of given quadrants and each random seed.

    For each seed (default: ``config.seed`` alone) and ``num_given``: the baseline first,
    then the CVAE, the GSNN and the hybrid, each evaluated on the test digits right after
    training (:func:`evaluate_model`). A seed seeds everything random of its runs: the
    validation split, the initializations, the batches and the estimates.
    With ``out`` a folder, checkpoints and ``results.csv`` (merged after every model)
    go there, models with a checkpoint are resumed instead of retrained, and the folder
    is locked for the run (:func:`output_folder`). Its ``run.json`` (:func:`write_run_record`,
    with ``command``) is written with every row and when the run finishes; a folder whose
    ``run.json`` records another configuration is refused before any work.

    A configuration whose training cannot fit in the device's memory
    (:func:`memory_needed`) is refused before any model is built.
    """
    config = config or QuadrantConfig()
    quadrants = check_quadrants(quadrants)
    seeds = check_seeds([config.seed] if seeds is None else seeds)
    device = training_device(device)
    configuration = run_configuration(config, seeds)
    with output_folder(out, log, configuration) as folder:
        data = load_digits(config.data)
        runs = [replace(config, seed=seed) for seed in seeds]
        first = load_experiment_digits(runs[0], data)
        check_memory(config, len(first.train_images), device)
        result = ExperimentResult(config, first, seeds)
        log(str(first))
        for seed, run in zip(seeds, runs):
            digits = first if run is runs[0] else load_experiment_digits(run, data)
            for num_given in quadrants:
                test_inputs, test_targets = quadrant_split(digits.test_images, num_given)
                baseline = None
                for kind in MODELS:
                    trained = train_model(
                        kind, num_given, digits, run,
                        baseline=baseline, checkpoint_dir=folder, device=device, progress=progress, log=log,
                    )
                    if kind == "baseline":
                        baseline = trained.model
                    result.models[(kind, num_given, seed)] = trained
                    scores = evaluate_model(trained.model, test_inputs, test_targets, run)
                    result.rows.append(
                        {
                            "model": kind,
                            "num_given": num_given,
                            "seed": seed,
                            **scores,
                            "num_samples": config.num_samples if kind != "baseline" else 0,
                            "epochs_run": trained.history.epochs,
                            "best_epoch": trained.history.best_epoch,
                            "train_seconds": round(trained.history.seconds, 1),
                            "data": digits.source,
                            "train_size": len(digits.train_images),
                            "test_size": len(digits.test_images),
                            "resumed": trained.resumed,
                        }
                    )
                    log(
                        f"  {kind:>8}, {num_given} given, seed {seed}: "
                        f"-log p(y|x) = {scores['nll']:.2f} nats ({scores['estimator']})"
                    )
                    if folder is not None:  # the record first: it describes every row
                        write_run_record(folder, command, configuration, device, finished=False)
                        write_results(folder / RESULTS_FILE, result.rows)
        if folder is not None:
            write_run_record(folder, command, configuration, device, finished=True)
    return result


def run_configuration(config: QuadrantConfig, seeds: Sequence[int]) -> dict:
    """What ``run.json`` records as a run's configuration: every setting, and the seeds."""
    return {**{key: value for key, value in config.as_dict().items() if key != "seed"}, "seeds": list(seeds)}


def memory_needed(config: QuadrantConfig, train_size: int) -> int:
    """At least how many bytes training the experiment's largest model, the hybrid, holds at once.

    In float32: the weights (the frozen baseline's once; the three networks' with their
    gradients and Adam's two moments) and the activations of one training step, whose
    GSNN term decodes ``num_particles`` codes of each digit of a batch. PyTorch needs more.
    """
    def weights(*sizes: int) -> int:
        return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes, sizes[1:]))

    hidden, latent, pixels = config.hidden_dims, config.latent_dim, output_size(1)
    frozen = weights(IMAGE_PIXELS, *hidden, pixels)
    trained = 2 * weights(IMAGE_PIXELS, *hidden, 2 * latent) + weights(IMAGE_PIXELS + latent, *hidden[::-1], pixels)
    batch = min(config.batch_size, train_size)
    activations = batch * (1 + config.num_particles) * (sum(hidden) + latent + pixels)
    return 4 * (frozen + 4 * trained + activations)


def check_memory(config: QuadrantConfig, train_size: int, device: torch.device) -> None:
    """Refuse a configuration that cannot train in ``device``'s available memory (:func:`memory_needed`).

    Tried anyway, it would end in an allocator error or, on Linux, the kernel killing the
    process without a message.
    """
    needed, available = memory_needed(config, train_size), available_memory(device)
    if needed > available:
        raise ValueError(
            f"this configuration needs at least {needed / 2**30:,.1f} GiB of memory to train, but {device} has "
            f"{available / 2**30:,.1f} GiB available: lower num_particles (--particles), batch_size "
            "(--batch-size) or hidden_dims (--hidden)"
        )


# --------------------------------------------------------------------------- command line


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line of ``python -m cvae.experiments.quadrants``."""
    defaults = QuadrantConfig()
    parser = argparse.ArgumentParser(
        prog="python -m cvae.experiments.quadrants",
        description="Sohn et al.'s quadrant experiment: baseline, CVAE, GSNN and hybrid; "
        "negative conditional log-likelihood per model and number of given quadrants.",
    )
    parser.add_argument("--quadrants", type=int, nargs="+", choices=(1, 2, 3), default=[1, 2, 3],
                        help="numbers of given quadrants")
    parser.add_argument("--data", choices=DATA_SOURCES, default=None, help="default: CVAE_DATA, else sample")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training and test digits")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"epoch budget per model (default: CVAE_EPOCHS, else {COMMAND_LINE_EPOCHS})")
    parser.add_argument("--patience", type=int, default=10, help="early-stopping patience; 0 turns it off (default 10)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate, help="Adam learning rate")
    parser.add_argument("--hidden", type=int, nargs="+", default=list(defaults.hidden_dims),
                        help="hidden layer sizes (Pyro: 500 500)")
    parser.add_argument("--latent", type=int, default=defaults.latent_dim, help="latent size (Pyro: 200)")
    parser.add_argument("--alpha", type=float, default=defaults.hybrid_alpha,
                        help="the hybrid's weight of the CVAE objective")
    parser.add_argument("--particles", type=int, default=defaults.num_particles,
                        help="prior samples L of the GSNN objective")
    parser.add_argument("--samples", type=int, default=defaults.num_samples,
                        help="samples S of the likelihood estimators")
    parser.add_argument("--gsnn-objective", choices=GSNN_OBJECTIVES, default=defaults.gsnn_objective,
                        help="the GSNN term: mean_log (Sohn et al.: mean of log-likelihoods) or log_mean "
                        "(log of the mean likelihood, a tighter bound)")
    parser.add_argument("--seeds", "--seed", type=int, nargs="+", default=[defaults.seed],
                        help="random seeds; each trains and scores every model once (one result row per seed)")
    parser.add_argument("--precision", choices=PRECISIONS, default=defaults.precision,
                        help="bf16: bfloat16 matrix products in training (fast on CPUs with AVX512-BF16/AMX)")
    parser.add_argument("--out", default="runs/quadrants",
                        help="folder for checkpoints and results.csv (created; locked while a run uses it)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def _config(args: argparse.Namespace) -> QuadrantConfig:
    """The experiment's configuration from the command line and the ``CVAE_*`` switches."""
    return QuadrantConfig(
        data=args.data or data_source(),
        limit=args.limit,
        epochs=args.epochs if args.epochs is not None else settings.epochs(COMMAND_LINE_EPOCHS),
        batch_size=args.batch_size,
        learning_rate=args.lr,
        patience=args.patience or None,
        hidden_dims=tuple(args.hidden),
        latent_dim=args.latent,
        hybrid_alpha=args.alpha,
        num_particles=args.particles,
        gsnn_objective=args.gsnn_objective,
        num_samples=args.samples,
        seed=args.seeds[0],
        precision=args.precision,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the experiment from the command line; returns the exit status.

    Every setting, the device and the output folder are checked before any work; a
    problem found then or during the run is one ``error:`` line on stderr (status 2),
    and Ctrl-C, from the first second on, is one line too and keeps what is finished
    (status 130).
    """
    try:
        return _command_line(argv)
    except KeyboardInterrupt:  # before the run began (the run's own is reported by _command_line)
        return _error(INTERRUPTED_EARLY, status=130)


def _command_line(argv: Sequence[str] | None) -> int:
    args = _parse_args(argv)
    try:
        config = _config(args)
        quadrants = check_quadrants(args.quadrants)
        seeds = check_seeds(args.seeds)
        device = default_device()
        configuration = run_configuration(config, seeds)
        check_output_folder("--out", args.out, configuration)
    except (TypeError, ValueError) as error:
        return _error(error)
    print("configuration: " + ", ".join(f"{key}={value}" for key, value in configuration.items()), flush=True)
    out = Path(args.out)
    try:
        run_quadrant_experiment(config, quadrants, seeds=seeds, out=out, device=device,
                                progress=not args.no_progress, log=lambda line: print(line, flush=True),
                                command=shlex.join([*COMMAND, *(sys.argv[1:] if argv is None else argv)]))
        print(f"results: {out / RESULTS_FILE}", flush=True)
    except (CheckpointError, DataUnavailableError, FolderInUse, TrainingDiverged, OSError, ValueError) as error:
        return _error(error)
    except KeyboardInterrupt:
        return _error(f"interrupted; rerun to resume (the finished models are kept in {out})", status=130)
    return 0


def write_run_record(
    folder: Path, command: str | None, configuration: dict, device: torch.device, *, finished: bool
) -> Path:
    """Write ``run.json`` beside the results: the command line (``None`` for a call from Python) and
    the configuration it gave, when it finished (``None`` while it runs), the machine and the versions."""
    record = {
        "command": command,
        "configuration": configuration,
        "finished": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if finished else None,
        "cvae": cvae.__version__,
        **machine(device),
    }
    try:
        with atomic_write(folder / RUN_FILE, "w", encoding="utf-8") as file:
            json.dump(record, file, indent=1)
    except OSError as error:  # a full disk, a quota: say which file
        raise OSError(error.errno, f"{folder / RUN_FILE} cannot be written ({error.strerror or error})") from None
    return folder / RUN_FILE


def _error(error: Exception | str, status: int = 2) -> int:
    print(f"error: {error}", file=sys.stderr, flush=True)
    return status


if __name__ == "__main__":
    if signal.getsignal(signal.SIGINT) is _interrupted_early:  # imported: main() reports Ctrl-C from here on
        signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
