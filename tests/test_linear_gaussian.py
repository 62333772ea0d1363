"""cvae.linear_gaussian against independent computations (torch.distributions, the
joint Gaussian), for the model without a condition and with one."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from cvae.linear_gaussian import LinearGaussianModel, random_linear_gaussian

F64 = torch.float64


def random_q(batch: int, latent_dim: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    mean = torch.randn(batch, latent_dim, dtype=F64, generator=generator)
    return mean, 0.5 * torch.randn(batch, latent_dim, dtype=F64, generator=generator)


@pytest.fixture(params=["plain", "conditional"])
def case(request):
    """A model, 8 data points sampled from it, and their conditions (``None``)."""
    generator = torch.Generator().manual_seed(3)
    if request.param == "plain":
        model = random_linear_gaussian(6, 3, noise_std=0.7, seed=0)
        return model, model.sample(8, generator)[1], None
    model = random_linear_gaussian(6, 3, noise_std=0.7, seed=1, condition_dim=4)
    c = torch.randn(8, model.condition_dim, dtype=F64, generator=generator)
    return model, model.sample(c=c, generator=generator)[1], c


def prior_mean_and_offset(model, c):
    """E[z | c] = A c and the decoder's offset U c + b (0 and b without a condition)."""
    if c is None:
        return torch.zeros(model.latent_dim, dtype=F64), model.b
    return c @ model.A.T, c @ model.U.T + model.b


def exact_posterior(model, x, c):
    """p(z | x, c) by conditioning the joint Gaussian of (z, x), another route."""
    W, (prior_mean, offset) = model.W, prior_mean_and_offset(model, c)
    cov_xx = W @ W.T + model.noise_var * torch.eye(model.data_dim, dtype=F64)
    gain = W.T @ torch.linalg.inv(cov_xx)
    mean = prior_mean + (x - offset - prior_mean @ W.T) @ gain.T
    return mean, torch.eye(model.latent_dim, dtype=F64) - gain @ W


def close(a, b, atol=1e-10):
    torch.testing.assert_close(a, b, rtol=0, atol=atol)


def test_log_evidence_matches_multivariate_normal(case):
    model, x, c = case
    prior_mean, offset = prior_mean_and_offset(model, c)
    cov = model.W @ model.W.T + model.noise_var * torch.eye(model.data_dim, dtype=F64)
    expected = MultivariateNormal(offset + prior_mean @ model.W.T, cov).log_prob(x)
    close(model.log_evidence(x, c=c), expected)


def test_posterior_matches_joint_gaussian_conditioning_and_bayes_rule(case):
    model, x, c = case
    mean, covariance = model.posterior(x, c=c)
    expected_mean, expected_covariance = exact_posterior(model, x, c)
    close(mean, expected_mean)
    close(covariance, expected_covariance)
    # log p(z | x) = log p(x, z) - log p(x) at an arbitrary z.
    generator = torch.Generator().manual_seed(4)
    z = torch.randn(len(x), model.latent_dim, dtype=F64, generator=generator)
    log_posterior = MultivariateNormal(mean, covariance).log_prob(z)
    close(model.log_joint(x, z, c=c) - model.log_evidence(x, c=c), log_posterior)


def test_elbo_is_below_the_evidence_by_the_kl_to_the_posterior(case):
    model, x, c = case
    q_mean, q_logvar = random_q(len(x), model.latent_dim, seed=5)
    elbo, log_px = model.elbo(x, q_mean, q_logvar, c=c), model.log_evidence(x, c=c)
    kl = model.kl_to_posterior(x, q_mean, q_logvar, c=c)
    assert bool((elbo < log_px).all()) and bool((kl > 0).all())
    close(log_px - elbo, kl)
    q = MultivariateNormal(q_mean, torch.diag_embed(q_logvar.exp()))
    close(kl, kl_divergence(q, MultivariateNormal(*exact_posterior(model, x, c))))


def test_elbo_is_the_expected_log_likelihood_minus_the_kl_to_the_prior(case):
    """E_q[log p(x | z, c)] by exact Gaussian integration of the squared error, and the
    KL to N(A c, I) (or N(0, I)) from torch."""
    model, x, c = case
    q_mean, q_logvar = random_q(len(x), model.latent_dim, seed=17)
    prior_mean, offset = prior_mean_and_offset(model, c)
    if c is not None:
        assert torch.equal(model.prior(c)[0], prior_mean)
    kl = kl_divergence(Normal(q_mean, (0.5 * q_logvar).exp()), Normal(prior_mean, 1.0))
    squared = (x - q_mean @ model.W.T - offset).pow(2).sum(-1)
    squared = squared + (q_logvar.exp() * model.W.pow(2).sum(0)).sum(-1)
    s2 = model.noise_var
    expected = -0.5 * (model.data_dim * math.log(2 * math.pi * s2) + squared / s2)
    close(model.elbo(x, q_mean, q_logvar, c=c), expected - kl.sum(-1))


@pytest.mark.parametrize("condition_dim", [0, 3])
def test_the_gap_closes_and_the_weights_are_constant_at_a_diagonal_posterior(
    condition_dim,
):
    model = random_linear_gaussian(
        5, 2, 0.4, seed=18, condition_dim=condition_dim, orthogonal_columns=True
    )
    generator = torch.Generator().manual_seed(19)
    c = torch.eye(3, dtype=F64) if condition_dim else None
    _, x = model.sample(3, generator, c=c)
    mean, covariance = model.posterior(x, c=c)
    assert (covariance - torch.diag(covariance.diagonal())).abs().max() < 1e-12
    logvar = covariance.diagonal().log().expand_as(mean)
    log_px = model.log_evidence(x, c=c)
    close(model.elbo(x, mean, logvar, c=c), log_px)
    assert model.kl_to_posterior(x, mean, logvar, c=c).abs().max() < 1e-10
    # At q = p(z | x) every weight p(x, z) / q(z) equals p(x): zero variance.
    weights = model.log_weights(x, mean, logvar, 50, generator, c=c)
    close(weights, log_px.expand_as(weights))


def test_the_best_diagonal_q_leaves_a_gap_for_a_correlated_posterior(case):
    model, x, c = case
    mean, covariance = model.posterior(x, c=c)
    assert abs(covariance[0, 1] / (covariance[0, 0] * covariance[1, 1]).sqrt()) > 0.05
    # The best diagonal q: the posterior mean, variances 1 / diag(precision).
    logvar = (-torch.linalg.inv(covariance).diagonal().log()).expand_as(mean)
    best = model.elbo(x, mean, logvar, c=c)
    assert bool((model.log_evidence(x, c=c) - best > 1e-3).all())
    # ...and it is a maximum: moving the mean or the variances lowers the ELBO.
    for q in [(mean + 0.01, logvar), (mean, logvar + 0.01), (mean, logvar - 0.01)]:
        assert bool((model.elbo(x, *q, c=c) < best).all())


def test_monte_carlo_elbo_converges_to_the_closed_form(case):
    model, x, c = case
    q_mean, q_logvar = random_q(len(x), model.latent_dim, seed=9)
    num_samples, seed = 4_000, torch.Generator().manual_seed(10)
    weights = model.log_weights(x, q_mean, q_logvar, num_samples, seed, c=c)
    again = torch.Generator().manual_seed(10)
    estimate = model.elbo_monte_carlo(x, q_mean, q_logvar, num_samples, again, c=c)
    close(estimate, weights.mean(0), atol=1e-12)
    standard_error = weights.std(0) / math.sqrt(num_samples)
    error = (estimate - model.elbo(x, q_mean, q_logvar, c=c)).abs()
    assert bool((error < 5 * standard_error).all()), (error, standard_error)


def test_samples_are_reproducible_with_the_marginal_moments():
    model = random_linear_gaussian(6, 3, noise_std=0.7, seed=0)
    z1, x1 = model.sample(4, torch.Generator().manual_seed(14))
    z2, x2 = model.sample(4, torch.Generator().manual_seed(14))
    assert torch.equal(z1, z2) and torch.equal(x1, x2) and z1.shape == (4, 3)
    _, x = model.sample(40_000, torch.Generator().manual_seed(15))
    cov = model.W @ model.W.T + model.noise_var * torch.eye(model.data_dim, dtype=F64)
    assert (x.mean(0) - model.b).abs().max() < 0.1
    assert (torch.cov(x.T) - cov).abs().max() < 0.15
    # With a condition, one sample per row of c (n may be left out).
    model = random_linear_gaussian(6, 3, noise_std=0.7, seed=1, condition_dim=4)
    c = torch.randn(5, 4, dtype=F64)
    _, x1 = model.sample(c=c, generator=torch.Generator().manual_seed(25))
    _, x2 = model.sample(5, torch.Generator().manual_seed(25), c=c)
    assert torch.equal(x1, x2) and x1.shape == (5, 6)


def test_random_constructor_draws_w_first_then_a_u_b():
    # The book's numbers depend on this order: W, then (with a condition) A and U, b.
    plain = random_linear_gaussian(5, 2, 0.3, seed=3)
    conditioned = random_linear_gaussian(5, 2, 0.3, seed=3, condition_dim=4)
    generator = torch.Generator().manual_seed(3)
    shapes = [(5, 2), (2, 4), (5, 4), (5,)]
    W, A, U, b = (torch.randn(*s, dtype=F64, generator=generator) for s in shapes)
    assert torch.equal(conditioned.W, W) and torch.equal(conditioned.A, A)
    assert torch.equal(conditioned.U, U) and torch.equal(conditioned.b, b)
    assert torch.equal(plain.W, W) and plain.A is None and plain.U is None
    assert (plain.condition_dim, conditioned.condition_dim) == (0, 4)


def test_zero_condition_maps_give_the_unconditional_model():
    model = random_linear_gaussian(6, 3, noise_std=0.7, seed=0)
    _, x = model.sample(8, torch.Generator().manual_seed(2))
    A, U = torch.zeros(3, 2, dtype=F64), torch.zeros(6, 2, dtype=F64)
    conditioned = LinearGaussianModel(model.W, model.b, model.noise_std, A=A, U=U)
    c = torch.randn(8, 2, dtype=F64)
    q_mean, q_logvar = random_q(8, 3, seed=22)
    close(conditioned.log_evidence(x, c=c), model.log_evidence(x), atol=1e-12)
    elbo = conditioned.elbo(x, q_mean, q_logvar, c=c)
    close(elbo, model.elbo(x, q_mean, q_logvar), atol=1e-12)
