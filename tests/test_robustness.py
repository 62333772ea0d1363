"""Nothing lost, nothing silently wrong: damaged checkpoints, bad output locations, corrupt data, bad switches.

The end-to-end cases of the quadrant command line (Ctrl-C, a killed run, a second run on
the same folder, merged results) are in tests/test_quadrants_cli.py.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import cvae
import cvae.data
from cvae import bench
from cvae.checkpoints import (
    CheckpointError,
    FolderInUse,
    atomic_write,
    checksum,
    folder_lock,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
)
from cvae.data import Batches, DataUnavailableError, DigitData, check_labels, load_digits
from cvae.experiments.quadrants import main as quadrants_main
from cvae.experiments.quadrants import QuadrantConfig, read_results, run_quadrant_experiment, write_results
from cvae.settings import default_device
from cvae.training import TrainingInterrupted, fit
from test_data import write_idx, write_tiny_mnist



@pytest.fixture(autouse=True)
def cpu_device(monkeypatch):
    monkeypatch.setenv("CVAE_DEVICE", "cpu")


def can_write(folder: Path) -> bool:
    try:
        (folder / ".probe").touch()
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


@pytest.fixture
def unwritable(tmp_path):
    """A folder in which no file can be created: read-only for a normal user; a sysfs folder for root."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if can_write(folder):  # root ignores the permission bits
        folder = Path("/sys/kernel")
        if not folder.is_dir() or can_write(folder):
            pytest.skip("no folder here refuses new files")
    yield folder
    (tmp_path / "read-only").chmod(0o755)


def linear(seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(4, 3)


# ------------------------------------------------------------------- checkpoints (1, 9)


def test_a_checkpoint_with_flipped_bytes_is_refused(tmp_path):
    model = linear()
    path = save_checkpoint(tmp_path / "m.pt", model)
    data = bytearray(path.read_bytes())
    offset = bytes(data).find(model.weight.detach().numpy().tobytes()[:16])
    assert offset > 0
    data[offset + 1] ^= 0xFF  # one weight changes; the file still unpickles
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"m.pt is damaged: .*SHA-256 checksum.*delete it to retrain"):
        load_checkpoint(path, linear(1))


def test_the_checksum_covers_the_metadata_and_is_stable(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", linear(), config={"epochs": 3})
    payload = torch.load(path, weights_only=True)
    assert payload["checksum"] == checksum(payload) and len(payload["checksum"]) == 64
    payload["config"]["epochs"] = 4  # a different setting, re-saved without a new checksum
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(path, linear())


def forged(tmp_path: Path, change) -> Path:
    """A checkpoint with a correct checksum over a changed structure."""
    payload = torch.load(save_checkpoint(tmp_path / "forged.pt", linear()), weights_only=True)
    change(payload)
    payload["checksum"] = checksum(payload) if "state_dict" in payload else "0"
    torch.save(payload, tmp_path / "forged.pt")
    return tmp_path / "forged.pt"


def test_weights_that_are_not_finite_are_refused(tmp_path):
    path = forged(tmp_path, lambda p: p["state_dict"]["bias"].fill_(float("nan")))
    message = r"forged.pt holds NaN or infinite weights \(bias\); delete it to retrain"
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path, linear())


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda p: p.pop("architecture"), "no 'architecture' entry"),
        (lambda p: p.pop("state_dict"), "no 'state_dict' entry"),
        (lambda p: p.update(architecture=["Linear"]), "'architecture' is not a dict"),
        (lambda p: p.update(config=[1]), "'config' or 'history' is not a dict"),
        (lambda p: p.update(format=1), "format 1"),
        (lambda p: p["state_dict"].pop("bias"),
         r"its weights are not those its 'architecture' lists \(bias\)"),
        (lambda p: p["state_dict"].update(weight=torch.zeros(4, 3)), r"lists \(weight\)"),
    ],
)
def test_checkpoints_of_another_structure_are_refused(tmp_path, change, reason):
    with pytest.raises(CheckpointError, match=rf"not a checkpoint of this book \(format 2\): .*{reason}.*delete it"):
        load_checkpoint(forged(tmp_path, change), linear())


def test_a_checkpoint_path_that_is_a_folder_is_refused(tmp_path):
    (tmp_path / "m.pt").mkdir()
    with pytest.raises(CheckpointError, match="m.pt is a folder, not a checkpoint file"):
        load_checkpoint(tmp_path / "m.pt", linear())


def test_written_files_get_the_users_umask_not_0600(tmp_path):
    previous = os.umask(0o027)
    try:
        path = save_checkpoint(tmp_path / "m.pt", linear())
        with atomic_write(tmp_path / "r.csv", "w") as file:
            file.write("x\n")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "r.csv").stat().st_mode & 0o777 == 0o640


def test_leftover_temporary_files_are_recognised_and_removed(tmp_path):
    stale = [tmp_path / ".results.csv.ab_c1234.cvae-tmp", tmp_path / ".cvae-q1.pt.k2j4h5g6.cvae-tmp"]
    # a reader's own files, even those named as this package's temporaries once were
    kept = [tmp_path / "notes.tmp", tmp_path / "results.csv", tmp_path / ".x.tmp", tmp_path / ".notes.abcdefgh.tmp"]
    for path in stale + kept:
        path.write_text("x")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert sorted(tmp_path.iterdir()) == sorted(kept)


def test_a_held_folder_lock_refuses_a_second_holder(tmp_path):
    with folder_lock(tmp_path):
        with pytest.raises(FolderInUse, match="another run is using .*wait for it to finish"):
            with folder_lock(tmp_path):
                pass
    with folder_lock(tmp_path):  # released
        pass


# ------------------------------- checkpoints: what is written loads back, a failed write says why

PLAIN = "a checkpoint holds None, bool, int, float, str and lists, tuples and string-keyed dicts"


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"config": {"out": Path("runs")}},
         f"config['out'] is a pathlib.PosixPath, not a plain value; {PLAIN}"),
        ({"config": {"rates": [np.logspace(-3, -1, 3)[0]]}},
         "config['rates'][0] is a numpy.float64, not a plain value"),
        ({"format": 3},
         "the extra entry 'format' would replace the checkpoint's own (its entries: format, "),
        ({"state_dict": {}}, "the extra entry 'state_dict' would replace"),
        ({}, "the model's weights hold NaN or infinite values (bias), which loading refuses"),
    ],
)
def test_a_checkpoint_that_would_not_load_back_is_refused(tmp_path, change, problem):
    path = save_checkpoint(tmp_path / "m.pt", linear())
    before = path.read_bytes()
    model = linear(1)
    if not change:
        with torch.no_grad():
            model.bias[1] = float("nan")
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(path, model, **change)
    message = str(caught.value)
    assert message.startswith(f"cannot save {path}: {problem}") and "\n" not in message, message
    assert message.endswith(f"({path} keeps its previous content)")
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


class Wide(nn.Module):
    """A linear map with 40 kB of weights (a 42 kB checkpoint) whose loss falls every epoch."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Linear(100, 100)

    def loss_terms(self, x):
        return {"loss": self.layer(x).pow(2).sum(1)}


def fit_wide(model: Wide, epochs: int = 3, **options):
    """Every epoch is the best so far, so every epoch is checkpointed."""
    batches = Batches(torch.ones(4, 100), batch_size=4)
    return fit(model, batches, batches, epochs=epochs, progress=False, device="cpu", **options)


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_fit_stores_a_numpy_learning_rate_as_a_float_so_its_checkpoint_loads(tmp_path):
    learning_rate = np.logspace(-3, -1, 3)[0]  # np.float64, refused by weights-only loading
    fit_wide(Wide(), epochs=1, learning_rate=learning_rate, checkpoint=tmp_path / "m.pt")
    config = {"learning_rate": 1e-3}
    payload = load_checkpoint(tmp_path / "m.pt", Wide(), config=config, settings=list(config))
    assert type(payload["config"]["learning_rate"]) is float


@pytest.fixture
def small_filesystem(tmp_path):
    """A 64 kB tmpfs mounted for the test: room for one checkpoint of :class:`Wide`, not two."""
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("the small file system is a tmpfs, and only root can mount one")
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                           capture_output=True, text=True)
    if mount.returncode:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mount.stderr.strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_stops_fit_in_one_line_keeping_the_best_weights(small_filesystem):
    path, folder = (re.escape(str(p)) for p in (small_filesystem / "m.pt", small_filesystem))
    model = Wide()
    with pytest.raises(CheckpointError) as caught:
        fit_wide(model, checkpoint=small_filesystem / "m.pt")  # epoch 2's save fills the disk
    expected = (
        rf"training: cannot write the checkpoint {path}: no space left on device \(\d+ kB free "
        rf"in {folder}\) \({path} keeps its previous content\); the weights of epoch 2 were "
        rf"restored; {path} holds those of epoch 1"
    )
    assert re.fullmatch(expected, str(caught.value)), str(caught.value)
    two_epochs = Wide()
    fit_wide(two_epochs, epochs=2)
    assert same_weights(model, two_epochs) and not model.training
    assert load_checkpoint(small_filesystem / "m.pt", Wide())["history"]["best_epoch"] == 1
    assert list(small_filesystem.iterdir()) == [small_filesystem / "m.pt"]  # no temporary file


def test_a_file_size_limit_is_one_line_keeping_the_previous_checkpoint(tmp_path):
    """The quota case: a child whose writes stop at 16 kB (RLIMIT_FSIZE, as ``ulimit -f``)."""
    path = save_checkpoint(tmp_path / "m.pt", linear())
    before = path.read_bytes()
    code = (
        "import sys, torch, cvae.checkpoints as c\n"
        "try: c.save_checkpoint(sys.argv[1], torch.nn.Linear(100, 100))\n"
        "except c.CheckpointError as error: print(error)"
    )
    limit = (16 * 1024, 16 * 1024)
    child = subprocess.run(  # Python ignores SIGXFSZ: the write fails with EFBIG
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300,
        cwd=Path(cvae.__file__).parents[1],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, limit),
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout == (
        f"cannot write the checkpoint {path}: file too large (larger than this process's "
        f"file-size limit, ulimit -f) ({path} keeps its previous content)\n"
    )
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


@pytest.fixture
def ctrl_c():
    """Press Ctrl-C: a real SIGINT to this process, which Python turns into KeyboardInterrupt
    (as in a terminal: a test run started in the background inherits SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield lambda: os.kill(os.getpid(), signal.SIGINT)
    signal.signal(signal.SIGINT, previous)


class CtrlCWhileWriting:
    """A file in which Ctrl-C is pressed after the first write: inside torch.save's zip writer."""

    def __init__(self, file, press) -> None:
        self.file, self.press = file, press

    def write(self, data) -> int:
        written, press, self.press = self.file.write(data), self.press, lambda: None
        press()
        return written

    def flush(self) -> None:
        self.file.flush()


@pytest.mark.parametrize("moment, saved", [("torch.save", 1), ("os.fsync", 1), ("os.replace", 2)])
def test_ctrl_c_in_a_checkpoint_write_says_which_epoch_the_file_holds(
    tmp_path, monkeypatch, ctrl_c, moment, saved
):
    """Ctrl-C in epoch 2's save: during its writes, after its fsync, after its move into place."""
    module, name = moment.split(".")
    module = {"torch": torch, "os": os}[module]
    real, calls = getattr(module, name), []

    def pressed(*args):
        calls.append(name)
        if len(calls) == 2 and moment == "torch.save":
            return real(args[0], CtrlCWhileWriting(args[1], ctrl_c))
        result = real(*args)
        if len(calls) == 2:
            ctrl_c()
        return result

    monkeypatch.setattr(module, name, pressed)
    path, model = tmp_path / "m.pt", Wide()
    with pytest.raises(TrainingInterrupted) as caught:
        fit_wide(model, checkpoint=path)
    held = f" (and are in {path})" if saved == 2 else f"; {path} holds those of epoch 1"
    restored = f"training: interrupted in epoch 2; the weights of epoch 2 were restored{held};"
    assert str(caught.value).startswith(restored), str(caught.value)
    reloaded = Wide()
    assert load_checkpoint(path, reloaded)["history"]["best_epoch"] == saved
    assert same_weights(reloaded, model) == (saved == 2)
    assert list(tmp_path.iterdir()) == [path]


def test_fit_refuses_another_models_checkpoint_before_training(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", linear())
    before, model, untrained = path.read_bytes(), Wide(), Wide()
    with pytest.raises(CheckpointError, match=r"m.pt holds a different architecture: Linear with 2 "
                       r"tensors, but this run builds Wide with 2 tensors. Use another file or"):
        fit_wide(model, checkpoint=path)
    assert path.read_bytes() == before and same_weights(model, untrained)


def test_fit_says_it_replaces_an_earlier_runs_better_checkpoint(tmp_path):
    path = tmp_path / "m.pt"
    fit_wide(Wide(), epochs=3, checkpoint=path)
    loss = load_checkpoint(path, Wide())["history"]["validation"]["loss"][2]
    with pytest.warns(RuntimeWarning, match=(
        rf"training: .*m.pt holds an earlier run's checkpoint of this model \(loss {loss:.2f} in "
        r"epoch 3\); this run replaces it with its own best weights from its first epoch on"
    )):
        fit_wide(Wide(), epochs=1, checkpoint=path)
    assert load_checkpoint(path, Wide())["history"]["best_epoch"] == 1


# -------------------------------------------------------------------- results.csv (4)


def row(model: str, num_given: int, nll: float) -> dict:
    return {"model": model, "num_given": num_given, "nll": nll, "estimator": "exact"}


def test_results_are_merged_by_model_and_quadrant_count(tmp_path):
    path = tmp_path / "results.csv"
    write_results(path, [row("baseline", 1, 1.0), row("cvae", 1, 2.0), row("baseline", 2, 3.0)])
    write_results(path, [row("cvae", 2, 4.0), row("baseline", 2, 5.0)])
    rows = read_results(path)
    assert [(r["model"], r["num_given"], r["nll"]) for r in rows] == [
        ("baseline", "1", "1.0000"), ("cvae", "1", "2.0000"), ("baseline", "2", "5.0000"), ("cvae", "2", "4.0000"),
    ]


def test_a_results_file_that_cannot_be_merged_is_refused_not_overwritten(tmp_path):
    path = tmp_path / "results.csv"
    path.write_bytes(b"\xff\xfe binary")
    with pytest.raises(ValueError, match="cannot be read as results"):
        write_results(path, [row("baseline", 1, 1.0)])
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="no model and num_given columns"):
        write_results(path, [row("baseline", 1, 1.0)])
    assert path.read_text() == "a,b\n1,2\n"


# --------------------------------------------------------- output locations, up front (3)


def test_fit_refuses_a_checkpoint_that_is_a_folder_before_training(tmp_path):
    model = linear()
    before = model.weight.detach().clone()
    data = Batches(torch.zeros(4, 4), batch_size=2)
    model.loss_terms = lambda x: {"loss": model(x).sum(1)}
    with pytest.raises(ValueError, match=r"checkpoint: .* is a folder; give a file name"):
        fit(model, data, epochs=1, progress=False, device="cpu", checkpoint=tmp_path)
    assert torch.equal(model.weight, before)  # nothing trained


def test_fit_refuses_a_checkpoint_in_an_unwritable_folder(unwritable):
    model = linear()
    model.loss_terms = lambda x: {"loss": model(x).sum(1)}
    with pytest.raises(ValueError, match="checkpoint: cannot write to the folder .*pick another folder"):
        fit(model, Batches(torch.zeros(4, 4), batch_size=2), epochs=1, progress=False, checkpoint=unwritable / "m.pt")


@pytest.mark.parametrize("seed", ["abc", 1.5, 2**70, -1, True])
def test_fit_refuses_bad_seeds(seed):
    model = linear()
    model.loss_terms = lambda x: {"loss": model(x).sum(1)}
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*63\)"):
        fit(model, Batches(torch.zeros(4, 4), batch_size=2), epochs=1, progress=False, seed=seed)


@pytest.fixture
def no_benchmark(monkeypatch):
    def measured(**kwargs):
        raise AssertionError("the benchmark ran before its output was checked")

    monkeypatch.setattr(bench, "run", measured)


def test_bench_checks_its_json_file_before_measuring(tmp_path, unwritable, no_benchmark, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--json", str(tmp_path), "--device", "cpu"])
    assert exit_info.value.code == 2 and "--json: " in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--json", str(unwritable / "b.json"), "--device", "cpu"])
    assert "--json: cannot write to the folder" in capsys.readouterr().err


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = quadrants_main(["--data", "sample", "--limit", "200", "--epochs", "1", "--no-progress", *args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str, text: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert text in err, err


def test_cli_refuses_an_out_that_is_a_file_before_any_work(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    code, out, err = run_cli(capsys, "--out", str(tmp_path / "taken"))
    assert code == 2 and out == ""
    assert_one_error_line(err, "is a file, not a folder; pick another folder")


def test_cli_refuses_an_unwritable_out_before_any_work(unwritable, capsys):
    code, out, err = run_cli(capsys, "--out", str(unwritable / "runs"))
    assert code == 2 and out == ""
    assert_one_error_line(err, "--out: cannot write to the folder")


# ------------------------------------------------------------ one error line (9, 11)


@pytest.mark.parametrize(
    "env, args, text",
    [
        ({"CVAE_DEVICE": "tpu"}, [], "CVAE_DEVICE: 'tpu' is not a device name"),
        ({"CVAE_DEVICE": "meta"}, [], "CVAE_DEVICE: 'meta' is a meta device; this package trains on cpu or"),
        ({}, ["--quadrants", "1", "1"], "quadrants must list 1, 2 and/or 3 once each, got [1, 1]"),
        ({"CVAE_EPOCHS": "abc"}, [], "CVAE_EPOCHS must be a positive integer, got 'abc'"),
        ({"CVAE_DATA": "cifar"}, [], "CVAE_DATA must be one of sample, mnist"),
    ],
)
def test_cli_bad_settings_are_one_error_line(tmp_path, monkeypatch, capsys, env, args, text):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    epochs = [] if "CVAE_EPOCHS" in env else ["--epochs", "1"]
    code = quadrants_main(["--limit", "200", *epochs, "--no-progress", "--out", str(tmp_path / "out"), *args])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert_one_error_line(err, text)
    assert not (tmp_path / "out").exists()  # refused before anything was made


def test_cli_cuda_without_cuda_is_one_error_line(tmp_path, monkeypatch, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv("CVAE_DEVICE", "cuda")
    code, out, err = run_cli(capsys, "--out", str(tmp_path))
    assert code == 2
    assert_one_error_line(err, "CVAE_DEVICE: 'cuda' is not available on this machine")


def test_cli_unavailable_mnist_is_one_error_line(tmp_path, monkeypatch, capsys):
    import torchvision.datasets.mnist as tv_mnist

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tv_mnist.MNIST, "download", offline)
    monkeypatch.setenv("CVAE_DATA_ROOT", str(tmp_path / "data"))
    code = quadrants_main(["--data", "mnist", "--epochs", "1", "--no-progress", "--out", str(tmp_path / "out")])
    assert code == 2
    assert_one_error_line(capsys.readouterr().err, "full MNIST is not available under")


def test_cli_ctrl_c_is_one_line_and_status_130(tmp_path, monkeypatch, capsys):
    import cvae.experiments.quadrants as quadrants

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(quadrants, "load_experiment_digits", interrupted)
    code, _, err = run_cli(capsys, "--out", str(tmp_path))
    assert code == 130
    assert_one_error_line(err, "interrupted; rerun to resume")


def test_cli_honours_cvae_epochs_and_documents_it(monkeypatch, capsys):
    import cvae.experiments.quadrants as quadrants

    monkeypatch.setenv("CVAE_EPOCHS", "3")
    assert quadrants._config(quadrants._parse_args([])).epochs == 3
    assert quadrants._config(quadrants._parse_args(["--epochs", "5"])).epochs == 5
    monkeypatch.delenv("CVAE_EPOCHS")
    assert quadrants._config(quadrants._parse_args([])).epochs == quadrants.COMMAND_LINE_EPOCHS
    with pytest.raises(SystemExit):
        quadrants_main(["--help"])
    assert "CVAE_EPOCHS" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    "device, problem",
    [
        ("meta", "'meta' is a meta device; this package trains on cpu or cuda devices only"),
        ("mps", "'mps' is a mps device"),
        ("cuda:99", "'cuda:99' is not available on this machine"),
    ],
)
def test_fit_and_the_experiment_check_the_device_before_moving_a_weight(device, problem):
    model = linear()
    model.loss_terms = lambda x: {"loss": model(x).sum(1)}
    before = model.weight.detach().clone()
    with pytest.raises(ValueError, match=f"^device: {problem}"):
        fit(model, Batches(torch.zeros(4, 4), batch_size=2), epochs=1, progress=False, device=device)
    assert model.weight.device.type == "cpu" and torch.equal(model.weight, before)  # meta would empty it
    with pytest.raises(ValueError, match=f"^device: {problem}"):
        run_quadrant_experiment(QuadrantConfig(limit=200), [1], device=device, progress=False)


@pytest.mark.parametrize("name", ["meta", "mps", "xla"])
def test_cvae_device_refuses_devices_this_package_cannot_train_on(monkeypatch, name):
    monkeypatch.setenv("CVAE_DEVICE", name)
    with pytest.raises(ValueError, match=rf"CVAE_DEVICE: '{name}' is a {name} device; this package trains on cpu or cuda devices only"):
        default_device()


# ------------------------------------------------------------------------ labels (7)


@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.uint8])
def test_labels_of_other_integer_types_are_refused_with_the_fix(dtype):
    """The policy: int64 class indices only; other integer types are refused (not converted) at the boundary."""
    labels = torch.tensor([0, 9, 4], dtype=dtype)
    fix = rf"must be an int64 \(torch.long\) tensor of class indices, got dtype {dtype}; convert it with"
    with pytest.raises(TypeError, match=rf"y {fix} y.long\(\)"):
        check_labels("y", labels)
    images = torch.rand(3, 1, 28, 28)
    with pytest.raises(TypeError, match=rf"train_labels {fix} train_labels.long\(\)"):
        DigitData("sample", images, labels, images, labels.long())
    from cvae.classifier import DigitClassifier
    from cvae.label_cvae import LabelCVAE

    with pytest.raises(TypeError, match=rf"labels {fix} labels.long\(\)"):
        LabelCVAE("mlp", latent_dim=2).loss_terms((images > 0.5).float(), labels)
    with pytest.raises(TypeError, match=rf"labels {fix} labels.long\(\)"):
        DigitClassifier().loss_terms(images, labels)


# ---------------------------------------------------------------- full MNIST (5, 6)


@pytest.fixture
def silent_server(monkeypatch):
    """A server on 127.0.0.1 that accepts connections and never answers (closing them after 5 s)."""
    import torchvision.datasets.mnist as tv_mnist

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    stop, held = threading.Event(), []

    def serve():
        while not stop.is_set():
            try:
                held.append((time.monotonic(), server.accept()[0]))
            except OSError:
                pass
            for opened, connection in held:
                if time.monotonic() - opened > 5:
                    connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monkeypatch.setattr(tv_mnist.MNIST, "mirrors", [f"http://127.0.0.1:{server.getsockname()[1]}/"])
    yield
    stop.set()
    thread.join(timeout=2)
    for _, connection in held:
        connection.close()
    server.close()


def test_a_download_that_never_answers_times_out_clearly(tmp_path, monkeypatch, silent_server):
    monkeypatch.setattr(cvae.data, "DOWNLOAD_TIMEOUT", 0.5)
    default = socket.getdefaulttimeout()
    start = time.monotonic()
    with pytest.raises(DataUnavailableError, match=r"the download timed out \(no answer within 0.5 s\)") as info:
        load_digits("mnist", root=tmp_path, download=True)
    assert time.monotonic() - start < 4
    assert str(tmp_path.resolve() / "MNIST") in str(info.value) and "\n" not in str(info.value)
    assert socket.getdefaulttimeout() == default  # restored


IMAGES = "train-images-idx3-ubyte"
LABELS = "t10k-labels-idx1-ubyte"


def damage(raw: Path, case: str) -> Path:
    """Damage one file of a tiny MNIST in ``raw``; return it."""
    rng = np.random.default_rng(1)
    if case == "garbage":
        (raw / IMAGES).write_bytes(rng.integers(0, 256, 1000, dtype=np.uint8).tobytes())
    elif case == "truncated":
        (raw / IMAGES).write_bytes((raw / IMAGES).read_bytes()[:-100])
    elif case == "empty":
        (raw / LABELS).write_bytes(b"")
        return raw / LABELS
    elif case == "10x10 images":  # 196 images of 10x10 are exactly 25 images of 28x28
        write_idx(raw / IMAGES, rng.integers(0, 256, (196, 10, 10), dtype=np.uint8))
    elif case == "label count":
        write_idx(raw / LABELS, np.zeros(9, dtype=np.uint8))
        return raw / LABELS
    elif case == "label value":
        write_idx(raw / LABELS, np.full(10, 12, dtype=np.uint8))
        return raw / LABELS
    return raw / IMAGES


@pytest.mark.parametrize(
    "case, problem",
    [
        ("garbage", "not the IDX header 00000803"),
        ("truncated", "bytes where its header announces"),
        ("empty", "it is empty"),
        ("10x10 images", "it holds 10x10 images, not 28x28"),
        ("label count", "9 labels for the 10 images"),
        ("label value", "a label 12, outside 0..9"),
    ],
)
@pytest.mark.parametrize("download", [True, False])
def test_corrupt_mnist_files_are_named_with_what_to_do(tmp_path, case, problem, download):
    write_tiny_mnist(tmp_path)
    path = damage(tmp_path / "MNIST" / "raw", case)
    with pytest.raises(DataUnavailableError) as info:
        load_digits("mnist", root=tmp_path, download=download)
    message = str(info.value)
    assert message.startswith(f"{path} is not a valid MNIST file: ") and problem in message, message
    assert "Delete it and run again" in message and "no network" not in message


def test_a_data_root_that_is_a_file_is_named(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("CVAE_DATA_ROOT", str(tmp_path / "file"))
    with pytest.raises(DataUnavailableError, match=r"file is a file, not a folder.*set CVAE_DATA_ROOT to another"):
        load_digits("mnist")


def test_an_unwritable_data_root_is_named_before_downloading(unwritable, monkeypatch):
    import torchvision.datasets.mnist as tv_mnist

    def download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(tv_mnist.MNIST, "download", download)
    with pytest.raises(DataUnavailableError, match=r"cannot be downloaded: CVAE_DATA_ROOT: cannot write to the folder"):
        load_digits("mnist", root=unwritable, download=True)


def test_an_intact_tiny_mnist_still_loads(tmp_path):
    write_tiny_mnist(tmp_path)
    data = load_digits("mnist", root=tmp_path, download=False)
    assert len(data.train_images) == 20 and data.train_labels.dtype == torch.int64
    assert struct.unpack(">i", (tmp_path / "MNIST" / "raw" / IMAGES).read_bytes()[4:8]) == (20,)


def test_results_keep_added_columns_read_a_bom_and_merge_seeds_written_as_floats(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("\ufeffmodel,num_given,seed,nll,note\nbaseline,1,0.0,9.0,checked by hand\ncvae,1,0,8.0,\n",
                    encoding="utf-8")  # saved by a spreadsheet: a byte-order mark, a seed 0.0, a column of notes
    write_results(path, [{**row("baseline", 1, 1.0), "seed": 0}, {**row("baseline", 2, 2.0), "seed": 0}])
    rows = read_results(path)
    assert [(r["model"], r["num_given"], r["seed"], r["nll"], r["note"]) for r in rows] == [
        ("baseline", "1", "0", "1.0000", "checked by hand"), ("cvae", "1", "0", "8.0", ""),
        ("baseline", "2", "0", "2.0000", ""),
    ]
    path.write_text("model,num_given,nll\nbaseline,1,1.0,extra\n")
    with pytest.raises(ValueError, match="row 1 has more values than the header has columns; repair it"):
        write_results(path, [row("baseline", 2, 1.0)])
