"""The few switches a reader sets from the shell, never by editing a notebook.

* ``CVAE_DATA``: ``sample`` (5,000 offline digits, the default) or ``mnist`` (full
  MNIST via torchvision).
* ``CVAE_DATA_ROOT``: where full MNIST is stored or downloaded (default ``./data``).
* ``CVAE_EPOCHS``: overrides every chapter's epoch budget.
* ``CVAE_DEVICE``: ``cpu``, ``cuda``, ``cuda:1`` ... (default: CUDA if present).

Explained in :chapter:`the introduction <book/intro>` (*How to run it*).
"""

from __future__ import annotations

import os
from pathlib import Path

from cvae.checks import check_positive_int

DATA_SOURCES = ("sample", "mnist")


def data_source() -> str:
    """The data source chosen by ``CVAE_DATA`` (default ``sample``)."""
    value = os.environ.get("CVAE_DATA", "sample").strip().lower() or "sample"
    if value not in DATA_SOURCES:
        raise ValueError(
            f"CVAE_DATA must be one of {', '.join(DATA_SOURCES)}; got {value!r}. "
            "Unset it for the offline 5,000-digit sample, or set CVAE_DATA=mnist."
        )
    return value


def data_root() -> Path:
    """Where full MNIST lives (``CVAE_DATA_ROOT``, default ``./data``)."""
    return Path(os.environ.get("CVAE_DATA_ROOT", "").strip() or "data").expanduser()


def epochs(default: int) -> int:
    """A chapter's epoch budget: ``default`` unless ``CVAE_EPOCHS`` overrides it."""
    check_positive_int("default", default)
    raw = os.environ.get("CVAE_EPOCHS")
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"CVAE_EPOCHS must be a positive integer, got {raw!r}") from None
    return check_positive_int("CVAE_EPOCHS", value)
