"""The exactly solvable models of cvae.linear_gaussian against independent computations."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from cvae.linear_gaussian import LinearGaussianModel, random_linear_gaussian

F64 = torch.float64


def random_q(batch: int, latent_dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    mean = torch.randn(batch, latent_dim, dtype=F64, generator=generator)
    logvar = 0.5 * torch.randn(batch, latent_dim, dtype=F64, generator=generator)
    return mean, logvar


@pytest.fixture
def model() -> LinearGaussianModel:
    return random_linear_gaussian(data_dim=6, latent_dim=3, noise_std=0.7, seed=0)


@pytest.fixture
def conditional() -> LinearGaussianModel:
    return random_linear_gaussian(data_dim=6, latent_dim=3, noise_std=0.7, seed=1, condition_dim=4)


@pytest.fixture
def data(model: LinearGaussianModel) -> torch.Tensor:
    _, x = model.sample(8, torch.Generator().manual_seed(2))
    return x


@pytest.fixture
def conditional_data(conditional: LinearGaussianModel) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    c = torch.randn(8, conditional.condition_dim, dtype=F64, generator=generator)
    _, x = conditional.sample(c=c, generator=generator)
    return x, c


def joint_gaussian_posterior(prior_mean, W, offset, noise_var, x):
    """p(z | x) by conditioning the joint Gaussian of (z, x) (a different route from the module's)."""
    d = W.shape[1]
    cov_xx = W @ W.T + noise_var * torch.eye(W.shape[0], dtype=F64)
    gain = W.T @ torch.linalg.inv(cov_xx)
    mean = prior_mean + (x - offset - prior_mean @ W.T) @ gain.T
    return mean, torch.eye(d, dtype=F64) - gain @ W


# ------------------------------------------------------------------------------ unconditional


def test_log_evidence_matches_multivariate_normal(model, data):
    covariance = model.W @ model.W.T + model.noise_var * torch.eye(model.data_dim, dtype=F64)
    expected = MultivariateNormal(model.b, covariance).log_prob(data)
    torch.testing.assert_close(model.log_evidence(data), expected, rtol=0, atol=1e-10)


def test_posterior_matches_joint_gaussian_conditioning(model, data):
    mean, covariance = model.posterior(data)
    zero_prior_mean = torch.zeros(model.latent_dim, dtype=F64)
    expected_mean, expected_cov = joint_gaussian_posterior(zero_prior_mean, model.W, model.b, model.noise_var, data)
    torch.testing.assert_close(mean, expected_mean, rtol=0, atol=1e-10)
    torch.testing.assert_close(covariance, expected_cov, rtol=0, atol=1e-10)


def test_bayes_rule_holds_pointwise(model, data):
    # log p(z | x) = log p(x, z) - log p(x) at an arbitrary z.
    z = torch.randn(data.shape[0], model.latent_dim, dtype=F64, generator=torch.Generator().manual_seed(4))
    mean, covariance = model.posterior(data)
    log_posterior = MultivariateNormal(mean, covariance).log_prob(z)
    torch.testing.assert_close(model.log_joint(data, z) - model.log_evidence(data), log_posterior, rtol=0, atol=1e-10)


def test_elbo_is_below_log_evidence_and_gap_is_the_kl(model, data):
    q_mean, q_logvar = random_q(data.shape[0], model.latent_dim, seed=5)
    elbo = model.elbo(data, q_mean, q_logvar)
    log_px = model.log_evidence(data)
    kl = model.kl_to_posterior(data, q_mean, q_logvar)
    assert bool((elbo < log_px).all())
    assert bool((kl > 0).all())
    torch.testing.assert_close(log_px - elbo, kl, rtol=0, atol=1e-10)


def test_kl_to_posterior_matches_torch(model, data):
    q_mean, q_logvar = random_q(data.shape[0], model.latent_dim, seed=6)
    mean, covariance = model.posterior(data)
    q = MultivariateNormal(q_mean, torch.diag_embed(q_logvar.exp()))
    expected = kl_divergence(q, MultivariateNormal(mean, covariance))
    torch.testing.assert_close(model.kl_to_posterior(data, q_mean, q_logvar), expected, rtol=0, atol=1e-10)


def test_gap_closes_at_a_diagonal_posterior():
    model = random_linear_gaussian(data_dim=6, latent_dim=3, noise_std=0.7, seed=7, orthogonal_columns=True)
    _, x = model.sample(5, torch.Generator().manual_seed(8))
    mean, covariance = model.posterior(x)
    off_diagonal = covariance - torch.diag(covariance.diagonal())
    assert off_diagonal.abs().max() < 1e-12
    logvar = covariance.diagonal().log().expand_as(mean)
    torch.testing.assert_close(model.elbo(x, mean, logvar), model.log_evidence(x), rtol=0, atol=1e-10)
    assert model.kl_to_posterior(x, mean, logvar).abs().max() < 1e-10


def test_gap_stays_positive_for_a_correlated_posterior(model, data):
    mean, covariance = model.posterior(data)
    correlation = covariance[0, 1] / (covariance[0, 0] * covariance[1, 1]).sqrt()
    assert abs(correlation) > 0.05
    # The best diagonal q (mean-field): the posterior mean, variances 1 / diag(precision).
    logvar = (-torch.linalg.inv(covariance).diagonal().log()).expand_as(mean)
    gap = model.log_evidence(data) - model.elbo(data, mean, logvar)
    assert bool((gap > 1e-3).all())
    # ...and it is a maximum: moving the mean or the variances lowers the ELBO.
    for q_mean, q_logvar in [(mean + 0.01, logvar), (mean, logvar + 0.01), (mean, logvar - 0.01)]:
        assert bool((model.elbo(data, q_mean, q_logvar) < model.elbo(data, mean, logvar)).all())


def test_monte_carlo_elbo_converges_to_closed_form(model, data):
    q_mean, q_logvar = random_q(data.shape[0], model.latent_dim, seed=9)
    num_samples = 4_000
    weights = model.log_weights(data, q_mean, q_logvar, num_samples, torch.Generator().manual_seed(10))
    estimate = model.elbo_monte_carlo(data, q_mean, q_logvar, num_samples, torch.Generator().manual_seed(10))
    torch.testing.assert_close(estimate, weights.mean(0), rtol=0, atol=1e-12)
    standard_error = weights.std(0) / math.sqrt(num_samples)
    error = (estimate - model.elbo(data, q_mean, q_logvar)).abs()
    assert bool((error < 5 * standard_error).all()), (error, standard_error)


def test_monte_carlo_is_exact_at_the_exact_posterior():
    # At q = p(z|x) every weight p(x, z) / q(z) equals p(x): zero variance.
    model = random_linear_gaussian(data_dim=4, latent_dim=2, noise_std=0.5, seed=11, orthogonal_columns=True)
    _, x = model.sample(3, torch.Generator().manual_seed(12))
    mean, covariance = model.posterior(x)
    logvar = covariance.diagonal().log().expand_as(mean)
    weights = model.log_weights(x, mean, logvar, 50, torch.Generator().manual_seed(13))
    torch.testing.assert_close(weights, model.log_evidence(x).expand_as(weights), rtol=0, atol=1e-10)


def test_sample_is_reproducible_and_has_the_marginal_moments(model):
    z1, x1 = model.sample(4, torch.Generator().manual_seed(14))
    z2, x2 = model.sample(4, torch.Generator().manual_seed(14))
    assert torch.equal(z1, z2) and torch.equal(x1, x2)
    assert z1.shape == (4, model.latent_dim) and x1.shape == (4, model.data_dim)
    _, x = model.sample(40_000, torch.Generator().manual_seed(15))
    covariance = model.W @ model.W.T + model.noise_var * torch.eye(model.data_dim, dtype=F64)
    assert (x.mean(0) - model.b).abs().max() < 0.1
    assert (torch.cov(x.T) - covariance).abs().max() < 0.15


def test_random_linear_gaussian_is_reproducible():
    first = random_linear_gaussian(5, 2, 0.3, seed=3)
    second = random_linear_gaussian(5, 2, 0.3, seed=3)
    assert torch.equal(first.W, second.W) and torch.equal(first.b, second.b)
    assert not torch.equal(first.W, random_linear_gaussian(5, 2, 0.3, seed=4).W)


# ------------------------------------------------------------------------------ conditional


def test_conditional_log_evidence_matches_multivariate_normal(conditional, conditional_data):
    x, c = conditional_data
    m = conditional
    covariance = m.W @ m.W.T + m.noise_var * torch.eye(m.data_dim, dtype=F64)
    mean = c @ (m.W @ m.A + m.U).T + m.b
    expected = MultivariateNormal(mean, covariance).log_prob(x)
    torch.testing.assert_close(m.log_evidence(x, c=c), expected, rtol=0, atol=1e-10)


def test_conditional_posterior_matches_joint_gaussian_conditioning(conditional, conditional_data):
    x, c = conditional_data
    m = conditional
    mean, covariance = m.posterior(x, c=c)
    expected_mean, expected_cov = joint_gaussian_posterior(c @ m.A.T, m.W, c @ m.U.T + m.b, m.noise_var, x)
    torch.testing.assert_close(mean, expected_mean, rtol=0, atol=1e-10)
    torch.testing.assert_close(covariance, expected_cov, rtol=0, atol=1e-10)


def test_conditional_elbo_bound_and_gap(conditional, conditional_data):
    x, c = conditional_data
    q_mean, q_logvar = random_q(x.shape[0], conditional.latent_dim, seed=16)
    elbo = conditional.elbo(x, q_mean, q_logvar, c=c)
    log_px = conditional.log_evidence(x, c=c)
    kl = conditional.kl_to_posterior(x, q_mean, q_logvar, c=c)
    assert bool((elbo < log_px).all())
    torch.testing.assert_close(log_px - elbo, kl, rtol=0, atol=1e-10)
    mean, covariance = conditional.posterior(x, c=c)
    q = MultivariateNormal(q_mean, torch.diag_embed(q_logvar.exp()))
    torch.testing.assert_close(kl, kl_divergence(q, MultivariateNormal(mean, covariance)), rtol=0, atol=1e-10)


def test_conditional_elbo_uses_the_conditional_prior(conditional, conditional_data):
    # ELBO = E_q[log p(x|z,c)] - KL(q || N(Ac, I)): compare with torch's KL of Normals.
    x, c = conditional_data
    q_mean, q_logvar = random_q(x.shape[0], conditional.latent_dim, seed=17)
    prior_mean, prior_logvar = conditional.prior(c)
    torch.testing.assert_close(prior_mean, c @ conditional.A.T)
    assert torch.equal(prior_logvar, torch.zeros_like(prior_mean))
    kl = kl_divergence(Normal(q_mean, (0.5 * q_logvar).exp()), Normal(prior_mean, 1.0)).sum(-1)
    # E_q[log p(x | z, c)] by exact Gaussian integration of the squared error.
    decoder_mean = q_mean @ conditional.W.T + c @ conditional.U.T + conditional.b
    squared = (x - decoder_mean).pow(2).sum(-1) + (q_logvar.exp() * conditional.W.pow(2).sum(0)).sum(-1)
    s2 = conditional.noise_var
    expected_ll = -0.5 * (conditional.data_dim * math.log(2 * math.pi * s2) + squared / s2)
    torch.testing.assert_close(conditional.elbo(x, q_mean, q_logvar, c=c), expected_ll - kl, rtol=0, atol=1e-10)


def test_conditional_gap_closes_at_a_diagonal_posterior():
    m = random_linear_gaussian(5, 2, noise_std=0.4, seed=18, condition_dim=3, orthogonal_columns=True)
    generator = torch.Generator().manual_seed(19)
    c = torch.nn.functional.one_hot(torch.arange(3), 3).to(F64)
    _, x = m.sample(c=c, generator=generator)
    mean, covariance = m.posterior(x, c=c)
    logvar = covariance.diagonal().log().expand_as(mean)
    torch.testing.assert_close(m.elbo(x, mean, logvar, c=c), m.log_evidence(x, c=c), rtol=0, atol=1e-10)


def test_conditional_monte_carlo_elbo_converges(conditional, conditional_data):
    x, c = conditional_data
    q_mean, q_logvar = random_q(x.shape[0], conditional.latent_dim, seed=20)
    num_samples = 4_000
    weights = conditional.log_weights(x, q_mean, q_logvar, num_samples, torch.Generator().manual_seed(21), c=c)
    standard_error = weights.std(0) / math.sqrt(num_samples)
    error = (weights.mean(0) - conditional.elbo(x, q_mean, q_logvar, c=c)).abs()
    assert bool((error < 5 * standard_error).all()), (error, standard_error)
    estimate = conditional.elbo_monte_carlo(x, q_mean, q_logvar, num_samples, torch.Generator().manual_seed(21), c=c)
    torch.testing.assert_close(estimate, weights.mean(0), rtol=0, atol=1e-12)


def test_conditional_sample_takes_its_size_from_c(conditional, conditional_data):
    _, c = conditional_data
    z1, x1 = conditional.sample(c=c, generator=torch.Generator().manual_seed(25))
    z2, x2 = conditional.sample(len(c), torch.Generator().manual_seed(25), c=c)
    assert torch.equal(z1, z2) and torch.equal(x1, x2)
    assert z1.shape == (len(c), conditional.latent_dim) and x1.shape == (len(c), conditional.data_dim)


def test_random_constructor_draws_w_first_then_a_u_b():
    # The book's numbers depend on this order: W, then (with a condition) A and U, then b.
    plain = random_linear_gaussian(5, 2, 0.3, seed=3)
    conditioned = random_linear_gaussian(5, 2, 0.3, seed=3, condition_dim=4)
    generator = torch.Generator().manual_seed(3)
    W, A, U, b = (torch.randn(*shape, dtype=F64, generator=generator) for shape in [(5, 2), (2, 4), (5, 4), (5,)])
    assert torch.equal(conditioned.W, W) and torch.equal(conditioned.A, A)
    assert torch.equal(conditioned.U, U) and torch.equal(conditioned.b, b)
    assert torch.equal(plain.W, W) and plain.A is None and plain.U is None
    assert (plain.condition_dim, conditioned.condition_dim) == (0, 4)


def test_conditional_with_zero_condition_maps_is_the_unconditional_model(model, data):
    A = torch.zeros(model.latent_dim, 2, dtype=F64)
    U = torch.zeros(model.data_dim, 2, dtype=F64)
    m = LinearGaussianModel(model.W, model.b, model.noise_std, A=A, U=U)
    c = torch.randn(data.shape[0], 2, dtype=F64)
    q_mean, q_logvar = random_q(data.shape[0], model.latent_dim, seed=22)
    torch.testing.assert_close(m.log_evidence(data, c=c), model.log_evidence(data), rtol=0, atol=1e-12)
    torch.testing.assert_close(
        m.elbo(data, q_mean, q_logvar, c=c), model.elbo(data, q_mean, q_logvar), rtol=0, atol=1e-12
    )


# ------------------------------------------------------------------------------ bad inputs


def test_model_rejects_bad_parameters():
    W = torch.randn(4, 2, dtype=F64)
    b = torch.zeros(4, dtype=F64)
    with pytest.raises(ValueError, match="noise_std"):
        LinearGaussianModel(W, b, -0.1)
    with pytest.raises(ValueError, match="noise_std"):
        LinearGaussianModel(W, b, 0.0)
    with pytest.raises(TypeError, match="noise_std"):
        LinearGaussianModel(W, b, "0.5")
    with pytest.raises(TypeError, match="W must be float64"):
        LinearGaussianModel(W.float(), b, 0.5)
    with pytest.raises(ValueError, match="W contains NaN"):
        LinearGaussianModel(torch.full((4, 2), float("nan"), dtype=F64), b, 0.5)
    with pytest.raises(ValueError, match="b must have 4"):
        LinearGaussianModel(W, torch.zeros(3, dtype=F64), 0.5)
    with pytest.raises(ValueError, match="W must have 2 dimensions"):
        LinearGaussianModel(torch.zeros(4, dtype=F64), b, 0.5)
    with pytest.raises(ValueError, match="A must have"):
        LinearGaussianModel(W, b, 0.5, A=torch.zeros(3, 2, dtype=F64), U=torch.zeros(4, 2, dtype=F64))
    with pytest.raises(ValueError, match="U must have"):
        LinearGaussianModel(W, b, 0.5, A=torch.zeros(2, 2, dtype=F64), U=torch.zeros(5, 2, dtype=F64))
    with pytest.raises(ValueError, match="give both A and U"):
        LinearGaussianModel(W, b, 0.5, A=torch.zeros(2, 2, dtype=F64))
    with pytest.raises(ValueError, match="noise_std"):
        random_linear_gaussian(4, 2, noise_std=-1.0, seed=0)
    with pytest.raises(ValueError, match="condition_dim must be >= 0"):
        random_linear_gaussian(4, 2, noise_std=1.0, seed=0, condition_dim=-1)
    with pytest.raises(ValueError, match="latent_dim <= data_dim"):
        random_linear_gaussian(2, 3, noise_std=1.0, seed=0, orthogonal_columns=True)


def test_methods_reject_bad_inputs(model, data):
    q_mean, q_logvar = random_q(data.shape[0], model.latent_dim, seed=23)
    with pytest.raises(ValueError, match="x must have 6 entries"):
        model.log_evidence(data[:, :5])
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        model.posterior(data[0])
    with pytest.raises(TypeError, match="x must be float64"):
        model.log_evidence(data.float())
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        model.log_evidence(data.tolist())
    nan_data = data.clone()
    nan_data[0, 0] = float("nan")
    with pytest.raises(ValueError, match="x contains NaN"):
        model.elbo(nan_data, q_mean, q_logvar)
    with pytest.raises(ValueError, match="q_logvar contains NaN"):
        model.elbo(data, q_mean, torch.full_like(q_logvar, float("nan")))
    with pytest.raises(ValueError, match="q_mean must have 3 entries"):
        model.kl_to_posterior(data, q_mean[:, :2], q_logvar)
    with pytest.raises(ValueError, match=r"batch sizes must match: x\(8, 6\), q_mean\(7, 3\)"):
        model.elbo(data, q_mean[:7], q_logvar)
    with pytest.raises(ValueError, match="num_samples"):
        model.elbo_monte_carlo(data, q_mean, q_logvar, 0)
    with pytest.raises(TypeError, match="generator"):
        model.elbo_monte_carlo(data, q_mean, q_logvar, 10, generator=0)
    with pytest.raises(ValueError, match="z must hold one latent per row of x"):
        model.log_joint(data, torch.zeros(3, model.latent_dim, dtype=F64))
    with pytest.raises(ValueError, match="n must be >= 1"):
        model.sample(0)


def test_conditional_methods_reject_bad_inputs(conditional, conditional_data):
    x, c = conditional_data
    q_mean, q_logvar = random_q(x.shape[0], conditional.latent_dim, seed=24)
    with pytest.raises(ValueError, match="c must have 4 entries"):
        conditional.log_evidence(x, c=c[:, :3])
    with pytest.raises(ValueError, match=r"batch sizes must match: x\(8, 6\), c\(5, 4\)"):
        conditional.posterior(x, c=c[:5])
    with pytest.raises(TypeError, match="c must be float64"):
        conditional.elbo(x, q_mean, q_logvar, c=c.float())
    bad = c.clone()
    bad[1, 1] = float("inf")
    with pytest.raises(ValueError, match="c contains NaN or infinite"):
        conditional.kl_to_posterior(x, q_mean, q_logvar, c=bad)
    with pytest.raises(ValueError, match="c must have 2 dimensions"):
        conditional.sample(c=c[0])


def test_c_is_required_exactly_for_a_conditional_model(model, data, conditional, conditional_data):
    x, c = conditional_data
    q_mean, q_logvar = random_q(x.shape[0], conditional.latent_dim, seed=26)
    with pytest.raises(TypeError, match="c was given, but this model has no condition"):
        model.log_evidence(data, c=c)
    with pytest.raises(TypeError, match="c was given, but this model has no condition"):
        model.prior(c)
    with pytest.raises(TypeError, match="c is required: this model has a condition of 4 coordinates"):
        conditional.elbo(x, q_mean, q_logvar)
    with pytest.raises(TypeError, match="c is required"):
        conditional.sample(8)
    with pytest.raises(ValueError, match="n must be left out or equal c's 8 rows, got 3"):
        conditional.sample(3, c=c)
