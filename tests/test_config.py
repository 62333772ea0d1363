"""cvae.settings: the shell switches, their defaults and their errors; seeding."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from cvae import settings


@pytest.mark.parametrize(
    "variable, raw, read, expected",
    [
        ("CVAE_DATASET", None, settings.dataset, "mnist"),
        ("CVAE_DATASET", " Fashion-MNIST\n", settings.dataset, "fashion-mnist"),
        ("CVAE_DATA", None, settings.data_source, "sample"),
        ("CVAE_DATA", "  ", settings.data_source, "sample"),
        ("CVAE_DATA", " FULL ", settings.data_source, "full"),
        ("CVAE_DATA_ROOT", None, settings.data_root, Path("data")),
        ("CVAE_DATA_ROOT", "", settings.data_root, Path("data")),  # not the cwd
        ("CVAE_DATA_ROOT", "~/sets", settings.data_root, Path.home() / "sets"),
        ("CVAE_EPOCHS", None, lambda: settings.epochs(12), 12),
        ("CVAE_EPOCHS", " 7 ", lambda: settings.epochs(12), 7),
        ("CVAE_DEVICE", " cpu ", settings.default_device, torch.device("cpu")),
    ],
)
def test_settings_and_their_defaults(monkeypatch, variable, raw, read, expected):
    if raw is not None:
        monkeypatch.setenv(variable, raw)
    assert read() == expected


@pytest.mark.parametrize(
    "variable, raw, read, match",
    [
        (
            "CVAE_DATA",
            "mnist",
            settings.data_source,
            "CVAE_DATA must be sample or full, got 'mnist'; CVAE_DATASET names the data set (default mnist)",
        ),
        (
            "CVAE_EPOCHS",
            "three",
            lambda: settings.epochs(12),
            "CVAE_EPOCHS must be a positive integer, got 'three'",
        ),
        (
            "CVAE_EPOCHS",
            "0",
            lambda: settings.epochs(12),
            "CVAE_EPOCHS must be a positive integer, got '0'",
        ),
        (
            "CVAE_DEVICE",
            "cuda:x",
            settings.default_device,
            "CVAE_DEVICE: 'cuda:x' is not a device name",
        ),
        (
            "CVAE_DEVICE",
            "meta",
            settings.default_device,
            "CVAE_DEVICE: 'meta' is a meta device; this package trains on cpu or cuda devices only",
        ),
    ],
)
def test_bad_settings_are_one_line_naming_the_variable(
    monkeypatch, variable, raw, read, match
):
    monkeypatch.setenv(variable, raw)
    with pytest.raises(ValueError, match=re.escape(match)) as info:
        read()
    assert info.value.__cause__ is None and "\n" not in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda(monkeypatch):
    assert settings.default_device() == torch.device("cpu")
    monkeypatch.setenv("CVAE_DEVICE", "cuda:1")
    with pytest.raises(
        ValueError,
        match=r"'cuda:1' is not available on this machine \(torch.cuda.is_available\(\) is False\)",
    ):
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
