"""cvae.config and cvae.device: the shell switches, their defaults and their errors."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from cvae.settings import data_root, data_source, epochs
from cvae.settings import default_device, seed_everything



# --------------------------------------------------------------------------- CVAE_DATA


def test_data_source_default_is_sample():
    assert data_source() == "sample"


@pytest.mark.parametrize("raw, expected", [("sample", "sample"), ("mnist", "mnist"), (" MNIST\n", "mnist"), ("", "sample"), ("  ", "sample")])
def test_data_source_parsing(monkeypatch, raw, expected):
    monkeypatch.setenv("CVAE_DATA", raw)
    assert data_source() == expected


@pytest.mark.parametrize("raw", ["fashion", "mnist2", "cifar"])
def test_data_source_unknown_value(monkeypatch, raw):
    monkeypatch.setenv("CVAE_DATA", raw)
    with pytest.raises(ValueError, match=rf"CVAE_DATA must be one of sample, mnist; got '{raw}'") as info:
        data_source()
    assert "CVAE_DATA=mnist" in str(info.value)  # says what to do


# ---------------------------------------------------------------------- CVAE_DATA_ROOT


def test_data_root_default():
    assert data_root() == Path("data")


def test_data_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CVAE_DATA_ROOT", str(tmp_path / "mnist-files"))
    assert data_root() == tmp_path / "mnist-files"


def test_data_root_expands_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CVAE_DATA_ROOT", "~/datasets")
    assert data_root() == tmp_path / "datasets"


def test_data_root_empty_means_default(monkeypatch):
    # `export CVAE_DATA_ROOT=` must not silently mean the current directory
    monkeypatch.setenv("CVAE_DATA_ROOT", "")
    assert data_root() == Path("data")


# ------------------------------------------------------------------------- CVAE_EPOCHS


def test_epochs_default_is_the_chapter_budget():
    assert epochs(12) == 12


@pytest.mark.parametrize("raw, expected", [("3", 3), (" 7 ", 7), ("", 12), ("   ", 12), ("1", 1)])
def test_epochs_override(monkeypatch, raw, expected):
    monkeypatch.setenv("CVAE_EPOCHS", raw)
    assert epochs(12) == expected


@pytest.mark.parametrize(
    "raw, match",
    [
        ("three", "CVAE_EPOCHS must be a positive integer, got 'three'"),
        ("2.5", "CVAE_EPOCHS must be a positive integer, got '2.5'"),
        ("0", "CVAE_EPOCHS must be >= 1, got 0"),
        ("-4", "CVAE_EPOCHS must be >= 1, got -4"),
    ],
)
def test_epochs_bad_environment(monkeypatch, raw, match):
    monkeypatch.setenv("CVAE_EPOCHS", raw)
    with pytest.raises(ValueError, match=match) as info:
        epochs(12)
    assert info.value.__cause__ is None


@pytest.mark.parametrize("default, error", [(0, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError)])
def test_epochs_bad_default(default, error):
    with pytest.raises(error, match="default must"):
        epochs(default)


# ---------------------------------------------------------------------- CVAE_DEVICE


def test_default_device_here_is_the_cpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the default is then cuda")
    assert default_device() == torch.device("cpu")


@pytest.mark.parametrize("raw", ["cpu", " cpu "])
def test_default_device_honours_cvae_device(monkeypatch, raw):
    monkeypatch.setenv("CVAE_DEVICE", raw)
    assert default_device() == torch.device("cpu")


def test_default_device_empty_means_automatic(monkeypatch):
    monkeypatch.setenv("CVAE_DEVICE", "")
    assert default_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("raw", ["cuda", "cuda:1"])
def test_default_device_cuda_without_cuda(monkeypatch, raw):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv("CVAE_DEVICE", raw)
    unavailable = rf"CVAE_DEVICE: '{raw}' is not available on this machine"
    with pytest.raises(ValueError, match=rf"{unavailable} \(torch.cuda.is_available\(\) is False\)"):
        default_device()


@pytest.mark.parametrize("raw", ["gpu", "cuda:x"])
def test_default_device_bad_name(monkeypatch, raw):
    monkeypatch.setenv("CVAE_DEVICE", raw)
    with pytest.raises(ValueError, match=rf"CVAE_DEVICE: '{raw}' is not a device name") as info:
        default_device()
    assert info.value.__cause__ is None


# ------------------------------------------------------------------- seed_everything


def test_seed_everything_repeats_torch_numpy_and_python_draws():
    def draws():
        return torch.randn(5), np.random.rand(3), random.random()

    seed_everything(123)
    t1, n1, p1 = draws()
    seed_everything(123)
    t2, n2, p2 = draws()
    assert torch.equal(t1, t2) and np.array_equal(n1, n2) and p1 == p2
    seed_everything(124)
    t3, _, _ = draws()
    assert not torch.equal(t1, t3)


def test_seed_everything_returns_a_seeded_generator():
    g1, g2 = seed_everything(7), seed_everything(7)
    assert isinstance(g1, torch.Generator) and g1.initial_seed() == 7
    assert torch.equal(torch.randn(4, generator=g1), torch.randn(4, generator=g2))


def test_seed_everything_accepts_large_seeds():
    seed_everything(2**40 + 3)  # NumPy only takes 32 bits; torch takes the whole seed
    a = torch.randn(3)
    seed_everything(2**40 + 3)
    assert torch.equal(a, torch.randn(3))


@pytest.mark.parametrize("seed", [1.0, "1", True, None])
def test_seed_everything_rejects_non_int(seed):
    with pytest.raises(TypeError, match="seed must be an int"):
        seed_everything(seed)
