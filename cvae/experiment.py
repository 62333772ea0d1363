r"""Sohn et al.'s quadrant experiment: four models, 1 to 3 given quadrants, each scored.

Explained in the chapter :chapter:`Structured output prediction: completing digits
<book/quadrants>`, which runs :func:`run_quadrant_experiment` with a small budget;
``python -m cvae.run`` (:mod:`cvae.run.cli`) runs it with a large one, resumable.
For each seed and number of given quadrants: the :class:`~cvae.structured.Baseline`,
then the CVAE, the GSNN and the hybrid (:class:`~cvae.structured.StructuredCVAE`) on
top of it, each scored by :math:`-\log p(y \mid x)` on the test digits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor, nn

from cvae import checks
from cvae.data import (
    DATASETS,
    Batches,
    DataUnavailableError,
    DigitData,
    binarize,
    load_digits,
    split_validation,
)
from cvae.distributions import gaussian_kl, standardize
from cvae.estimators import count_active_units
from cvae.quadrants import check_num_given, join_quadrants, split_quadrants
from cvae.run.checkpoints import load_checkpoint, save_checkpoint
from cvae.settings import DATA_SOURCES, seed_everything, training_device
from cvae.structured import (
    GSNN_OBJECTIVES,
    Baseline,
    StructuredCVAE,
    negative_conditional_log_likelihood,
)
from cvae.training import PRECISIONS, History, TrainingDiverged, fit

MODELS = ("baseline", "cvae", "gsnn", "hybrid")
TRAINING_SETTINGS = (  # they change what a trained model is
    *("dataset", "data", "limit", "epochs", "batch_size", "learning_rate", "patience"),
    *("validation_fraction", "seed", "precision"),
)


@dataclass(frozen=True)
class QuadrantConfig:
    """Every setting of the experiment; the defaults are the chapter's small budget.

    Attributes:
        dataset: a name in :data:`cvae.data.DATASETS` (``"mnist"``,
            ``"fashion-mnist"``).
        data: ``"sample"`` or ``"full"`` (see :func:`cvae.data.load_digits`).
        limit: use only the first ``limit`` training and test digits (quick checks).
        epochs, batch_size, learning_rate, patience: passed to :func:`cvae.training.fit`
            (``patience=None``: no early stopping).
        hidden_dims, latent_dim: the MLPs of every network and the size of :math:`z`.
        hybrid_alpha: :math:`\\alpha` of the hybrid model.
        num_particles: :math:`L`, the prior samples of the GSNN term.
        gsnn_objective: the GSNN term of the GSNN and the hybrid: ``"mean_log"``, Sohn
            et al.'s mean of log-likelihoods, or ``"log_mean"``, the logarithm of the
            mean (see :class:`~cvae.structured.StructuredCVAE`).
        num_samples: :math:`S`, the samples of the likelihood estimators.
        validation_fraction: share of the training digits held out for early stopping.
        seed: seeds every model's initialization, training and evaluation.
        precision: ``"fp32"`` or ``"bf16"`` matrix products in training
            (:func:`cvae.training.autocast`; see the Performance appendix).
    """

    dataset: str = "mnist"
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
        """Check every setting; keep plain Python values, as checkpoints store them."""
        number, one_of, c = checks.check_positive_float, checks.check_choice, self

        def positive(name: str, minimum: int = 1) -> int | None:
            value, check = getattr(self, name), checks.check_positive_int
            return value if value is None else check(name, value, minimum=minimum)

        alpha = number("hybrid_alpha", self.hybrid_alpha, allow_zero=True)
        fraction = number("validation_fraction", self.validation_fraction)
        objective = one_of("gsnn_objective", c.gsnn_objective, GSNN_OBJECTIVES)
        if alpha > 1:
            raise ValueError(f"hybrid_alpha must be in [0, 1] (1: CVAE), got {alpha}")
        if fraction >= 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {fraction}")
        checked = {
            "dataset": one_of("dataset", c.dataset, DATASETS),
            "data": one_of("data", c.data, DATA_SOURCES),
            "limit": positive("limit", minimum=20),
            **{name: positive(name) for name in ("epochs", "batch_size", "patience")},
            "learning_rate": number("learning_rate", c.learning_rate),
            "hidden_dims": tuple(checks.check_sizes("hidden_dims", c.hidden_dims)),
            **{name: positive(name) for name in ("latent_dim", "num_particles")},
            "hybrid_alpha": alpha,
            "gsnn_objective": objective,
            "num_samples": positive("num_samples"),
            "validation_fraction": fraction,
            "seed": checks.check_seed("seed", c.seed),
            "precision": one_of("precision", c.precision, PRECISIONS),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def as_dict(self) -> dict:
        """Plain types only (lists, not tuples), as stored in checkpoints."""
        return {**asdict(self), "hidden_dims": list(self.hidden_dims)}


@dataclass(frozen=True)
class Digits:
    """The experiment's images (grey levels, as loaded): train, validation and test."""

    dataset: str
    source: str
    train_images: Tensor
    train_labels: Tensor
    validation_images: Tensor
    validation_labels: Tensor
    test_images: Tensor
    test_labels: Tensor

    def __str__(self) -> str:
        images = self.train_images, self.validation_images, self.test_images
        train, validation, test = (f"{len(x):,}" for x in images)
        split = f"{train} training, {validation} validation and {test} test images"
        return f"data: {self.dataset} {self.source!r}: {split}"


def load_experiment_digits(config: QuadrantConfig, data: DigitData | None = None):
    """Load ``config.data`` of ``config.dataset`` (unless given), keep the first
    ``config.limit`` images and hold out the validation split, drawn with
    ``config.seed``."""
    data = data if data is not None else load_digits(config.data, config.dataset)
    limit = config.limit
    train = data.train_images[:limit], data.train_labels[:limit]
    test = data.test_images[:limit], data.test_labels[:limit]
    held_out = round(len(train[0]) * (fraction := config.validation_fraction))
    if not 0 < held_out < len(train[0]) or not len(test[0]):
        raise DataUnavailableError(
            f"the {data.dataset} {data.source!r} data hold {len(train[0]):,} training "
            f"and {len(test[0]):,} test images: too few for this experiment, which "
            f"holds out {fraction:g} of the training digits for validation and needs "
            "test digits"
        )
    train, validation = split_validation(*train, fraction, seed=config.seed)
    return Digits(data.dataset, data.source, *train, *validation, *test)


def quadrant_split(images: Tensor, num_given: int) -> tuple[Tensor, Tensor]:
    """Binarize grey-level digits (threshold 0.5), split them: ``(inputs, targets)``."""
    return split_quadrants(binarize(images), num_given)


def build_model(
    kind: str, num_given: int, config: QuadrantConfig, baseline=None
) -> nn.Module:
    """A fresh, untrained model of ``kind`` (one of ``MODELS``); the latent models are
    built on the trained ``baseline``."""
    if kind == "baseline":
        return Baseline(num_given, config.hidden_dims)
    alpha = {"cvae": 1.0, "gsnn": 0.0, "hybrid": config.hybrid_alpha}[kind]
    gsnn = alpha < 1  # the CVAE has no GSNN term: its checkpoint serves any L
    return StructuredCVAE(
        num_given,
        baseline,
        alpha=alpha,
        latent_dim=config.latent_dim,
        hidden_dims=config.hidden_dims,
        num_particles=config.num_particles if gsnn else QuadrantConfig.num_particles,
        gsnn_objective=config.gsnn_objective if gsnn else GSNN_OBJECTIVES[0],
    )


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

    Everything random (initialization, batches, sampling) is seeded by ``config.seed``.
    With ``checkpoint_dir`` a model whose checkpoint ``<kind>-q<num_given>-s<seed>.pt``
    exists is loaded instead (refused if another architecture or other
    ``TRAINING_SETTINGS`` made it); a trained one is saved there, unless its best
    validation loss is more than twice its untrained loss: a finite blow-up (far too
    large a learning rate), refused with :class:`~cvae.training.TrainingDiverged`.
    """
    device, seed, settings = training_device(device), config.seed, config.as_dict()
    seed_everything(seed)
    kind = checks.check_choice("kind", kind, MODELS)
    model = build_model(kind, check_num_given(num_given), config, baseline)
    name = f"{kind}, {num_given} given quadrant(s), seed {seed}"
    path = Path(checkpoint_dir or ".") / f"{kind}-q{num_given}-s{seed}.pt"
    if checkpoint_dir is not None and path.exists():
        stored = load_checkpoint(
            path, model, config=settings, settings=TRAINING_SETTINGS
        )
        log(f"resumed {name}, from {path} (not retrained)")
        history = History.from_dict(stored["history"])
        return TrainedModel(kind, num_given, model.to(device), history, resumed=True)
    train = quadrant_split(digits.train_images, num_given)
    validation = quadrant_split(digits.validation_images, num_given)
    if kind != "baseline":  # the frozen baseline's guess: once per data set
        train, validation = ((*x_y, model.guess(x_y[0])) for x_y in (train, validation))
    train = Batches(*train, batch_size=config.batch_size, shuffle=True, seed=seed)
    history = fit(
        model, train, Batches(*validation, batch_size=500), epochs=config.epochs,
        patience=config.patience, seed=seed, learning_rate=config.learning_rate,
        precision=config.precision, device=device, progress=progress, description=name,
    )  # fmt: skip
    log(f"trained {name}: {history.epochs} epochs in {history.seconds:.0f} s")
    if checkpoint_dir is not None:
        keep_checkpoint(path, kind, model, settings, history)
    return TrainedModel(kind, num_given, model, history)


def keep_checkpoint(path: Path, kind: str, model, settings: dict, history) -> None:
    """Checkpoint a trained model, unless its best validation loss is more than twice
    its untrained loss: a finite blow-up, refused with ``TrainingDiverged``."""
    best = history.validation["loss"][history.best_epoch - 1]
    untrained = history.first_loss
    if best > untrained + abs(untrained):
        raise TrainingDiverged(
            f"{path} not written: the best validation loss, {best:.4g}, is more "
            f"than twice the untrained model's ({untrained:.4g}): training blew "
            "up. Try a smaller learning rate"
        )
    save_checkpoint(path, model, config=settings, history=history.as_dict(), kind=kind)


def evaluate_model(
    model: nn.Module, inputs: Tensor, targets: Tensor, config
) -> dict[str, object]:
    r"""Mean :math:`-\log p(y \mid x)` (nats per image) of ``model`` on a test split,
    its latent code, and every test example's scores.

    ``nll_importance`` and ``nll_monte_carlo`` are the two estimators with ``S =
    config.num_samples``; ``nll`` is the number the paper's table reports: exact for the
    baseline, importance-sampled for the models with a recognition network, Monte Carlo
    from the prior for the GSNN (which has none). ``kl`` and ``active_units`` are those
    of :func:`latent_summary`. Missing values are NaN. ``examples`` maps each of the
    three ``nll`` names to its ``(N,)`` per-example values: what a paired comparison
    (:func:`cvae.report.paired`) needs.
    """
    options = {"num_samples": config.num_samples, "seed": config.seed}

    def score(estimator: str) -> Tensor:
        return negative_conditional_log_likelihood(
            model, inputs, targets, estimator=estimator, **options
        )

    nan = torch.full((len(inputs),), math.nan)
    if isinstance(model, Baseline):
        exact = score("importance")
        examples, estimator = (
            {"nll_importance": exact, "nll_monte_carlo": exact},
            "exact",
        )
        latent = {"kl": math.nan, "active_units": math.nan}
    else:
        has_q = model.recognition_net is not None
        examples = {
            "nll_importance": score("importance") if has_q else nan,
            "nll_monte_carlo": score("monte_carlo"),
        }
        estimator = "importance" if has_q else "monte_carlo"
        latent = latent_summary(model, inputs, targets)
    reported = "nll_monte_carlo" if estimator == "monte_carlo" else "nll_importance"
    examples["nll"] = examples[reported]
    means = {name: float(values.mean()) for name, values in examples.items()}
    return {**means, "estimator": estimator, **latent, "examples": examples}


@torch.no_grad()
def latent_summary(
    model: StructuredCVAE, inputs: Tensor, targets: Tensor, batch_size=500
) -> dict:
    r"""The mean test :math:`\mathrm{KL}(q(z \mid x, y) \,\|\, p(z \mid x))` and the
    active units of ``q``.

    ``active_units`` is Burda et al.'s count
    (:func:`cvae.estimators.count_active_units`): the units whose mean
    :math:`\mathbb E_q[z_u]` varies across the test pairs by more than 0.01. With a
    prior that depends on :math:`x` a unit can pass it by following the prior's mean,
    which carries nothing about :math:`y` beyond :math:`x`; ``active_units_vs_prior``
    therefore counts the same on the means measured from the prior in its own standard
    deviations, :math:`(\mathbb E_q[z_u] - \mu_{p,u}(x)) / \sigma_{p,u}(x)`: zero for a
    unit whose posterior is its prior. All three are NaN for a GSNN, which has no
    recognition network :math:`q`.
    """
    if model.recognition_net is None:
        return dict.fromkeys(("kl", "active_units", "active_units_vs_prior"), math.nan)
    device = next(model.parameters()).device
    kls, means, standardized = [], [], []
    for x, y in zip(inputs.split(batch_size), targets.split(batch_size), strict=True):
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


@dataclass
class ExperimentResult:
    """What :func:`run_quadrant_experiment` returns: a row per model, quadrant count and
    seed, the models, and their per-example scores (:func:`evaluate_model`).
    ``digits`` are those of the first seed (the test digits are the same for every
    seed; the validation split is drawn with each)."""

    config: QuadrantConfig
    digits: Digits
    seeds: list[int] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    models: dict[tuple[str, int, int], TrainedModel] = field(default_factory=dict)
    examples: dict[tuple[str, int, int], dict[str, Tensor]] = field(
        default_factory=dict
    )

    def model(self, kind: str, num_given: int, seed: int | None = None) -> nn.Module:
        """The trained model of ``kind``, ``num_given``, ``seed`` (default: first)."""
        seed = self.seeds[0] if seed is None else seed
        return self.models[kind, num_given, seed].model

    def values(self, kind: str, num_given: int, column: str = "nll") -> list[float]:
        """One ``column`` of the rows of ``kind`` and ``num_given``: one per seed."""
        rows = {(r["model"], r["num_given"], r["seed"]): r for r in self.rows}
        return [rows[kind, num_given, seed][column] for seed in self.seeds]

    def per_example(self, kind: str, num_given: int, column: str = "nll") -> Tensor:
        """One score of every test example, ``(seeds, N)``: rows in seed order."""
        scores = [self.examples[kind, num_given, seed] for seed in self.seeds]
        return torch.stack([score[column] for score in scores])


def check_runs(quadrants: Sequence[int], seeds: Sequence[int]) -> tuple[list, list]:
    """Require 1, 2 and/or 3 given quadrants, and seeds in ``[0, 2**63)``, each once."""
    checked = [check_num_given(k) for k in quadrants]
    if not checked or len(set(checked)) != len(checked):
        raise ValueError(
            f"quadrants must list 1, 2 and/or 3 once each: {list(quadrants)}"
        )
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise TypeError(f"seeds must be a sequence of ints, got {type(seeds).__name__}")
    seeds = [checks.check_seed(f"seeds[{i}]", seed) for i, seed in enumerate(seeds)]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must list at least one seed, each once, got {seeds}")
    return checked, seeds


def run_quadrant_experiment(
    config: QuadrantConfig | None = None,
    quadrants: Sequence[int] = (1, 2, 3),
    *,
    seeds: Sequence[int] | None = None,
    checkpoint_dir: str | Path | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_model: Callable[[ExperimentResult], None] | None = None,
) -> ExperimentResult:
    """Train and evaluate the four models for each number of given quadrants and seed.

    For each seed (default: ``config.seed`` alone) and ``num_given``: the baseline
    first, then the CVAE, the GSNN and the hybrid, each evaluated on the test digits
    right after training (:func:`evaluate_model`). A seed seeds everything random of
    its runs. ``checkpoint_dir``: as :func:`train_model`; ``on_model`` gets the result
    so far after every model (the command line writes its rows and scores).
    """
    config = config or QuadrantConfig()
    quadrants, seeds = check_runs(quadrants, [config.seed] if seeds is None else seeds)
    device, result = training_device(device), None
    data = load_digits(config.data, config.dataset)
    options = {"checkpoint_dir": checkpoint_dir, "device": device, "progress": progress}
    for seed in seeds:
        run = replace(config, seed=seed)
        digits = load_experiment_digits(run, data)
        if result is None:
            result = ExperimentResult(config, digits, seeds)
            log(str(digits))
        for num_given in quadrants:
            test_inputs, test_targets = quadrant_split(digits.test_images, num_given)
            options.pop("baseline", None)
            for kind in MODELS:
                trained = train_model(kind, num_given, digits, run, **options, log=log)
                if kind == "baseline":
                    options["baseline"] = trained.model
                result.models[(kind, num_given, seed)] = trained
                started = time.perf_counter()
                scores = evaluate_model(trained.model, test_inputs, test_targets, run)
                scored = time.perf_counter() - started
                result.examples[kind, num_given, seed] = scores.pop("examples")
                history = trained.history
                result.rows.append({
                    "model": kind, "num_given": num_given, "seed": seed, **scores,
                    "num_samples": config.num_samples if kind != "baseline" else 0,
                    "epochs_run": history.epochs, "best_epoch": history.best_epoch,
                    "train_seconds": round(history.seconds, 1),
                    "score_seconds": round(scored, 1), "data": digits.source,
                    "train_size": len(digits.train_images),
                    "test_size": len(digits.test_images), "resumed": trained.resumed,
                })  # fmt: skip
                nll = f"{scores['nll']:.2f} nats ({scores['estimator']})"
                log(f"  {kind:>8}, {num_given} given, seed {seed}: -log p(y|x) = {nll}")
                if on_model is not None:
                    on_model(result)
    return result


@torch.no_grad()
def completions(
    result: ExperimentResult, num_given: int, draws: int = 3
) -> tuple[Tensor, list[str]]:
    """What the first seed's four models make of the first test image of each class:
    images ``(classes, columns, 1, 28, 28)`` and the columns' names. The columns are
    the truth, the input (hidden pixels grey), the baseline's prediction and ``draws``
    completions of each latent model, drawn from its prior with the seed."""
    seed = result.seeds[0]
    labels = result.digits.test_labels
    first = [int((labels == c).nonzero()[0]) for c in labels.unique().tolist()]
    inputs, targets = quadrant_split(result.digits.test_images[first], num_given)
    generator = torch.Generator().manual_seed(seed)
    baseline = result.model("baseline", num_given, seed)
    device = next(baseline.parameters()).device
    grey = torch.full_like(targets, 0.35)
    outputs = [
        targets[None],
        grey[None],
        baseline.predict(inputs.to(device)).cpu()[None],
    ]
    names = ["truth", "input", "baseline"]
    for kind in MODELS[1:]:
        model = result.model(kind, num_given, seed)
        outputs.append(model.sample(inputs.to(device), draws, generator).cpu())
        names += [kind] * draws
    images = join_quadrants(inputs, torch.cat(outputs), num_given)  # (columns, N, ...)
    return images.transpose(0, 1), names
