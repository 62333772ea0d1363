"""Before/after ratios of the training step across git revisions, measured in one run.

    python -m tools.compare_revisions 3b39cda HEAD~2 HEAD~1 HEAD

Each revision is checked out into a temporary git worktree; for ``--rounds`` rounds
the revisions take turns (so slow drift of the machine hits all of them alike), each
in a fresh Python process that times one training step of every model the book
trains, at the chapters' sizes and batch size 100, the way that revision's ``fit``
steps: its own ``train_step`` and ``adam`` where it has them, the frozen baseline's
guess precomputed where its ``fit`` precomputes it, and the values its ``fit`` reads
back from the device after each step. A revision with the validation switch
(``cvae.checks.set_validation``) is timed with the checks on and again with them off
(rows ``..., checks off``, compared with the reference's checked step). The median per
revision is printed with its ratio to the first revision.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, math, time, torch
try:
    from cvae.quadrants import split_quadrants
except ImportError:
    from cvae.data import split_quadrants
from cvae.label_cvae import LabelCVAE
from cvae.structured import Baseline, StructuredCVAE
from cvae.vae import VAE
try:
    from cvae.training import adam
except ImportError:
    adam = lambda model, lr: torch.optim.Adam(model.parameters(), lr=lr)
try:
    from cvae.training import train_step
except ImportError:
    train_step = None
try:
    from cvae.checks import set_validation
except ImportError:
    set_validation = None

g = torch.Generator().manual_seed(0)
images = (torch.rand(100, 1, 28, 28, generator=g) > 0.8).float()
labels = torch.randint(0, 10, (100,), generator=g)
quadrants = split_quadrants(images, 1)
models = {
    "VAE": (VAE, (images,)),
    "label CVAE, MLP": (lambda: LabelCVAE("mlp", 4), (images, labels)),
    "label CVAE, conv": (lambda: LabelCVAE("conv", 4), (images, labels)),
    "quadrant baseline": (lambda: Baseline(1), quadrants),
    "quadrant CVAE": (lambda: StructuredCVAE(1, Baseline(1)), quadrants),
    "quadrant GSNN": (
        lambda: StructuredCVAE(1, Baseline(1), alpha=0.0, num_particles=5), quadrants
    ),
    "quadrant hybrid": (
        lambda: StructuredCVAE(1, Baseline(1), alpha=0.5, num_particles=5), quadrants
    ),
    "quadrant CVAE, 500-500/200": (
        lambda: StructuredCVAE(
            1, Baseline(1), hidden_dims=(500, 500), latent_dim=200
        ),
        quadrants,
    ),
}


def fit_step(model, optimizer, batch):
    # One step as that revision's fit runs it: its train_step and the values its fit
    # reads back.
    if train_step is None:
        loss = model.loss_terms(*batch)["loss"].mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return
    terms = train_step(model, optimizer, batch)
    # the fit of that revision read each term back itself
    if isinstance(terms["loss"], torch.Tensor):
        math.isfinite(terms["loss"].mean().item())
        [float(value.sum()) for value in terms.values()]


rates = {}
for checks in ([True, False] if set_validation else [True]):
    if set_validation:
        set_validation(checks)
    for name, (make, batch) in models.items():
        torch.manual_seed(0)
        model = make()
        optimizer = adam(model, 1e-4)
        if hasattr(model, "guess"):  # that revision's fit computes it once per data set
            batch = (*batch, model.guess(batch[0]))
        for _ in range(3):
            fit_step(model, optimizer, batch)
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < SECONDS:
            fit_step(model, optimizer, batch)
            calls += 1
        seconds = time.perf_counter() - start
        rates[name + ("" if checks else ", checks off")] = 100 * calls / seconds
print(json.dumps(rates))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "revisions", nargs="+", help="git revisions, the first is the reference"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--seconds", type=float, default=1.0, help="timing per model and round"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        trees = {}
        for revision in args.revisions:
            sha = subprocess.run(
                ["git", "rev-parse", "--short", revision],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            tree = Path(scratch) / sha
            subprocess.run(
                ["git", "worktree", "add", "--detach", "-q", str(tree), sha],
                cwd=ROOT,
                check=True,
            )
            trees[revision] = tree
        try:
            samples: dict[str, list[dict[str, float]]] = {r: [] for r in args.revisions}
            for _ in range(args.rounds):
                for revision, tree in trees.items():
                    out = subprocess.run(
                        [sys.executable, "-c", f"SECONDS = {args.seconds}\n" + PROBE],
                        cwd=tree,
                        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout
                    samples[revision].append(json.loads(out.strip().splitlines()[-1]))
        finally:
            for tree in trees.values():
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(tree)],
                    cwd=ROOT,
                    check=False,
                )
    reference = args.revisions[0]
    names = list(dict.fromkeys(n for r in args.revisions for n in samples[r][0]))
    median = {
        r: {n: statistics.median(s[n] for s in samples[r]) for n in samples[r][0]}
        for r in args.revisions
    }
    print(
        f"{'training step, batch 100 (examples/s)':<40}"
        + "".join(f"{r:>18}" for r in args.revisions)
    )
    for name in names:
        base = (
            median[reference].get(name)
            or median[reference][name.removesuffix(", checks off")]
        )
        cells = "".join(
            (
                f"{median[r][name]:>9,.0f} ({median[r][name] / base:.2f}x)"
                if name in median[r]
                else "n/a"
            ).rjust(18)
            for r in args.revisions
        )
        print(f"{name:<40}{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
