"""Checkpoints that never lose work and never load into the wrong model.

Explained in the appendix :chapter:`Performance <book/performance>` (*Nothing is lost*).

* Written atomically (:func:`atomic_write`): to a temporary file beside the target,
  flushed to disk, moved into place; an interrupted write leaves the previous file.
* Self-describing: the model class, its ``constructor_args()``, every parameter's shape,
  the training configuration, the learning curves and the versions.
* Loaded with ``torch.load(..., weights_only=True)`` (no code runs from the file) and
  verified: a SHA-256 checksum over tensors and metadata, the structure written, finite
  weights, then the architecture and the training settings that must match.
* Loadable: a save that would not load back (a value that is not plain Python, NaN
  weights) is refused before anything is written, and a failed write (a full disk, a
  file-size limit, Ctrl-C) says why in one line, leaving the previous file as it was.

Output folders get the same care: :func:`writable_folder` finds an unusable location
before any work, :func:`folder_lock` keeps a second run out, and
:func:`remove_stale_temporaries` clears what killed writes left behind.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

import filelock
import torch
from torch import nn

from cvae import __version__

CHECKPOINT_FORMAT = 2  # 2: with a SHA-256 checksum
ENTRIES = ("format", "architecture", "state_dict", "config", "history", "versions")
PLAIN = (type(None), bool, int, float, str)  # with lists, tuples, str-keyed dicts
TEMPORARY_SUFFIX = ".cvae-tmp"  # atomic_write's files; a reader's own *.tmp are kept
_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}" + re.escape(TEMPORARY_SUFFIX))


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used (damaged, another architecture or other settings) or
    cannot be written (it would not load back, or the write failed)."""


class FolderInUse(RuntimeError):
    """Another process holds the output folder's lock (see :func:`folder_lock`)."""


def writable_folder(name: str, folder: str | Path) -> Path:
    """Create ``folder`` if needed and write a probe file in it; a ValueError naming
    ``name`` if that fails."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.NamedTemporaryFile(dir=folder, prefix=".probe.").close()
    except OSError as error:
        problem = (
            f"cannot write to the folder {str(folder)!r} ({error.strerror or error})"
        )
        if isinstance(error, FileExistsError):
            problem = f"{str(folder)!r} is a file, not a folder"
        raise ValueError(f"{name}: {problem}; pick another folder") from None
    return folder


def writable_file(name: str, path: str | Path) -> Path:
    """Require a file name (not a folder) in a folder that can be written."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{name}: {str(path)!r} is a folder; give a file name")
    writable_folder(name, path.parent)
    return path


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[Path]:
    """Hold ``<folder>/.lock`` for the block (``filelock``: the operating system's lock,
    which dies with its process); a second holder gets :class:`FolderInUse`."""
    try:
        with filelock.FileLock(folder / ".lock", timeout=0):
            yield folder
    except filelock.Timeout:
        raise FolderInUse(
            f"another run is using {folder} (it holds {folder / '.lock'}); wait for it "
            "to finish, or give another output folder"
        ) from None


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the files that killed :func:`atomic_write` calls left; call it only while
    holding the folder's lock (a running writer's file looks the same)."""
    stale = [
        p for p in folder.iterdir() if _TEMPORARY.fullmatch(p.name) and p.is_file()
    ]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb", **open_args) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success flush it to disk and move it
    into place with the permissions the user's umask gives new files. If the block
    raises, ``path`` keeps its previous content."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"path {str(path)!r} is a folder; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    names = {"prefix": f".{path.name}.", "suffix": TEMPORARY_SUFFIX, "dir": path.parent}
    handle, temporary = tempfile.mkstemp(**names)
    try:
        with os.fdopen(handle, mode, **open_args) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def architecture(model: nn.Module) -> dict:
    """What must match for weights to mean the same: class, constructor arguments,
    parameter shapes."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    args = model.constructor_args() if hasattr(model, "constructor_args") else None
    shapes = {name: list(t.shape) for name, t in model.state_dict().items()}
    return {"class": type(model).__name__, "args": args, "shapes": shapes}


def checksum(payload: Mapping) -> str:
    """SHA-256 of a checkpoint's content: the other entries as JSON with sorted keys,
    then every tensor (name, dtype, shape, bytes) in name order."""
    digest = hashlib.sha256()
    metadata = {k: v for k, v in payload.items() if k not in ("state_dict", "checksum")}
    digest.update(json.dumps(metadata, sort_keys=True).encode())
    for name in sorted(payload["state_dict"]):
        tensor = payload["state_dict"][name]
        digest.update(f"\n{name} {tensor.dtype} {list(tensor.shape)}\n".encode())
        digest.update(
            tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy()
        )
    return digest.hexdigest()


def _problem(payload: dict) -> str | None:
    """Why ``payload`` would not load back, or None."""
    weights = _non_finite(payload["state_dict"])
    plain = _not_plain({k: v for k, v in payload.items() if k != "state_dict"})
    return plain or (
        f"the weights hold NaN or infinite values ({weights})" if weights else None
    )


def save_checkpoint(
    path, model: nn.Module, *, config=None, history=None, **extra
) -> Path:
    """Write ``model``'s weights with its architecture, ``config``, ``history``, the
    ``extra`` entries and the versions, atomically.

    Raises :class:`CheckpointError` (one line; ``path`` keeps its previous content) when
    the file would not load back (a value that is not plain Python, an ``extra`` entry
    named like the checkpoint's own, NaN weights) or the write failed (no space left, a
    file-size limit), and ``KeyboardInterrupt`` after Ctrl-C during the write.
    """
    path, python = Path(path), sys.version.split()[0]
    versions = {"torch": str(torch.__version__), "cvae": __version__, "python": python}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "architecture": architecture(model),
        "state_dict": {k: t.detach().cpu() for k, t in model.state_dict().items()},
        "config": dict(config or {}),
        "history": dict(history or {}),
        "versions": versions,
    }
    kept = f"{path} keeps its previous content" if path.exists() else "nothing written"
    taken = [f"the extra entry {k!r} would replace the checkpoint's own" for k in extra
             if k in (*payload, "checksum")]  # fmt: skip
    problem = taken[0] if taken else _problem({**payload, **extra})
    if problem is not None:
        raise CheckpointError(f"cannot save {path}: {problem} ({kept})")
    payload.update(extra, checksum=checksum({**payload, **extra}))
    try:
        with atomic_write(path) as file:
            torch.save(payload, file)
    except (OSError, RuntimeError) as error:
        # torch.save reports a failed write as RuntimeError("unexpected pos ..."), with
        # the write's own error (a full disk, Ctrl-C) as its context.
        cause = error
        while isinstance(cause, RuntimeError) and cause.__context__ is not None:
            cause = cause.__context__
        if isinstance(cause, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        if not isinstance(cause, OSError) or cause.errno is None:
            raise
        reason = cause.strerror[:1].lower() + cause.strerror[1:]
        if cause.errno == errno.ENOSPC:
            free = os.statvfs(path.parent)
            reason += (
                f" ({free.f_bavail * free.f_frsize // 1024} kB free in {path.parent})"
            )
        elif cause.errno == errno.EFBIG:
            reason += " (larger than this process's file-size limit, ulimit -f)"
        message = f"cannot write the checkpoint {path}: {reason} ({kept})"
        raise CheckpointError(message) from None
    return path


def _not_plain(value: object, where: str = "") -> str | None:
    """Where ``value`` holds something other than :data:`PLAIN` values, or None: only
    those load with ``weights_only`` and sort in the checksum's JSON."""
    kind = type(value)
    if kind is dict:
        for key in (key for key in value if type(key) is not str):
            return f"{where} has the key {key!r}, a {type(key).__name__}, not a string"
        items = [(f"{where}[{k!r}]" if where else k, v) for k, v in value.items()]
    elif kind in (list, tuple):
        items = [(f"{where}[{i}]", v) for i, v in enumerate(value)]
    elif kind in PLAIN:
        return None
    else:
        module = "" if kind.__module__ == "builtins" else f"{kind.__module__}."
        return (
            f"{where} is a {module}{kind.__name__}, not a plain value; a checkpoint "
            "holds None, bool, int, float, str and lists, tuples and str-keyed dicts "
            "of them: convert it"
        )
    return next(filter(None, (_not_plain(item, name) for name, item in items)), None)


def _non_finite(state: Mapping[str, torch.Tensor]) -> str:
    """The names of the floating tensors of ``state`` holding NaN or infinite values."""
    floating = [(k, t) for k, t in state.items() if t.is_floating_point()]
    return ", ".join([k for k, t in floating if not t.isfinite().all()][:5])


def _shape_differences(shapes: Mapping[str, list], wanted: Mapping[str, list]) -> str:
    names = set(shapes) | set(wanted)
    return ", ".join(sorted(n for n in names if shapes.get(n) != wanted.get(n))[:5])


def _structure_problem(payload: object) -> str | None:
    """What makes ``payload`` something other than a checkpoint of this format."""
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        return f"format {isinstance(payload, dict) and payload.get('format')!r}"
    missing = [repr(k) for k in (*ENTRIES[1:], "checksum") if k not in payload]
    if missing:
        return f"no {', '.join(missing)} entry"
    arch, state = payload["architecture"], payload["state_dict"]
    if not isinstance(arch, dict) or not isinstance(arch.get("shapes"), dict):
        return "its 'architecture' is not a dict with 'shapes'"
    if not isinstance(state, dict) or not all(
        type(k) is str and isinstance(t, torch.Tensor) and t.layout == torch.strided
        for k, t in state.items()
    ):
        return "its 'state_dict' is not a dict of named dense tensors"
    if not all(isinstance(payload[key], dict) for key in ("config", "history")):
        return "its 'config' or 'history' is not a dict"
    problem = _not_plain({k: v for k, v in payload.items() if k != "state_dict"})
    shapes = {name: list(t.shape) for name, t in state.items()}
    if problem is None and shapes != arch["shapes"]:
        differ = _shape_differences(shapes, arch["shapes"])
        return f"its weights are not those its 'architecture' lists ({differ})"
    return problem


def _describe(arch: Mapping) -> str:
    if not isinstance(arch.get("args"), dict):
        return f"{arch.get('class')} with {len(arch['shapes'])} tensors"
    return f"{arch['class']}({', '.join(f'{k}={v}' for k, v in arch['args'].items())})"


def read_checkpoint(path, model: nn.Module, *, config=None, settings=()) -> dict:
    """The verified payload of ``path``, checked against ``model`` (not loaded into it).

    Raises :class:`CheckpointError`, one line naming the file and what is wrong, when
    it is a folder, unreadable, of another structure, damaged (checksum), holds weights
    that are not finite, another class, constructor arguments or parameter shapes, or
    values of ``settings`` (keys of the ``config`` dict) other than this run's.
    """
    path, wanted = Path(path), architecture(model)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file; move it")
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r}: no checkpoint file there")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load's messages run to many lines: keep the gist
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).split(
            "Check the documentation"
        )
        text = text[0].replace("WeightsUnpickler error:", "\0weights-only:").split("\0")
        gist = " ".join(text[-1].split())[:200]
        kind = type(error).__name__
        problem = f"is not a readable checkpoint ({kind}: {gist}); {_RETRAIN}"
    else:
        problem = _mismatch(payload, wanted, dict(config or {}), settings)
    if problem is not None:
        raise CheckpointError(f"{path} {problem}")
    return payload


_RETRAIN = "delete it to retrain"


def _mismatch(payload: object, wanted: dict, config: dict, settings: Sequence[str]):
    """What makes ``payload`` unusable for a model of architecture ``wanted`` trained
    with ``config``, or None."""
    problem = _structure_problem(payload)
    if problem is not None:
        return f"is not a checkpoint of this book (format 2): {problem}; {_RETRAIN}"
    if payload["checksum"] != checksum(payload):
        return (
            "is damaged: its content does not match its SHA-256 checksum (changed "
            f"bytes or an incomplete copy); {_RETRAIN}"
        )
    broken = _non_finite(payload["state_dict"])
    if broken:
        return f"holds NaN or infinite weights ({broken}); {_RETRAIN}"
    stored = payload["architecture"]
    if stored.get("class") != wanted["class"] or stored.get("args") != wanted["args"]:
        return (
            f"holds a different architecture: {_describe(stored)}, but this run "
            f"builds {_describe(wanted)}. Use another file or output folder, or delete "
            "this one"
        )
    if stored["shapes"] != wanted["shapes"]:
        differ = _shape_differences(stored["shapes"], wanted["shapes"])
        return f"holds tensors of other shapes than {wanted['class']}: {differ}"
    stored = payload["config"]
    differ = [
        f"{key} {stored.get(key)!r} (checkpoint) vs {config.get(key)!r} (this run)"
        for key in settings
        if stored.get(key) != config.get(key)
    ]
    if differ:
        return (
            f"was trained with other settings: {'; '.join(differ)}. Use another output "
            "folder, or delete the file to retrain"
        )
    return None


def load_checkpoint(path, model: nn.Module, *, config=None, settings=()) -> dict:
    """Load ``path`` into ``model`` (built with the intended architecture), leave it in
    evaluation mode and return the payload; the checks and errors of
    :func:`read_checkpoint`."""
    payload = read_checkpoint(path, model, config=config, settings=settings)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return payload
