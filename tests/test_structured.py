"""The quadrant task (cvae.quadrants) and the structured-prediction models and
estimators (cvae.structured)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cvae.distributions import gaussian_log_density
from cvae.quadrants import (
    given_pixels,
    join_quadrants,
    output_size,
    quadrant_mask,
    split_quadrants,
)
from cvae.structured import Baseline, StructuredCVAE, conditional_log_likelihood
from cvae.structured import negative_conditional_log_likelihood as NCLL

TOP, BOTTOM, LEFT, RIGHT = slice(0, 14), slice(14, 28), slice(0, 14), slice(14, 28)
DIGITS = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.6
DIGITS = DIGITS.float()
INPUTS, TARGETS = split_quadrants(DIGITS, 1)


def tiny_models(num_given: int, alpha: float = 1.0):
    torch.manual_seed(0)
    baseline = Baseline(num_given, (32,))
    return baseline, StructuredCVAE(
        num_given,
        baseline,
        alpha=alpha,
        latent_dim=3,
        hidden_dims=(32,),
        num_particles=4,
    )


def test_masks_follow_pyros_conventions():
    given = {k: ~quadrant_mask(k)[0] for k in (1, 2, 3)}
    assert given[1][BOTTOM, LEFT].all() and given[1].sum() == 196  # bottom-left
    assert given[2][:, LEFT].all() and not given[2][:, RIGHT].any()  # the left half
    assert not given[3][BOTTOM, RIGHT].any() and given[3].sum() == 3 * 196
    assert [output_size(k) for k in (1, 2, 3)] == [588, 392, 196]


@pytest.mark.parametrize("num_given", [1, 2, 3])
def test_split_partitions_the_image_and_join_inverts_it(num_given):
    inputs, targets = split_quadrants(DIGITS, num_given)
    mask = quadrant_mask(num_given).expand_as(DIGITS)
    assert (inputs[mask] == -1).all() and torch.equal(inputs[~mask], DIGITS[~mask])
    assert torch.equal(targets.flatten(), DIGITS[mask])  # every hidden pixel, once
    given = given_pixels(inputs, num_given)  # x as the networks see it: given pixels
    assert torch.equal(given.flatten(), DIGITS[~mask]) and (given >= 0).all()
    assert torch.equal(join_quadrants(inputs, targets, num_given), DIGITS)
    joined = join_quadrants(inputs, torch.rand(5, *targets.shape), num_given)
    assert joined.shape == (5, *DIGITS.shape) and torch.equal(
        joined[3][~mask], DIGITS[~mask]
    )


def test_baseline_is_an_exact_bernoulli_model():
    baseline, _ = tiny_models(1)
    loss = baseline.loss_terms(INPUTS, TARGETS)["loss"].detach()
    bce = F.binary_cross_entropy(baseline.predict(INPUTS), TARGETS, reduction="none")
    torch.testing.assert_close(loss, bce.sum(1), atol=1e-3, rtol=0)
    exact = NCLL(baseline, INPUTS, TARGETS, batch_size=4)
    torch.testing.assert_close(exact, loss)


@pytest.mark.parametrize("alpha", [1.0, 0.0, 0.3])
def test_the_loss_is_the_hybrid_of_the_elbo_and_the_gsnn_objective(alpha):
    _, model = tiny_models(1, alpha)
    terms = model.loss_terms(INPUTS, TARGETS)
    elbo, gsnn = terms.get("elbo", torch.zeros(6)), terms.get("gsnn", torch.zeros(6))
    torch.testing.assert_close(terms["loss"], -alpha * elbo - (1 - alpha) * gsnn)
    if alpha > 0:
        torch.testing.assert_close(elbo, terms["reconstruction"] - terms["kl"])
    assert (model.recognition_net is None) == (alpha == 0) == ("elbo" not in terms)


@pytest.mark.parametrize("alpha", [0.0, 0.4])
def test_the_gsnn_objective_is_sohns_mean_of_log_likelihoods_or_their_log_mean(alpha):
    _, model = tiny_models(1, alpha)
    torch.manual_seed(0)  # the L codes that loss_terms draws, drawn by hand
    mu, logvar = model.prior(INPUTS)
    if alpha > 0:
        torch.randn(mu.shape)  # the code of q(z | x, y) in the CVAE term comes first
    z = mu + (0.5 * logvar).exp() * torch.randn(model.num_particles, *mu.shape)
    logits = model.generation_net(given_pixels(INPUTS, 1), z)  # x: the given pixels
    targets = TARGETS.expand_as(logits)
    particles = -F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    particles = particles.sum(-1).detach()  # (L, B)
    results = {}
    for objective in ("mean_log", "log_mean"):
        model.gsnn_objective = objective
        torch.manual_seed(0)
        results[objective] = model.loss_terms(INPUTS, TARGETS)["gsnn"].detach()
    torch.testing.assert_close(
        results["mean_log"], particles.mean(0), atol=1e-4, rtol=0
    )
    log_mean = particles.logsumexp(0) - math.log(len(particles))
    torch.testing.assert_close(results["log_mean"], log_mean, atol=1e-4, rtol=0)
    gap = results["log_mean"] - results["mean_log"]
    assert (gap >= -1e-5).all() and (gap > 1e-3).any()  # Jensen, strictly here


@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.0])
def test_a_precomputed_guess_gives_the_same_loss(alpha):
    _, model = tiny_models(1, alpha)
    torch.manual_seed(0)
    computed = model.loss_terms(INPUTS, TARGETS)["loss"]
    torch.manual_seed(0)
    given = model.loss_terms(INPUTS, TARGETS, model.guess(INPUTS))["loss"]
    torch.testing.assert_close(given, computed, atol=0, rtol=0)


def test_training_improves_the_loss_and_leaves_the_baseline_frozen():
    baseline, _ = tiny_models(1)
    models = [baseline] + [tiny_models(1, alpha)[1] for alpha in (1.0, 0.0, 0.5)]
    for model in models:
        frozen = [p.clone() for p in getattr(model, "baseline", baseline).parameters()]
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        losses = []
        for step in range(26):
            torch.manual_seed(0 if step in (0, 25) else step)
            loss = model.loss_terms(INPUTS, TARGETS)["loss"].mean()
            losses.append(loss.item())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        assert losses[-1] < losses[0] - 20, (getattr(model, "alpha", None), losses)
        if isinstance(model, StructuredCVAE):
            assert all(map(torch.equal, frozen, model.baseline.parameters()))
    assert all(p.requires_grad for p in baseline.parameters())  # copied, not frozen


def test_the_scores_are_seeded_and_use_what_the_model_has():
    _, model = tiny_models(1, alpha=0.5)
    model.eval()
    for estimator in ("importance", "monte_carlo"):
        options = {"estimator": estimator, "num_samples": 20, "batch_size": 4}
        first, again = (NCLL(model, INPUTS, TARGETS, **options) for _ in "12")
        assert torch.equal(first, again) and (first > 0).all()
    samples = model.sample(INPUTS, 5, torch.Generator().manual_seed(0))
    assert samples.shape == (5, 6, 588) and 0 <= samples.min() <= samples.max() <= 1


# z | x ~ N(a x, 1), y | x, z ~ N(z + b x, s^2)  =>  p(y | x) = N((a + b) x, 1 + s^2)
A, B, S = 0.8, -0.5, 0.5
X = torch.tensor([-2.0, -0.5, 0.0, 1.0, 2.5], dtype=torch.float64)[:, None]
Y = torch.tensor([-1.0, 0.7, 1.5, 0.2, -0.3], dtype=torch.float64)[:, None]
EXACT = gaussian_log_density(Y, (A + B) * X, torch.full_like(X, math.log(1 + S**2)))
PRIOR = (A * X, torch.zeros_like(X))
POSTERIOR_VAR = S**2 / (1 + S**2)
POSTERIOR_MEAN = POSTERIOR_VAR * (A * X + (Y - B * X) / S**2)
# a recognition network that is close to, but not exactly, the posterior
PROPOSAL = (POSTERIOR_MEAN + 0.1, torch.full_like(X, math.log(1.3 * POSTERIOR_VAR)))


def toy_estimates(samples: int, proposal, repeats: int = 1) -> torch.Tensor:
    """``(repeats, 5)`` independent estimates of log p(y | x)."""
    y, x = Y.repeat(repeats, 1), X.repeat(repeats, 1)
    prior = tuple(t.repeat(repeats, 1) for t in PRIOR)
    if proposal is not None:
        proposal = tuple(t.repeat(repeats, 1) for t in proposal)
    logvar = torch.full_like(y, 2 * math.log(S))
    generator = torch.Generator().manual_seed(0)
    estimate = conditional_log_likelihood(
        lambda z: gaussian_log_density(y, z + B * x, logvar),
        prior,
        proposal,
        samples,
        1000,
        generator,
    )
    return estimate.view(repeats, len(X))


@pytest.mark.parametrize("proposal", [None, PROPOSAL], ids=["mc", "importance"])
def test_both_estimators_converge_to_the_exact_conditional_likelihood(proposal):
    errors = [
        (toy_estimates(samples, proposal, repeats=20).mean(0) - EXACT).abs().max()
        for samples in (3, 3000)
    ]
    assert errors[1] < 0.02 and errors[1] < errors[0], errors


def test_importance_sampling_has_lower_variance_and_is_exact_at_the_posterior():
    for samples in (5, 50):
        monte_carlo = toy_estimates(samples, None, repeats=300).std(0)
        importance = toy_estimates(samples, PROPOSAL, repeats=300).std(0)
        assert (importance < 0.5 * monte_carlo).all(), (importance, monte_carlo)
    posterior = (POSTERIOR_MEAN, torch.full_like(X, math.log(POSTERIOR_VAR)))
    assert torch.allclose(toy_estimates(1, posterior)[0], EXACT, atol=1e-10)


GSNN = tiny_models(1, alpha=0.0)[1]
BASE = GSNN.baseline
INPUTS_2 = split_quadrants(DIGITS, 2)[0]
JOIN = join_quadrants


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: quadrant_mask(4), ValueError, "num_given must be 1, 2 or 3"),
        (lambda: quadrant_mask(2.0), TypeError, "num_given must be an int"),
        (lambda: split_quadrants(DIGITS[0], 1), ValueError, r"images must have shape"),
        (lambda: JOIN(INPUTS_2, TARGETS, 1), ValueError, "num_given=1 set to"),
        (lambda: JOIN(INPUTS, TARGETS[:, :9], 1), ValueError, r"\(\.\.\., 6, 588\)"),
        (lambda: JOIN(INPUTS, TARGETS * 2, 1), ValueError, "outputs must lie"),
        (lambda: BASE.predict(DIGITS[:, 0]), ValueError, r"inputs must have shape \(N"),
        (lambda: StructuredCVAE(2, BASE), TypeError, "a Baseline for num_given=2"),
        (lambda: StructuredCVAE(1, BASE, alpha=1.5), ValueError, r"alpha must be in"),
        (lambda: StructuredCVAE(1, BASE, alpha="1"), TypeError, "alpha must be a"),
        (lambda: StructuredCVAE(1, BASE, num_particles=0), ValueError, "num_particl"),
        (lambda: StructuredCVAE(1, BASE, gsnn_objective="x"), ValueError, "gsnn_obj"),
        (lambda: GSNN.sample(INPUTS, 0), ValueError, "num_samples must be >= 1"),
        (lambda: GSNN.log_likelihood(INPUTS, TARGETS[:5]), ValueError, r"= \(6, 588"),
        (lambda: GSNN.log_likelihood(INPUTS, TARGETS * 3), ValueError, "targets must"),
        (lambda: GSNN.log_likelihood(INPUTS, TARGETS, 4, "x"), ValueError, "estimator"),
        (lambda: GSNN.log_likelihood(INPUTS, TARGETS, 4), ValueError, "GSNN .* has no"),
        (lambda: NCLL(torch.nn.Linear(1, 1), None, None), TypeError, "a Baseline or"),
        (lambda: NCLL(GSNN, INPUTS[:0], TARGETS[:0]), ValueError, "inputs is empty"),
        (lambda: NCLL(GSNN, INPUTS, TARGETS, seed=-1), ValueError, "seed must be"),
        (lambda: conditional_log_likelihood(None, (X, X[:2])), ValueError, "prior mu"),
    ],
)
def test_bad_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
