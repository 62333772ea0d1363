"""Checkpoints: atomic writes, recorded config and versions, weights-only loading, refused mismatches."""


import pytest
import torch
from torch import nn

from cvae.checkpoints import CheckpointError, architecture, load_checkpoint, save_checkpoint
from cvae.structured import Baseline
from cvae.vae import VAE


def test_round_trip_restores_weights_and_records_config_history_and_versions(tmp_path):
    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden_dims=(8,))
    path = save_checkpoint(tmp_path / "vae.pt", model, config={"seed": 3}, history={"best_epoch": 2}, note="x")
    copy = VAE(latent_dim=2, hidden_dims=(8,))
    payload = load_checkpoint(path, copy, config={"seed": 3}, settings=["seed"])
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), copy.state_dict().values()))
    assert payload["config"] == {"seed": 3} and payload["history"] == {"best_epoch": 2} and payload["note"] == "x"
    assert payload["versions"]["torch"] == str(torch.__version__) and set(payload["versions"]) == {"torch", "cvae", "python"}
    assert payload["architecture"] == architecture(model) and payload["architecture"]["shapes"]["decoder.net.0.weight"] == [8, 2]
    assert not copy.training


def test_other_constructor_arguments_are_refused_with_both_descriptions(tmp_path):
    path = save_checkpoint(tmp_path / "b.pt", Baseline(1, (4,)))
    with pytest.raises(CheckpointError, match=r"different architecture: Baseline\(num_given=1, hidden_dims=\[4\]\), "
                                              r"but this run builds Baseline\(num_given=1, hidden_dims=\[8\]\)"):
        load_checkpoint(path, Baseline(1, (8,)))


def test_other_shapes_are_refused_for_models_without_constructor_args(tmp_path):
    path = save_checkpoint(tmp_path / "v.pt", VAE(latent_dim=2, hidden_dims=(8,)))
    with pytest.raises(CheckpointError, match="tensors of other shapes than VAE: decoder.net.0.weight"):
        load_checkpoint(path, VAE(latent_dim=3, hidden_dims=(8,)))
    with pytest.raises(CheckpointError, match="different architecture: VAE with .* but this run builds Linear"):
        load_checkpoint(path, nn.Linear(2, 2))


def test_other_training_settings_are_refused_and_named(tmp_path):
    path = save_checkpoint(tmp_path / "b.pt", Baseline(1, (4,)), config={"epochs": 1, "seed": 0})
    with pytest.raises(CheckpointError, match=r"other settings: epochs 1 \(checkpoint\) vs 2 \(this run\)"):
        load_checkpoint(path, Baseline(1, (4,)), config={"epochs": 2, "seed": 0}, settings=["epochs", "seed"])


class Payload:
    """Not a tensor or a plain value: weights-only loading must refuse to build it."""


def test_loading_is_weights_only_and_unreadable_files_are_named(tmp_path):
    code = tmp_path / "code.pt"
    torch.save({"format": 1, "state_dict": {}, "object": Payload()}, code)
    with pytest.raises(CheckpointError, match="code.pt is not a readable checkpoint .*weights-only"):
        load_checkpoint(code, Baseline(1, (4,)))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt is not a readable checkpoint"):
        load_checkpoint(junk, Baseline(1, (4,)))
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="not a checkpoint of this book"):
        load_checkpoint(other, Baseline(1, (4,)))


def test_bad_paths_and_models_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint file there"):
        load_checkpoint(tmp_path / "missing.pt", Baseline(1, (4,)))
    with pytest.raises(IsADirectoryError, match="is a folder"):
        save_checkpoint(tmp_path, Baseline(1, (4,)))
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        save_checkpoint(tmp_path / "x.pt", {"w": torch.zeros(1)})
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        architecture("model")
