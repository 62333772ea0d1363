"""cvae.settings: the shell switches, their defaults and their errors; seeding."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from cvae import settings

READ = {
    "CVAE_DATASET": settings.dataset,
    "CVAE_DATA": settings.data_source,
    "CVAE_DATA_ROOT": settings.data_root,
    "CVAE_EPOCHS": lambda: settings.epochs(12),
    "CVAE_DEVICE": settings.default_device,
}


@pytest.mark.parametrize(
    "variable, raw, expected",
    [
        ("CVAE_DATASET", None, "mnist"),
        ("CVAE_DATASET", " Fashion-MNIST\n", "fashion-mnist"),
        ("CVAE_DATA", None, "sample"),
        ("CVAE_DATA", "  ", "sample"),
        ("CVAE_DATA", " FULL ", "full"),
        ("CVAE_DATA_ROOT", None, Path("data")),
        ("CVAE_DATA_ROOT", "", Path("data")),  # not the current folder
        ("CVAE_DATA_ROOT", "~/sets", Path.home() / "sets"),
        ("CVAE_EPOCHS", None, 12),
        ("CVAE_EPOCHS", " 7 ", 7),
        ("CVAE_DEVICE", " cpu ", torch.device("cpu")),
    ],
)
def test_settings_and_their_defaults(monkeypatch, variable, raw, expected):
    if raw is not None:
        monkeypatch.setenv(variable, raw)
    assert READ[variable]() == expected


@pytest.mark.parametrize(
    "variable, raw, message",
    [
        ("CVAE_DATA", "mnist", "CVAE_DATA must be sample or full, got 'mnist'; "),
        ("CVAE_DATA", "x", "CVAE_DATASET names the data set (default mnist)"),
        ("CVAE_EPOCHS", "three", "CVAE_EPOCHS must be a positive integer, got 'three'"),
        ("CVAE_EPOCHS", "0", "CVAE_EPOCHS must be a positive integer, got '0'"),
        ("CVAE_DEVICE", "cuda:x", "CVAE_DEVICE: 'cuda:x' is not a device name"),
        ("CVAE_DEVICE", "meta", "'meta' is a meta device; this package trains on cpu"),
    ],
)
def test_bad_settings_are_one_line_naming_the_variable(
    monkeypatch, variable, raw, message
):
    monkeypatch.setenv(variable, raw)
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        READ[variable]()
    assert info.value.__cause__ is None and "\n" not in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda(monkeypatch):
    assert settings.default_device() == torch.device("cpu")
    monkeypatch.setenv("CVAE_DEVICE", "cuda:1")
    absent = "'cuda:1' is not available on this machine (torch.cuda.is_available() is"
    with pytest.raises(ValueError, match=re.escape(absent)):
        settings.default_device()


@pytest.mark.parametrize("default, error", [(0, ValueError), (2.0, TypeError)])
def test_epochs_bad_default(default, error):
    with pytest.raises(error, match="default must"):
        settings.epochs(default)


def test_seed_everything_repeats_torch_numpy_and_python_draws():
    def draws():
        return torch.randn(5), np.random.rand(3), random.random()

    generator = settings.seed_everything(2**40 + 3)  # NumPy takes 32 bits, torch all
    first = draws()
    assert generator.initial_seed() == 2**40 + 3
    settings.seed_everything(2**40 + 3)
    second = draws()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    settings.seed_everything(124)
    assert not torch.equal(first[0], draws()[0])
    with pytest.raises(TypeError, match="seed must be an int"):
        settings.seed_everything(True)
