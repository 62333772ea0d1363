"""The label CVAE's prior p(z | y): the standard normal (the default) or a learned Gaussian per class."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from cvae.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from cvae.data import Batches
from cvae.distributions import bernoulli_log_likelihood, gaussian_kl
from cvae.estimators import importance_sampled_log_likelihood
from cvae.label_cvae import (
    PRIORS,
    LabelCVAE,
    LearnedPrior,
    StandardNormalPrior,
    active_units,
    kl_to_prior,
)
from cvae.settings import seed_everything
from cvae.training import fit


@pytest.fixture(scope="module")
def batch():
    generator = torch.Generator().manual_seed(0)
    images = (torch.rand(32, 1, 28, 28, generator=generator) > 0.5).float()
    labels = torch.arange(32) % 10
    return images, labels


def randomize(prior: LearnedPrior, seed: int = 1) -> LearnedPrior:
    """Give the prior's tables values far from N(0, I)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        prior.means.copy_(torch.randn(prior.means.shape, generator=generator))
        prior.log_variances.copy_(torch.randn(prior.log_variances.shape, generator=generator))
    return prior


def model_pair(architecture: str, latent_dim: int = 3) -> tuple[LabelCVAE, LabelCVAE]:
    """A standard-normal model and a learned-prior model with the same initial networks."""
    seed_everything(0)
    standard = LabelCVAE(architecture, latent_dim)
    seed_everything(0)
    learned = LabelCVAE(architecture, latent_dim, prior="learned")
    return standard, learned


def test_the_names_build_the_priors():
    assert PRIORS == ("standard_normal", "learned")
    assert isinstance(LabelCVAE("mlp", 2).prior, StandardNormalPrior)  # the default
    assert isinstance(LabelCVAE("mlp", 2, prior="learned").prior, LearnedPrior)
    mean, logvar = LearnedPrior(4)(torch.tensor([0, 9]))
    assert torch.equal(mean, torch.zeros(2, 4)) and torch.equal(logvar, torch.zeros(2, 4))  # starts at N(0, I)


def test_the_learned_prior_kl_equals_torch_distributions_kl():
    generator = torch.Generator().manual_seed(0)
    mu, logvar, m, s_logvar = (torch.randn(64, 5, generator=generator, dtype=torch.float64) for _ in range(4))
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(m, (0.5 * s_logvar).exp())).sum(-1)
    torch.testing.assert_close(kl_to_prior((mu, logvar), (m, s_logvar)), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("architecture", ["conv", "mlp"])
def test_the_model_kl_is_the_kl_to_its_learned_prior(architecture, batch):
    images, labels = batch
    model = LabelCVAE(architecture, 3, prior="learned").eval()
    randomize(model.prior)
    mu, logvar = model.encode(images, labels)
    prior_mean, prior_logvar = model.prior(labels)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(prior_mean, (0.5 * prior_logvar).exp()))
    with torch.no_grad():
        kl = model.loss_terms(images, labels)["kl"]
    torch.testing.assert_close(kl, expected.sum(-1), rtol=1e-5, atol=1e-4)


def test_the_kl_to_a_standard_normal_prior_is_the_standard_normal_kl_bit_for_bit():
    generator = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(1000, 4, generator=generator), torch.randn(1000, 4, generator=generator)
    zeros = torch.zeros_like(mu)
    assert torch.equal(kl_to_prior((mu, logvar), (zeros, zeros)), gaussian_kl(mu, logvar))


@pytest.mark.parametrize("architecture", ["conv", "mlp"])
def test_a_learned_prior_fixed_at_n01_gives_the_standard_normal_models_numbers_exactly(architecture, batch):
    images, labels = batch
    standard, learned = model_pair(architecture)
    learned.prior.requires_grad_(False)  # fixed to its initial N(0, I)
    outputs = []
    for model in (standard, learned):
        torch.manual_seed(1)
        terms = model.loss_terms(images, labels)
        terms["loss"].mean().backward()
        grads = [p.grad.clone() for name, p in model.named_parameters() if not name.startswith("prior")]
        model.eval()
        outputs.append({
            **{name: value.detach() for name, value in terms.items()},
            "grads": grads,
            "generated": model.generate(labels, generator=torch.Generator().manual_seed(2)),
            "log_likelihood": model.log_likelihood(images, labels, 7, torch.Generator().manual_seed(3)),
        })
    for key, value in outputs[0].items():
        other = outputs[1][key]
        same = all(map(torch.equal, value, other)) if isinstance(value, list) else torch.equal(value, other)
        assert same, key


def test_training_with_a_fixed_learned_prior_follows_the_standard_normal_model_exactly(batch):
    images, labels = batch
    standard, learned = model_pair("mlp")
    learned.prior.requires_grad_(False)
    for model in (standard, learned):
        fit(model, Batches(images, labels, batch_size=8, shuffle=True), epochs=2, progress=False)
    trained = learned.state_dict()
    for name, tensor in standard.state_dict().items():
        assert torch.equal(tensor, trained[name]), name


def test_the_learned_prior_is_trained_and_used_for_sampling_and_likelihood(batch):
    images, labels = batch
    seed_everything(0)
    model = LabelCVAE("mlp", 2, prior="learned")
    fit(model, Batches(images, labels, batch_size=8, shuffle=True), epochs=3, progress=False)
    assert model.prior.means.abs().sum() > 0 and model.prior.log_variances.abs().sum() > 0

    randomize(model.prior)  # far from N(0, I), so that using it or not shows
    mean, logvar = model.prior(labels)
    eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(5))
    drawn = model.generate(labels, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(drawn, model.generate(labels, z=mean + (0.5 * logvar).exp() * eps))

    def log_px(z):
        return bernoulli_log_likelihood(model.decode(z, labels), images)

    def estimate(prior):
        generator = torch.Generator().manual_seed(6)
        return importance_sampled_log_likelihood(log_px, model.encode(images, labels), prior, 20, generator=generator)

    with torch.no_grad():
        under_learned, under_n01 = estimate((mean, logvar)), estimate(None)
    assert torch.equal(model.log_likelihood(images, labels, 20, torch.Generator().manual_seed(6)), under_learned)
    assert (under_learned - under_n01).abs().mean() > 0.5


def test_checkpoints_record_the_prior_and_refuse_another(tmp_path, batch):
    path = save_checkpoint(tmp_path / "learned.pt", LabelCVAE("mlp", 2, prior="learned"))
    payload = torch.load(path, weights_only=True)
    assert payload["architecture"]["args"]["prior"] == "learned"
    with pytest.raises(CheckpointError, match="prior=learned.*prior=standard_normal"):
        load_checkpoint(path, LabelCVAE("mlp", 2))
    standard = save_checkpoint(tmp_path / "standard.pt", LabelCVAE("mlp", 2))
    with pytest.raises(CheckpointError, match="prior=standard_normal.*prior=learned"):
        load_checkpoint(standard, LabelCVAE("mlp", 2, prior="learned"))
    load_checkpoint(path, LabelCVAE("mlp", 2, prior="learned"))  # the same choice loads


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: LabelCVAE("mlp", 2, prior="uniform"), ValueError, "prior must be one of 'standard_normal', 'learned'"),
        (lambda: LabelCVAE("mlp", 2, prior=3), TypeError, "prior must be one of .* or a LabelPrior"),
        (lambda: LabelCVAE("mlp", 2, prior=LearnedPrior(3)), ValueError, "prior is built for latent_dim=3"),
        (lambda: LabelCVAE("mlp", 2, prior=LearnedPrior(2, 5)), ValueError, "prior is built for .* 5 classes"),
        (lambda: LearnedPrior(2)(torch.tensor([10])), ValueError, r"labels must lie in \[0, 9\]"),
        (lambda: StandardNormalPrior(2)(torch.tensor([-1])), ValueError, r"labels must lie in \[0, 9\]"),
        (lambda: LearnedPrior(2).sample(torch.tensor([1]), generator=1), TypeError, "generator must be"),
        (lambda: LabelCVAE("mlp", 2, prior="learned").generate(torch.tensor([10])), ValueError, "labels must lie in"),
        (lambda: LearnedPrior(0), ValueError, "latent_dim must be >= 1"),
        (lambda: LearnedPrior(2, 0), ValueError, "num_classes must be >= 1"),
    ],
)
def test_bad_priors_and_labels_are_refused_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_active_units_count_what_varies_within_a_class(batch):
    images, labels = batch
    model = LabelCVAE("mlp", 3, prior="learned").eval()
    randomize(model.prior)
    pixel = images.flatten(1)[:, 300]

    def encode(images_, labels_):  # unit 0 reads a pixel; units 1, 2 give the prior mean of the class
        prior_mean, _ = model.prior(labels_)
        mu = prior_mean.clone()
        mu[:, 0] = mu[:, 0] + 3.0 * pixel
        return mu, torch.zeros_like(mu)

    model.encode = encode  # the count sees only the posterior means
    assert active_units(model, images, labels) == 1
    assert active_units(model, images, labels, threshold=100.0) == 0
