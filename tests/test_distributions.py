"""cvae.distributions against torch.distributions, computed independently.

Every expectation here comes from ``torch.distributions`` (or a naive formula), never
from running the function under test and copying its output.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from cvae.distributions import (
    bernoulli_log_likelihood,
    gaussian_kl,
    gaussian_log_density,
    log_mean_exp,
    reparameterize,
)

DTYPE = torch.float64  # the references are computed in double; so are the inputs


def diag_normal(mu: torch.Tensor, logvar: torch.Tensor) -> Independent:
    """A diagonal Gaussian over the last dimension, parameterized by log-variance."""
    return Independent(Normal(mu, (0.5 * logvar).exp()), 1)


def params(*shape: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(shape, generator=g, dtype=DTYPE) * 2.0
    logvar = torch.randn(shape, generator=g, dtype=DTYPE) * 1.5
    return mu, logvar


# --------------------------------------------------------------------------- gaussian_kl


@pytest.mark.parametrize("shape", [(7, 5), (3, 7, 5), (1,)])
def test_gaussian_kl_standard_prior_matches_torch(shape):
    mu, logvar = params(*shape, seed=1)
    prior = diag_normal(torch.zeros_like(mu), torch.zeros_like(logvar))
    expected = kl_divergence(diag_normal(mu, logvar), prior)
    got = gaussian_kl(mu, logvar)
    assert got.shape == shape[:-1]
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("shape", [(7, 5), (3, 7, 5)])
def test_gaussian_kl_general_prior_matches_torch(shape):
    mu_q, logvar_q = params(*shape, seed=2)
    mu_p, logvar_p = params(*shape, seed=3)
    expected = kl_divergence(diag_normal(mu_q, logvar_q), diag_normal(mu_p, logvar_p))
    got = gaussian_kl(mu_q, logvar_q, mu_p, logvar_p)
    assert got.shape == shape[:-1]
    torch.testing.assert_close(got, expected)


def test_gaussian_kl_is_zero_for_identical_and_positive_otherwise():
    mu, logvar = params(4, 6, seed=4)
    torch.testing.assert_close(gaussian_kl(mu, logvar, mu, logvar), torch.zeros(4, dtype=DTYPE))
    assert bool((gaussian_kl(mu, logvar) > 0).all())


def test_gaussian_kl_float32_and_gradients():
    mu, logvar = (t.float().requires_grad_() for t in params(8, 3, seed=5))
    gaussian_kl(mu, logvar).sum().backward()
    # d/dmu = mu, d/dlogvar = (exp(logvar) - 1) / 2 for the standard prior
    torch.testing.assert_close(mu.grad, mu.detach())
    torch.testing.assert_close(logvar.grad, 0.5 * (logvar.detach().exp() - 1.0))


def extreme_gaussians() -> tuple[torch.Tensor, ...]:
    """Every pairing of log-variances -120, 0 and 200 (beyond float32's exp: e^-120 underflows,
    e^200 overflows), with equal means and with means 0.5 apart: the columns of ``(mu_q,
    logvar_q, mu_p, logvar_p)``, each ``(18, 1)`` in float64."""
    levels = torch.tensor([-120.0, 0.0, 200.0], dtype=DTYPE)
    distances = torch.tensor([0.0, 0.5], dtype=DTYPE)
    logvar_q, logvar_p, mu_q = torch.cartesian_prod(levels, levels, distances).T
    return mu_q[:, None], logvar_q[:, None], torch.zeros_like(mu_q)[:, None], logvar_p[:, None]


def test_extreme_finite_log_variances_give_the_float64_values_in_float32():
    """Where the float64 value fits in float32 the float32 result is that value, else inf: never
    NaN (the old quotients gave 0/0 at logvar -120)."""
    mu_q, logvar_q, mu_p, logvar_p = extreme_gaussians()
    standard = diag_normal(torch.zeros_like(mu_q), torch.zeros_like(logvar_q))
    expected = {
        "kl": kl_divergence(diag_normal(mu_q, logvar_q), diag_normal(mu_p, logvar_p)),
        "kl to N(0, I)": kl_divergence(diag_normal(mu_q, logvar_q), standard),
        "log density": diag_normal(mu_p, logvar_p).log_prob(mu_q),
    }
    assert all(bool(value.isfinite().all()) for value in expected.values())  # all finite in float64
    mu_q, logvar_q, mu_p, logvar_p = (t.float() for t in (mu_q, logvar_q, mu_p, logvar_p))
    got = {
        "kl": gaussian_kl(mu_q, logvar_q, mu_p, logvar_p),
        "kl to N(0, I)": gaussian_kl(mu_q, logvar_q),
        "log density": gaussian_log_density(mu_q, mu_p, logvar_p),
    }
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value.float(), msg=lambda text: f"{name}: {text}")


# ------------------------------------------------------------------ gaussian_log_density


def test_gaussian_log_density_matches_torch_same_shape():
    mu, logvar = params(6, 4, seed=6)
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(7), dtype=DTYPE)
    got = gaussian_log_density(z, mu, logvar)
    assert got.shape == (6,)
    torch.testing.assert_close(got, diag_normal(mu, logvar).log_prob(z))


def test_gaussian_log_density_broadcasts_samples_against_parameters():
    mu, logvar = params(6, 4, seed=8)  # (B, d)
    z = torch.randn(5, 6, 4, generator=torch.Generator().manual_seed(9), dtype=DTYPE)  # (S, B, d)
    got = gaussian_log_density(z, mu, logvar)
    assert got.shape == (5, 6)
    torch.testing.assert_close(got, diag_normal(mu, logvar).log_prob(z))


def test_gaussian_log_density_standard_normal_at_origin():
    d = 3
    got = gaussian_log_density(torch.zeros(2, d, dtype=DTYPE), torch.zeros(d, dtype=DTYPE), torch.zeros(d, dtype=DTYPE))
    torch.testing.assert_close(got, torch.full((2,), -0.5 * d * math.log(2 * math.pi), dtype=DTYPE))


# -------------------------------------------------------------- bernoulli_log_likelihood


def _logits_and_target(logit_shape, target_shape, seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(logit_shape, generator=g, dtype=DTYPE) * 3.0
    target = (torch.rand(target_shape, generator=g, dtype=DTYPE) > 0.5).to(DTYPE)
    return logits, target


def test_bernoulli_flat_pixels_matches_torch():
    logits, target = _logits_and_target((5, 784), (5, 784), seed=10)
    got = bernoulli_log_likelihood(logits, target)
    assert got.shape == (5,)
    torch.testing.assert_close(got, Bernoulli(logits=logits).log_prob(target).sum(-1))


def test_bernoulli_image_shaped_pixels_matches_torch():
    logits, target = _logits_and_target((5, 1, 28, 28), (5, 1, 28, 28), seed=11)
    got = bernoulli_log_likelihood(logits, target)
    assert got.shape == (5,)
    torch.testing.assert_close(got, Bernoulli(logits=logits).log_prob(target).sum((1, 2, 3)))


def test_bernoulli_stacked_samples_against_one_target():
    logits, target = _logits_and_target((4, 5, 784), (5, 784), seed=12)
    got = bernoulli_log_likelihood(logits, target)
    assert got.shape == (4, 5)
    expected = Bernoulli(logits=logits).log_prob(target.expand(4, 5, 784)).sum(-1)
    torch.testing.assert_close(got, expected)


def test_bernoulli_grey_level_targets_match_the_formula():
    g = torch.Generator().manual_seed(13)
    logits = torch.randn(3, 20, generator=g, dtype=DTYPE)
    target = torch.rand(3, 20, generator=g, dtype=DTYPE)
    p = torch.sigmoid(logits)
    expected = (target * p.log() + (1 - target) * (1 - p).log()).sum(-1)
    torch.testing.assert_close(bernoulli_log_likelihood(logits, target), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bernoulli_is_finite_at_extreme_logits(dtype):
    logits = torch.tensor([[100.0, -100.0, 100.0, -100.0]], dtype=dtype)
    right = torch.tensor([[1.0, 0.0, 1.0, 0.0]], dtype=dtype)
    wrong = 1.0 - right
    good = bernoulli_log_likelihood(logits, right)
    bad = bernoulli_log_likelihood(logits, wrong)
    assert bool(torch.isfinite(good).all()) and bool(torch.isfinite(bad).all())
    assert abs(good.item()) < 1e-6  # confident and right: log-probability ~ 0
    torch.testing.assert_close(bad, torch.tensor([-400.0], dtype=dtype))  # log sigmoid(-100) ~ -100 each
    logits.requires_grad_()
    bernoulli_log_likelihood(logits, wrong).sum().backward()
    assert bool(torch.isfinite(logits.grad).all())


# ---------------------------------------------------------------------- log_mean_exp


def test_log_mean_exp_matches_naive_formula_for_moderate_values():
    v = torch.randn(10, 4, generator=torch.Generator().manual_seed(14), dtype=DTYPE) * 5
    torch.testing.assert_close(log_mean_exp(v, dim=0), v.exp().mean(0).log())
    torch.testing.assert_close(log_mean_exp(v, dim=1), v.exp().mean(1).log())
    torch.testing.assert_close(log_mean_exp(v, dim=-1), v.exp().mean(-1).log())


def test_log_mean_exp_stays_finite_where_naive_underflows():
    v = torch.tensor([-1000.0, -1001.0, -1002.0], dtype=DTYPE)
    naive = v.exp().mean().log()
    assert naive.item() == -math.inf  # the reason the function exists
    got = log_mean_exp(v)
    expected = -1000.0 + math.log((1 + math.exp(-1) + math.exp(-2)) / 3)
    assert math.isfinite(got.item())
    assert got.item() == pytest.approx(expected, abs=1e-9)


def test_log_mean_exp_of_constant_is_that_constant():
    assert log_mean_exp(torch.full((7,), -750.0)).item() == pytest.approx(-750.0)


# -------------------------------------------------------------------- reparameterize


def test_reparameterize_moments_match_within_standard_error():
    n = 200_000
    mu = torch.tensor([0.0, 3.0, -2.0], dtype=DTYPE)
    logvar = torch.tensor([0.0, math.log(4.0), math.log(0.25)], dtype=DTYPE)
    g = torch.Generator().manual_seed(15)
    z = reparameterize(mu.expand(n, 3), logvar.expand(n, 3), generator=g)
    assert z.shape == (n, 3)
    var = logvar.exp()
    # mean: standard error sqrt(var / n); variance: standard error var * sqrt(2 / n)
    assert bool(((z.mean(0) - mu).abs() < 5 * (var / n).sqrt()).all()), z.mean(0)
    assert bool(((z.var(0) - var).abs() < 5 * var * math.sqrt(2 / n)).all()), z.var(0)


def test_reparameterize_gradients_flow_to_mu_and_logvar():
    mu = torch.tensor([[0.5, -1.0]], requires_grad=True)
    logvar = torch.tensor([[0.2, -0.3]], requires_grad=True)
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(16))
    z.sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    eps = (z.detach() - mu.detach()) / (0.5 * logvar.detach()).exp()
    torch.testing.assert_close(logvar.grad, 0.5 * (0.5 * logvar.detach()).exp() * eps)


def test_reparameterize_same_seed_same_draws():
    mu, logvar = params(4, 3, seed=17)
    a = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    b = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    c = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


# ----------------------------------------------------------------------- bad inputs

X = torch.zeros(2, 3)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: gaussian_kl([0.0], X), TypeError, "mu_q must be a torch.Tensor"),
        (lambda: gaussian_kl(X, torch.zeros(2, 3, dtype=torch.int64)), TypeError, "logvar_q must be a floating"),
        (lambda: gaussian_kl(torch.full((2, 3), math.nan), X), ValueError, "mu_q contains NaN"),
        (lambda: gaussian_kl(X, torch.zeros(2, 4)), ValueError, r"mu_q\(2, 3\).*logvar_q\(2, 4\)"),
        (lambda: gaussian_kl(X, X, mu_p=X), ValueError, "mu_p and logvar_p"),
        (lambda: gaussian_kl(X, X, logvar_p=X), ValueError, "mu_p and logvar_p"),
        (lambda: gaussian_kl(X, X, X, torch.zeros(3, 2)), ValueError, r"logvar_p\(3, 2\)"),
        (lambda: gaussian_kl(X, X, X, torch.full((2, 3), math.inf)), ValueError, "logvar_p contains NaN or inf"),
        (lambda: gaussian_log_density(1.0, X, X), TypeError, "z must be a torch.Tensor"),
        (lambda: gaussian_log_density(X, torch.zeros(2, 3, dtype=torch.int32), X), TypeError, "mu must be a floating"),
        (lambda: gaussian_log_density(X, X, torch.full((2, 3), math.nan)), ValueError, "logvar contains NaN"),
        (lambda: gaussian_log_density(X, torch.zeros(2, 4), X), ValueError, r"\bz\b.*\bmu\b"),
        (lambda: bernoulli_log_likelihood("logits", X), TypeError, "logits must be a torch.Tensor"),
        (lambda: bernoulli_log_likelihood(X, torch.zeros(2, 3, dtype=torch.uint8)), TypeError, "target must be a floating"),
        (lambda: bernoulli_log_likelihood(X, torch.full((2, 3), 1.5)), ValueError, r"target must lie in \[0.0, 1.0\]"),
        (lambda: bernoulli_log_likelihood(X, torch.full((2, 3), -0.1)), ValueError, "target must lie in"),
        (lambda: bernoulli_log_likelihood(torch.full((2, 3), math.nan), X), ValueError, "logits contains NaN"),
        (lambda: bernoulli_log_likelihood(X, torch.zeros(2, 4)), ValueError, r"logits\(2, 3\).*target\(2, 4\)"),
        (lambda: bernoulli_log_likelihood(X, torch.zeros(5, 3)), ValueError, r"target\(5, 3\).*logits\(2, 3\)"),
        (lambda: bernoulli_log_likelihood(X, torch.zeros(1, 2, 3)), ValueError, "target has more dimensions"),
        (lambda: log_mean_exp([1.0, 2.0]), TypeError, "values must be a torch.Tensor"),
        (lambda: log_mean_exp(torch.tensor([1, 2])), TypeError, "values must be a floating"),
        (lambda: log_mean_exp(torch.tensor([1.0, math.nan])), ValueError, "values contains NaN"),
        (lambda: log_mean_exp(torch.zeros(0, 3)), ValueError, "values must have at least one entry"),
        (lambda: reparameterize(None, X), TypeError, "mu must be a torch.Tensor"),
        (lambda: reparameterize(X, torch.zeros(2, 3, dtype=torch.int64)), TypeError, "logvar must be a floating"),
        (lambda: reparameterize(X, torch.zeros(3, 2)), ValueError, r"mu\(2, 3\).*logvar\(3, 2\)"),
        (lambda: reparameterize(X, torch.full((2, 3), math.inf)), ValueError, "logvar contains NaN or inf"),
    ],
)
def test_bad_inputs_raise_errors_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_log_mean_exp_accepts_minus_infinity():
    # A sample with zero likelihood is legitimate (log 0 = -inf); it must not be refused.
    v = torch.tensor([-math.inf, 0.0])
    assert log_mean_exp(v).item() == pytest.approx(math.log(0.5))


def test_bernoulli_target_with_batch_one_is_shared():
    logits, target = _logits_and_target((4, 10), (1, 10), seed=18)
    expected = Bernoulli(logits=logits).log_prob(target.expand(4, 10)).sum(-1)
    torch.testing.assert_close(bernoulli_log_likelihood(logits, target), expected)


def test_bernoulli_gradients_are_the_written_out_ones():
    """The hand-written backward, x - sigmoid(l) for the logits and l for grey-level targets, passes gradcheck."""
    g = torch.Generator().manual_seed(14)
    logits = (torch.randn(3, 7, generator=g, dtype=torch.float64) * 4).requires_grad_()
    target = torch.rand(3, 7, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(bernoulli_log_likelihood, (logits, target))
    stacked = (torch.randn(2, 3, 7, generator=g, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(bernoulli_log_likelihood, (stacked, target))


def test_half_precision_network_outputs_are_scored_in_float32():
    """Under bf16 autocast the logits arrive in bfloat16; the sum over 784 pixels is still taken in float32."""
    logits, target = _logits_and_target((5, 784), (5, 784), seed=15)
    low = logits.to(torch.bfloat16)
    got = bernoulli_log_likelihood(low, target.float())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, bernoulli_log_likelihood(low.float(), target.float()))
    mu = torch.zeros(2, 3, dtype=torch.bfloat16)
    assert gaussian_kl(mu, mu).dtype == torch.float32
