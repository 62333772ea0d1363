"""The label CVAE p(x | y) with its prior p(z | y): the standard normal (the default)
or a learned Gaussian per class (the mixture prior: tests/test_priors.py)."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from cvae.data import Batches
from cvae.distributions import bernoulli_log_likelihood, gaussian_log_density
from cvae.estimators import importance_sampled_log_likelihood
from cvae.label_cvae import ConvDecoder, LabelCVAE, active_units
from cvae.priors import LearnedPrior
from cvae.settings import seed_everything
from cvae.training import fit


@pytest.fixture(scope="module")
def batch():
    generator = torch.Generator().manual_seed(0)
    images = (torch.rand(32, 1, 28, 28, generator=generator) > 0.5).float()
    return images, torch.arange(32) % 10


def randomize(prior: LearnedPrior, seed: int = 1) -> LearnedPrior:
    """Give the prior's tables values far from N(0, I)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for table in (prior.means, prior.log_variances):
            table.copy_(torch.randn(table.shape, generator=generator))
    return prior


def model_pair(architecture: str, latent_dim: int = 3) -> tuple[LabelCVAE, LabelCVAE]:
    """A standard-normal model and a learned-prior model with the same networks."""
    seed_everything(0)
    standard = LabelCVAE(architecture, latent_dim)
    seed_everything(0)
    return standard, LabelCVAE(architecture, latent_dim, prior="learned")


@pytest.mark.parametrize("architecture", ["conv", "mlp"])
def test_the_model_kl_is_the_kl_to_its_learned_prior(architecture, batch):
    images, labels = batch
    model = LabelCVAE(architecture, 3, prior="learned").eval()
    randomize(model.prior)
    mu, logvar = model.encode(images, labels)
    m, s = model.prior.gaussian(labels)
    q, p = Normal(mu, (0.5 * logvar).exp()), Normal(m, (0.5 * s).exp())
    with torch.no_grad():
        kl = model.loss_terms(images, labels)["kl"]
    torch.testing.assert_close(kl, kl_divergence(q, p).sum(-1), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("architecture", ["conv", "mlp"])
def test_a_learned_prior_at_n01_gives_the_standard_models_numbers(architecture, batch):
    images, labels = batch
    outputs = []
    for model in model_pair(architecture):
        model.prior.requires_grad_(
            False
        )  # the learned one fixed at its initial N(0, I)
        torch.manual_seed(1)
        terms = model.loss_terms(images, labels)
        terms["loss"].mean().backward()
        model.eval()
        outputs.append(
            [*terms.values(), *(p.grad for p in model.parameters() if p.requires_grad)]
            + [model.generate(labels, generator=torch.Generator())]
            + [model.log_likelihood(images, labels, 7, torch.Generator())]
        )
    assert len(outputs[0]) == len(outputs[1])
    assert all(map(torch.equal, *outputs))


def test_training_with_a_fixed_learned_prior_follows_the_standard_model(batch):
    images, labels = batch
    standard, learned = model_pair("mlp")
    learned.prior.requires_grad_(False)
    for model in (standard, learned):
        batches = Batches(images, labels, batch_size=8, shuffle=True)
        fit(model, batches, epochs=2, progress=False)
    trained = learned.state_dict()
    for name, tensor in standard.state_dict().items():
        assert torch.equal(tensor, trained[name]), name


def test_the_learned_prior_is_trained_and_used_for_sampling_and_likelihood(batch):
    images, labels = batch
    seed_everything(0)
    model = LabelCVAE("mlp", 2, prior="learned")
    fit(model, Batches(images, labels, batch_size=8), epochs=3, progress=False)
    assert model.prior.means.abs().sum() > 0 < model.prior.log_variances.abs().sum()

    randomize(model.prior)  # far from N(0, I), so that using it or not shows
    mu, logvar = model.prior.gaussian(labels)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(5))
    drawn = model.generate(labels, generator=torch.Generator().manual_seed(5))
    expected = model.generate(labels, z=mu + (0.5 * logvar).exp() * eps)
    torch.testing.assert_close(drawn, expected)

    def estimate(log_prior):
        return importance_sampled_log_likelihood(
            lambda z: bernoulli_log_likelihood(model.decode(z, labels), images),
            model.encode(images, labels),
            log_prior,
            20,
            generator=torch.Generator().manual_seed(6),
        )

    with torch.no_grad():
        learned = estimate(lambda z: gaussian_log_density(z, mu, logvar))
        under_n01 = estimate(None)
    assert torch.equal(
        model.log_likelihood(images, labels, 20, torch.Generator().manual_seed(6)),
        learned,
    )
    assert (learned - under_n01).abs().mean() > 0.5


def test_active_units_count_what_varies_within_a_class(batch):
    images, labels = batch
    pixel = images.flatten(1)[:, 300]
    for prior in ("learned", "mixture"):
        model = LabelCVAE("mlp", 3, prior=prior).eval()
        class_code = torch.randn(10, 3)[labels]  # a code per class, for the mixture
        if prior == "learned":  # the prior's mean
            class_code = randomize(model.prior).gaussian(labels)[0]

        def encode(images_, labels_, code=class_code):  # unit 0 also reads a pixel
            mu = code.clone()
            mu[:, 0] = mu[:, 0] + 3.0 * pixel
            return mu, torch.zeros_like(mu)

        model.encode = encode  # the count sees only the posterior means
        assert active_units(model, images, labels) == 1, prior
        assert active_units(model, images, labels, threshold=100.0) == 0


CVAE, Z = LabelCVAE("mlp", 2), torch.zeros(3, 4)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: LabelCVAE("gan"), ValueError, "architecture must be one of 'conv'"),
        (lambda: LabelCVAE(objective="mse"), ValueError, "objective must be one of"),
        (lambda: LabelCVAE(kld_weight=-1.0), ValueError, "kld_weight must be > 0"),
        (lambda: LabelCVAE(prior="x"), ValueError, "prior must be one of 'standard"),
        (lambda: LabelCVAE(prior=3), TypeError, "prior must be .* or a LabelPrior"),
        (
            lambda: LabelCVAE("mlp", 2, prior=LearnedPrior(3)),
            ValueError,
            "latent_dim=3",
        ),
        (
            lambda: LabelCVAE("mlp", 2, prior=LearnedPrior(2, 5)),
            ValueError,
            "5 classes",
        ),
        (lambda: ConvDecoder(8, (4, 4, 4)), ValueError, "3 stride-2 layers need"),
        (lambda: CVAE.generate(torch.arange(3), Z), ValueError, r"z must have shape"),
        (lambda: active_units(CVAE.encoder, None, None), TypeError, "a LabelCVAE"),
    ],
)
def test_bad_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
