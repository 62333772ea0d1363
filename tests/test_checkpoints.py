"""Checkpoints: what is written loads back or is refused; what is damaged or another
model's is refused in one line; a failed write keeps the previous file."""

import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import cvae
from cvae.run.checkpoints import (
    CheckpointError,
    architecture,
    atomic_write,
    checksum,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
)
from cvae.structured import Baseline
from cvae.vae import VAE


def linear(seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(4, 3)


def test_round_trip_restores_weights_config_history_and_versions(tmp_path):
    model, copy = VAE(2, (8,)), VAE(2, (8,))
    config, history = {"seed": 3}, {"best_epoch": 2}
    path = save_checkpoint(
        tmp_path / "v.pt", model, config=config, history=history, x=1
    )
    payload = load_checkpoint(path, copy, config=config, settings=["seed"])
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.parameters(), copy.parameters(), strict=True)
    )
    assert payload["config"] == config and payload["history"] == history
    assert payload["x"] == 1 and payload["architecture"] == architecture(model)
    assert payload["versions"]["torch"] == str(torch.__version__) and not copy.training


def changed(change, resign=True):
    """A checkpoint of ``linear()`` changed by ``change``, with a valid checksum."""

    def make(path: Path) -> Path:
        payload = torch.load(save_checkpoint(path, linear()), weights_only=True)
        change(payload)
        if resign and isinstance(payload.get("state_dict"), dict):
            payload["checksum"] = checksum(payload)
        torch.save(payload, path)
        return path

    return make


def flipped(path: Path) -> Path:
    """One weight's byte flipped: the file still unpickles."""
    data = bytearray(save_checkpoint(path, linear()).read_bytes())
    data[bytes(data).find(linear().weight.detach().numpy().tobytes()[:16]) + 1] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


class Payload:
    """Not a tensor or a plain value: weights-only loading refuses to build it."""


def saved(model, content=None, **entries):
    def make(path: Path) -> Path:
        if content is None:
            return save_checkpoint(path, model, **entries)
        torch.save(content, path) if content != b"" else path.write_bytes(b"junk")
        return path

    return make


def nan(payload):
    payload["state_dict"]["bias"].fill_(float("nan"))


M = linear()  # a model to load into
FORMAT = r"is not a checkpoint of this book \(format 2\): "
CASES = [
    (saved(Baseline(1, (4,))), Baseline(1, (8,)), r"holds a different architecture: "
     r"Baseline\(num_given=1, hidden_dims=\[4\]\), but this run builds "
     r"Baseline\(num_given=1, hidden_dims=\[8\]\). Use another file or output folder"),
    (saved(VAE(2, (8,))), VAE(3, (8,)), "other shapes than VAE: decoder.net.0"),
    (saved(VAE(2, (8,))), nn.Linear(2, 2), "VAE with .* but this run builds Linear"),
    (saved(M, config={"epochs": 1}), M,
     r"trained with other settings: epochs 1 \(checkpoint\) vs 2 \(this run\)"),
    (saved(0, {"object": Payload()}), M, "not a readable .*weights-only"),
    (saved(0, b""), M, r"is not a readable checkpoint \(error: unpack"),
    (saved(0, {"weights": torch.zeros(2)}), M, FORMAT + "format None"),
    (flipped, linear(1), r"is damaged: .*SHA-256 checksum.*delete it to retrain"),
    (changed(lambda p: p["config"].update(epochs=2), resign=False), M, "damaged"),
    (changed(nan), M, r"holds NaN or infinite weights \(bias\); delete it"),
    (changed(lambda p: p.pop("architecture")), M, FORMAT + "no 'architecture'"),
    (changed(lambda p: p.pop("state_dict")), M, FORMAT + "no 'state_dict'"),
    (changed(lambda p: p.update(architecture=[1])), M, "'architecture' is not"),
    (changed(lambda p: p.update(config=[1])), M, "'config' or 'history' is not"),
    (changed(lambda p: p.update(format=1)), M, FORMAT + "format 1"),
    (changed(lambda p: p["state_dict"].pop("bias")), M,
     r"its weights are not those its 'architecture' lists \(bias\)"),
    (changed(lambda p: p["config"].update(k={1: 2})), M, "has the key 1, a int"),
    (lambda path: path.mkdir() or path, M, "m.pt is a folder, not a checkpoint"),
]  # fmt: skip


@pytest.mark.parametrize("make, model, problem", CASES)
def test_loading_refuses_what_is_not_this_models_checkpoint(
    tmp_path, make, model, problem
):
    path = make(tmp_path / "m.pt")
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path, model, config={"epochs": 2}, settings=["epochs"])
    assert "\n" not in str(caught.value) and str(caught.value).startswith(str(path))
    assert caught.match(problem)


PLAIN = "a checkpoint holds None, bool, int, float, str and lists, tuples and str-keyed"


@pytest.mark.parametrize(
    "entries, problem",
    [
        ({"config": {"out": Path("r")}}, f"config['out'] is a pathlib.PosixPath, not a "
         f"plain value; {PLAIN}"),
        ({"config": {"rates": [np.logspace(-3, -1, 3)[0]]}}, "config['rates'][0] is a "
         "numpy.float64"),
        ({"format": 3}, "the extra entry 'format' would replace the checkpoint's own"),
        ({"checksum": "0"}, "the extra entry 'checksum' would replace"),
        ({}, "the weights hold NaN or infinite values (bias)"),
    ],
)  # fmt: skip
def test_what_would_not_load_back_is_refused_before_writing(tmp_path, entries, problem):
    path = save_checkpoint(tmp_path / "m.pt", linear())
    before, model = path.read_bytes(), linear(1)
    if not entries:
        with torch.no_grad():
            model.bias[1] = float("nan")
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(path, model, **entries)
    assert str(caught.value).startswith(f"cannot save {path}: {problem}")
    assert str(caught.value).endswith(f"({path} keeps its previous content)")
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


def test_bad_paths_and_models_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint file there"):
        load_checkpoint(tmp_path / "missing.pt", linear())
    with pytest.raises(IsADirectoryError, match="is a folder; give a file name"):
        save_checkpoint(tmp_path, linear())
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got dict"):
        save_checkpoint(tmp_path / "x.pt", {"w": torch.zeros(1)})


def test_written_files_get_the_users_umask_not_0600(tmp_path):
    previous = os.umask(0o027)
    try:
        path = save_checkpoint(tmp_path / "m.pt", linear())
        with atomic_write(tmp_path / "r.csv", "w") as file:
            file.write("x\n")
    finally:
        os.umask(previous)
    assert {p.stat().st_mode & 0o777 for p in (path, tmp_path / "r.csv")} == {0o640}


def test_leftover_temporary_files_are_removed_and_a_readers_own_kept(tmp_path):
    stale = [
        tmp_path / ".r.csv.ab_c1234.cvae-tmp",
        tmp_path / ".q.pt.k2j4h5g6.cvae-tmp",
    ]
    kept = [tmp_path / "notes.tmp", tmp_path / ".x.tmp", tmp_path / ".n.abcdefgh.tmp"]
    for path in stale + kept:
        path.write_text("x")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert sorted(tmp_path.iterdir()) == sorted(kept)


def test_a_file_size_limit_is_one_line_keeping_the_previous_checkpoint(tmp_path):
    """The quota case: a child whose writes stop at 16 kB (RLIMIT_FSIZE, ulimit -f)."""
    path = save_checkpoint(tmp_path / "m.pt", linear())
    before = path.read_bytes()
    code = (
        "import sys, torch, cvae.run.checkpoints as c\n"
        "try: c.save_checkpoint(sys.argv[1], torch.nn.Linear(100, 100))\n"
        "except c.CheckpointError as error: print(error)"
    )
    limit = (16 * 1024, 16 * 1024)
    child = subprocess.run(  # Python ignores SIGXFSZ: the write fails with EFBIG
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True,
        cwd=Path(cvae.__file__).parents[1], timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, limit),
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    assert child.stdout == (
        f"cannot write the checkpoint {path}: file too large (larger than this "
        f"process's file-size limit, ulimit -f) ({path} keeps its previous content)\n"
    )
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]
