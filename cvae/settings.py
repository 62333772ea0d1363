"""Every switch a reader sets from the shell, the device, and seeding: read here only.

* ``CVAE_DATASET``: the data set, a name in :data:`cvae.data.DATASETS` (``mnist``, the
  default, or ``fashion-mnist``); :func:`dataset`, checked by
  :func:`cvae.data.load_digits`.
* ``CVAE_DATA``: ``sample`` (4,000 + 1,000 images, the default) or ``full``;
  :func:`data_source`. ``CVAE_DATA_ROOT``: where the full files are stored or
  downloaded (default ``./data``); :func:`data_root`.
* ``CVAE_EPOCHS``: overrides every chapter's epoch budget; :func:`epochs`.
* ``CVAE_DEVICE``: ``cpu``, ``cuda``, ``cuda:1`` ... (default: CUDA if present);
  :func:`default_device`. Other device types and absent CUDA devices are refused
  (:func:`check_device`).

Explained in :chapter:`the introduction <book/intro>` (*How to run it*).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from cvae.checks import check_int, check_positive_int

#: The values of ``CVAE_DATA``: the (offline) sample, or the full data set.
DATA_SOURCES = ("sample", "full")
#: The data set when ``CVAE_DATASET`` is unset.
DEFAULT_DATASET = "mnist"
#: The device types every model and loss here is tested on.
TRAINING_DEVICES = ("cpu", "cuda")


def _read(name: str, default: str) -> str:
    """``$name`` trimmed and in lower case; unset or blank: ``default``."""
    return os.environ.get(name, "").strip().lower() or default


def dataset() -> str:
    """The data set named by ``CVAE_DATASET`` (default ``mnist``)."""
    return _read("CVAE_DATASET", DEFAULT_DATASET)


def data_source() -> str:
    """How much of it ``CVAE_DATA`` asks for: ``sample`` (default) or ``full``."""
    value = _read("CVAE_DATA", "sample")
    if value not in DATA_SOURCES:
        raise ValueError(
            f"CVAE_DATA must be sample or full, got {value!r}; CVAE_DATASET names the "
            f"data set (default {DEFAULT_DATASET})"
        )
    return value


def data_root() -> Path:
    """Where the full data sets live (``CVAE_DATA_ROOT``, default ``./data``)."""
    return Path(os.environ.get("CVAE_DATA_ROOT", "").strip() or "data").expanduser()


def epochs(default: int) -> int:
    """A chapter's epoch budget: ``default`` unless ``CVAE_EPOCHS`` overrides it."""
    check_positive_int("default", default)
    raw = os.environ.get("CVAE_EPOCHS", "").strip()
    if raw and not (raw.isdecimal() and int(raw) >= 1):
        raise ValueError(f"CVAE_EPOCHS must be a positive integer, got {raw!r}")
    return int(raw) if raw else default


def default_device() -> torch.device:
    """``CVAE_DEVICE`` if set (checked by :func:`check_device`), else the first CUDA
    device if present, else the CPU."""
    requested = os.environ.get("CVAE_DEVICE", "").strip()
    if requested:
        return check_device("CVAE_DEVICE", requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def training_device(device: torch.device | str | None) -> torch.device:
    """The device a caller asked for, checked; ``None``: :func:`default_device`."""
    return default_device() if device is None else check_device("device", device)


def check_device(name: str, device: object) -> torch.device:
    """Require a device type this package trains on that this machine has.

    Checked before any weight moves: ``meta`` would empty a model's weights, and a CUDA
    device that is not there fails deep inside PyTorch.
    """
    try:
        checked = torch.device(device)
    except (RuntimeError, TypeError):
        message = f"{name}: {device!r} is not a device name (try 'cpu' or 'cuda')"
        raise ValueError(message) from None
    if checked.type not in TRAINING_DEVICES:
        raise ValueError(
            f"{name}: {device!r} is a {checked.type} device; this package trains on "
            f"{' or '.join(TRAINING_DEVICES)} devices only"
        )
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if checked.type == "cuda" and (checked.index or 0) >= count:
        has = f"it has {count} CUDA devices"
        if not count:
            has = "torch.cuda.is_available() is False"
        raise ValueError(f"{name}: {device!r} is not available on this machine ({has})")
    return checked


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA); return a CPU generator so seeded.

    Same seed, same machine, same thread count: the same numbers. Across machines the
    last digits of floating-point results may differ (different SIMD kernels), which is
    why the book asserts results with tolerances instead of comparing them exactly.
    """
    check_int("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
