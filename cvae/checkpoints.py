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
* Verified: a SHA-256 checksum over the tensors and the metadata is stored with them and
  checked on loading, so a file with flipped bytes is refused instead of loaded; so are
  weights that are NaN or infinite, and files whose structure is not the one written.
* Loadable: what is written loads back. A save that could not (a value that is not a
  plain Python one, NaN weights) is refused before anything is written, and a write that
  fails (a full disk, a file-size limit, Ctrl-C) says why in one line, leaving the
  previous file as it was.

The output folders of long runs get the same care: :func:`writable_folder` and
:func:`writable_file` find an unusable location before any work, :func:`folder_lock`
keeps a second run out of a folder in use, and :func:`remove_stale_temporaries` clears
what killed writes left behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
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

CHECKPOINT_FORMAT = 2  # 2: with a SHA-256 checksum
ENTRIES = ("format", "architecture", "state_dict", "config", "history", "versions", "checksum")
PLAIN = (type(None), bool, int, float, str)  # with lists, tuples and string-keyed dicts of them
LOCK_FILE = ".lock"
TEMPORARY_SUFFIX = ".cvae-tmp"  # marks atomic_write's files: a reader's own *.tmp files are never touched
_TEMPORARY = re.compile(r"\..+\.[a-z0-9_]{8}" + re.escape(TEMPORARY_SUFFIX))  # the names mkstemp gives


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used (unreadable, damaged, made for another architecture or other
    settings) or cannot be written (it would not load back, or the write failed)."""


class FolderInUse(RuntimeError):
    """Another process holds the output folder's lock (see :func:`folder_lock`)."""


def writable_folder(name: str, folder: str | Path) -> Path:
    """Create ``folder`` if needed and write a probe file in it; a ValueError naming ``name`` if that fails."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe."):
            pass
    except FileExistsError:
        raise ValueError(f"{name}: {str(folder)!r} is a file, not a folder; pick another folder") from None
    except OSError as error:
        raise ValueError(
            f"{name}: cannot write to the folder {str(folder)!r} ({error.strerror or error}); pick another folder"
        ) from None
    return folder


def writable_file(name: str, path: str | Path) -> Path:
    """Check that ``path`` names a file (not a folder) in a folder that can be written; a ValueError otherwise."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{name}: {str(path)!r} is a folder; give a file name")
    writable_folder(name, path.parent)
    return path


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[Path]:
    """Hold ``<folder>/.lock`` for the block: a second run on the same folder gets :class:`FolderInUse`.

    The lock is the operating system's (``flock``): it ends with the process holding it,
    so a killed run never leaves the folder locked.
    """
    folder = Path(folder)
    with open(folder / LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderInUse(
                f"another run is using {folder} (it holds {folder / LOCK_FILE}); "
                "wait for it to finish, or give another output folder"
            ) from None
        try:
            yield folder
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files of :func:`atomic_write` that killed writes left in ``folder``; return them.

    Call it only while holding the folder's lock: a running writer's file looks the same.
    """
    stale = [path for path in Path(folder).iterdir() if _TEMPORARY.fullmatch(path.name) and path.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb", **open_args: object) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; on success flush it to disk and move it into place.

    If the block raises, the temporary file is removed and ``path`` keeps its previous
    content. The file gets the permissions the user's umask gives new files (not the
    temporary file's 0600). Used for checkpoints, the quadrant results and the benchmark's JSON.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"path {str(path)!r} is a folder; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(handle, mode, **open_args) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
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

    ``config``, ``history`` and any ``extra`` entry must hold plain Python values (None,
    bool, int, float, str, and lists, tuples and string-keyed dicts of them), which is
    what ``weights_only`` loading accepts; the weights must be finite.

    Raises:
        CheckpointError: the file would not load back (a value that is not plain, an
            ``extra`` entry named like one of the checkpoint's own, NaN or infinite
            weights), or writing it failed (no space left, a file-size limit ...). The
            one-line message says which; ``path`` keeps its previous content.
        KeyboardInterrupt: Ctrl-C during the write; ``path`` keeps its previous content.
    """
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "architecture": architecture(model),
        "state_dict": {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()},
        "config": dict(config or {}),
        "history": dict(history or {}),
        "versions": {"torch": str(torch.__version__), "cvae": cvae.__version__, "python": sys.version.split()[0]},
    }
    problem = _unloadable(payload, extra)
    if problem is not None:
        raise CheckpointError(f"cannot save {path}: {problem} ({_unchanged(path)})")
    payload.update(extra)
    payload["checksum"] = checksum(payload)
    try:
        with atomic_write(path) as file:
            torch.save(payload, file)
    except (OSError, RuntimeError) as error:
        cause = _write_error(error)
        if isinstance(cause, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        if not isinstance(cause, OSError) or cause.errno is None:
            raise
        raise CheckpointError(
            f"cannot write the checkpoint {path}: {_system_reason(cause, path.parent)} "
            f"({_unchanged(path)})"
        ) from None
    return path


def _not_plain(value: object, where: str = "") -> str | None:
    """Where ``value`` holds something other than plain Python values (see :data:`PLAIN`), or None.

    Only those load with ``weights_only`` and sort in the checksum's JSON; a NumPy scalar
    or a ``Path`` does neither, and a bit flipped in a file can turn a key into a tuple.
    """
    if type(value) in (list, tuple):
        items = enumerate(value)
    elif type(value) is dict:
        keys = [key for key in value if type(key) is not str]
        if keys:
            where = where or "the checkpoint"
            return f"{where} has the key {keys[0]!r}, a {_type(keys[0])}, not a string"
        items = value.items()
    else:
        return None if type(value) in PLAIN else f"{where} is a {_type(value)}, not a plain value"
    for key, item in items:
        problem = _not_plain(item, f"{where}[{key!r}]" if where else key)
        if problem is not None:
            return problem
    return None


def _type(value: object) -> str:
    """The name of ``value``'s type, with its module unless built in: ``numpy.float64``."""
    kind = type(value)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


def _non_finite(state: Mapping[str, torch.Tensor]) -> list[str]:
    """The names of the floating tensors of ``state`` that hold NaN or infinite values."""
    return [name for name, tensor in state.items()
            if tensor.is_floating_point() and not bool(tensor.isfinite().all())]


def _unloadable(payload: dict, extra: Mapping[str, object]) -> str | None:
    """Why ``payload`` with the ``extra`` entries would not load back, or None."""
    taken = [key for key in extra if key in ENTRIES]
    if taken:
        return (f"the extra entry {taken[0]!r} would replace the checkpoint's own (its entries: "
                f"{', '.join(ENTRIES)}); give it another name")
    problem = _not_plain({key: value for key, value in {**payload, **extra}.items()
                          if key != "state_dict"})
    if problem is not None:
        return (f"{problem}; a checkpoint holds None, bool, int, float, str and lists, tuples "
                "and string-keyed dicts of them (what weights-only loading accepts): convert it, "
                "with float() or str() for example")
    broken = _non_finite(payload["state_dict"])
    if broken:
        return (f"the model's weights hold NaN or infinite values ({', '.join(broken[:5])}), "
                "which loading refuses")
    return None


def _unchanged(path: Path) -> str:
    return f"{path} keeps its previous content" if path.exists() else "nothing was written"


def _write_error(error: BaseException) -> BaseException:
    """What stopped a write: ``torch.save`` reports a failed write of its zip writer as a
    ``RuntimeError`` ("unexpected pos"), with the write's own error (a full disk, Ctrl-C) as
    its context."""
    while isinstance(error, RuntimeError) and error.__context__ is not None:
        error = error.__context__
    return error


def _system_reason(error: OSError, folder: Path) -> str:
    """The operating system's reason in words, with the free space when it is full."""
    reason = error.strerror[:1].lower() + error.strerror[1:]
    if error.errno == errno.ENOSPC and folder.is_dir():
        stats = os.statvfs(folder)
        return f"{reason} ({stats.f_bavail * stats.f_frsize // 1024} kB free in {folder})"
    if error.errno == errno.EFBIG:
        return f"{reason} (larger than this process's file-size limit, ulimit -f)"
    return reason


def checksum(payload: Mapping) -> str:
    """SHA-256 of a checkpoint's content: every tensor (name, dtype, shape, bytes) and the other entries.

    The tensors go in name order and the other entries as JSON with sorted keys, so the
    same content always gives the same digest; the ``"checksum"`` entry itself is left out.
    """
    digest = hashlib.sha256()
    metadata = {key: value for key, value in payload.items() if key not in ("state_dict", "checksum")}
    digest.update(json.dumps(metadata, sort_keys=True).encode())
    for name in sorted(payload["state_dict"]):
        tensor = payload["state_dict"][name].detach().cpu().contiguous().reshape(-1)
        digest.update(f"\n{name} {tensor.dtype} {list(payload['state_dict'][name].shape)}\n".encode())
        digest.update(tensor.view(torch.uint8).numpy())
    return digest.hexdigest()


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


def _structure_problem(payload: object) -> str | None:
    """What makes ``payload`` something other than a checkpoint of this format, or None."""
    if not isinstance(payload, dict):
        return f"it holds a {type(payload).__name__}, not a dict"
    if payload.get("format") != CHECKPOINT_FORMAT:
        return f"format {payload.get('format')!r}"
    missing = [key for key in ("architecture", "state_dict", "config", "history", "checksum") if key not in payload]
    if missing:
        return f"no {', '.join(repr(key) for key in missing)} entry"
    arch, state = payload["architecture"], payload["state_dict"]
    if not (isinstance(arch, dict) and isinstance(arch.get("shapes"), dict)
            and (arch.get("args") is None or isinstance(arch.get("args"), dict))):
        return "its 'architecture' is not a dict with 'shapes' and 'args'"
    if not isinstance(state, dict) or not all(
        type(name) is str and isinstance(tensor, torch.Tensor) and tensor.layout == torch.strided
        for name, tensor in state.items()
    ):
        return "its 'state_dict' is not a dict of named dense tensors"
    if not isinstance(payload["config"], dict) or not isinstance(payload["history"], dict):
        return "its 'config' or 'history' is not a dict"
    problem = _not_plain({key: value for key, value in payload.items() if key != "state_dict"})
    if problem is not None:
        return problem
    shapes = {name: list(tensor.shape) for name, tensor in state.items()}
    if shapes != arch["shapes"]:
        differ = ", ".join(_differences(shapes, arch["shapes"]))
        return f"its weights are not those its 'architecture' lists ({differ})"
    return None


def _differences(shapes: Mapping[str, list], wanted: Mapping[str, list]) -> list[str]:
    """The first five tensor names whose shapes differ (or that only one side has), in order."""
    names = set(shapes) | set(wanted)
    return sorted(name for name in names if shapes.get(name) != wanted.get(name))[:5]


def _read(path: Path) -> dict:
    """The verified payload of ``path``: readable, of this format, matching its checksum, finite weights."""
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file; move it away (or delete it) to retrain")
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r}: no checkpoint file there")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(error).__name__}: {_reason(error)}); "
            "delete it to retrain this model"
        ) from None
    problem = _structure_problem(payload)
    if problem is not None:
        raise CheckpointError(
            f"{path} is not a checkpoint of this book (format {CHECKPOINT_FORMAT}): {problem}; delete it to retrain"
        )
    if payload["checksum"] != checksum(payload):
        raise CheckpointError(
            f"{path} is damaged: its content does not match its SHA-256 checksum (changed bytes or an "
            "incomplete copy); delete it to retrain"
        )
    broken = _non_finite(payload["state_dict"])
    if broken:
        raise CheckpointError(f"{path} holds NaN or infinite weights ({', '.join(broken[:5])}); delete it to retrain")
    return payload


def read_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    config: Mapping | None = None,
    settings: Sequence[str] = (),
) -> dict:
    """The verified payload of ``path``, checked against ``model`` but not loaded into it.

    The checks of :func:`load_checkpoint`, which raises the same errors; ``model`` is
    left as it is.
    """
    path = Path(path)
    wanted = architecture(model)
    payload = _read(path)
    stored = payload["architecture"]
    if stored.get("class") != wanted["class"] or stored.get("args") != wanted["args"]:
        raise CheckpointError(
            f"{path} holds a different architecture: {_describe(stored)}, but this run builds "
            f"{_describe(wanted)}. Use another file or output folder, or delete this one to retrain"
        )
    if stored["shapes"] != wanted["shapes"]:
        raise CheckpointError(
            f"{path} holds tensors of other shapes than {wanted['class']}: "
            f"{', '.join(_differences(stored['shapes'], wanted['shapes']))}"
        )
    stored_config, wanted_config = payload["config"], dict(config or {})
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
    return payload


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
        CheckpointError: the file cannot be read as a checkpoint (or is a folder); or
            its content does not match its checksum or its structure is not the one
            written (a missing entry, weights of other shapes than it lists); or its
            weights are not finite; or it holds another model class, constructor
            arguments or parameter shapes; or other values of ``settings``. The
            one-line message names the file and what is wrong.
    """
    payload = read_checkpoint(path, model, config=config, settings=settings)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return payload
