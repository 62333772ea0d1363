"""Nothing silently wrong where data and switches enter: corrupt or missing MNIST files,
labels of another integer type, devices this package cannot train on.

(The checkpoint, fit and command-line cases are in test_checkpoints.py, test_training.py
and test_quadrants_cli.py.)
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from test_data import write_idx, write_tiny_mnist

import cvae.data
from cvae.data import DataUnavailableError, DigitData, check_labels, load_digits
from cvae.settings import default_device


@pytest.fixture
def unwritable(tmp_path):
    """A folder in which no file can be created: read-only, or sysfs for root."""
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    try:
        (folder / ".probe").touch()
    except OSError:
        return folder
    return Path("/sys/kernel")


@pytest.mark.parametrize("name", ["meta", "mps", "xla"])
def test_cvae_device_refuses_devices_this_package_cannot_train_on(monkeypatch, name):
    monkeypatch.setenv("CVAE_DEVICE", name)
    error = f"CVAE_DEVICE: '{name}' is a {name} device; this package trains on cpu"
    with pytest.raises(ValueError, match=rf"{error} or cuda devices only"):
        default_device()


@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.uint8])
def test_labels_of_other_integer_types_are_refused_with_the_fix(dtype):
    """The policy: int64 class indices only; other integer types are refused (not
    converted) at the boundary."""
    labels = torch.tensor([0, 9, 4], dtype=dtype)
    fix = (
        rf"must be an int64 \(torch.long\) tensor of class indices, got dtype {dtype};"
    )
    fix += " convert it with"
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
    """A server on 127.0.0.1 that accepts connections and never answers (closing
    them after 5 s)."""
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
    monkeypatch.setattr(
        tv_mnist.MNIST, "mirrors", [f"http://127.0.0.1:{server.getsockname()[1]}/"]
    )
    yield
    stop.set()
    thread.join(timeout=2)
    for _, connection in held:
        connection.close()
    server.close()


def test_a_download_that_never_answers_times_out_clearly(
    tmp_path, monkeypatch, silent_server
):
    monkeypatch.setattr(cvae.data, "DOWNLOAD_TIMEOUT", 0.5)
    default = socket.getdefaulttimeout()
    start = time.monotonic()
    with pytest.raises(
        DataUnavailableError, match=r"the download timed out \(no answer within 0.5 s\)"
    ) as info:
        load_digits("mnist", root=tmp_path, download=True)
    assert time.monotonic() - start < 4
    assert str(tmp_path.resolve() / "MNIST") in str(info.value) and "\n" not in str(
        info.value
    )
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
def test_corrupt_mnist_files_are_named_with_what_to_do(
    tmp_path, case, problem, download
):
    write_tiny_mnist(tmp_path)
    path = damage(tmp_path / "MNIST" / "raw", case)
    with pytest.raises(DataUnavailableError) as info:
        load_digits("mnist", root=tmp_path, download=download)
    message = str(info.value)
    assert (
        message.startswith(f"{path} is not a valid MNIST file: ") and problem in message
    ), message
    assert "Delete it and run again" in message and "no network" not in message


def test_a_data_root_that_is_a_file_is_named(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("CVAE_DATA_ROOT", str(tmp_path / "file"))
    with pytest.raises(
        DataUnavailableError,
        match=r"file is a file, not a folder.*set CVAE_DATA_ROOT to another",
    ):
        load_digits("mnist")


def test_an_unwritable_data_root_is_named_before_downloading(unwritable, monkeypatch):
    import torchvision.datasets.mnist as tv_mnist

    def download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(tv_mnist.MNIST, "download", download)
    with pytest.raises(
        DataUnavailableError,
        match=r"cannot be downloaded: CVAE_DATA_ROOT: cannot write to the folder",
    ):
        load_digits("mnist", root=unwritable, download=True)


def test_an_intact_tiny_mnist_still_loads(tmp_path):
    write_tiny_mnist(tmp_path)
    data = load_digits("mnist", root=tmp_path, download=False)
    assert len(data.train_images) == 20 and data.train_labels.dtype == torch.int64
    assert struct.unpack(
        ">i", (tmp_path / "MNIST" / "raw" / IMAGES).read_bytes()[4:8]
    ) == (20,)
