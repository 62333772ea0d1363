"""The importance-sampling estimator on a model whose evidence is exact.

Toy model: z ~ N(0, 1), x | z ~ N(z, 1): p(x) = N(x; 0, 2) and p(z | x) = N(x/2, 1/2).
"""

import math

import pytest
import torch

from cvae.distributions import gaussian_log_density
from cvae.estimators import importance_sampled_log_likelihood

X = torch.tensor([[-1.5], [0.3], [2.0]], dtype=torch.float64)
EXACT = gaussian_log_density(X, torch.zeros_like(X), torch.full_like(X, math.log(2.0)))
N01 = (torch.zeros_like(X), torch.zeros_like(X))


def log_likelihood(z):
    return gaussian_log_density(z, X, torch.zeros_like(X))


def estimate(proposal, samples, seed=0, log_prior=None, chunk_size=100):
    generator = torch.Generator().manual_seed(seed)
    return importance_sampled_log_likelihood(
        log_likelihood, proposal, log_prior, samples, chunk_size, generator
    )


def test_exact_posterior_as_proposal_gives_the_evidence_with_one_sample():
    posterior = (X / 2, torch.full_like(X, math.log(0.5)))
    assert torch.allclose(estimate(posterior, 1), EXACT, atol=1e-12)


def test_poor_proposal_converges_to_the_evidence_from_below():
    means = [
        torch.stack([estimate(N01, k, seed) for seed in range(200)]).mean(0)
        for k in (1, 10, 1000)
    ]  # the prior as proposal: plain Monte Carlo
    assert (means[0] < means[1]).all() and (means[1] < means[2] + 1e-3).all()
    assert (means[2] <= EXACT + 1e-3).all()
    assert torch.allclose(means[2], EXACT, atol=0.02)


def test_chunking_changes_memory_use_not_the_answer():
    for chunk_size in (7, 4000):
        assert torch.allclose(
            estimate(N01, 4000, 3, None, chunk_size), EXACT, atol=0.02
        )


def test_the_default_prior_is_n01_bit_for_bit():
    proposal = (X / 3, torch.zeros_like(X))
    explicit = estimate(proposal, 20, log_prior=lambda z: gaussian_log_density(z, *N01))
    assert torch.equal(explicit, estimate(proposal, 20))


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((log_likelihood, N01, None, 0), ValueError, "num_samples must be >= 1"),
        ((log_likelihood, N01, None, 5, 0), ValueError, "chunk_size must be >= 1"),
        ((log_likelihood, N01, None, 5, 5, 1), TypeError, "generator must be a torch"),
        (("not a function", N01), TypeError, "log_likelihood and log_prior must be"),
        ((log_likelihood, (X[:, 0], X[:, 0])), ValueError, "proposal mu must have 2"),
        ((log_likelihood, (X, X[:2])), ValueError, r"shapes must match: proposal mu"),
        (
            (lambda z: z.sum(), N01, None, 2),
            ValueError,
            "log_likelihood must return shape",
        ),
        (
            (log_likelihood, N01, lambda z: 0.0, 2),
            ValueError,
            "log_prior must return shape",
        ),
    ],
)
def test_bad_arguments_are_named(args, error, match):
    with pytest.raises(error, match=match):
        importance_sampled_log_likelihood(*args)
