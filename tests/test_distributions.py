"""cvae.distributions against torch.distributions (or a naive formula), never against
its own output."""

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

F64 = torch.float64
close = torch.testing.assert_close


def diag_normal(mu: torch.Tensor, logvar: torch.Tensor) -> Independent:
    return Independent(Normal(mu, (0.5 * logvar).exp()), 1)


def params(*shape: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(shape, generator=g, dtype=F64) * 2.0
    return mu, torch.randn(shape, generator=g, dtype=F64) * 1.5


def logits_and_target(logit_shape, target_shape, seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(logit_shape, generator=g, dtype=F64) * 3.0
    return logits, (torch.rand(target_shape, generator=g, dtype=F64) > 0.5).to(F64)


@pytest.mark.parametrize("shape", [(7, 5), (3, 7, 5)])
def test_gaussian_kl_matches_torch_for_both_priors(shape):
    mu_q, logvar_q = params(*shape, seed=2)
    mu_p, logvar_p = params(*shape, seed=3)
    q, p = diag_normal(mu_q, logvar_q), diag_normal(mu_p, logvar_p)
    standard = diag_normal(torch.zeros_like(mu_q), torch.zeros_like(mu_q))
    got = gaussian_kl(mu_q, logvar_q, mu_p, logvar_p)
    assert got.shape == shape[:-1]
    close(got, kl_divergence(q, p))
    close(gaussian_kl(mu_q, logvar_q), kl_divergence(q, standard))
    zero = torch.zeros(shape[:-1], dtype=F64)
    close(gaussian_kl(mu_q, logvar_q, mu_q, logvar_q), zero)


def test_gaussian_kl_gradients_in_float32():
    mu, logvar = (t.float().requires_grad_() for t in params(8, 3, seed=5))
    gaussian_kl(mu, logvar).sum().backward()
    # d/dmu = mu, d/dlogvar = (exp(logvar) - 1) / 2 for the standard prior
    close(mu.grad, mu.detach())
    close(logvar.grad, 0.5 * (logvar.detach().exp() - 1.0))


def test_extreme_log_variances_give_the_float64_values_in_float32():
    """Log-variances -120, 0 and 200 (beyond float32's exp), means equal or 0.5 apart:
    float32 gives the float64 value where it fits, else inf, never NaN."""
    levels = torch.tensor([-120.0, 0.0, 200.0], dtype=F64)
    distances = torch.tensor([0.0, 0.5], dtype=F64)
    grid = torch.cartesian_prod(levels, levels, distances).T
    logvar_q, logvar_p, mu_q = (t[:, None] for t in grid)
    mu_p = torch.zeros_like(mu_q)
    standard = diag_normal(mu_p, torch.zeros_like(mu_p))
    expected = {
        "kl": kl_divergence(diag_normal(mu_q, logvar_q), diag_normal(mu_p, logvar_p)),
        "kl to N(0, I)": kl_divergence(diag_normal(mu_q, logvar_q), standard),
        "log density": diag_normal(mu_p, logvar_p).log_prob(mu_q),
    }
    assert all(bool(value.isfinite().all()) for value in expected.values())
    mu_q, logvar_q, mu_p, logvar_p = (
        t.float() for t in (mu_q, logvar_q, mu_p, logvar_p)
    )
    got = {
        "kl": gaussian_kl(mu_q, logvar_q, mu_p, logvar_p),
        "kl to N(0, I)": gaussian_kl(mu_q, logvar_q),
        "log density": gaussian_log_density(mu_q, mu_p, logvar_p),
    }
    for name, value in expected.items():
        close(got[name], value.float(), msg=lambda m, name=name: f"{name}: {m}")


def test_gaussian_log_density_matches_torch_and_broadcasts_samples():
    mu, logvar = params(6, 4, seed=8)  # (B, d)
    for shape in [(6, 4), (5, 6, 4)]:  # one code per example, or a stack (S, B, d)
        z = torch.randn(shape, generator=torch.Generator().manual_seed(9), dtype=F64)
        got = gaussian_log_density(z, mu, logvar)
        assert got.shape == shape[:-1]
        close(got, diag_normal(mu, logvar).log_prob(z))


@pytest.mark.parametrize(
    "logit_shape, target_shape, summed",
    [
        ((5, 784), (5, 784), (-1,)),
        ((5, 1, 28, 28), (5, 1, 28, 28), (1, 2, 3)),
        ((4, 5, 784), (5, 784), (-1,)),  # a stack of samples against one target
        ((4, 10), (1, 10), (-1,)),  # one target shared by every row
    ],
)
def test_bernoulli_log_likelihood_matches_torch(logit_shape, target_shape, summed):
    logits, target = logits_and_target(logit_shape, target_shape, seed=10)
    expected = Bernoulli(logits=logits).log_prob(target.expand_as(logits)).sum(summed)
    close(bernoulli_log_likelihood(logits, target), expected)


def test_bernoulli_grey_level_targets_match_the_formula():
    g = torch.Generator().manual_seed(13)
    logits = torch.randn(3, 20, generator=g, dtype=F64)
    target = torch.rand(3, 20, generator=g, dtype=F64)
    p = torch.sigmoid(logits)
    expected = (target * p.log() + (1 - target) * (1 - p).log()).sum(-1)
    close(bernoulli_log_likelihood(logits, target), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bernoulli_is_finite_at_extreme_logits(dtype):
    logits = torch.tensor([[100.0, -100.0, 100.0, -100.0]], dtype=dtype)
    right = torch.tensor([[1.0, 0.0, 1.0, 0.0]], dtype=dtype)
    assert abs(bernoulli_log_likelihood(logits, right).item()) < 1e-6
    wrong = bernoulli_log_likelihood(logits, 1.0 - right)
    close(wrong, torch.tensor([-400.0], dtype=dtype))
    logits.requires_grad_()
    bernoulli_log_likelihood(logits, 1.0 - right).sum().backward()
    assert bool(torch.isfinite(logits.grad).all())


def test_bernoulli_gradients_are_the_written_out_ones():
    """The hand-written backward (x - sigmoid(l) for the logits, l for grey-level
    targets) passes gradcheck, for one sample and for a stack."""
    g = torch.Generator().manual_seed(14)
    logits = (torch.randn(3, 7, generator=g, dtype=F64) * 4).requires_grad_()
    target = torch.rand(3, 7, generator=g, dtype=F64).requires_grad_()
    assert torch.autograd.gradcheck(bernoulli_log_likelihood, (logits, target))
    stacked = torch.randn(2, 3, 7, generator=g, dtype=F64).requires_grad_()
    assert torch.autograd.gradcheck(bernoulli_log_likelihood, (stacked, target))


def test_half_precision_network_outputs_are_scored_in_float32():
    logits, target = logits_and_target((5, 784), (5, 784), seed=15)
    low = logits.to(torch.bfloat16)
    got = bernoulli_log_likelihood(low, target.float())
    assert got.dtype == torch.float32
    close(got, bernoulli_log_likelihood(low.float(), target.float()))
    mu = torch.zeros(2, 3, dtype=torch.bfloat16)
    assert gaussian_kl(mu, mu).dtype == torch.float32


def test_log_mean_exp_matches_the_naive_formula_and_stays_finite_where_it_underflows():
    v = torch.randn(10, 4, generator=torch.Generator().manual_seed(14), dtype=F64) * 5
    for dim in (0, 1, -1):
        close(log_mean_exp(v, dim=dim), v.exp().mean(dim).log())
    far = torch.tensor([-1000.0, -1001.0, -1002.0], dtype=F64)
    assert far.exp().mean().log().item() == -math.inf  # the reason the function exists
    expected = -1000.0 + math.log((1 + math.exp(-1) + math.exp(-2)) / 3)
    assert log_mean_exp(far).item() == pytest.approx(expected, abs=1e-9)
    # A sample of zero likelihood (log 0 = -inf) is legitimate.
    half = log_mean_exp(torch.tensor([-math.inf, 0.0])).item()
    assert half == pytest.approx(math.log(0.5))


def test_reparameterize_moments_match_within_standard_error():
    n = 200_000
    mu = torch.tensor([0.0, 3.0, -2.0], dtype=F64)
    logvar = torch.tensor([0.0, math.log(4.0), math.log(0.25)], dtype=F64)
    seed = torch.Generator().manual_seed(15)
    z = reparameterize(mu.expand(n, 3), logvar.expand(n, 3), seed)
    var = logvar.exp()
    # mean: standard error sqrt(var / n); variance: standard error var * sqrt(2 / n)
    assert bool(((z.mean(0) - mu).abs() < 5 * (var / n).sqrt()).all()), z.mean(0)
    assert bool(((z.var(0) - var).abs() < 5 * var * math.sqrt(2 / n)).all()), z.var(0)


def test_reparameterize_gradients_and_seeds():
    mu = torch.tensor([[0.5, -1.0]], requires_grad=True)
    logvar = torch.tensor([[0.2, -0.3]], requires_grad=True)
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(16))
    z.sum().backward()
    close(mu.grad, torch.ones_like(mu))
    eps = (z.detach() - mu.detach()) / (0.5 * logvar.detach()).exp()
    close(logvar.grad, 0.5 * (0.5 * logvar.detach()).exp() * eps)
    seeds = [torch.Generator().manual_seed(s) for s in (0, 0, 1)]
    draws = [reparameterize(mu, logvar, seed) for seed in seeds]
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])
