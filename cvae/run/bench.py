"""Benchmarks: how fast the book's models train and evaluate on this machine.

Explained in the appendix :chapter:`Performance <book/performance>`. Run
``python -m cvae.run.bench`` (about six minutes on 2 CPU cores without native bfloat16,
most of it the bf16 rows' first calls and the compilation; ``--quick`` times each row
for less; ``--json FILE`` also writes the results). One run on one device measures:

* the training throughput (examples per second) of every model the book trains, at the
  chapter's sizes, through :func:`cvae.training.train_step` as :func:`cvae.training.fit`
  runs it; the rate of ``fit`` itself (epochs with validation), so the loop's own cost
  shows; the same step with the loss compiled by ``torch.compile`` in one graph;
* importance-sampling evaluation throughput (examples x samples per second);
* the matrix-product FLOPs a training step achieves (counted by
  ``torch.utils.flop_counter``) against a plain 2048^3 fp32 matrix multiply of the same
  run: the share of the matrix unit's practical peak the whole step turns into model
  arithmetic (elementwise work counts as zero).

Every row also reports its first, untimed call: for the compiled row, the compilation,
with PyTorch's caches off (what a first run costs).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch._inductor.config
from torch.utils.flop_counter import FlopCounterMode

from cvae.data import Batches
from cvae.label_cvae import LabelCVAE
from cvae.quadrants import split_quadrants
from cvae.run.checkpoints import atomic_write, writable_file
from cvae.run.machine import machine
from cvae.settings import check_device, default_device
from cvae.structured import Baseline, StructuredCVAE
from cvae.training import adam, fit, train_step
from cvae.vae import VAE

MATMUL, BATCH, LARGE_BATCH, IS_SAMPLES = 2048, 100, 500, 100  # chapters: batches of 100
FIT_EXAMPLES, FIT_VALIDATION, FIT_EPOCHS = 3600, 400, 2  # the quadrant chapter's split
QUADRANT_STEP = "train quadrant CVAE"
COMPILED_STEP = f"{QUADRANT_STEP}, torch.compile"  # compile_payoff() compares the two
UNITS = {"matmul": "GFLOP/s", "train": "examples/s", "fit": "examples/s"}


@dataclass
class Measurement:
    """One row: how fast (``rate``; None when ``skipped`` says why it could not run),
    the counted matrix FLOPs per second, and the untimed first call's seconds."""

    name: str
    unit: str
    rate: float | None
    flops_per_second: float | None = None
    first_call_seconds: float | None = None
    skipped: str | None = None


@dataclass(frozen=True)
class Benchmark:
    """One planned row: ``build(device)`` returns the call it times, the items per call
    and the FLOPs per call (0: :func:`measure` counts them)."""

    name: str
    kind: str  # "matmul", "train", "fit" or "evaluate"
    build: Callable[[torch.device], tuple[Callable[[], object], int, int]]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _counted_flops(call: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        call()
    return counter.get_total_flops()


def _digits(size: int, task: str = "labels") -> tuple[torch.Tensor, ...]:
    """Random binary digits (timing does not depend on the pixels) with labels, alone
    (``"images"``), or as the quadrant task's ``(inputs, targets)``."""
    generator = torch.Generator().manual_seed(0)
    images = (torch.rand(size, 1, 28, 28, generator=generator) > 0.8).float()
    labels = torch.randint(0, 10, (size,), generator=generator)
    tasks = {"labels": (images, labels), "images": (images,)}
    return tasks[task] if task in tasks else split_quadrants(images, 1)


def _cvae(**sizes: object) -> StructuredCVAE:
    return StructuredCVAE(1, Baseline(1), **sizes)


def _matmul(dtype: torch.dtype) -> Callable:
    def build(device: torch.device):
        a, b = torch.randn(2, MATMUL, MATMUL, device=device, dtype=dtype)
        return (lambda: a @ b), MATMUL, 2 * MATMUL**3

    return build


def _training(model: Callable, batch: Callable, precision="fp32", compiled=False):
    def build(device: torch.device):
        torch.manual_seed(0)
        net, data = model().to(device).train(), tuple(t.to(device) for t in batch())
        if isinstance(net, StructuredCVAE):  # the baseline's guess, as training has it
            data = (*data, net.guess(data[0]))
        optimizer = adam(net, 1e-4)

        def step() -> None:
            train_step(net, optimizer, data, precision)

        if not compiled:
            return step, len(data[0]), 0
        # The eager step's FLOPs (the compiled one cannot be counted); the loss, forward
        # and backward, compiled in the first call: one graph or an error.
        flops = _counted_flops(step)
        net.loss_terms = torch.compile(net.loss_terms, dynamic=False, fullgraph=True)
        calls = itertools.count()

        def compiled_step() -> None:
            if next(calls):
                return step()
            # The first call compiles as on a machine that never compiled it: no cache.
            with warnings.catch_warnings():  # "dynamo_pgo force disabled ..."
                warnings.simplefilter("ignore", UserWarning)
                with torch._inductor.config.patch(force_disable_caches=True):
                    return step()

        return compiled_step, len(data[0]), flops

    return build


def _fit(device: torch.device):
    torch.manual_seed(0)
    model, count = _cvae(), FIT_EXAMPLES
    x, y = (t.to(device) for t in _digits(count + FIT_VALIDATION, "quadrants"))
    guess = model.to(device).guess(x)  # once per data set, as training does
    train = Batches(x[:count], y[:count], guess[:count], batch_size=BATCH, shuffle=True)
    validation = Batches(x[count:], y[count:], guess[count:], batch_size=500)
    options = {"epochs": FIT_EPOCHS, "progress": False, "device": device}
    return (lambda: fit(model, train, validation, **options)), count * FIT_EPOCHS, 0


def _evaluation(model: Callable, batch: Callable) -> Callable:
    def build(device: torch.device):
        torch.manual_seed(0)
        net, data = model().to(device).eval(), tuple(t.to(device) for t in batch())
        call = lambda: net.log_likelihood(*data, IS_SAMPLES)  # noqa: E731
        return call, len(data[0]) * IS_SAMPLES, 0

    return build


def plan() -> list[Benchmark]:
    """Every row of a run, in order (the book's models at the chapters' sizes)."""
    part, train, cvae, q = functools.partial, "train", _cvae, "quadrant CVAE"
    loop, evaluate, big, S = "fit", "evaluate", LARGE_BATCH, IS_SAMPLES
    step, score = _training, _evaluation
    labels, images = part(_digits, BATCH), part(_digits, BATCH, "images")
    pairs, large = part(_digits, BATCH, "quadrants"), part(_digits, big, "quadrants")
    pyro = part(_cvae, hidden_dims=(500, 500), latent_dim=200)  # Pyro's example
    mlp, conv = part(LabelCVAE, "mlp", 4), part(LabelCVAE, "conv", 4)
    rows = [
        (f"matmul {MATMUL}^3 fp32", "matmul", _matmul(torch.float32)),
        (f"matmul {MATMUL}^3 bf16", "matmul", _matmul(torch.bfloat16)),
        ("train VAE", train, step(VAE, images)),
        ("train label CVAE, MLP", train, step(mlp, labels)),
        ("train label CVAE, conv", train, step(conv, labels)),
        ("train quadrant baseline", train, step(part(Baseline, 1), pairs)),
        (QUADRANT_STEP, train, step(cvae, pairs)),
        (COMPILED_STEP, train, step(cvae, pairs, compiled=True)),
        (f"fit {q} ({FIT_EPOCHS} epochs with validation)", loop, _fit),
        (f"train {q}, 500-500/200", train, step(pyro, pairs)),
        (f"train {q}, bf16", train, step(cvae, pairs, "bf16")),
        (f"train {q}, batch {big}", train, step(cvae, large)),
        (f"train {q}, batch {big}, bf16", train, step(cvae, large, "bf16")),
        (f"IS log-likelihood, VAE (S = {S})", evaluate, score(VAE, images)),
        (f"IS log p(y|x), {q} (S = {S})", evaluate, score(cvae, pairs)),
    ]
    return [Benchmark(*row) for row in rows]


def measure(benchmark: Benchmark, device: torch.device, min_seconds: float):
    """Time one planned row on ``device``: its first call, then (after a warm-up of
    training steps) repeated calls until ``min_seconds`` have passed, at least 3."""
    unit = UNITS.get(benchmark.kind, "examples x samples/s")
    call, items, flops = benchmark.build(device)
    start = time.perf_counter()
    try:
        call()
    except torch._dynamo.exc.BackendCompilerFailed as error:  # no C++ compiler, say
        cause = getattr(error, "inner_exception", None) or error
        reason = f"{type(cause).__name__}: {str(cause).strip().splitlines()[0]}"
        reason = f"torch.compile failed here: {reason}"
        return Measurement(benchmark.name, unit, None, skipped=reason)
    _synchronize(device)
    first_call = time.perf_counter() - start
    if benchmark.kind == "train":
        flops = flops or _counted_flops(call)
        for _ in range(2):
            call()
    _synchronize(device)
    calls, start = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - start < min_seconds:
        call()
        calls += 1
        _synchronize(device)
    seconds = (time.perf_counter() - start) / calls
    rate = flops / seconds / 1e9 if benchmark.kind == "matmul" else items / seconds
    flops = flops / seconds if flops else None
    return Measurement(benchmark.name, unit, rate, flops, first_call)


def run(quick: bool = False, device=None, min_seconds: float | None = None) -> dict:
    """Measure every row of :func:`plan` once, in order, ``min_seconds`` each (default
    2, 0.5 with ``quick``); return them with the machine and the versions. Each row's
    ``fraction_of_matmul`` divides its FLOP rate by the run's fp32 matrix multiply's."""
    device = torch.device(device) if device is not None else default_device()
    seconds = min_seconds or (0.5 if quick else 2.0)
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = [asdict(measure(benchmark, device, seconds)) for benchmark in plan()]
    for row in rows:
        flops = row["flops_per_second"]
        row["fraction_of_matmul"] = flops and flops / rows[0]["flops_per_second"]
    about = {"date": started, "quick": quick, "seconds_per_row": seconds}
    return {**machine(device), **about, "batch_size": BATCH, "rows": rows}


def compile_payoff(results: dict) -> str | None:
    """What ``torch.compile`` buys the quadrant CVAE's step in ``results``: the compiled
    to eager rate ratio, and the steps whose saved time repays the compilation (the
    compiled row's first call less the eager row's); None if not measured."""
    rows = {row["name"]: row for row in results["rows"]}
    eager, compiled = rows.get(QUADRANT_STEP), rows.get(COMPILED_STEP)
    if not eager or not compiled or eager["rate"] is None or compiled["rate"] is None:
        return None
    batch = results["batch_size"]
    saved = batch / eager["rate"] - batch / compiled["rate"]
    compiling = compiled["first_call_seconds"] - eager["first_call_seconds"]
    repaid = f"repaid after {compiling / saved:,.0f} steps of {batch} examples"
    ratio = compiled["rate"] / eager["rate"]
    return (
        f"torch.compile: the compiled quadrant CVAE step runs at {ratio:.2f} times the "
        f"eager step's rate; compiling took {compiling:.1f} s, "
        + (repaid if saved > 0 else "never repaid")
    )


def format_table(results: dict) -> str:
    """The results as a plain-text table."""
    r = results
    lines = [
        f"{r['device_name']} ({r['device']}, {r['threads']} threads), "
        f"torch {r['torch']}, Python {r['python']}, {r['date']}",
        f"{'benchmark':<46}{'rate':>14}  {'unit':<22}{'GFLOP/s':>9}"
        f"{'of fp32 matmul':>16}{'first call, s':>15}",
    ]
    for row in results["rows"]:
        if row["rate"] is None:
            lines.append(f"{row['name']:<46}{'skipped':>14}  {row['skipped']}")
            continue
        flops, share = row["flops_per_second"], row["fraction_of_matmul"]
        flops = "" if flops is None else f"{flops / 1e9:9.1f}"
        share = "" if share is None else f"{share:15.0%}"
        rate, first = f"{row['rate']:14,.0f}", f"{row['first_call_seconds']:15.2f}"
        lines.append(
            f"{row['name']:<46}{rate}  {row['unit']:<22}{flops:>9}{share:>16}{first}"
        )
    payoff = compile_payoff(results)
    return "\n".join(lines + ([payoff] if payoff else []))


def main(argv: list[str] | None = None) -> int:
    about = __doc__.split("\n")[0]
    parser = argparse.ArgumentParser("python -m cvae.run.bench", description=about)
    parser.add_argument(
        "--quick", action="store_true", help="time each row for less (noisier)"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--device", help="cpu, cuda ... (default: CVAE_DEVICE, else CUDA)"
    )
    args = parser.parse_args(argv)
    try:  # before the minutes of measuring, not after
        folder = args.json and Path(args.json).parent
        if folder and not folder.is_dir():
            raise ValueError(f"--json: the folder {str(folder)!r} does not exist")
        if args.json:
            writable_file("--json", args.json)
        device = check_device("--device", args.device or default_device())
    except ValueError as error:  # also a CVAE_DEVICE that cvae.settings refuses
        parser.error(str(error))
    results = run(quick=args.quick, device=device)
    print(format_table(results))
    if args.json:
        with atomic_write(args.json, "w", encoding="utf-8") as file:
            file.write(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
