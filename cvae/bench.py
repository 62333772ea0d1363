"""Benchmarks: how fast the book's models train and evaluate on this machine.

Explained in the appendix :chapter:`Performance <book/performance>`. Run

    python -m cvae.bench              # full run (a few minutes)
    python -m cvae.bench --quick      # about a minute
    python -m cvae.bench --json results.json

Everything is measured in one run on one device, so the ratios are meaningful:

* training throughput (examples per second) of every model the book trains;
* importance-sampling evaluation throughput (examples x samples per second);
* the floating-point rate achieved by a CVAE training step (FLOPs counted by
  ``torch.utils.flop_counter``) against a plain 2048 x 2048 x 2048 fp32 matrix multiply
  measured in the same run: the hardware-efficiency ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cvae.device import default_device
from cvae.label_cvae import LabelCVAE
from cvae.vae import VAE


@dataclass
class Measurement:
    """One benchmark row: what was measured, how fast, and the counted work per second."""

    name: str
    unit: str
    rate: float
    flops_per_second: float | None = None


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(step: Callable[[], object], device: torch.device, min_seconds: float, warmup: int = 3) -> float:
    """Seconds per call of ``step``: warm up, then repeat until ``min_seconds`` have passed."""
    for _ in range(warmup):
        step()
    _synchronize(device)
    calls, start = 0, time.perf_counter()
    while True:
        step()
        calls += 1
        _synchronize(device)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls


def matmul_rate(device: torch.device, size: int = 2048, min_seconds: float = 2.0) -> Measurement:
    """FLOP rate of one ``size^3`` fp32 matrix multiply: the machine's practical peak."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    seconds = _timed(lambda: a @ b, device, min_seconds)
    flops = 2.0 * size**3
    return Measurement(f"matmul {size}^3 fp32", "GFLOP/s", flops / seconds / 1e9, flops / seconds)


def training_step_rate(
    name: str, model: nn.Module, batch: tuple[torch.Tensor, ...], device: torch.device, min_seconds: float
) -> Measurement:
    """Examples per second of full Adam training steps, and the FLOP rate they achieve."""
    model.to(device).train()
    batch = tuple(t.to(device) for t in batch)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        loss = model.loss_terms(*batch)["loss"].mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        step()
    seconds = _timed(step, device, min_seconds)
    return Measurement(name, "examples/s", len(batch[0]) / seconds, counter.get_total_flops() / seconds)


def evaluation_rate(name: str, model: nn.Module, batch: tuple[torch.Tensor, ...], num_samples: int,
                    device: torch.device, min_seconds: float) -> Measurement:
    """Examples x samples per second of the importance-sampled log-likelihood."""
    model.to(device).eval()
    batch = tuple(t.to(device) for t in batch)
    seconds = _timed(lambda: model.log_likelihood(*batch, num_samples), device, min_seconds, warmup=1)
    return Measurement(name, "examples x samples/s", len(batch[0]) * num_samples / seconds)


def digit_batch(size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random binary 28x28 images and labels: timing does not depend on the pixels."""
    generator = torch.Generator().manual_seed(seed)
    images = (torch.rand(size, 1, 28, 28, generator=generator) > 0.8).float()
    labels = torch.randint(0, 10, (size,), generator=generator)
    return images, labels


def run(quick: bool = False, device: torch.device | None = None) -> dict:
    """Measure everything once; return the rows with machine and version information."""
    device = device or default_device()
    seconds = 0.5 if quick else 2.0
    torch.manual_seed(0)
    images, labels = digit_batch(100)
    rows = [matmul_rate(device, min_seconds=seconds)]
    rows.append(training_step_rate("train VAE (batch 100)", VAE(), (images,), device, seconds))
    rows.append(training_step_rate("train label CVAE, MLP (batch 100)", LabelCVAE("mlp", 4), (images, labels), device, seconds))
    rows.append(training_step_rate("train label CVAE, conv (batch 100)", LabelCVAE("conv", 4), (images, labels), device, seconds))
    rows.append(evaluation_rate("IS log-likelihood, VAE (S = 100)", VAE(), (images,), 100, device, seconds))
    peak = rows[0].flops_per_second
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "rows": [{**asdict(r), "fraction_of_matmul": None if r.flops_per_second is None else r.flops_per_second / peak} for r in rows],
    }


def format_table(results: dict) -> str:
    """The results as a plain-text table."""
    lines = [
        f"device {results['device']} ({results['device_name']}), {results['threads']} threads, "
        f"torch {results['torch']}, Python {results['python']}",
        f"{'benchmark':<40}{'rate':>14}  {'unit':<22}{'GFLOP/s':>9}{'of matmul':>11}",
    ]
    for row in results["rows"]:
        gflops = "" if row["flops_per_second"] is None else f"{row['flops_per_second'] / 1e9:9.1f}"
        share = "" if row["fraction_of_matmul"] is None else f"{row['fraction_of_matmul']:10.0%}"
        lines.append(f"{row['name']:<40}{row['rate']:14,.0f}  {row['unit']:<22}{gflops:>9}{share:>11}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cvae.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timings (about a minute)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    results = run(quick=args.quick)
    print(format_table(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
