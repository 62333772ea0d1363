"""The book's experiments as resumable commands: ``python -m cvae.run``::

    python -m cvae.run --quadrants 1 2 3 --data full --epochs 100 --seeds 0 1 2
    python -m cvae.run labels --latent 2 16 --data full --epochs 100 --seeds 0 1 2

The first runs :func:`cvae.experiment.run_quadrant_experiment`, the second (``labels``,
:mod:`cvae.run.labels`) :func:`cvae.label_experiment.run_label_experiment`, with a
checkpoint per model, setting (quadrant count, latent size) and seed in ``--out``. Each
writes ``results.csv``, ``scores.pt`` (every test example's scores, for paired
comparisons) and ``run.json`` (the commands, configuration, machine and versions) after
every model, and at the end its figures (the first seed's completions per quadrant
count; its generated digits per latent size); run again, it resumes.
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
from collections.abc import Callable, Sequence
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
from cvae.label_experiment import PRIORS_COMPARED
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
SCORES_FILE = "scores.pt"  # per example: {"cvae/1/0": {"nll_importance": ...}, ...}
say = functools.partial(print, flush=True)
COMMAND_LINE_EPOCHS = 100  # the budget unless --epochs or CVAE_EPOCHS says otherwise
RESULT_FIELDS = (
    *("model", "num_given", "seed", "nll", "estimator", "nll_importance"),
    *("nll_monte_carlo", "kl", "active_units", "active_units_vs_prior", "num_samples"),
    *("epochs_run", "best_epoch", "train_seconds", "score_seconds", "data"),
    *("train_size", "test_size"),
    "resumed",
)
LABEL_FIELDS = (
    *("model", "latent_dim", "seed", "elbo", "log_px_y", "kl", "recognised"),
    *("active_units", "num_samples", "classifier_accuracy", "epochs_run"),
    *("best_epoch", "train_seconds", "score_seconds", "data", "train_size"),
    *("test_size", "resumed"),
)


@dataclass(frozen=True)
class Layout:
    """How an experiment's results are keyed: a row per model (one of ``models``),
    setting (the column ``setting``) and seed; ``fields``: its columns, in order."""

    models: tuple[str, ...]
    setting: str
    fields: tuple[str, ...]


#: Each experiment's layout, by the name its run.json records (quadrants if none).
LAYOUTS = {
    "quadrants": Layout(MODELS, "num_given", RESULT_FIELDS),
    "labels": Layout(PRIORS_COMPARED, "latent_dim", LABEL_FIELDS),
}
QUADRANTS = LAYOUTS["quadrants"]


def read_results(path: str | Path, layout: Layout = QUADRANTS) -> list[dict[str, str]]:
    """The rows a results file holds (values as stored); none when there is no file.

    A ``ValueError`` says why a file is not this experiment's (not UTF-8 CSV, no
    ``model`` column or no column of the layout's setting, a row longer or shorter
    than the header).
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
    if rows and not {"model", layout.setting} <= set(columns):
        raise ValueError(f"{path} has no model and {layout.setting} columns; {anew}")
    for number, row in enumerate(rows, start=1):
        if None in row or None in row.values():
            more = "more" if None in row else "fewer"
            raise ValueError(
                f"{path}: row {number} has {more} values than the header has columns; "
                f"repair it, or {anew}"
            )
    return rows


def _row_key(row: dict, layout: Layout) -> tuple[str, str, str]:
    """Rows merge by model, setting and seed (``0``, ``0.0``, ``"0"``: one)."""

    def number(value: object) -> str:
        text = str(value).strip()
        try:
            return str(int(float(text))) if float(text).is_integer() else text
        except ValueError:
            return text

    setting = number(row[layout.setting])
    return row["model"], setting, number(row.get("seed", ""))


def write_results(path: Path, rows: Sequence[dict], layout: Layout = QUADRANTS):
    """Merge ``rows`` into the CSV file at ``path``, atomically: the rows of other
    models, settings or seeds it holds are kept, and so are added columns."""
    models = layout.models

    def order(key: tuple[str, str, str]) -> tuple:
        kind, setting, seed = key
        position = models.index(kind) if kind in models else len(models)
        number = int(setting) if setting.isdigit() else -1
        return number, setting, position, kind, int(seed) if seed.isdigit() else -1

    merged = {_row_key(row, layout): row for row in read_results(path, layout)}
    for row in rows:
        old = merged.get(_row_key(row, layout), {})
        added = {k: v for k, v in old.items() if k not in layout.fields}
        new = {k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()}
        merged[_row_key(row, layout)] = {**added, **new}
    columns = dict.fromkeys(
        [*layout.fields, *(k for row in merged.values() for k in row)]
    )
    with atomic_write(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(columns), restval="")
        writer.writeheader()
        writer.writerows(merged[key] for key in sorted(merged, key=order))
    return path


def scores_key(kind: str, setting: int | str, seed: int | str) -> str:
    """The key of one model's scores in ``scores.pt``: its name, setting (quadrant
    count, latent size) and seed, ``"cvae/1/0"``."""
    return f"{kind}/{setting}/{seed}"


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
    """Merge every example's scores (float32; ``nll``, a copy of one of the two
    estimates, is left out) into the file at ``path``, atomically."""
    merged = read_scores(path)
    for key, columns in examples.items():
        merged[scores_key(*key)] = {
            name: values.float() for name, values in columns.items() if name != "nll"
        }
    with atomic_write(path) as file:
        torch.save(merged, file)
    return path


@dataclass(frozen=True)
class StoredRun:
    """A finished run read back from its folder (:func:`read_run`): its ``record``
    (``run.json``), its result ``rows``, every example's ``scores`` and the
    experiment's ``layout``."""

    record: dict
    rows: list[dict[str, str]]
    scores: dict[str, dict[str, Tensor]]
    layout: Layout = QUADRANTS

    @property
    def seeds(self) -> list[int]:
        """The random seeds of its rows, in order."""
        return sorted({int(row["seed"]) for row in self.rows})

    @property
    def settings(self) -> list[int]:
        """The settings of its rows (numbers of given quadrants, latent sizes), in
        order."""
        return sorted({int(row[self.layout.setting]) for row in self.rows})

    def values(self, kind: str, setting: int, column: str = "nll") -> list[float]:
        """One ``column`` of the rows of ``kind`` and ``setting``: one per seed."""
        rows = {_row_key(row, self.layout): row for row in self.rows}
        keys = [(kind, str(setting), str(seed)) for seed in self.seeds]
        return [float(rows[key][column]) for key in keys]

    def per_example(self, kind: str, setting: int, column: str) -> Tensor:
        """``column`` of every example (``nll_importance``, ``nll_monte_carlo``;
        ``elbo``, ``log_px_y``, ``kl``, ``recognised``), ``(seeds, N)``: rows in seed
        order."""
        keys = [scores_key(kind, setting, seed) for seed in self.seeds]
        return torch.stack([self.scores[key][column] for key in keys])


def read_run(folder: str | Path) -> StoredRun:
    """The record, rows and per-example scores stored in ``folder``, read with the
    layout of the experiment its record names; a ``ValueError`` names a missing file,
    a model with a row but no scores, or a model missing for a setting and seed that
    the run holds."""
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
    layout = LAYOUTS[record.get("experiment", "quadrants")]
    rows, scores = (
        read_results(folder / RESULTS_FILE, layout),
        read_scores(folder / SCORES_FILE),
    )
    keys = {_row_key(row, layout) for row in rows}
    if unscored := [scores_key(*key) for key in keys if scores_key(*key) not in scores]:
        raise ValueError(
            f"{folder}: no per-example scores of {', '.join(sorted(unscored))}"
        )
    stored = StoredRun(record, rows, scores, layout)
    wanted = [
        (m, str(k), str(s))
        for k in stored.settings
        for s in stored.seeds
        for m in layout.models
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


def check_output_folder(
    name: str, out: str, configuration: dict, experiment: str = "quadrants"
) -> Path:
    """Create ``out`` if needed and check that it can hold this run's files; a
    ValueError naming ``name`` if not, or if its ``run.json`` records another
    experiment or configuration (its ``results.csv`` would mix two; only the seeds may
    differ)."""
    if not str(out).strip():
        raise ValueError(f"{name} is empty; give a folder name (runs/quadrants, or .)")
    folder = writable_folder(name, out)
    read_results(folder / RESULTS_FILE, LAYOUTS[experiment])
    record = folder / RUN_FILE
    if record.is_dir():
        raise ValueError(
            f"{record} is a folder, not this experiment's run record; move it away"
        )
    try:
        whole = json.loads(record.read_text("utf-8")) if record.exists() else {}
        stored = whole["configuration"] if whole else {}
        if whole and (other := whole.get("experiment", "quadrants")) != experiment:
            raise ValueError(
                f"{folder} holds the results of another experiment ({other}); pick "
                f"another {name} for this one"
            )
        differ = [
            f"{key} {stored[key]!r} there, {value!r} here"
            for key, value in configuration.items()
            if key != "seeds" and key in stored and stored[key] != value
        ]
    except (
        OSError,
        UnicodeDecodeError,
        json.JSONDecodeError,
        LookupError,
        TypeError,
    ) as error:
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
    folder: Path,
    command: str,
    configuration: dict,
    device,
    finished: bool,
    experiment: str = "quadrants",
):
    """Write ``run.json``: the experiment, the command line, every command that ran in
    ``folder``, the configuration, when it finished (``None`` while it runs), the
    machine and the versions."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    path = folder / RUN_FILE
    stored = json.loads(path.read_text("utf-8")) if path.exists() else {}
    # an older record kept only its last command
    earlier = stored.get("commands") or [c for c in [stored.get("command")] if c]
    commands = [*earlier, command] if command not in earlier else earlier
    record = {"experiment": experiment, "command": command, "commands": commands}
    record["configuration"] = configuration
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
    more = f"{COMMAND} labels --help: the label CVAE's run (chapter 3's priors)."
    parser = argparse.ArgumentParser(prog=COMMAND, description=about, epilog=more)
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
    """Run the quadrant experiment from the command line (``python -m cvae.run``
    sends ``labels ...`` to :mod:`cvae.run.labels`); return the exit status.

    Every setting, the device, the memory needed and the output folder are checked
    before any work; a problem then or during the run is one ``error:`` line on stderr
    (status 2), and Ctrl-C is one line too and keeps what is finished (status 130).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _command_line(argv)
    except KeyboardInterrupt:  # before the run began (the run's own is reported below)
        return fail(INTERRUPTED_EARLY, status=130)


def _command_line(argv: list[str]) -> int:
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
        return fail(error)

    def run(options: dict) -> ExperimentResult:
        return run_quadrant_experiment(config, quadrants, seeds=seeds, **options)

    return execute(
        "quadrants", argv, folder, configuration, device, run, write_completions,
        progress=not args.no_progress,
    )  # fmt: skip


def execute(
    experiment: str,
    argv: list[str],
    folder: Path,
    configuration: dict,
    device: torch.device,
    run: Callable[[dict], object],
    figures: Callable[[Path, object], list[Path]],
    progress: bool = True,
) -> int:
    """Run an experiment whose settings are checked in ``folder``, locked: ``run``
    gets the options of ``run_quadrant_experiment`` or ``run_label_experiment``
    (checkpoints in ``folder``, ``on_model`` writing its rows and scores);
    ``figures`` then draws its figures there. Returns the exit status."""
    layout = LAYOUTS[experiment]
    say("configuration: " + ", ".join(f"{k}={v}" for k, v in configuration.items()))
    command = shlex.join([*COMMAND.split(), *argv])

    def record(result=None) -> None:
        finished = result is None  # run.json first: it describes the rows
        write_run_record(folder, command, configuration, device, finished, experiment)
        if result is not None:
            write_results(folder / RESULTS_FILE, result.rows, layout)
            write_scores(folder / SCORES_FILE, result.examples)

    options = {"checkpoint_dir": folder, "device": device, "progress": progress}
    try:
        with folder_lock(folder):
            stale = ", ".join(path.name for path in remove_stale_temporaries(folder))
            if stale:
                say(f"removed what interrupted writes left: {stale}")
            result = run({**options, "log": say, "on_model": record})
            for path in figures(folder, result):
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
        return fail(error)
    except KeyboardInterrupt:
        return fail(
            f"interrupted; rerun to resume (the finished models are kept in {folder})",
            130,
        )
    return 0


def fail(error: Exception | str, status: int = 2) -> int:
    print(f"error: {error}", file=sys.stderr, flush=True)
    return status
