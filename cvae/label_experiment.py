r"""The label CVAE's prior comparison as one run: the MLP
:class:`~cvae.label_cvae.LabelCVAE` with the standard and the learned prior
:math:`p(z \mid y)`, at several latent sizes and seeds, each scored on every test digit
and judged by a classifier.

Explained in the chapter :chapter:`Generating digits on demand <book/cvae_labels>`
(section *At full scale*), whose own cells measure the same on the sample;
``python -m cvae.run labels`` (:mod:`cvae.run.labels`) runs it resumable, with
checkpoints.
The validation split is drawn once (seed 0, as in the chapter); the classifier is
trained once on the grey-level training images and reads back the class of the digits
each model generates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from cvae import checks
from cvae.classifier import DigitClassifier, agreement
from cvae.data import DATASETS, Batches, binarize, load_digits
from cvae.experiment import Digits, keep_checkpoint, load_experiment_digits
from cvae.label_cvae import LabelCVAE, active_units
from cvae.run.checkpoints import load_checkpoint, save_checkpoint
from cvae.settings import DATA_SOURCES, seed_everything, training_device
from cvae.training import History, fit

PRIORS_COMPARED = ("standard_normal", "learned")  # names in cvae.priors.PRIORS
TRAINING_SETTINGS = (  # they change what a trained model is
    *("dataset", "data", "limit", "epochs", "batch_size", "learning_rate"),
    *("patience", "validation_fraction", "seed", "model_seed"),
)
CLASSIFIER_SETTINGS = (  # the classifier's, in CLASSIFIER_FILE
    *("dataset", "data", "limit", "classifier_epochs", "validation_fraction", "seed"),
)
CLASSIFIER_FILE = "classifier.pt"
SCORE_BATCH = 500  # test digits scored at once: S = 100 codes of each fit in memory


@dataclass(frozen=True)
class LabelConfig:
    """Every setting of the run; the defaults are the chapter's sample budget.

    Attributes:
        dataset, data, limit, validation_fraction: as in
            :class:`~cvae.experiment.QuadrantConfig` (the split is drawn with seed 0).
        epochs, batch_size, learning_rate, patience: passed to
            :func:`cvae.training.fit` for every CVAE (``patience=None``: no early
            stopping).
        num_samples: :math:`S` of the importance-sampled :math:`\\log p(x \\mid y)`.
        generated_per_class: digits generated per class for the classifier to read.
        classifier_epochs: the classifier's budget (patience 3).
        seed: the validation split's (each model's own seed is a ``model_seed`` of
            :func:`run_label_experiment`).
    """

    dataset: str = "mnist"
    data: str = "sample"
    limit: int | None = None
    epochs: int = 20
    batch_size: int = 100
    learning_rate: float = 1e-3
    patience: int | None = 5
    num_samples: int = 100
    generated_per_class: int = 100
    classifier_epochs: int = 10
    validation_fraction: float = 0.1
    seed: int = 0  # the validation split's; each model has its own (model_seed)

    def __post_init__(self) -> None:
        """Check every setting; keep plain Python values, as checkpoints store them."""
        c, positive_int = self, checks.check_positive_int
        fraction = checks.check_positive_float(
            "validation_fraction", c.validation_fraction
        )
        if fraction >= 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {fraction}")
        checked = {
            "dataset": checks.check_choice("dataset", c.dataset, DATASETS),
            "data": checks.check_choice("data", c.data, DATA_SOURCES),
            "learning_rate": checks.check_positive_float(
                "learning_rate", c.learning_rate
            ),
            "validation_fraction": fraction,
            "seed": checks.check_seed("seed", c.seed),
        }
        if c.limit is not None:
            checked["limit"] = positive_int("limit", c.limit, minimum=20)
        if c.patience is not None:
            checked["patience"] = positive_int("patience", c.patience)
        for name in (
            *("epochs", "batch_size", "num_samples", "generated_per_class"),
            "classifier_epochs",
        ):
            checked[name] = positive_int(name, getattr(c, name))
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def as_dict(self) -> dict:
        """Plain types only, as stored in checkpoints and run records."""
        return asdict(self)


def load_label_digits(config: LabelConfig) -> Digits:
    """The run's images: ``config.data`` of ``config.dataset``, the first
    ``config.limit``, with the validation split of ``config.seed``."""
    return load_experiment_digits(config, load_digits(config.data, config.dataset))


def binary(digits: Digits, split: str) -> tuple[Tensor, Tensor]:
    """Binarized images and labels of ``"train"``, ``"validation"`` or ``"test"``."""
    images, labels = (
        getattr(digits, f"{split}_{part}") for part in ("images", "labels")
    )
    return binarize(images), labels


def train_classifier(
    digits: Digits,
    config: LabelConfig,
    *,
    checkpoint_dir: str | Path | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[DigitClassifier, History]:
    """The judge: :class:`~cvae.classifier.DigitClassifier` trained (seed 0) on the
    grey-level training images, or loaded from ``classifier.pt`` in
    ``checkpoint_dir``."""
    device, settings = training_device(device), config.as_dict()
    seed_everything(0)
    classifier = DigitClassifier()
    path = Path(checkpoint_dir or ".") / CLASSIFIER_FILE
    if checkpoint_dir is not None and path.exists():
        stored = load_checkpoint(
            path, classifier, config=settings, settings=CLASSIFIER_SETTINGS
        )
        log(f"resumed the classifier, from {path} (not retrained)")
        return classifier.to(device), History.from_dict(stored["history"])
    history = fit(
        classifier,
        Batches(digits.train_images, digits.train_labels, batch_size=100, shuffle=True),
        Batches(digits.validation_images, digits.validation_labels, batch_size=500),
        epochs=config.classifier_epochs, patience=3, device=device, progress=progress,
        description="classifier",
    )  # fmt: skip
    if checkpoint_dir is not None:
        save_checkpoint(path, classifier, config=settings, history=history.as_dict())
    return classifier, history


def train_label_cvae(
    prior: str,
    latent_dim: int,
    seed: int,
    digits: Digits,
    config: LabelConfig,
    *,
    checkpoint_dir: str | Path | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[LabelCVAE, History, bool]:
    """Train the MLP label CVAE with ``prior`` and ``latent_dim`` from ``seed`` (its
    initialization, batch order and noise), or load it from its checkpoint
    ``<prior>-d<latent_dim>-s<seed>.pt`` in ``checkpoint_dir``; with whether it was
    loaded."""
    device, settings = training_device(device), {**config.as_dict(), "model_seed": seed}
    seed_everything(checks.check_seed("seed", seed))
    model = LabelCVAE("mlp", latent_dim=latent_dim, prior=prior)
    name = f"{prior} prior, d = {latent_dim}, seed {seed}"
    path = Path(checkpoint_dir or ".") / f"{prior}-d{latent_dim}-s{seed}.pt"
    if checkpoint_dir is not None and path.exists():
        stored = load_checkpoint(
            path, model, config=settings, settings=TRAINING_SETTINGS
        )
        log(f"resumed {name}, from {path} (not retrained)")
        return model.to(device), History.from_dict(stored["history"]), True
    train, validation = binary(digits, "train"), binary(digits, "validation")
    history = fit(
        model, Batches(*train, batch_size=config.batch_size, shuffle=True, seed=seed),
        Batches(*validation, batch_size=500), epochs=config.epochs,
        patience=config.patience, learning_rate=config.learning_rate, seed=seed,
        device=device, progress=progress, description=name,
    )  # fmt: skip
    log(f"trained {name}: {history.epochs} epochs in {history.seconds:.0f} s")
    if checkpoint_dir is not None:
        keep_checkpoint(path, prior, model, settings, history)
    return model, history, False


def requested_classes(config: LabelConfig) -> Tensor:
    """The classes the models are asked to generate: ``generated_per_class`` of each."""
    return torch.arange(10).repeat_interleave(config.generated_per_class)


@torch.no_grad()
def score_label_cvae(
    model: LabelCVAE,
    images: Tensor,
    labels: Tensor,
    classifier: DigitClassifier,
    config: LabelConfig,
    seed: int,
) -> dict[str, object]:
    r"""Per test digit: the conditional ELBO and KL (one code drawn from :math:`q`
    each), and :math:`\log p(x \mid y)` importance-sampled with ``config.num_samples``;
    per generated digit, whether the classifier reads back its requested class
    (``recognised``); and the active units. ``examples`` holds the per-digit values,
    the other entries their means. Every draw is seeded by ``seed``."""
    model.eval()
    device = next(model.parameters()).device
    seed_everything(seed)
    sampler = torch.Generator().manual_seed(seed)
    columns: dict[str, list[Tensor]] = {"elbo": [], "kl": [], "log_px_y": []}
    for x, y in zip(images.split(SCORE_BATCH), labels.split(SCORE_BATCH), strict=True):
        x, y = x.to(device), y.to(device)
        terms = model.loss_terms(x, y)
        columns["elbo"].append(terms["elbo"].cpu())
        columns["kl"].append(terms["kl"].cpu())
        estimate = model.log_likelihood(x, y, config.num_samples, sampler)
        columns["log_px_y"].append(estimate.cpu())
    requested = requested_classes(config)
    generator = torch.Generator().manual_seed(seed)
    generated = model.generate(requested, generator=generator).cpu()
    hits = (classifier.predict(generated) == requested).float()
    examples = {name: torch.cat(parts) for name, parts in columns.items()}
    examples["recognised"] = hits
    means = {name: float(values.double().mean()) for name, values in examples.items()}
    active = active_units(model, images.to(device), labels.to(device))
    return {**means, "active_units": active, "examples": examples}


@dataclass
class LabelResult:
    """What :func:`run_label_experiment` returns: a row per prior, latent size and
    seed, the models, their per-example scores and the classifier's test accuracy."""

    config: LabelConfig
    digits: Digits
    seeds: list[int]
    classifier_accuracy: float
    classifier_history: History
    rows: list[dict] = field(default_factory=list)
    models: dict[tuple[str, int, int], LabelCVAE] = field(default_factory=dict)
    examples: dict[tuple[str, int, int], dict[str, Tensor]] = field(
        default_factory=dict
    )


def check_label_runs(
    latent_dims: Sequence[int], seeds: Sequence[int]
) -> tuple[list, list]:
    """Require positive latent sizes and seeds in ``[0, 2**63)``, each once."""
    dims = [checks.check_positive_int("latent_dims", d) for d in latent_dims]
    if not dims or len(set(dims)) != len(dims):
        raise ValueError(f"latent_dims must list positive sizes once each: {dims}")
    seeds = [checks.check_seed(f"seeds[{i}]", seed) for i, seed in enumerate(seeds)]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must list at least one seed, each once, got {seeds}")
    return dims, seeds


def run_label_experiment(
    config: LabelConfig | None = None,
    latent_dims: Sequence[int] = (2, 16),
    seeds: Sequence[int] = (0,),
    *,
    checkpoint_dir: str | Path | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_model: Callable[[LabelResult], None] | None = None,
) -> LabelResult:
    """Train the classifier, then for each latent size, seed and prior of
    ``PRIORS_COMPARED`` train the label CVAE and score it
    (:func:`score_label_cvae`). ``checkpoint_dir`` and ``on_model``: as
    :func:`cvae.experiment.run_quadrant_experiment`."""
    config = config or LabelConfig()
    latent_dims, seeds = check_label_runs(latent_dims, seeds)
    device = training_device(device)
    digits = load_label_digits(config)
    log(str(digits))
    options = {"checkpoint_dir": checkpoint_dir, "device": device, "progress": progress}
    classifier, history = train_classifier(digits, config, **options, log=log)
    accuracy = agreement(classifier.predict(digits.test_images), digits.test_labels)
    log(f"classifier: test accuracy {accuracy:.4f}")
    result = LabelResult(config, digits, seeds, accuracy, history)
    test_x, test_y = binary(digits, "test")
    for latent_dim in latent_dims:
        for seed in seeds:
            for prior in PRIORS_COMPARED:
                model, history, resumed = train_label_cvae(
                    prior, latent_dim, seed, digits, config, **options, log=log
                )
                started = time.perf_counter()
                scores = score_label_cvae(
                    model, test_x, test_y, classifier, config, seed
                )
                scored = time.perf_counter() - started
                key = (prior, latent_dim, seed)
                result.models[key], result.examples[key] = model, scores.pop("examples")
                result.rows.append({
                    "model": prior, "latent_dim": latent_dim, "seed": seed, **scores,
                    "num_samples": config.num_samples,
                    "classifier_accuracy": accuracy, "epochs_run": history.epochs,
                    "best_epoch": history.best_epoch,
                    "train_seconds": round(history.seconds, 1),
                    "score_seconds": round(scored, 1), "data": digits.source,
                    "train_size": len(digits.train_images),
                    "test_size": len(digits.test_images), "resumed": resumed,
                })  # fmt: skip
                log(
                    f"  {prior:>15}, d = {latent_dim}, seed {seed}: log p(x|y) = "
                    f"{scores['log_px_y']:.2f} nats, recognised "
                    f"{scores['recognised']:.3f}"
                )
                if on_model is not None:
                    on_model(result)
    return result


@torch.no_grad()
def generated_grid(
    result: LabelResult, latent_dim: int, per_class: int = 8
) -> tuple[Tensor, list[str]]:
    """Digits the first seed's models generate, ``per_class`` of each class, from the
    same noise for every prior: images ``(priors, classes * per_class, 1, 28, 28)``
    and the priors' names."""
    seed, rows = result.seeds[0], torch.arange(10).repeat_interleave(per_class)
    grids = []
    for prior in PRIORS_COMPARED:
        generator = torch.Generator().manual_seed(seed)
        model = result.models[prior, latent_dim, seed]
        grids.append(model.generate(rows, generator=generator).cpu())
    return torch.stack(grids), list(PRIORS_COMPARED)
