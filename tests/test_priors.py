"""The seam of cvae.priors: each prior p(z | y) against torch.distributions, the Monte
Carlo KL against the closed form, the mixture prior in an exact model and in fit."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.distributions as D

from cvae.data import Batches
from cvae.distributions import gaussian_kl
from cvae.estimators import importance_sampled_log_likelihood
from cvae.label_cvae import LabelCVAE
from cvae.priors import PRIORS, LearnedPrior, MixturePrior, kl_to_prior
from cvae.settings import seed_everything
from cvae.training import fit

F64 = torch.float64
LABELS = torch.tensor([0, 3, 3, 9, 5])


def randomized(name: str, latent_dim: int = 3, **args) -> torch.nn.Module:
    """A prior of that name in float64, its tables (if any) far from their start."""
    prior = PRIORS[name](latent_dim, **args).double()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in prior.parameters():
            parameter.normal_(generator=generator)
    return prior


def reference(prior, labels: torch.Tensor) -> D.Distribution:
    """The same p(z | y) built from torch.distributions."""
    if isinstance(prior, MixturePrior):
        std = (0.5 * prior.log_variances[labels]).exp()
        components = D.Independent(D.Normal(prior.means[labels], std), 1)
        weights = D.Categorical(logits=prior.logits[labels])
        return D.MixtureSameFamily(weights, components)
    mu, logvar = prior.gaussian(labels)
    return D.Independent(D.Normal(mu, (0.5 * logvar).exp()), 1)


@pytest.mark.parametrize("name", list(PRIORS))
def test_log_prob_is_torch_distributions_log_prob(name):
    prior = randomized(name)
    z = torch.randn(7, len(LABELS), 3, generator=torch.Generator().manual_seed(2))
    expected = reference(prior, LABELS).log_prob(z.double())
    torch.testing.assert_close(prior.log_prob(z.double(), LABELS), expected)


@pytest.mark.parametrize("name", list(PRIORS))
def test_samples_have_the_priors_mean_and_variance(name):
    prior = randomized(name, num_classes=10)
    labels = torch.full((40_000,), 3)
    z = prior.sample(labels, torch.Generator().manual_seed(3))
    truth = reference(prior, labels[:1])
    assert z.shape == (40_000, 3)
    standard_error = (truth.variance[0] / len(z)).sqrt()
    assert ((z.mean(0) - truth.mean[0]).abs() < 4 * standard_error).all()
    torch.testing.assert_close(z.var(0), truth.variance[0], rtol=0.04, atol=0)
    again = prior.sample(labels, torch.Generator().manual_seed(3))
    assert torch.equal(z, again)


def test_the_closed_form_kl_is_torch_distributions_kl_and_exactly_n01s_at_n01():
    generator = torch.Generator().manual_seed(0)
    mu, logvar, m, s = (
        torch.randn(64, 5, generator=generator, dtype=F64) for _ in "1234"
    )
    q, p = D.Normal(mu, (0.5 * logvar).exp()), D.Normal(m, (0.5 * s).exp())
    expected = D.kl_divergence(q, p).sum(-1)
    torch.testing.assert_close(kl_to_prior((mu, logvar), (m, s)), expected)
    zeros = torch.zeros_like(mu)
    assert torch.equal(
        kl_to_prior((mu, logvar), (zeros, zeros)), gaussian_kl(mu, logvar)
    )


def test_the_monte_carlo_kl_is_an_unbiased_estimate_of_the_closed_form():
    one = randomized(
        "mixture", latent_dim=2, num_components=1
    )  # a Gaussian, as a mixture
    assert one.gaussian(LABELS) is None  # so its KL is the Monte Carlo estimate
    gaussian = (one.means[LABELS, 0], one.log_variances[LABELS, 0])
    generator = torch.Generator().manual_seed(4)
    mu, logvar = (
        torch.randn(len(LABELS), 2, generator=generator, dtype=F64) for _ in "12"
    )
    eps = torch.randn(200_000, *mu.shape, generator=generator, dtype=F64)
    z = mu + (0.5 * logvar).exp() * eps
    estimates = one.kl((mu, logvar), z, LABELS)  # (S, B): one estimate per code
    exact = kl_to_prior((mu, logvar), gaussian)
    standard_error = estimates.std(0) / math.sqrt(len(z))
    assert ((estimates.mean(0) - exact).abs() < 4 * standard_error).all()
    assert (standard_error < 0.02).all()


def test_a_mixture_of_identical_components_is_its_gaussian():
    learned = randomized("learned", latent_dim=2)
    mixture = MixturePrior(2, num_components=3).double()
    with torch.no_grad():
        mixture.logits.normal_()  # any weights: the components are equal
        mixture.means.copy_(learned.means[:, None].expand_as(mixture.means))
        mixture.log_variances.copy_(learned.log_variances[:, None].expand(-1, 3, -1))
    z = torch.randn(4, len(LABELS), 2, dtype=F64)
    torch.testing.assert_close(mixture.log_prob(z, LABELS), learned.log_prob(z, LABELS))


def test_importance_sampling_under_the_mixture_prior_finds_the_exact_evidence():
    """z ~ sum_k w_k N(m_k, S_k), x | z ~ N(W z + b, v I): p(x | y) is a mixture of
    Gaussians N(W m_k + b, W S_k W^T + v I), which torch.distributions evaluates."""
    prior, v = randomized("mixture", latent_dim=2, num_components=3), 2.0
    draw = torch.Generator().manual_seed(5)
    w, b, x = (
        torch.randn(n, 4, generator=draw, dtype=F64) for n in (2, 1, len(LABELS))
    )
    covariances = w.T @ torch.diag_embed(prior.log_variances[LABELS].exp()) @ w
    evidence = D.MixtureSameFamily(
        D.Categorical(logits=prior.logits[LABELS]),
        D.MultivariateNormal(
            prior.means[LABELS] @ w + b, covariances + v * torch.eye(4)
        ),
    )
    zeros = torch.zeros(len(LABELS), 2, dtype=F64)
    estimate = importance_sampled_log_likelihood(
        lambda z: D.Normal(z @ w + b, math.sqrt(v)).log_prob(x).sum(-1),
        (zeros, zeros + math.log(2.0)),  # a Gaussian proposal, wider than the prior
        lambda z: prior.log_prob(z, LABELS),
        num_samples=40_000,
        chunk_size=10_000,
        generator=torch.Generator().manual_seed(6),
    )
    torch.testing.assert_close(estimate, evidence.log_prob(x), atol=0.03, rtol=0)


def test_a_label_cvae_with_the_mixture_prior_trains_with_fit():
    draw = torch.Generator().manual_seed(0)
    images = (torch.rand(40, 1, 28, 28, generator=draw) > 0.5).float()
    labels = torch.arange(40) % 10
    seed_everything(0)
    args = {"latent_dim": 2, "num_components": 3}
    model = LabelCVAE("mlp", 2, prior="mixture", prior_args=args)
    start = [p.clone() for p in model.prior.parameters()]

    def loss() -> float:
        torch.manual_seed(0)
        with torch.no_grad():
            return model.loss_terms(images, labels)["loss"].mean().item()

    before = loss()
    batches = Batches(images, labels, batch_size=10, shuffle=True)
    fit(model, batches, epochs=3, progress=False)
    assert loss() < before - 5
    assert not any(map(torch.equal, start, model.prior.parameters()))
    model.eval()
    assert torch.isfinite(model.log_likelihood(images, labels, 5)).all()


@pytest.mark.parametrize("prior", [*PRIORS, MixturePrior(4, num_components=2)])
def test_constructor_args_rebuild_the_model_with_its_prior(prior):
    model = LabelCVAE("mlp", 4, prior=prior)
    args = json.loads(json.dumps(model.constructor_args()))  # JSON-plain values
    rebuilt = LabelCVAE(**args)
    assert type(rebuilt.prior) is type(model.prior)
    assert rebuilt.constructor_args() == args
    rebuilt.load_state_dict(model.state_dict())  # the same names and shapes


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: LearnedPrior(0), ValueError, "latent_dim must be >= 1"),
        (lambda: MixturePrior(2, 10, 0), ValueError, "num_components must be >= 1"),
        (lambda: LearnedPrior(2, 5).sample(LABELS), ValueError, r"lie in \[0, 4\]"),
        (lambda: MixturePrior(2).sample(LABELS, 3), TypeError, "generator must be a"),
    ],
)
def test_bad_prior_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
