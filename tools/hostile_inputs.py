"""Hostile inputs against the package's command lines and API, on a tiny configuration: one table of outcomes.

Run from the repository root::

    python tools/hostile_inputs.py

Each case feeds one bad input (a damaged checkpoint, an unusable output folder, corrupt
MNIST files, a wrong switch, Ctrl-C, a killed run ...) and prints what came of it:

* ``clear error``: one ``error:`` line and exit status 2 (130 after Ctrl-C) from a command
  line, or one exception of the expected type with a one-line message from the API;
* ``worked``: the input is legitimate and the result is right (rows kept, run resumed ...);
* ``BAD: ...``: a traceback, another exception, a multi-line message, or a wrong result.

The exit status is 1 when any case is BAD. It takes about a minute on 2 CPU cores
(two cases run the command line in a child process).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

import cvae.data
import cvae.experiments.quadrants as quadrants
from cvae import bench
from cvae.checkpoints import checksum
from cvae.data import Batches, DataUnavailableError, DigitData, check_labels, load_digits
from cvae.training import TrainingDiverged, TrainingInterrupted, fit

TINY = ["--data", "sample", "--limit", "200", "--epochs", "1", "--samples", "5", "--hidden", "16", "--latent", "2",
        "--particles", "2", "--no-progress"]
WORK = Path(tempfile.mkdtemp(prefix="hostile-"))
Outcome = tuple[str, str]  # (outcome, detail)


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """``os.environ`` with ``values`` set for the block (CVAE_DEVICE=cpu unless given)."""
    saved = dict(os.environ)
    os.environ.update({"CVAE_DEVICE": "cpu", **values})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def cli(main: Callable[[list[str]], int], argv: list[str], **env: str) -> tuple[int | str, str, str]:
    """Run a command line's ``main`` in this process; a traceback shows as the status ``"raised"``."""
    out, err = io.StringIO(), io.StringIO()
    with environment(**env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: int | str = main(argv)
        except SystemExit as exit_:
            code = exit_.code
        except BaseException as error:  # what a reader would see as a traceback
            code = "raised"
            err.write(f"Traceback: {type(error).__name__}: {error}\n")
    return code, out.getvalue(), err.getvalue()


def error_line(result: tuple[int | str, str, str], text: str, status: int = 2) -> Outcome:
    """A command line's outcome: one ``error:`` line holding ``text`` with ``status`` is a clear error."""
    code, _, err = result
    lines = [line for line in err.splitlines() if line and not line.startswith("usage:")]
    last = lines[-1] if lines else ""
    if code == "raised":
        return "BAD: traceback", last[:110]
    if code == status and len(lines) == 1 and "error: " in last and text in last:
        return "clear error", last[last.index("error: ") + 7:][:110]
    return f"BAD: exit {code}", (last or "no message")[:110]


def raises(call: Callable[[], object], kind: type[BaseException], text: str) -> Outcome:
    """An API call's outcome: ``kind`` with a one-line message holding ``text`` is a clear error."""
    try:
        call()
    except kind as error:
        message = str(error)
        if text in message and "\n" not in message:
            return "clear error", message[:110]
        return "BAD: unclear message", message[:110]
    except BaseException as error:
        return f"BAD: {type(error).__name__}", str(error).splitlines()[0][:110] if str(error) else ""
    return "BAD: no error", "the call returned"


def unwritable() -> Path | None:
    """A folder that refuses new files (root ignores permission bits, so a sysfs folder then)."""
    folder = WORK / "read-only"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o555)
    for candidate in (folder, Path("/sys/kernel")):
        try:
            (candidate / ".probe").touch()
            (candidate / ".probe").unlink()
        except OSError:
            return candidate
    return None


def inside_unwritable(name: str) -> Path | None:
    folder = unwritable()
    return folder / name if folder is not None else None


def rows(folder: Path) -> list[tuple[str, str, str]]:
    with open(folder / "results.csv", newline="", encoding="utf-8") as file:
        return [(r["model"], r["num_given"], r["nll"]) for r in csv.DictReader(file)]


@functools.cache
def first_run() -> Path:
    """A finished tiny run with 1 and 3 given quadrants, copied by the cases that change it."""
    out = WORK / "first"
    code = cli(quadrants.main, [*TINY, "--quadrants", "1", "3", "--out", str(out)])[0]
    assert code == 0, "the tiny reference run failed"
    return out


def copy_of_first(name: str) -> Path:
    folder = WORK / name
    shutil.copytree(first_run(), folder)
    return folder


def quadrant_cli(folder: Path, *args: str, **env: str) -> tuple[int | str, str, str]:
    return cli(quadrants.main, [*TINY, *args, "--out", str(folder)], **env)


def linear() -> nn.Linear:
    model = nn.Linear(4, 3)
    model.loss_terms = lambda x: {"loss": model(x).sum(1)}
    return model


def tiny_batches() -> Batches:
    return Batches(torch.zeros(4, 4), batch_size=2)


# --------------------------------------------------------------------------- checkpoints


def flipped_checkpoint() -> Outcome:
    folder = copy_of_first("flipped")
    data = bytearray((folder / "cvae-q1.pt").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / "cvae-q1.pt").write_bytes(bytes(data))
    return error_line(quadrant_cli(folder, "--quadrants", "1"), "delete it to retrain")


def rewritten_checkpoint(name: str, change: Callable[[dict], None]) -> Callable[[], Outcome]:
    def case() -> Outcome:
        folder = copy_of_first(name)
        payload = torch.load(folder / "baseline-q1.pt", weights_only=True)
        change(payload)
        payload["checksum"] = checksum(payload) if isinstance(payload.get("state_dict"), dict) else ""
        torch.save(payload, folder / "baseline-q1.pt")
        return error_line(quadrant_cli(folder, "--quadrants", "1"), "delete it to retrain")

    return case


def nan_weights(payload: dict) -> None:
    next(iter(payload["state_dict"].values())).fill_(float("nan"))


def checkpoint_is_a_folder() -> Outcome:
    folder = copy_of_first("folder-checkpoint")
    (folder / "gsnn-q3.pt").unlink()
    (folder / "gsnn-q3.pt").mkdir()
    return error_line(quadrant_cli(folder, "--quadrants", "3"), "is a folder")


# --------------------------------------------------------------------------- output locations


def out_is_a_file() -> Outcome:
    (WORK / "a-file").write_text("x")
    return error_line(quadrant_cli(WORK / "a-file"), "is a file, not a folder")


def out_unwritable() -> Outcome:
    folder = unwritable()
    if folder is None:
        return "skipped", "no folder here refuses new files"
    return error_line(quadrant_cli(folder / "runs"), "cannot write")


def fit_checkpoint_folder() -> Outcome:
    return raises(lambda: fit(linear(), tiny_batches(), epochs=1, progress=False, checkpoint=WORK),
                  ValueError, "checkpoint: ")


def fit_checkpoint_unwritable() -> Outcome:
    folder = unwritable()
    if folder is None:
        return "skipped", "no folder here refuses new files"
    return raises(lambda: fit(linear(), tiny_batches(), epochs=1, progress=False, checkpoint=folder / "m.pt"),
                  ValueError, "checkpoint: cannot write")


def bench_json(target: Callable[[], Path | None], text: str) -> Callable[[], Outcome]:
    def case() -> Outcome:
        path = target()
        if path is None:
            return "skipped", "no folder here refuses new files"

        def never(**kwargs: object) -> None:
            raise AssertionError("the benchmark ran before its --json file was checked")

        original, bench.run = bench.run, never
        try:
            return error_line(cli(bench.main, ["--json", str(path), "--device", "cpu"]), text)
        finally:
            bench.run = original

    return case


# --------------------------------------------------------------------------- results.csv and runs


def other_quadrants_keep_rows() -> Outcome:
    folder = copy_of_first("merge")
    before = rows(folder)
    code = quadrant_cli(folder, "--quadrants", "2")[0]
    after = rows(folder)
    kept = [r for r in after if r[1] != "2"] == before and len(after) == 12
    if code == 0 and kept:
        return "worked", "rows of 1 and 3 kept, 2 added"
    return "BAD: rows lost", f"exit {code}, {len(after)} rows"


def concurrent_run() -> Outcome:
    folder = WORK / "locked"
    folder.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
         "print('locked', flush=True); time.sleep(60)", str(folder / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        holder.stdout.readline()
        return error_line(quadrant_cli(folder, "--quadrants", "3"), "another run is using")
    finally:
        holder.kill()
        holder.wait()


def child_run(folder: Path) -> subprocess.Popen:
    """The command line in a child process, training until stopped; returned once it is training."""
    env = {**os.environ, "CVAE_DEVICE": "cpu", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cvae.experiments.quadrants", *TINY, "--epochs", "100000", "--patience", "0",
         "--quadrants", "2", "--out", str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    watchdog = threading.Timer(120, process.kill)
    watchdog.start()
    for line in process.stdout:
        if line.startswith("data:"):
            break
    watchdog.cancel()
    time.sleep(0.5)
    return process


def ctrl_c() -> Outcome:
    folder = copy_of_first("ctrl-c")
    before = rows(folder)
    process = child_run(folder)
    process.send_signal(signal.SIGINT)
    try:
        code = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        return "BAD: still running", "Ctrl-C did not stop the run"
    outcome = error_line((code, "", process.stderr.read()), "interrupted; rerun to resume", status=130)
    if outcome[0] == "clear error" and rows(folder) != before:
        return "BAD: rows changed", ""
    return outcome


def killed_then_resumed() -> Outcome:
    folder = copy_of_first("killed")
    before = rows(folder)
    process = child_run(folder)
    process.kill()
    process.wait()
    (folder / ".results.csv.abcd1234.tmp").write_text("half")  # what a write killed mid-way leaves
    code, out, _ = quadrant_cli(folder, "--quadrants", "1", "2", "3")
    after = rows(folder)
    resumed = out.count("resumed ") == 8 and not list(folder.glob(".*.tmp"))
    if code == 0 and resumed and [r for r in after if r[1] != "2"] == before:
        return "worked", "lock released, 8 models resumed, q2 trained, leftover .tmp removed"
    return "BAD: not resumed", f"exit {code}, {out.count('resumed ')} resumed"


def umask_respected() -> Outcome:
    previous = os.umask(0o022)
    try:
        code = quadrant_cli(WORK / "umask", "--quadrants", "3")[0]
    finally:
        os.umask(previous)
    modes = {oct(p.stat().st_mode & 0o777) for p in (WORK / "umask").iterdir() if p.name != ".lock"}
    return ("worked", "results and checkpoints 0o644") if code == 0 and modes == {"0o644"} else ("BAD", str(modes))


# --------------------------------------------------------------------------- data


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">i", 0x00000800 | array.ndim) + b"".join(struct.pack(">i", n) for n in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def tiny_mnist(name: str) -> Path:
    root = WORK / name
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, count in (("train", 20), ("t10k", 10)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", np.zeros((count, 28, 28), np.uint8))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(count, dtype=np.uint8) % 10)
    return root


def corrupt(damage: Callable[[Path], None]) -> Callable[[], Outcome]:
    def case() -> Outcome:
        root = tiny_mnist(f"mnist-{damage.__name__}")
        damage(root / "MNIST" / "raw")
        return raises(lambda: load_digits("mnist", root=root, download=True), DataUnavailableError, "Delete it")

    return case


def garbage(raw: Path) -> None:
    (raw / "train-images-idx3-ubyte").write_bytes(os.urandom(1000))


def truncated(raw: Path) -> None:
    (raw / "train-images-idx3-ubyte").write_bytes((raw / "train-images-idx3-ubyte").read_bytes()[:-50])


def empty(raw: Path) -> None:
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"")


def images_10x10(raw: Path) -> None:
    write_idx(raw / "train-images-idx3-ubyte", np.zeros((196, 10, 10), np.uint8))


def label_12(raw: Path) -> None:
    write_idx(raw / "t10k-labels-idx1-ubyte", np.full(10, 12, np.uint8))


def data_root_is_a_file() -> Outcome:
    (WORK / "root-file").write_text("x")
    with environment(CVAE_DATA_ROOT=str(WORK / "root-file")):
        return raises(lambda: load_digits("mnist"), DataUnavailableError, "is a file, not a folder")


def data_root_unwritable() -> Outcome:
    folder = unwritable()
    if folder is None:
        return "skipped", "no folder here refuses new files"
    return raises(lambda: load_digits("mnist", root=folder), DataUnavailableError, "cannot write")


def download_never_answers() -> Outcome:
    import torchvision.datasets.mnist as tv_mnist

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(server.accept()[0]) for _ in range(8)], daemon=True).start()
    mirrors, timeout = tv_mnist.MNIST.mirrors, cvae.data.DOWNLOAD_TIMEOUT
    tv_mnist.MNIST.mirrors, cvae.data.DOWNLOAD_TIMEOUT = [f"http://127.0.0.1:{server.getsockname()[1]}/"], 1.0
    start = time.monotonic()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            outcome = raises(lambda: load_digits("mnist", root=WORK / "silent"), DataUnavailableError, "timed out")
    finally:
        tv_mnist.MNIST.mirrors, cvae.data.DOWNLOAD_TIMEOUT = mirrors, timeout
        for connection in held:
            connection.close()
        server.close()
    return outcome if time.monotonic() - start < 10 else ("BAD: slow", f"{time.monotonic() - start:.0f} s")


def mnist_offline_cli() -> Outcome:
    import torchvision.datasets.mnist as tv_mnist

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    original, tv_mnist.MNIST.download = tv_mnist.MNIST.download, offline
    try:
        return error_line(cli(quadrants.main, ["--data", "mnist", "--no-progress", "--out", str(WORK / "offline")],
                              CVAE_DATA_ROOT=str(WORK / "no-mnist")), "full MNIST is not available")
    finally:
        tv_mnist.MNIST.download = original


# --------------------------------------------------------------------------- labels, switches, training


def labels(dtype: torch.dtype, where: str) -> Callable[[], Outcome]:
    def case() -> Outcome:
        from cvae.classifier import DigitClassifier
        from cvae.label_cvae import LabelCVAE

        y, images = torch.tensor([0, 9, 4], dtype=dtype), torch.rand(3, 1, 28, 28)
        call = {
            "check_labels": lambda: check_labels("labels", y),
            "DigitData": lambda: DigitData("sample", images, y, images, y),
            "LabelCVAE.loss_terms": lambda: LabelCVAE("mlp", latent_dim=2).loss_terms((images > 0.5).float(), y),
            "DigitClassifier.loss_terms": lambda: DigitClassifier().loss_terms(images, y),
        }[where]
        return raises(call, TypeError, ".long()")

    return case


def epochs_from_environment() -> Outcome:
    folder = WORK / "cvae-epochs"
    at = TINY.index("--epochs")
    args = [*TINY[:at], *TINY[at + 2:], "--quadrants", "3", "--patience", "0", "--out", str(folder)]
    code = cli(quadrants.main, args, CVAE_EPOCHS="2")[0]
    stored = torch.load(folder / "baseline-q3.pt", weights_only=True)["config"]["epochs"] if code == 0 else None
    return ("worked", "CVAE_EPOCHS=2 trained 2 epochs") if stored == 2 else ("BAD: ignored", f"epochs {stored}")


def ctrl_c_inside_fit() -> Outcome:
    model, calls = linear(), [0]

    def loss_terms(x: torch.Tensor) -> dict[str, torch.Tensor]:
        calls[0] += 1
        if calls[0] == 4:
            raise KeyboardInterrupt
        return {"loss": model(x).sum(1)}

    model.loss_terms = loss_terms
    return raises(lambda: fit(model, tiny_batches(), epochs=5, progress=False, device="cpu"),
                  TrainingInterrupted, "interrupted in epoch 2")


def diverging_vae() -> Outcome:
    from cvae.vae import VAE

    torch.manual_seed(0)
    digits = (torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.7).float()
    model = VAE(latent_dim=2, hidden_dims=(16,))
    return raises(lambda: fit(model, Batches(digits, batch_size=16), epochs=20, learning_rate=1e3, progress=False,
                              device="cpu"), TrainingDiverged, "smaller learning_rate")


def cases() -> list[tuple[str, Callable[[], Outcome]]]:
    no_cuda = [] if torch.cuda.is_available() else [
        ("CLI: CVAE_DEVICE=cuda without CUDA", lambda: error_line(quadrant_cli(WORK / "x", "--quadrants", "3",
                                                                               CVAE_DEVICE="cuda"), "no CUDA"))]
    return [
        ("checkpoint: flipped byte (CLI)", flipped_checkpoint),
        ("checkpoint: NaN weights, valid checksum (CLI)", rewritten_checkpoint("nan", nan_weights)),
        ("checkpoint: missing 'history' key (CLI)", rewritten_checkpoint("no-key", lambda p: p.pop("history"))),
        ("checkpoint: architecture not a dict (CLI)",
         rewritten_checkpoint("arch", lambda p: p.update(architecture=[1]))),
        ("checkpoint: old format 1 (CLI)", rewritten_checkpoint("format", lambda p: p.update(format=1))),
        ("checkpoint: path is a folder (CLI)", checkpoint_is_a_folder),
        ("--out is a file", out_is_a_file),
        ("--out unwritable", out_unwritable),
        ("fit(checkpoint=<a folder>)", fit_checkpoint_folder),
        ("fit(checkpoint=<unwritable folder>/m.pt)", fit_checkpoint_unwritable),
        ("bench --json <a folder>", bench_json(lambda: WORK, "is a folder")),
        ("bench --json <unwritable folder>/b.json", bench_json(lambda: inside_unwritable("b.json"), "cannot write")),
        ("bench --json <missing folder>/b.json", bench_json(lambda: WORK / "missing" / "b.json", "does not exist")),
        ("--quadrants 2 into a folder with 1 and 3", other_quadrants_keep_rows),
        ("second run on a folder in use", concurrent_run),
        ("Ctrl-C in a CLI run (SIGINT)", ctrl_c),
        ("CLI run killed (SIGKILL), then rerun", killed_then_resumed),
        ("umask 022: file permissions", umask_respected),
        ("MNIST server never answers", download_never_answers),
        ("MNIST offline (CLI)", mnist_offline_cli),
        ("MNIST file: garbage", corrupt(garbage)),
        ("MNIST file: truncated", corrupt(truncated)),
        ("MNIST file: empty", corrupt(empty)),
        ("MNIST file: 10x10 images", corrupt(images_10x10)),
        ("MNIST file: label 12", corrupt(label_12)),
        ("CVAE_DATA_ROOT is a file", data_root_is_a_file),
        ("CVAE_DATA_ROOT unwritable (download needed)", data_root_unwritable),
        *[(f"labels {str(dtype)[6:]}: {where}", labels(dtype, where))
          for dtype in (torch.int32, torch.int16, torch.uint8)
          for where in ("check_labels", "DigitData", "LabelCVAE.loss_terms", "DigitClassifier.loss_terms")],
        ("CLI: CVAE_DEVICE=tpu", lambda: error_line(quadrant_cli(WORK / "x", CVAE_DEVICE="tpu"), "not a device name")),
        *no_cuda,
        *[(f"CLI: CVAE_DEVICE={name}", lambda name=name: error_line(quadrant_cli(WORK / "x", CVAE_DEVICE=name),
                                                                     "cpu or cuda devices only"))
          for name in ("meta", "mps", "xla")],
        ("CLI: --quadrants 1 1", lambda: error_line(quadrant_cli(WORK / "x", "--quadrants", "1", "1"), "once each")),
        ("CLI: CVAE_EPOCHS=abc", lambda: error_line(
            cli(quadrants.main, ["--no-progress", "--out", str(WORK / "x")], CVAE_EPOCHS="abc"), "CVAE_EPOCHS")),
        ("CLI: CVAE_EPOCHS=2 without --epochs", epochs_from_environment),
        *[(f"fit(seed={seed!r})", lambda seed=seed: raises(
            lambda: fit(linear(), tiny_batches(), epochs=1, progress=False, seed=seed), ValueError, "seed must be"))
          for seed in ("abc", 1.5, 2**70)],
        ("fit(device='toaster')", lambda: raises(
            lambda: fit(linear(), tiny_batches(), epochs=1, progress=False, device="toaster"), ValueError, "device")),
        ("fit on data with no batch", lambda: raises(
            lambda: fit(linear(), Batches(torch.zeros(0, 4), batch_size=2), epochs=1, progress=False),
            ValueError, "nothing to train on")),
        ("fit: Ctrl-C in epoch 2", ctrl_c_inside_fit),
        ("fit: VAE at learning_rate=1e3 diverges", diverging_vae),
    ]


def main() -> int:
    quadrants.load_digits = functools.cache(quadrants.load_digits)  # the offline sample, read once
    results = []
    print(f"{'case':<46} | {'outcome':<16} | detail\n{'-' * 46}-+-{'-' * 16}-+-{'-' * 40}")
    try:
        for name, case in cases():
            try:
                outcome, detail = case()
            except BaseException as error:  # the harness's own trouble is a finding too
                outcome, detail = "BAD: harness", f"{type(error).__name__}: {error}"[:110]
            results.append((name, outcome, detail))
            print(f"{name:<46} | {outcome:<16} | {detail}", flush=True)
    finally:
        if (WORK / "read-only").exists():
            (WORK / "read-only").chmod(0o755)
        shutil.rmtree(WORK, ignore_errors=True)
    bad = [name for name, outcome, _ in results if outcome.startswith("BAD")]
    print(f"\n{len(results)} cases: {len(results) - len(bad)} fine, {len(bad)} BAD {bad if bad else ''}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
