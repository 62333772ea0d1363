"""The VAE (and the label CVAE beside it), the classifier and the digit grid."""

import sys

import pytest
import torch

from cvae.classifier import DigitClassifier, agreement
from cvae.label_cvae import LabelCVAE
from cvae.plotting import image_grid
from cvae.vae import VAE

TERMS = ("loss", "reconstruction", "kl", "elbo")


@pytest.fixture
def digits():
    generator = torch.Generator().manual_seed(0)
    images = (torch.rand(8, 1, 28, 28, generator=generator) > 0.7).float()
    return images, torch.arange(8) % 10


def test_elbo_terms_are_per_example_and_consistent(digits):
    terms = VAE(4, (32,)).loss_terms(digits[0])
    assert {k: v.shape for k, v in terms.items()} == dict.fromkeys(TERMS, (8,))
    assert torch.allclose(terms["elbo"], terms["reconstruction"] - terms["kl"])
    assert torch.equal(terms["loss"], -terms["elbo"])
    assert (terms["kl"] >= 0).all() and (terms["reconstruction"] <= 0).all()


def test_vae_sampling_reconstruction_and_likelihood_shapes(digits):
    images, _ = digits
    model = VAE(4, (32,))
    assert model.sample(5, torch.Generator().manual_seed(0)).shape == (5, 1, 28, 28)
    assert model.reconstruct(images).shape == images.shape
    ll = model.log_likelihood(images, 10, torch.Generator().manual_seed(0))
    assert ll.shape == (8,) and torch.isfinite(ll).all()


def test_a_training_step_reads_no_tensor_value_on_the_host(digits):
    """No ``.item()``, ``aminmax`` or ``.tolist()`` (a device synchronisation) inside
    ``loss_terms`` and its backward pass: the networks, densities and KL check shapes
    only."""
    model, reads = VAE(2, (8,)), []

    def profile(frame, event, function):
        if event == "c_call" and function.__name__ in {"item", "aminmax", "tolist"}:
            reads.append(function.__name__)

    sys.setprofile(profile)
    try:
        model.loss_terms(digits[0])["loss"].mean().backward()
    finally:
        sys.setprofile(None)
    assert reads == []


def test_a_few_adam_steps_improve_the_elbo_on_a_fixed_batch(digits):
    images, labels = digits
    models = [(VAE(4, (32,)), (images,))]
    models += [(LabelCVAE(kind, 4), (images, labels)) for kind in ("mlp", "conv")]
    for model, batch in models:
        torch.manual_seed(0)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.eval()  # freeze BatchNorm statistics: before and after see one network
        before = model.loss_terms(*batch)["loss"].mean().item()
        model.train()
        for _ in range(30):
            loss = model.loss_terms(*batch)["loss"].mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        torch.manual_seed(0)
        after = model.loss_terms(*batch)["loss"].mean().item()
        assert after < before - 20, (type(model).__name__, before, after)


def test_pytorch_vae_objective_is_mse_plus_weighted_kl(digits):
    model = LabelCVAE("mlp", 3, objective="pytorch_vae", kld_weight=0.5)
    torch.manual_seed(1)
    terms = model.loss_terms(*digits)
    assert torch.allclose(terms["loss"], terms["mse"] + 0.5 * terms["kl"])
    assert (terms["mse"] <= 1).all()


def test_classifier_and_agreement(digits):
    images, _ = digits
    classifier = DigitClassifier()
    assert classifier(images).shape == (8, 10)
    assert classifier.predict(images, batch_size=3).shape == (8,)
    assert agreement(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0, 4])) == 0.75


def test_image_grid_tiles_with_white_padding():
    grid = image_grid(torch.zeros(5, 1, 4, 4), columns=3, padding=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1)
    assert grid.min() == 1.0  # blank pixels, padding and empty cells are white
    ink = image_grid(torch.ones(1, 1, 4, 4), columns=1, padding=1)
    assert ink[1:5, 1:5].max() == 0.0 and ink[0].min() == 1.0
