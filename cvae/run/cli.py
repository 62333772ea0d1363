"""The quadrant experiment as a resumable command, ``python -m cvae.run``::

    python -m cvae.run --quadrants 1 2 3 --data full --epochs 100 --seeds 0 1 2

It runs :func:`cvae.experiment.run_quadrant_experiment` with a checkpoint per model,
quadrant count and seed in ``--out``, and writes ``results.csv``, ``scores.pt`` (every
test example's scores, for paired comparisons) and ``run.json`` (the commands,
configuration, machine and versions) after every model, and at the end a figure of the
first seed's completions per quadrant count; run again, it resumes.
Nothing is lost: the folder is checked first and locked while a run uses it; rows are
merged with those it holds (added columns too); Ctrl-C or a kill keeps every finished
model and row. A folder holds one configuration (its ``run.json``; the seeds may
differ), and what cannot fit in memory is refused. Every problem is one ``error:`` line
(status 2; 130 after Ctrl-C, also while torch is still loading).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import json
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from cvae import __version__, settings
from cvae.data import DATASETS, IMAGE_PIXELS, DataUnavailableError
from cvae.experiment import (
    MODELS,
    ExperimentResult,
    QuadrantConfig,
    check_runs,
    completions,
    run_quadrant_experiment,
)
from cvae.quadrants import output_size
from cvae.run import INTERRUPTED_EARLY
from cvae.run.checkpoints import (
    CheckpointError,
    FolderInUse,
    atomic_write,
    folder_lock,
    remove_stale_temporaries,
    writable_folder,
)
from cvae.run.machine import available_memory, machine
from cvae.structured import GSNN_OBJECTIVES
from cvae.training import PRECISIONS, TrainingDiverged

RESULTS_FILE, RUN_FILE, COMMAND = "results.csv", "run.json", "python -m cvae.run"
SCORES_FILE = "scores.pt"  # per test example: {"cvae/1/0": {"nll_importance": ...}}
say = functools.partial(print, flush=True)
COMMAND_LINE_EPOCHS = 100  # the budget unless --epochs or CVAE_EPOCHS says otherwise
RESULT_FIELDS = (
    *("model", "num_given", "seed", "nll", "estimator", "nll_importance"),
    *("nll_monte_carlo", "kl", "active_units", "active_units_vs_prior", "num_samples"),
    *("epochs_run", "best_epoch", "train_seconds", "score_seconds", "data"),
    *("train_size", "test_size"),
    "resumed",
)


def read_results(path: str | Path) -> list[dict[str, str]]:
    """The rows a results file holds (values as stored); none when there is no file.

    A ``ValueError`` says why a file is not this experiment's (not UTF-8 CSV, no
    ``model`` and ``num_given`` columns, a row longer or shorter than the header).
    """
    path, anew = Path(path), "move it away to start anew"
    if not path.exists():
        return []
    try:  # utf-8-sig: also a file that a spreadsheet saved with a byte-order mark
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file)
            rows, columns = list(reader), reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(
            f"{path} cannot be read as results ({error}); {anew}"
        ) from None
    if rows and not {"model", "num_given"} <= set(columns):
        raise ValueError(f"{path} has no model and num_given columns; {anew}")
    for number, row in enumerate(rows, start=1):
        if None in row or None in row.values():
            more = "more" if None in row else "fewer"
            raise ValueError(
                f"{path}: row {number} has {more} values than the header has columns; "
                f"repair it, or {anew}"
            )
    return rows


def _row_key(row: dict) -> tuple[str, str, str]:
    """Rows merge by model, quadrant count and seed (``0``, ``0.0``, ``"0"``: one)."""

    def number(value: object) -> str:
        text = str(value).strip()
        try:
            return str(int(float(text))) if float(text).is_integer() else text
        except ValueError:
            return text

    return row["model"], number(row["num_given"]), number(row.get("seed", ""))


def _row_order(key: tuple[str, str, str]) -> tuple:
    kind, num_given, seed = key
    position = MODELS.index(kind) if kind in MODELS else len(MODELS)
    return num_given, position, kind, int(seed) if seed.isdigit() else -1


def write_results(path: Path, rows: Sequence[dict]) -> Path:
    """Merge ``rows`` into the CSV file at ``path``, atomically: the rows of other
    models, quadrant counts or seeds it holds are kept, and so are added columns."""
    merged = {_row_key(row): row for row in read_results(path)}
    for row in rows:
        old = merged.get(_row_key(row), {})
        added = {key: value for key, value in old.items() if key not in RESULT_FIELDS}
        new = {k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()}
        merged[_row_key(row)] = {**added, **new}
    columns = dict.fromkeys(
        [*RESULT_FIELDS, *(k for row in merged.values() for k in row)]
    )
    with atomic_write(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(columns), restval="")
        writer.writeheader()
        writer.writerows(merged[key] for key in sorted(merged, key=_row_order))
    return path


def scores_key(kind: str, num_given: int, seed: int) -> str:
    """The key of one model's scores in ``scores.pt``: ``"cvae/1/0"``."""
    return f"{kind}/{num_given}/{seed}"


def read_scores(path: str | Path) -> dict[str, dict[str, Tensor]]:
    """The per-example scores a scores file holds; none when there is no file. A
    ``ValueError`` says why a file is not one."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        scores = torch.load(path, weights_only=True)
    except Exception as error:  # torch raises many kinds for a damaged file
        raise ValueError(
            f"{path} cannot be read as scores ({type(error).__name__}); move it away"
        ) from None
    if not isinstance(scores, dict) or not all(
        isinstance(v, dict) and all(isinstance(t, Tensor) for t in v.values())
        for v in scores.values()
    ):
        raise ValueError(f"{path} holds no per-example scores; move it away")
    return scores


def write_scores(path: Path, examples: dict[tuple[str, int, int], dict]) -> Path:
    """Merge every test example's scores (float32; ``nll``, a copy of one of the two
    estimates, is left out) into the file at ``path``, atomically."""
    merged = read_scores(path)
    for (kind, num_given, seed), columns in examples.items():
        merged[scores_key(kind, num_given, seed)] = {
            name: values.float() for name, values in columns.items() if name != "nll"
        }
    with atomic_write(path) as file:
        torch.save(merged, file)
    return path


@dataclass(frozen=True)
class StoredRun:
    """A finished run read back from its folder (:func:`read_run`): its ``record``
    (``run.json``), its result ``rows`` and every test example's ``scores``."""

    record: dict
    rows: list[dict[str, str]]
    scores: dict[str, dict[str, Tensor]]

    @property
    def seeds(self) -> list[int]:
        """The random seeds of its rows, in order."""
        return sorted({int(row["seed"]) for row in self.rows})

    @property
    def quadrants(self) -> list[int]:
        """The numbers of given quadrants of its rows, in order."""
        return sorted({int(row["num_given"]) for row in self.rows})

    def values(self, kind: str, num_given: int, column: str = "nll") -> list[float]:
        """One ``column`` of the rows of ``kind`` and ``num_given``: one per seed."""
        rows = {(r["model"], int(r["num_given"]), int(r["seed"])): r for r in self.rows}
        return [float(rows[kind, num_given, seed][column]) for seed in self.seeds]

    def per_example(self, kind: str, num_given: int, column: str) -> Tensor:
        """``column`` (``nll_importance`` or ``nll_monte_carlo``) of every test example,
        ``(seeds, N)``: rows in seed order."""
        keys = [scores_key(kind, num_given, seed) for seed in self.seeds]
        return torch.stack([self.scores[key][column] for key in keys])


def read_run(folder: str | Path) -> StoredRun:
    """The record, rows and per-example scores stored in ``folder``; a ``ValueError``
    names a missing file, a model with a row but no scores, or a model missing for a
    quadrant count and seed that the run holds."""
    folder = Path(folder)
    missing = [
        name
        for name in (RUN_FILE, RESULTS_FILE, SCORES_FILE)
        if not (folder / name).is_file()
    ]
    if missing:
        raise ValueError(
            f"{folder} holds no finished run: {', '.join(missing)} missing"
        )
    record = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    rows, scores = (
        read_results(folder / RESULTS_FILE),
        read_scores(folder / SCORES_FILE),
    )
    unscored = [
        key for row in rows if (key := scores_key(*_row_key(row))) not in scores
    ]
    if unscored:
        raise ValueError(f"{folder}: no per-example scores of {', '.join(unscored)}")
    stored = StoredRun(record, rows, scores)
    keys = {_row_key(row) for row in rows}
    wanted = [
        (m, str(k), str(s))
        for k in stored.quadrants
        for s in stored.seeds
        for m in MODELS
    ]
    if missing := [scores_key(*key) for key in wanted if key not in keys]:
        raise ValueError(
            f"{folder}: the run is not finished ({', '.join(missing)} missing)"
        )
    return stored


def write_completions(folder: Path, result: ExperimentResult) -> list[Path]:
    """``completions-q<k>.png`` for each quadrant count of ``result``: the first seed's
    models complete the first test image of each class
    (:func:`cvae.experiment.completions`)."""
    from matplotlib.figure import Figure

    from cvae.plotting import show_images

    classes = DATASETS[result.digits.dataset].classes
    labels = [classes[int(c)] for c in result.digits.test_labels.unique()]
    written = []
    for num_given in sorted({key[1] for key in result.models}):
        images, names = completions(result, num_given)
        figure = Figure(figsize=(0.62 * images.shape[1] + 1.2, 0.62 * len(images)))
        ax = figure.subplots()
        show_images(images.flatten(0, 1), images.shape[1], ax=ax, row_labels=labels)
        ax.set_xticks([30 * i + 15 for i in range(len(names))], names, rotation=90)
        ax.xaxis.tick_top()
        figure.tight_layout()
        path = folder / f"completions-q{num_given}.png"
        with atomic_write(path) as file:
            figure.savefig(file, format="png", dpi=100)
        written.append(path)
    return written


def check_output_folder(name: str, out: str, configuration: dict) -> Path:
    """Create ``out`` if needed and check that it can hold this run's files; a
    ValueError naming ``name`` if not, or if its ``run.json`` records another
    configuration (its ``results.csv`` would mix two; only the seeds may differ)."""
    if not str(out).strip():
        raise ValueError(f"{name} is empty; give a folder name (runs/quadrants, or .)")
    folder = writable_folder(name, out)
    read_results(folder / RESULTS_FILE)
    record = folder / RUN_FILE
    if record.is_dir():
        raise ValueError(
            f"{record} is a folder, not this experiment's run record; move it away"
        )
    try:
        stored = (
            json.loads(record.read_text(encoding="utf-8"))["configuration"]
            if record.exists()
            else {}
        )
        differ = [
            f"{key} {stored[key]!r} there, {value!r} here"
            for key, value in configuration.items()
            if key != "seeds" and key in stored and stored[key] != value
        ]
    except (OSError, UnicodeDecodeError, ValueError, LookupError, TypeError) as error:
        problem = f"{type(error).__name__}: {error}"
        raise ValueError(
            f"{record} cannot be read as a run record ({problem}); move it away"
        ) from None
    if differ:
        raise ValueError(
            f"{folder} holds the results of another configuration ("
            f"{'; '.join(differ)}; see its {RUN_FILE}): pick another {name} for this "
            "one"
        )
    return folder


def memory_needed(config: QuadrantConfig) -> int:
    """At least how many bytes training the largest model, the hybrid, holds at once.

    In float32: the weights (the frozen baseline's once; the three networks' with their
    gradients and Adam's two moments) and the activations of one training step, whose
    GSNN term decodes ``num_particles`` codes of each digit of a batch. PyTorch needs
    more.
    """

    def weights(*sizes: int) -> int:
        return sum((n + 1) * m for n, m in zip(sizes, sizes[1:], strict=False))

    hidden, latent, pixels = config.hidden_dims, config.latent_dim, output_size(1)
    frozen = weights(IMAGE_PIXELS, *hidden, pixels)
    networks = 2 * weights(IMAGE_PIXELS, *hidden, 2 * latent)
    trained = networks + weights(IMAGE_PIXELS + latent, *hidden[::-1], pixels)
    per_digit = (1 + config.num_particles) * (sum(hidden) + latent + pixels)
    return 4 * (frozen + 4 * trained + config.batch_size * per_digit)


def write_run_record(
    folder: Path, command: str, configuration: dict, device, finished: bool
):
    """Write ``run.json``: the command line, every command that ran in ``folder``, the
    configuration, when it finished (``None`` while it runs), the machine and the
    versions."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    path = folder / RUN_FILE
    stored = json.loads(path.read_text("utf-8")) if path.exists() else {}
    # an older record kept only its last command
    earlier = stored.get("commands") or [c for c in [stored.get("command")] if c]
    commands = [*earlier, command] if command not in earlier else earlier
    record = {"command": command, "commands": commands, "configuration": configuration}
    record.update(finished=now if finished else None, cvae=__version__)
    try:
        with atomic_write(folder / RUN_FILE, "w", encoding="utf-8") as file:
            json.dump({**record, **machine(device)}, file, indent=1)
    except OSError as error:  # a full disk, a quota: say which file
        reason = error.strerror or error
        raise OSError(f"{folder / RUN_FILE} cannot be written ({reason})") from None


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    defaults = QuadrantConfig()
    about = "Sohn et al.'s quadrant experiment: -log p(y|x) of four models, resumable."
    parser = argparse.ArgumentParser(prog=COMMAND, description=about)
    option = parser.add_argument
    option("--quadrants", type=int, nargs="+", choices=(1, 2, 3), default=[1, 2, 3])
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
    option("--hidden", type=int, nargs="+", default=list(defaults.hidden_dims))
    option("--latent", type=int, default=defaults.latent_dim, help="(Pyro: 200)")
    option("--alpha", type=float, default=defaults.hybrid_alpha, help="the hybrid's")
    option("--particles", type=int, default=defaults.num_particles, help="L, GSNN term")
    option("--samples", type=int, default=defaults.num_samples, help="S, estimators")
    option("--gsnn-objective", choices=GSNN_OBJECTIVES, default=defaults.gsnn_objective)
    option("--seeds", "--seed", type=int, nargs="+", default=[0], help="a row per seed")
    option(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="bf16: bfloat16 products",
    )
    option("--out", default="runs/quadrants", help="checkpoints and results (locked)")
    option("--no-progress", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def _config(args: argparse.Namespace) -> QuadrantConfig:
    """The experiment's configuration: the command line and the ``CVAE_*`` switches."""
    epochs = args.epochs
    epochs = epochs if epochs is not None else settings.epochs(COMMAND_LINE_EPOCHS)
    return QuadrantConfig(
        dataset=args.dataset or settings.dataset(),
        data=args.data or settings.data_source(),
        limit=args.limit,
        epochs=epochs,
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
    """Run the experiment from the command line; return the exit status.

    Every setting, the device, the memory needed and the output folder are checked
    before any work; a problem then or during the run is one ``error:`` line on stderr
    (status 2), and Ctrl-C is one line too and keeps what is finished (status 130).
    """
    try:
        return _command_line(argv)
    except KeyboardInterrupt:  # before the run began (the run's own is reported below)
        return _error(INTERRUPTED_EARLY, status=130)


def _command_line(argv: Sequence[str] | None) -> int:
    args = _parse_args(argv)
    try:
        quadrants, seeds = check_runs(args.quadrants, args.seeds)
        config, device = _config(args), settings.default_device()
        configuration = {**config.as_dict(), "seeds": seeds}
        del configuration["seed"]
        folder = check_output_folder("--out", args.out, configuration)
        needed, available = memory_needed(config), available_memory(device)
        if needed > available:  # tried, the kernel would kill it without a word
            raise ValueError(
                f"this configuration needs at least {needed / 2**30:,.1f} GiB of "
                f"memory to train, but {device} has {available / 2**30:,.1f} GiB "
                "available: lower num_particles (--particles), batch_size "
                "(--batch-size) or hidden_dims (--hidden)"
            )
    except (TypeError, ValueError) as error:
        return _error(error)
    say("configuration: " + ", ".join(f"{k}={v}" for k, v in configuration.items()))
    command = shlex.join([*COMMAND.split(), *(sys.argv[1:] if argv is None else argv)])

    def record(result: ExperimentResult | None = None) -> None:
        finished = result is None  # run.json first: it describes the rows
        write_run_record(folder, command, configuration, device, finished=finished)
        if result is not None:
            write_results(folder / RESULTS_FILE, result.rows)
            write_scores(folder / SCORES_FILE, result.examples)

    log = {"progress": not args.no_progress, "log": say, "on_model": record}
    try:
        with folder_lock(folder):
            stale = ", ".join(path.name for path in remove_stale_temporaries(folder))
            if stale:
                say(f"removed what interrupted writes left: {stale}")
            result = run_quadrant_experiment(
                config,
                quadrants,
                seeds=seeds,
                checkpoint_dir=folder,
                device=device,
                **log,
            )
            for path in write_completions(folder, result):
                say(f"figure: {path}")
            record()
        say(f"results: {folder / RESULTS_FILE}")
    except (
        CheckpointError,
        DataUnavailableError,
        FolderInUse,
        TrainingDiverged,
        OSError,
        ValueError,
    ) as error:
        return _error(error)
    except KeyboardInterrupt:
        return _error(
            f"interrupted; rerun to resume (the finished models are kept in {folder})",
            130,
        )
    return 0


def _error(error: Exception | str, status: int = 2) -> int:
    print(f"error: {error}", file=sys.stderr, flush=True)
    return status
