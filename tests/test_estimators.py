"""The importance-sampling estimator on a model whose evidence is exact.

Toy model: z ~ N(0, 1), x | z ~ N(z, 1), so p(x) = N(x; 0, 2) and p(z | x) = N(x/2, 1/2).
"""

import math

import pytest
import torch

from cvae.distributions import gaussian_log_density
from cvae.estimators import importance_sampled_log_likelihood

X = torch.tensor([[-1.5], [0.3], [2.0]], dtype=torch.float64)
EXACT = gaussian_log_density(X, torch.zeros_like(X), torch.full_like(X, math.log(2.0)))


def log_likelihood(z):
    return gaussian_log_density(z, X, torch.zeros_like(X))


def estimate(proposal, samples, seed=0, prior=None):
    generator = torch.Generator().manual_seed(seed)
    return importance_sampled_log_likelihood(log_likelihood, proposal, prior, samples, generator=generator)


def test_exact_posterior_as_proposal_gives_the_evidence_with_one_sample():
    posterior = (X / 2, torch.full_like(X, math.log(0.5)))
    assert torch.allclose(estimate(posterior, 1), EXACT, atol=1e-12)


def test_poor_proposal_converges_to_the_evidence_from_below():
    proposal = (torch.zeros_like(X), torch.zeros_like(X))  # the prior: plain Monte Carlo
    means = [torch.stack([estimate(proposal, k, seed) for seed in range(200)]).mean(0) for k in (1, 10, 1000)]
    assert (means[0] < means[1]).all() and (means[1] < means[2] + 1e-3).all()
    assert (means[2] <= EXACT + 1e-3).all()
    assert torch.allclose(means[2], EXACT, atol=0.02)


def test_chunking_changes_memory_use_not_the_answer():
    proposal = (torch.zeros_like(X), torch.zeros_like(X))
    for chunk_size in (7, 4000):
        generator = torch.Generator().manual_seed(3)
        estimate_ = importance_sampled_log_likelihood(log_likelihood, proposal, None, 4000, chunk_size, generator)
        assert torch.allclose(estimate_, EXACT, atol=0.02)


def test_explicit_prior_matches_the_default_standard_normal():
    proposal = (X / 3, torch.zeros_like(X))
    prior = (torch.zeros_like(X), torch.zeros_like(X))
    assert torch.allclose(estimate(proposal, 20, prior=prior), estimate(proposal, 20), atol=1e-12)


def test_bad_arguments_are_named():
    proposal = (torch.zeros_like(X), torch.zeros_like(X))
    with pytest.raises(ValueError, match="num_samples"):
        estimate(proposal, 0)
    with pytest.raises(ValueError, match="proposal mean"):
        importance_sampled_log_likelihood(log_likelihood, (torch.zeros(3), torch.zeros(3)))
    with pytest.raises(ValueError, match="shape"):
        importance_sampled_log_likelihood(lambda z: z.sum(), proposal, num_samples=2)
    with pytest.raises(TypeError, match="log_likelihood"):
        importance_sampled_log_likelihood("not a function", proposal)
