"""The quadrant task (cvae.quadrants) and the structured-prediction models and estimators (cvae.structured)."""

from __future__ import annotations

import math

import pytest
import torch

from cvae.checks import validation
from cvae.distributions import gaussian_log_density
from cvae.quadrants import check_quadrant_inputs, join_quadrants, output_size, quadrant_mask, split_quadrants
from cvae.contracts import check_alpha
from cvae.structured import (
    Baseline,
    StructuredCVAE,
    conditional_log_likelihood,
    negative_conditional_log_likelihood,
)

TOP, BOTTOM, LEFT, RIGHT = slice(0, 14), slice(14, 28), slice(0, 14), slice(14, 28)


@pytest.fixture
def digits():
    generator = torch.Generator().manual_seed(0)
    return (torch.rand(6, 1, 28, 28, generator=generator) > 0.6).float()


def tiny_models(num_given: int, alpha: float = 1.0):
    torch.manual_seed(0)
    baseline = Baseline(num_given, (32,))
    return baseline, StructuredCVAE(num_given, baseline, alpha=alpha, latent_dim=3, hidden_dims=(32,), num_particles=4)


# ------------------------------------------------------------------ the quadrant task


def test_masks_follow_pyros_conventions():
    given = {k: ~quadrant_mask(k)[0] for k in (1, 2, 3)}
    # 1: the bottom-left quadrant is given
    assert given[1][BOTTOM, LEFT].all() and given[1].sum() == 196
    # 2: the left half
    assert given[2][:, LEFT].all() and not given[2][:, RIGHT].any()
    # 3: all but the bottom-right quadrant
    assert not given[3][BOTTOM, RIGHT].any() and given[3].sum() == 3 * 196
    assert [output_size(k) for k in (1, 2, 3)] == [588, 392, 196]
    for k in (1, 2, 3):
        mask = quadrant_mask(k)
        assert mask.shape == (1, 28, 28) and mask.dtype == torch.bool


@pytest.mark.parametrize("num_given", [1, 2, 3])
def test_split_partitions_the_image_and_join_inverts_it(digits, num_given):
    inputs, targets = split_quadrants(digits, num_given)
    mask = quadrant_mask(num_given).expand_as(digits)
    assert inputs.shape == digits.shape and targets.shape == (6, output_size(num_given))
    assert (inputs[mask] == -1).all() and torch.equal(inputs[~mask], digits[~mask])
    assert torch.equal(targets.flatten(), digits[mask])  # every hidden pixel once, none of the given
    assert torch.equal(join_quadrants(inputs, targets, num_given), digits)
    stack = torch.rand(5, *targets.shape)
    joined = join_quadrants(inputs, stack, num_given)
    assert joined.shape == (5, *digits.shape) and torch.equal(joined[3][~mask], digits[~mask])


def test_quadrant_errors_name_the_argument(digits):
    for bad in (0, 4, -1):
        with pytest.raises(ValueError, match="num_given must be 1, 2 or 3"):
            quadrant_mask(bad)
    for bad in (True, 2.0, "2"):
        with pytest.raises(TypeError, match="num_given must be an int"):
            split_quadrants(digits, bad)
    with pytest.raises(ValueError, match=r"images must have shape \(N, 1, 28, 28\)"):
        split_quadrants(digits.view(6, 784), 1)
    with pytest.raises(ValueError, match=r"images must lie in \[0.0, 1.0\]"):
        split_quadrants(digits * 255, 1)
    with pytest.raises(TypeError, match="images must be a floating-point tensor"):
        split_quadrants(digits.long(), 1)
    inputs, targets = split_quadrants(digits, 2)
    with pytest.raises(ValueError, match="output pixel of num_given=1 set to -1"):
        check_quadrant_inputs("inputs", inputs, 1)
    with pytest.raises(ValueError, match=r"outputs must have shape \(\.\.\., 6, 392\)"):
        join_quadrants(inputs, targets[:, :10], 2)
    with pytest.raises(ValueError, match="outputs must lie in"):
        join_quadrants(inputs, targets * 2, 2)


# ------------------------------------------------------------------ the models


def test_baseline_is_an_exact_bernoulli_model(digits):
    inputs, targets = split_quadrants(digits, 1)
    baseline, _ = tiny_models(1)
    terms = baseline.loss_terms(inputs, targets)
    assert set(terms) == {"loss", "log_likelihood"} and terms["loss"].shape == (6,)
    assert torch.equal(terms["loss"], -terms["log_likelihood"]) and (terms["loss"] > 0).all()
    probabilities = baseline.predict(inputs)
    bce = torch.nn.functional.binary_cross_entropy(probabilities, targets, reduction="none").sum(1)
    assert torch.allclose(bce, terms["loss"], atol=1e-3)  # per-pixel BCE summed over the output pixels
    exact = negative_conditional_log_likelihood(baseline, inputs, targets, batch_size=4)
    assert torch.allclose(exact, terms["loss"].detach())


@pytest.mark.parametrize("alpha, expected", [(1.0, {"elbo", "reconstruction", "kl"}), (0.0, {"gsnn"}), (0.3, {"elbo", "reconstruction", "kl", "gsnn"})])
def test_cvae_gsnn_and_hybrid_terms(digits, alpha, expected):
    inputs, targets = split_quadrants(digits, 2)
    _, model = tiny_models(2, alpha)
    terms = model.loss_terms(inputs, targets)
    assert set(terms) == {"loss"} | expected
    assert all(value.shape == (6,) for value in terms.values())
    elbo = terms.get("elbo", torch.zeros(6))
    gsnn = terms.get("gsnn", torch.zeros(6))
    assert torch.allclose(terms["loss"], -alpha * elbo - (1 - alpha) * gsnn)
    if alpha > 0:
        assert torch.allclose(terms["elbo"], terms["reconstruction"] - terms["kl"]) and (terms["kl"] >= 0).all()
    assert (model.recognition_net is None) == (alpha == 0)
    samples = model.sample(inputs, 5, torch.Generator().manual_seed(0))
    assert samples.shape == (5, 6, 392) and 0 <= samples.min() and samples.max() <= 1


def particle_log_likelihoods(model, inputs, targets):
    """log p(y | x, z_l) of the L codes that loss_terms draws after torch.manual_seed(0), computed by hand."""
    torch.manual_seed(0)
    mu, logvar = model.prior(inputs)
    if model.alpha > 0:
        torch.randn(mu.shape)  # the code of q(z | x, y) in the CVAE term is drawn first
    z = mu + (0.5 * logvar).exp() * torch.randn(model.num_particles, *mu.shape)
    logits = model.generation_net(inputs.flatten(1), z)
    return -torch.nn.functional.binary_cross_entropy_with_logits(
        logits, targets.expand_as(logits), reduction="none"
    ).sum(-1)


@pytest.mark.parametrize("alpha", [0.0, 0.4])
def test_the_gsnn_objective_is_sohns_mean_of_log_likelihoods_or_optionally_their_log_mean_exp(digits, alpha):
    inputs, targets = split_quadrants(digits, 1)
    _, model = tiny_models(1, alpha)
    assert model.gsnn_objective == "mean_log" and model.constructor_args()["gsnn_objective"] == "mean_log"
    particles = particle_log_likelihoods(model, inputs, targets)  # (L, B), fixed noise
    torch.manual_seed(0)
    mean_log = model.loss_terms(inputs, targets)["gsnn"].detach()
    assert torch.allclose(mean_log, particles.mean(0), atol=1e-4)
    model.gsnn_objective = "log_mean"
    torch.manual_seed(0)
    log_mean = model.loss_terms(inputs, targets)["gsnn"].detach()
    assert torch.allclose(log_mean, particles.logsumexp(0) - math.log(len(particles)), atol=1e-4)
    assert (mean_log <= log_mean + 1e-5).all() and (mean_log < log_mean - 1e-3).any()  # Jensen, strictly here
    with pytest.raises(ValueError, match="gsnn_objective must be one of 'mean_log', 'log_mean'"):
        StructuredCVAE(1, model.baseline, alpha=alpha, gsnn_objective="log_mean_exp")


def test_generation_network_sees_x_and_z_without_copies(digits):
    inputs, _ = split_quadrants(digits, 3)
    _, model = tiny_models(3)
    z = torch.randn(7, 6, 3)
    net = model.generation_net
    joint = torch.cat([net.weight_x, net.weight_z], dim=1)  # the first layer of concat(x, z)
    first = torch.nn.functional.linear(torch.cat([inputs.flatten(1).expand(7, 6, 784), z], dim=-1), joint, net.bias)
    naive = net.rest(first)
    assert torch.allclose(model.generate_logits(inputs, z), naive, atol=1e-5)
    with pytest.raises(ValueError, match="z must have shape"):
        model.generate_logits(inputs, torch.randn(6, 4))


def test_model_arguments_are_checked(digits):
    baseline = Baseline(1, (8,))
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
            StructuredCVAE(1, baseline, alpha=bad)
    for bad in (True, "0.5", None):
        with pytest.raises(TypeError, match="alpha must be a number"):
            check_alpha(bad)
    with pytest.raises(ValueError, match="baseline was built for num_given=1"):
        StructuredCVAE(2, baseline)
    with pytest.raises(TypeError, match="baseline must be a cvae.structured.Baseline"):
        StructuredCVAE(1, torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="num_given must be 1, 2 or 3"):
        Baseline(4)
    with pytest.raises(ValueError, match="hidden_dims needs at least one"):
        Baseline(1, ())
    with pytest.raises(ValueError, match="latent_dim must be >= 1"):
        StructuredCVAE(1, baseline, latent_dim=0)
    with pytest.raises(ValueError, match="num_particles must be >= 1"):
        StructuredCVAE(1, baseline, num_particles=0)


def test_batches_are_checked(digits):
    inputs, targets = split_quadrants(digits, 1)
    baseline, model = tiny_models(1)
    with pytest.raises(ValueError, match=r"targets must have shape \(B, P\) = \(6, 588\)"):
        model.loss_terms(inputs, targets[:, :392])
    with pytest.raises(ValueError, match=r"targets must have shape \(B, P\) = \(6, 588\)"):
        baseline.loss_terms(inputs, targets[:5])
    with pytest.raises(ValueError, match="targets must lie in"):
        model.loss_terms(inputs, targets * 3)
    with pytest.raises(ValueError, match="inputs must have every output pixel of num_given=1"):
        model.loss_terms(*split_quadrants(digits, 2))
    with pytest.raises(ValueError, match=r"inputs must have shape \(N, 1, 28, 28\)"):
        baseline.predict(digits.view(6, 784))
    with pytest.raises(ValueError, match="estimator must be one of 'importance', 'monte_carlo'"):
        model.log_likelihood(inputs, targets, 4, estimator="exact")
    _, gsnn = tiny_models(1, alpha=0.0)
    with pytest.raises(ValueError, match="GSNN .* has no recognition network"):
        gsnn.log_likelihood(inputs, targets, 4, estimator="importance")
    with pytest.raises(TypeError, match="model must be a Baseline or a StructuredCVAE"):
        negative_conditional_log_likelihood(torch.nn.Linear(2, 2), inputs, targets)


def test_scoring_refuses_what_its_batches_would_fail_on_before_the_first_one(digits):
    """The model's own contracts do not run inside the scoring loop, so its contract checks their part up front."""
    inputs, targets = split_quadrants(digits, 1)
    _, gsnn = tiny_models(1, alpha=0.0)
    with pytest.raises(ValueError, match="GSNN .* has no recognition network"):
        negative_conditional_log_likelihood(gsnn, inputs, targets, estimator="importance")
    with pytest.raises(TypeError, match="inputs must have the model's dtype"):
        negative_conditional_log_likelihood(gsnn, inputs.double(), targets, estimator="monte_carlo")
    with pytest.raises(RuntimeError, match="a GSNN .* has no recognition network"):
        gsnn.recognize(inputs, targets)


def test_contracts_change_no_numbers(digits):
    """With validation off the same calls give the same values: the contracts only read."""
    inputs, targets = split_quadrants(digits, 2)
    _, model = tiny_models(2, alpha=0.5)

    def run():
        torch.manual_seed(0)
        terms = model.loss_terms(inputs, targets)
        scores = negative_conditional_log_likelihood(model, inputs, targets, num_samples=5, batch_size=4)
        return terms["loss"].detach(), join_quadrants(inputs, model.sample(inputs, 2), 2), scores

    checked = run()
    with validation(False):
        unchecked = run()
    assert all(torch.equal(a, b) for a, b in zip(checked, unchecked))


def test_training_improves_the_loss_and_leaves_the_baseline_frozen(digits):
    inputs, targets = split_quadrants(digits, 1)
    baseline, _ = tiny_models(1)
    models = [baseline] + [tiny_models(1, alpha)[1] for alpha in (1.0, 0.0, 0.5)]
    for model in models:
        frozen = [p.clone() for p in model.baseline.parameters()] if isinstance(model, StructuredCVAE) else []
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        torch.manual_seed(0)
        before = model.loss_terms(inputs, targets)["loss"].mean().item()
        for _ in range(25):
            loss = model.loss_terms(inputs, targets)["loss"].mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        torch.manual_seed(0)
        after = model.loss_terms(inputs, targets)["loss"].mean().item()
        assert after < before - 20, (type(model).__name__, getattr(model, "alpha", None), before, after)
        if isinstance(model, StructuredCVAE):
            assert all(torch.equal(a, b) for a, b in zip(frozen, model.baseline.parameters()))
    assert all(p.requires_grad for p in baseline.parameters())  # the caller's baseline is copied, not frozen


def test_structured_likelihood_estimates(digits):
    inputs, targets = split_quadrants(digits, 3)
    _, model = tiny_models(3, alpha=0.5)
    model.eval()
    for estimator in ("importance", "monte_carlo"):
        nll = negative_conditional_log_likelihood(model, inputs, targets, estimator=estimator, num_samples=20, batch_size=4)
        again = negative_conditional_log_likelihood(model, inputs, targets, estimator=estimator, num_samples=20, batch_size=4)
        assert nll.shape == (6,) and torch.isfinite(nll).all() and (nll > 0).all()
        assert torch.equal(nll, again)  # seeded


# ------------------------------------------------------------------ estimators on an exact toy model
#   z | x ~ N(a x, 1),  y | x, z ~ N(z + b x, s^2)   =>   p(y | x) = N((a + b) x, 1 + s^2)

A, B, S = 0.8, -0.5, 0.5
X = torch.tensor([-2.0, -0.5, 0.0, 1.0, 2.5], dtype=torch.float64)[:, None]
Y = torch.tensor([-1.0, 0.7, 1.5, 0.2, -0.3], dtype=torch.float64)[:, None]
EXACT = gaussian_log_density(Y, (A + B) * X, torch.full_like(X, math.log(1 + S**2)))
PRIOR = (A * X, torch.zeros_like(X))
POSTERIOR_VAR = S**2 / (1 + S**2)
POSTERIOR_MEAN = POSTERIOR_VAR * (A * X + (Y - B * X) / S**2)
# a recognition network that is close to, but not exactly, the posterior
PROPOSAL = (POSTERIOR_MEAN + 0.1, torch.full_like(X, math.log(1.3 * POSTERIOR_VAR)))


def toy_estimates(samples: int, proposal, repeats: int = 1, seed: int = 0) -> torch.Tensor:
    """``(repeats, 5)`` independent estimates of log p(y | x): the examples are repeated along the batch."""
    y, x = Y.repeat(repeats, 1), X.repeat(repeats, 1)
    prior = tuple(t.repeat(repeats, 1) for t in PRIOR)
    proposal = None if proposal is None else tuple(t.repeat(repeats, 1) for t in proposal)
    estimate = conditional_log_likelihood(
        lambda z: gaussian_log_density(y, z + B * x, torch.full_like(y, 2 * math.log(S))),
        prior, proposal, num_samples=samples, chunk_size=1000, generator=torch.Generator().manual_seed(seed),
    )
    return estimate.view(repeats, len(X))


@pytest.mark.parametrize("proposal", [None, PROPOSAL], ids=["monte_carlo", "importance"])
def test_both_estimators_converge_to_the_exact_conditional_likelihood(proposal):
    errors = [(toy_estimates(samples, proposal, repeats=20).mean(0) - EXACT).abs().max().item() for samples in (3, 30, 3000)]
    assert errors[2] < 0.02, errors
    assert errors[2] < errors[0], errors


def test_importance_sampling_has_lower_variance_at_equal_samples():
    for samples in (5, 50):
        monte_carlo = toy_estimates(samples, None, repeats=300).std(0)
        importance = toy_estimates(samples, PROPOSAL, repeats=300).std(0)
        assert (importance < 0.5 * monte_carlo).all(), (samples, importance, monte_carlo)


def test_exact_posterior_proposal_is_exact_with_one_sample():
    posterior = (POSTERIOR_MEAN, torch.full_like(X, math.log(POSTERIOR_VAR)))
    assert torch.allclose(toy_estimates(1, posterior).squeeze(0), EXACT, atol=1e-10)
