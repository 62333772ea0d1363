"""Checkpoints that never lose work and never load into the wrong model.

Explained in the appendix :chapter:`Performance <book/performance>` (section *Nothing
is lost*); used by :func:`cvae.training.fit` (``checkpoint=``) and by the quadrant
experiment's command line.

* Written atomically: to a temporary file in the same folder, flushed to disk, then
  moved into place with :func:`os.replace`; an interrupted write leaves the previous
  checkpoint intact.
* Self-describing: the model class, its constructor arguments (when the model has
  ``constructor_args()``), the name and shape of every parameter, the training
  configuration, the learning curves and the versions of torch, cvae and Python.
* Loaded with ``torch.load(..., weights_only=True)`` (no code runs from the file), and
  refused with a :class:`CheckpointError` naming the difference when it was made for
  another architecture or with other training settings.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

import torch
from torch import nn

import cvae

CHECKPOINT_FORMAT = 1


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used: unreadable, or made for another architecture or other settings."""


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb", **open_args: object) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; on success flush it to disk and move it into place.

    If the block raises, the temporary file is removed and ``path`` keeps its previous
    content. Used for checkpoints, the quadrant results and the benchmark's JSON.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"path {str(path)!r} is a folder; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, mode, **open_args) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def architecture(model: nn.Module) -> dict:
    """What must match for weights to mean the same thing: class, constructor arguments, parameter shapes."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    args = model.constructor_args() if hasattr(model, "constructor_args") else None
    shapes = {name: list(tensor.shape) for name, tensor in model.state_dict().items()}
    return {"class": type(model).__name__, "args": args, "shapes": shapes}


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    config: Mapping | None = None,
    history: Mapping | None = None,
    **extra: object,
) -> Path:
    """Write ``model``'s weights with its architecture, ``config``, ``history`` and the versions, atomically.

    ``config`` and ``history`` must hold plain Python values (numbers, strings, lists,
    dicts), which is what ``weights_only`` loading accepts; so must any ``extra`` entry.
    """
    payload = {
        "format": CHECKPOINT_FORMAT,
        "architecture": architecture(model),
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
        "config": dict(config or {}),
        "history": dict(history or {}),
        "versions": {"torch": str(torch.__version__), "cvae": cvae.__version__, "python": sys.version.split()[0]},
        **extra,
    }
    with atomic_write(path) as file:
        torch.save(payload, file)
    return Path(path)


def _reason(error: Exception) -> str:
    """The informative part of a loading error (``torch.load``'s messages run to many lines)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = "weights-only unpickling: " + text.split(marker, 1)[1].split("Check the documentation", 1)[0]
    text = " ".join(text.split()) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _describe(arch: Mapping) -> str:
    args = arch.get("args")
    if args is None:
        return f"{arch.get('class')} with {len(arch.get('shapes', {}))} tensors"
    return f"{arch.get('class')}({', '.join(f'{key}={value}' for key, value in args.items())})"


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    config: Mapping | None = None,
    settings: Sequence[str] = (),
) -> dict:
    """Load ``path`` into ``model`` (freshly built with the intended architecture); return the payload.

    Args:
        path: a file written by :func:`save_checkpoint`.
        model: receives the weights; left in evaluation mode.
        config: this run's configuration; with ``settings``, the keys that must equal
            the stored configuration's (settings that change what a trained model is).

    Raises:
        CheckpointError: the file cannot be read as a checkpoint; or it holds another
            model class, constructor arguments or parameter shapes; or other values of
            ``settings``. The message names the file and the differences.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r}: no checkpoint file there")
    wanted = architecture(model)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(error).__name__}: {_reason(error)}); "
            "delete it to retrain this model"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT or "state_dict" not in payload:
        raise CheckpointError(f"{path} is not a checkpoint of this book (format {CHECKPOINT_FORMAT}); delete it to retrain")
    stored = payload.get("architecture", {})
    if stored.get("class") != wanted["class"] or stored.get("args") != wanted["args"]:
        raise CheckpointError(
            f"{path} holds a different architecture: {_describe(stored)}, but this run builds "
            f"{_describe(wanted)}. Use another output folder, or delete the file to retrain"
        )
    if stored.get("shapes") != wanted["shapes"]:
        differ = sorted(
            name for name in set(stored.get("shapes", {})) | set(wanted["shapes"])
            if stored.get("shapes", {}).get(name) != wanted["shapes"].get(name)
        )
        raise CheckpointError(f"{path} holds tensors of other shapes than {wanted['class']}: {', '.join(differ[:5])}")
    stored_config, wanted_config = payload.get("config", {}), dict(config or {})
    differences = [
        f"{key} {stored_config.get(key)!r} (checkpoint) vs {wanted_config.get(key)!r} (this run)"
        for key in settings
        if stored_config.get(key) != wanted_config.get(key)
    ]
    if differences:
        raise CheckpointError(
            f"{path} was trained with other settings: {'; '.join(differences)}. "
            "Use another output folder, or delete the file to retrain"
        )
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return payload
