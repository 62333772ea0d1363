"""Benchmarks: how fast the book's models train and evaluate on this machine.

Explained in the appendix :chapter:`Performance <book/performance>`. Run

    python -m cvae.run.bench              # full run (about half a minute on 2 CPU cores)
    python -m cvae.run.bench --quick      # about ten seconds
    python -m cvae.run.bench --json results.json

Everything is measured in one run on one device, so the ratios are meaningful:

* training throughput (examples per second) of every model the book trains, with the
  chapter's architecture and batch size, through :func:`cvae.training.train_step` as
  :func:`cvae.training.fit` runs it;
* the end-to-end rate of :func:`cvae.training.fit` itself (epochs with validation, after
  a warm-up), next to the step it repeats, so that the loop's own cost shows;
* the same step with the model's loss compiled by ``torch.compile`` (forward and
  backward, in one graph), whose first call is the compilation;
* importance-sampling evaluation throughput (examples x samples per second);
* the floating-point rate a training step achieves (matrix-product FLOPs counted by
  ``torch.utils.flop_counter``, divided by the step's wall time) against a plain
  2048 x 2048 x 2048 fp32 matrix multiply measured in the same run: the
  hardware-efficiency ratio. Elementwise work counts as zero FLOPs, so the ratio is
  the share of the matrix unit's practical peak that the whole step turns into
  model arithmetic.

Every row also reports its first, untimed call in seconds: for the compiled row, the
compilation, with PyTorch's compilation caches off (what a first run costs).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch._inductor.config
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from cvae.run.checkpoints import atomic_write, writable_file
from cvae.data import Batches
from cvae.quadrants import split_quadrants
from cvae.settings import check_device, default_device, machine
from cvae.label_cvae import LabelCVAE
from cvae.structured import Baseline, StructuredCVAE
from cvae.training import adam, fit, train_step
from cvae.vae import VAE

MATMUL_SIZE = 2048
BOOK_BATCH = 100  # every chapter trains with mini-batches of 100
LARGE_BATCH = 500
IS_SAMPLES = 100
# The fit row: the quadrant chapter's split (3,600 training, 400 validation digits), 2 epochs.
FIT_EXAMPLES, FIT_VALIDATION, FIT_EPOCHS = 3600, 400, 2
PYRO_SIZES = {"hidden_dims": (500, 500), "latent_dim": 200}  # Pyro's CVAE example
QUADRANT_STEP = "train quadrant CVAE"
COMPILED_STEP = (
    f"{QUADRANT_STEP}, torch.compile"  # compile_payoff() compares these two rows
)


@dataclass
class Measurement:
    """One benchmark row: what was measured, how fast, and the counted matrix FLOPs per second."""

    name: str
    unit: str
    rate: float | None  # None: the row could not run here (``skipped`` says why)
    flops_per_second: float | None = None
    first_call_seconds: float | None = (
        None  # the untimed first call: set-up, or compilation
    )
    skipped: str | None = None


@dataclass(frozen=True)
class Benchmark:
    """One planned row: its name and a function that builds what it times on a device."""

    name: str
    kind: str  # "matmul", "train", "fit" or "evaluate"
    build: Callable[[torch.device], tuple[Callable[[], object], int, int]]
    # build(device) -> (call, items per call, FLOP-counted work per call, or 0: count it in measure())


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(
    call: Callable[[], object],
    device: torch.device,
    min_seconds: float,
    warmup: int = 3,
) -> float:
    """Seconds per call: warm up, then repeat until ``min_seconds`` have passed (at least 3 calls)."""
    for _ in range(warmup):
        call()
    _synchronize(device)
    calls, start = 0, time.perf_counter()
    while True:
        call()
        calls += 1
        _synchronize(device)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and calls >= 3:
            return elapsed / calls


def _counted_flops(call: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        call()
    return counter.get_total_flops()


def digit_batch(size: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Random binary 28x28 images and labels: timing does not depend on the pixels."""
    generator = torch.Generator().manual_seed(seed)
    images = (torch.rand(size, 1, 28, 28, generator=generator) > 0.8).float()
    labels = torch.randint(0, 10, (size,), generator=generator)
    return images, labels


def _matmul(dtype: torch.dtype) -> Callable:
    def build(device: torch.device):
        a = torch.randn(MATMUL_SIZE, MATMUL_SIZE, device=device, dtype=dtype)
        b = torch.randn(MATMUL_SIZE, MATMUL_SIZE, device=device, dtype=dtype)
        return (lambda: a @ b), MATMUL_SIZE, 2 * MATMUL_SIZE**3

    return build


def _quadrant_batch(size: int) -> tuple[Tensor, Tensor]:
    return split_quadrants(digit_batch(size)[0], 1)


def _training(
    make_model: Callable[[], nn.Module],
    make_batch: Callable[[], tuple[Tensor, ...]],
    precision: str,
    compiled: bool = False,
) -> Callable:
    def build(device: torch.device):
        torch.manual_seed(0)
        model = make_model().to(device).train()
        batch = tuple(t.to(device) for t in make_batch())
        optimizer = adam(model, 1e-4)

        def step() -> None:
            train_step(model, optimizer, batch, precision)

        if not compiled:
            return step, len(batch[0]), 0  # FLOPs counted by measure()
        flops = _counted_flops(
            step
        )  # of the eager step: the compiled one cannot run under the counter
        # The loss, forward and backward, compiled in the first call; one graph or an error.
        model.loss_terms = torch.compile(
            model.loss_terms, dynamic=False, fullgraph=True
        )
        calls = itertools.count()

        def compiled_step() -> None:
            if next(calls):
                return step()
            # The first call compiles as on a machine that never compiled it: no cache.
            with (
                warnings.catch_warnings(),
                torch._inductor.config.patch(force_disable_caches=True),
            ):
                warnings.simplefilter(
                    "ignore", UserWarning
                )  # "dynamo_pgo force disabled ..."
                return step()

        return compiled_step, len(batch[0]), flops

    return build


def _fit(make_model: Callable[[], nn.Module]) -> Callable:
    def build(device: torch.device):
        torch.manual_seed(0)
        model = make_model()
        inputs, targets = (
            t.to(device) for t in _quadrant_batch(FIT_EXAMPLES + FIT_VALIDATION)
        )
        train = Batches(
            inputs[:FIT_EXAMPLES],
            targets[:FIT_EXAMPLES],
            batch_size=BOOK_BATCH,
            shuffle=True,
        )
        validation = Batches(
            inputs[FIT_EXAMPLES:], targets[FIT_EXAMPLES:], batch_size=500
        )
        call = lambda: fit(
            model, train, validation, epochs=FIT_EPOCHS, progress=False, device=device
        )  # noqa: E731
        return call, FIT_EXAMPLES * FIT_EPOCHS, 0

    return build


def _evaluation(
    make_model: Callable[[], nn.Module], make_batch: Callable[[], tuple[Tensor, ...]]
) -> Callable:
    def build(device: torch.device):
        torch.manual_seed(0)
        model = make_model().to(device).eval()
        batch = tuple(t.to(device) for t in make_batch())
        return (
            (lambda: model.log_likelihood(*batch, IS_SAMPLES)),
            len(batch[0]) * IS_SAMPLES,
            0,
        )

    return build


def _quadrant_cvae() -> StructuredCVAE:
    return StructuredCVAE(1, Baseline(1))


def plan() -> list[Benchmark]:
    """Every row of a run, in order (the book's models at the chapters' sizes)."""
    digits = lambda: digit_batch(BOOK_BATCH)  # noqa: E731
    images = lambda: digit_batch(BOOK_BATCH)[:1]  # noqa: E731
    quadrants = lambda: _quadrant_batch(BOOK_BATCH)  # noqa: E731
    rows = [
        Benchmark(f"matmul {MATMUL_SIZE}^3 fp32", "matmul", _matmul(torch.float32)),
        Benchmark(f"matmul {MATMUL_SIZE}^3 bf16", "matmul", _matmul(torch.bfloat16)),
        Benchmark("train VAE", "train", _training(VAE, images, "fp32")),
        Benchmark(
            "train label CVAE, MLP",
            "train",
            _training(lambda: LabelCVAE("mlp", 4), digits, "fp32"),
        ),
        Benchmark(
            "train label CVAE, conv",
            "train",
            _training(lambda: LabelCVAE("conv", 4), digits, "fp32"),
        ),
        Benchmark(
            "train quadrant baseline",
            "train",
            _training(lambda: Baseline(1), quadrants, "fp32"),
        ),
        Benchmark(QUADRANT_STEP, "train", _training(_quadrant_cvae, quadrants, "fp32")),
        Benchmark(
            COMPILED_STEP, "train", _training(_quadrant_cvae, quadrants, "fp32", True)
        ),
        Benchmark(
            f"fit quadrant CVAE ({FIT_EPOCHS} epochs with validation)",
            "fit",
            _fit(_quadrant_cvae),
        ),
        Benchmark(
            "train quadrant CVAE, 500-500/200",
            "train",
            _training(
                lambda: StructuredCVAE(1, Baseline(1), **PYRO_SIZES), quadrants, "fp32"
            ),
        ),
        Benchmark(
            "train quadrant CVAE, bf16",
            "train",
            _training(_quadrant_cvae, quadrants, "bf16"),
        ),
        Benchmark(
            f"train quadrant CVAE, batch {LARGE_BATCH}",
            "train",
            _training(_quadrant_cvae, lambda: _quadrant_batch(LARGE_BATCH), "fp32"),
        ),
        Benchmark(
            f"train quadrant CVAE, batch {LARGE_BATCH}, bf16",
            "train",
            _training(_quadrant_cvae, lambda: _quadrant_batch(LARGE_BATCH), "bf16"),
        ),
        Benchmark(
            f"IS log-likelihood, VAE (S = {IS_SAMPLES})",
            "evaluate",
            _evaluation(VAE, images),
        ),
        Benchmark(
            f"IS log p(y|x), quadrant CVAE (S = {IS_SAMPLES})",
            "evaluate",
            _evaluation(_quadrant_cvae, quadrants),
        ),
    ]
    return rows


def measure(
    benchmark: Benchmark, device: torch.device, min_seconds: float
) -> Measurement:
    """Time one planned row on ``device``."""
    unit = {
        "matmul": "GFLOP/s",
        "train": "examples/s",
        "fit": "examples/s",
        "evaluate": "examples x samples/s",
    }[benchmark.kind]
    call, items, flops = benchmark.build(device)
    start = time.perf_counter()
    try:
        call()
    except (
        torch._dynamo.exc.BackendCompilerFailed
    ) as error:  # e.g. no C++ compiler for torch.compile
        cause = getattr(error, "inner_exception", None) or error
        reason = f"{type(cause).__name__}: {str(cause).strip().splitlines()[0]}"
        return Measurement(
            benchmark.name, unit, None, skipped=f"torch.compile failed here: {reason}"
        )
    _synchronize(device)
    first_call = time.perf_counter() - start
    if benchmark.kind == "train" and not flops:
        flops = _counted_flops(call)
    seconds = _timed(
        call, device, min_seconds, warmup=2 if benchmark.kind == "train" else 0
    )
    rate = flops / seconds / 1e9 if benchmark.kind == "matmul" else items / seconds
    return Measurement(
        benchmark.name, unit, rate, flops / seconds if flops else None, first_call
    )


def run(
    quick: bool = False,
    device: torch.device | str | None = None,
    min_seconds: float | None = None,
) -> dict:
    """Measure every row of :func:`plan` once, in order; return them with machine and versions.

    ``min_seconds`` per row (default 2, or 0.5 with ``quick``). Each row's
    ``fraction_of_matmul`` divides its counted FLOP rate by the same run's fp32
    matrix-multiply rate.
    """
    device = torch.device(device) if device is not None else default_device()
    seconds = min_seconds or (0.5 if quick else 2.0)
    started = datetime.now(timezone.utc)
    rows = [measure(benchmark, device, seconds) for benchmark in plan()]
    peak = rows[0].flops_per_second
    return {
        **machine(device),
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "quick": quick,
        "seconds_per_row": seconds,
        "batch_size": BOOK_BATCH,
        "rows": [
            {
                **asdict(r),
                "fraction_of_matmul": None
                if r.flops_per_second is None
                else r.flops_per_second / peak,
            }
            for r in rows
        ],
    }


def compile_payoff(results: dict) -> str | None:
    """What ``torch.compile`` buys the quadrant CVAE's step in this run, and when it is repaid; None if not measured.

    The ratio of the compiled to the eager step rate, and the number of steps whose
    saved time pays back the compilation (the compiled row's first call less the
    eager row's).
    """
    rows = {row["name"]: row for row in results["rows"]}
    eager, compiled = rows.get(QUADRANT_STEP), rows.get(COMPILED_STEP)
    if not eager or not compiled or eager["rate"] is None or compiled["rate"] is None:
        return None
    batch = results["batch_size"]
    saved_per_step = batch / eager["rate"] - batch / compiled["rate"]
    compiling = compiled["first_call_seconds"] - eager["first_call_seconds"]
    repaid = (
        f"repaid after {compiling / saved_per_step:,.0f} steps of {batch} examples"
        if saved_per_step > 0
        else "never repaid"
    )
    return (
        f"torch.compile: the compiled quadrant CVAE step runs at {compiled['rate'] / eager['rate']:.2f} times "
        f"the eager step's rate; compiling took {compiling:.1f} s, {repaid}"
    )


def format_table(results: dict) -> str:
    """The results as a plain-text table."""
    lines = [
        f"{results['device_name']} ({results['device']}, {results['threads']} threads), "
        f"torch {results['torch']}, Python {results['python']}, {results['date']}",
        f"{'benchmark':<46}{'rate':>14}  {'unit':<22}{'GFLOP/s':>9}{'of fp32 matmul':>16}{'first call, s':>15}",
    ]
    for row in results["rows"]:
        if row["rate"] is None:
            lines.append(f"{row['name']:<46}{'skipped':>14}  {row['skipped']}")
            continue
        gflops = (
            ""
            if row["flops_per_second"] is None
            else f"{row['flops_per_second'] / 1e9:9.1f}"
        )
        share = (
            ""
            if row["fraction_of_matmul"] is None
            else f"{row['fraction_of_matmul']:15.0%}"
        )
        lines.append(
            f"{row['name']:<46}{row['rate']:14,.0f}  {row['unit']:<22}{gflops:>9}{share:>16}"
            f"{row['first_call_seconds']:15.2f}"
        )
    payoff = compile_payoff(results)
    return "\n".join(lines + ([payoff] if payoff else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cvae.run.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="shorter timings (about ten seconds, noisier)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--device",
        help="cpu, cuda, cuda:1 ... (default: CVAE_DEVICE, else CUDA if present)",
    )
    args = parser.parse_args(argv)
    if args.json and not Path(args.json).parent.is_dir():
        parser.error(
            f"--json: the folder {str(Path(args.json).parent)!r} does not exist"
        )
    if args.json:
        try:
            writable_file(
                "--json", args.json
            )  # before the minutes of measuring, not after
        except ValueError as error:
            parser.error(str(error))
    try:
        device = (
            check_device("--device", args.device) if args.device else default_device()
        )
    except ValueError as error:  # also a CVAE_DEVICE that cvae.settings refuses
        parser.error(str(error))
    results = run(quick=args.quick, device=device)
    print(format_table(results))
    if args.json:
        with atomic_write(args.json, "w", encoding="utf-8") as file:
            file.write(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
