"""The VAE, the label CVAE, the classifier and the plotting helper."""

import pytest
import torch

from cvae.classifier import DigitClassifier, agreement
from cvae.label_cvae import LabelCVAE, one_hot
from cvae.plotting import image_grid
from cvae.elbo import elbo_terms
from cvae.vae import VAE


@pytest.fixture
def digits():
    generator = torch.Generator().manual_seed(0)
    images = (torch.rand(8, 1, 28, 28, generator=generator) > 0.7).float()
    labels = torch.arange(8) % 10
    return images, labels


def test_elbo_terms_are_per_example_and_consistent(digits):
    images, _ = digits
    terms = VAE(4, (32,)).loss_terms(images)
    assert {k: v.shape for k, v in terms.items()} == {k: (8,) for k in ("loss", "reconstruction", "kl", "elbo")}
    assert torch.allclose(terms["elbo"], terms["reconstruction"] - terms["kl"])
    assert torch.equal(terms["loss"], -terms["elbo"])
    assert (terms["kl"] >= 0).all() and (terms["reconstruction"] <= 0).all()


def test_elbo_terms_shape_mismatch():
    with pytest.raises(ValueError, match="differ in shape"):
        elbo_terms(torch.zeros(2, 784), torch.zeros(2, 784), torch.zeros(3))


def test_vae_rejects_images_it_cannot_model(digits):
    model = VAE(4, (32,))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        model.loss_terms(torch.zeros(2, 784))
    with pytest.raises(ValueError, match=r"images must lie in \[0.0, 1.0\]"):
        model.loss_terms(digits[0] * 255)
    with pytest.raises(ValueError, match="images contains NaN"):
        model.loss_terms(torch.full((1, 1, 28, 28), float("nan")))
    with pytest.raises(ValueError, match="count"):
        model.sample(0)


def test_vae_sampling_and_likelihood_shapes(digits):
    images, _ = digits
    model = VAE(4, (32,))
    assert model.sample(5, torch.Generator().manual_seed(0)).shape == (5, 1, 28, 28)
    assert model.reconstruct(images).shape == images.shape
    ll = model.log_likelihood(images, 10, torch.Generator().manual_seed(0))
    assert ll.shape == (8,) and torch.isfinite(ll).all()


def test_a_few_adam_steps_improve_the_elbo_on_a_fixed_batch(digits):
    images, labels = digits
    for model, batch in ((VAE(4, (32,)), (images,)), (LabelCVAE("mlp", 4), (images, labels)), (LabelCVAE("conv", 4), (images, labels))):
        torch.manual_seed(0)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.eval()  # freeze BatchNorm statistics so before/after see the same network
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


@pytest.mark.parametrize("architecture", ["conv", "mlp"])
def test_label_cvae_shapes(architecture, digits):
    images, labels = digits
    model = LabelCVAE(architecture, 3).eval()
    mu, logvar = model.encode(images, labels)
    assert mu.shape == logvar.shape == (8, 3)
    assert model.decode(torch.randn(5, 8, 3), labels).shape == (5, 8, 1, 28, 28)
    assert model.generate(labels, generator=torch.Generator().manual_seed(0)).shape == images.shape
    assert model.log_likelihood(images, labels, 4).shape == (8,)


def test_label_cvae_errors(digits):
    images, labels = digits
    model = LabelCVAE("mlp", 3)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 9\]"):
        model.loss_terms(images, labels + 5)
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        model.loss_terms(images, labels.float())
    with pytest.raises(ValueError, match="labels has 7 entries but there are 8 images"):
        model.loss_terms(images, labels[:7])
    with pytest.raises(ValueError, match="z must have shape"):
        model.generate(labels, z=torch.zeros(8, 4))
    with pytest.raises(ValueError, match="architecture must be one of"):
        LabelCVAE("transformer")
    with pytest.raises(ValueError, match="objective must be one of"):
        LabelCVAE(objective="mse")


def test_pytorch_vae_objective_is_mse_plus_weighted_kl(digits):
    images, labels = digits
    model = LabelCVAE("mlp", 3, objective="pytorch_vae", kld_weight=0.5)
    torch.manual_seed(1)
    terms = model.loss_terms(images, labels)
    assert torch.allclose(terms["loss"], terms["mse"] + 0.5 * terms["kl"])
    assert (terms["mse"] <= 1).all()


def test_one_hot():
    assert torch.equal(one_hot(torch.tensor([2])), torch.eye(10)[[2]])


def test_classifier_and_agreement(digits):
    images, labels = digits
    classifier = DigitClassifier()
    assert classifier(images).shape == (8, 10)
    assert classifier.predict(images).shape == (8,)
    assert agreement(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 0, 4])) == 0.75
    with pytest.raises(ValueError, match="labels has 3 entries"):
        agreement(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 3]))


def test_image_grid_tiles_with_white_padding():
    images = torch.zeros(5, 1, 4, 4)  # black digits -> ink value 1.0 becomes 0.0 after inversion? no: 1 - 0 = 1
    grid = image_grid(images, columns=3, padding=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1)
    assert grid.min() == 1.0  # zero-intensity pixels and padding are white
    ink = image_grid(torch.ones(1, 1, 4, 4), columns=1, padding=1)
    assert ink[1:5, 1:5].max() == 0.0 and ink[0].min() == 1.0
