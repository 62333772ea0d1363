"""The label CVAE's prior comparison as a resumable command::

    python -m cvae.run labels --latent 2 16 --data full --seeds 0 1 2 3 4

It runs :func:`cvae.label_experiment.run_label_experiment` in ``--out`` as
:func:`cvae.run.cli.execute` runs every experiment (checkpoints, ``results.csv``,
``scores.pt``, ``run.json``, resumable, locked), and draws ``generated-d<d>.png`` per
latent size: the first seed's models generate eight digits of each class from the same
noise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cvae import settings
from cvae.data import DATASETS
from cvae.label_experiment import (
    LabelConfig,
    LabelResult,
    check_label_runs,
    generated_grid,
    run_label_experiment,
)
from cvae.priors import PRIORS
from cvae.run.checkpoints import atomic_write
from cvae.run.cli import (
    COMMAND,
    COMMAND_LINE_EPOCHS,
    check_output_folder,
    execute,
    fail,
)


def _parse_args(argv: list[str]) -> argparse.Namespace:
    defaults = LabelConfig()
    about = (
        "The label CVAE with the standard and the learned prior p(z|y): its test "
        "ELBO, log p(x|y) and how often a classifier reads back the requested class "
        "of its digits, per latent size and seed; resumable."
    )
    parser = argparse.ArgumentParser(prog=f"{COMMAND} labels", description=about)
    option = parser.add_argument
    option("--latent", type=int, nargs="+", default=[2, 16], help="latent sizes d")
    option("--dataset", choices=DATASETS, help="default: CVAE_DATASET, else mnist")
    option(
        "--data", choices=settings.DATA_SOURCES, help="default: CVAE_DATA, else sample"
    )
    option("--limit", type=int, help="use only the first N training and test digits")
    option(
        "--epochs", type=int, help=f"default: CVAE_EPOCHS, else {COMMAND_LINE_EPOCHS}"
    )
    option(
        "--patience", type=int, default=10, help="early stopping; 0: off (default 10)"
    )
    option("--batch-size", type=int, default=defaults.batch_size)
    option(
        "--lr", type=float, default=defaults.learning_rate, help="Adam learning rate"
    )
    option("--samples", type=int, default=defaults.num_samples, help="S, log p(x|y)")
    option(
        "--per-class",
        type=int,
        default=defaults.generated_per_class,
        help="digits generated per class for the classifier",
    )
    option("--classifier-epochs", type=int, default=defaults.classifier_epochs)
    option("--seeds", "--seed", type=int, nargs="+", default=[0], help="a row per seed")
    option("--out", default="runs/labels", help="checkpoints and results (locked)")
    option("--no-progress", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def write_generated(folder: Path, result: LabelResult) -> list[Path]:
    """``generated-d<d>.png`` for each latent size of ``result``
    (:func:`cvae.label_experiment.generated_grid`), the priors side by side."""
    from matplotlib.figure import Figure

    from cvae.plotting import show_images

    classes = list(DATASETS[result.digits.dataset].classes)
    written = []
    for latent_dim in sorted({key[1] for key in result.models}):
        grids, priors = generated_grid(result, latent_dim)
        figure = Figure(figsize=(7.5, 4.6))
        for ax, grid, prior in zip(figure.subplots(1, 2), grids, priors, strict=True):
            title = f"prior {PRIORS[prior].title}, d = {latent_dim}"
            show_images(grid, len(grid) // 10, ax=ax, title=title, row_labels=classes)
        figure.tight_layout()
        path = folder / f"generated-d{latent_dim}.png"
        with atomic_write(path) as file:
            figure.savefig(file, format="png", dpi=100)
        written.append(path)
    return written


def command_line(argv: list[str]) -> int:
    """``python -m cvae.run labels ...`` (``argv`` starts with ``labels``): check
    every setting and the folder, run, return the exit status."""
    args = _parse_args(argv[1:])
    try:
        latent_dims, seeds = check_label_runs(args.latent, args.seeds)
        epochs = args.epochs
        config = LabelConfig(
            dataset=args.dataset or settings.dataset(),
            data=args.data or settings.data_source(),
            limit=args.limit,
            epochs=epochs
            if epochs is not None
            else settings.epochs(COMMAND_LINE_EPOCHS),
            batch_size=args.batch_size,
            learning_rate=args.lr,
            patience=args.patience or None,
            num_samples=args.samples,
            generated_per_class=args.per_class,
            classifier_epochs=args.classifier_epochs,
        )
        device = settings.default_device()
        configuration = {**config.as_dict(), "seeds": seeds}
        folder = check_output_folder("--out", args.out, configuration, "labels")
    except (TypeError, ValueError) as error:
        return fail(error)

    def run(options: dict) -> LabelResult:
        return run_label_experiment(config, latent_dims, seeds, **options)

    return execute(
        "labels", argv, folder, configuration, device, run, write_generated,
        progress=not args.no_progress,
    )  # fmt: skip
