"""Device choice and reproducibility: CUDA when a reader has it, the CPU otherwise."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from cvae.checks import check_int


def default_device() -> torch.device:
    """``CVAE_DEVICE`` if set, else the first CUDA device if present, else the CPU."""
    requested = os.environ.get("CVAE_DEVICE", "").strip()
    if requested:
        try:
            device = torch.device(requested)
        except RuntimeError:
            raise ValueError(f"CVAE_DEVICE={requested!r} is not a device name (try 'cpu' or 'cuda')") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"CVAE_DEVICE={requested!r} but PyTorch sees no CUDA device")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA); return a CPU generator with that seed.

    Same seed, same machine, same thread count: the same numbers. Across machines the
    last digits of floating-point results may differ (different SIMD kernels), which is
    why the book asserts results with tolerances instead of comparing them exactly.
    """
    check_int("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
