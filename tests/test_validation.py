"""A bad argument at an entry point of the math and figure modules, or a shape that
would broadcast into a silent wrong answer, raises one line naming it: one table per
entry point (the helpers' own messages: test_checks.py)."""

from __future__ import annotations

import math

import matplotlib
import pytest
import torch

from cvae.classifier import DigitClassifier, agreement
from cvae.distributions import (
    bernoulli_log_likelihood,
    gaussian_kl,
    gaussian_log_density,
)
from cvae.elbo import elbo_terms
from cvae.linear_gaussian import LinearGaussianModel, random_linear_gaussian
from cvae.networks import BernoulliDecoder, ConditionalBernoulliDecoder, GaussianEncoder
from cvae.plotting import Animation, animate, image_grid, show_images
from cvae.report import exceeds
from cvae.source import show_source
from cvae.vae import VAE

matplotlib.use("Agg")
T, V = TypeError, ValueError

_STATE = torch.get_rng_state()  # the models below leave the global generator as it was
torch.manual_seed(0)
DIGITS = (torch.rand(4, 1, 28, 28) > 0.5).float()
NAN_DIGITS = DIGITS.clone().index_fill_(0, torch.tensor([0]), math.nan)
LABELS = torch.tensor([0, 1, 2, 3])
MU, COLUMN = torch.zeros(4, 2), torch.zeros(4, 1)
VAE_MODEL, CLASSIFIER = VAE(2, (8,)), DigitClassifier()
torch.set_rng_state(_STATE)

LINEAR = random_linear_gaussian(3, 2, 0.5, seed=0)
CONDITIONAL = random_linear_gaussian(3, 2, 0.5, seed=0, condition_dim=2)
X, Q = torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4, 2, dtype=torch.float64)
W, B = torch.zeros(3, 2, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
ORTHOGONAL, WIDE = {"orthogonal_columns": "yes"}, {"orthogonal_columns": True}


def model(**fields):
    """A LinearGaussianModel of (D, d, K) = (3, 2, 2) with ``fields`` changed."""
    return LinearGaussianModel(**({"W": W, "b": B, "noise_std": 0.5} | fields))


CASES = {
    "gaussian_kl": [
        (lambda: gaussian_kl(MU, MU, mu_p=MU), V, "give both mu_p and logvar_p"),
        (lambda: gaussian_kl(MU, MU[:, :1]), V, r"mu_q\(4, 2\), logvar_q\(4, 1\)"),
        (lambda: gaussian_kl(MU, MU, MU[:1], MU[:1]), V, r"mu_p\(1, 2\)"),
    ],
    "gaussian_log_density": [
        (lambda: gaussian_log_density(MU[:, 0], COLUMN, COLUMN), V, "the last dim"),
    ],
    "bernoulli_log_likelihood": [
        (lambda: bernoulli_log_likelihood(MU, MU[:, :1]), V, "target must hold one"),
        (lambda: bernoulli_log_likelihood(MU[0], MU), V, r"target\(4, 2\), logits\(2,"),
        (lambda: bernoulli_log_likelihood(MU, MU[:3]), V, r"target\(3, 2\), logits\(4"),
    ],
    "elbo_terms": [
        (lambda: elbo_terms(MU, MU, MU), V, r"reconstruction\(4,\), kl\(4, 2\)"),
    ],
    "GaussianEncoder": [
        (lambda: GaussianEncoder(0, (8,), 2), V, "input_dim must be"),
        (lambda: GaussianEncoder(4, (), 2), V, "hidden_dims needs at least"),
        (lambda: GaussianEncoder(4, 8, 2), T, "hidden_dims must be a sequence"),
        (lambda: GaussianEncoder(4, (8,), 2.0), T, "latent_dim must be an int"),
    ],
    "BernoulliDecoder": [
        (lambda: BernoulliDecoder(True, (8,)), T, "input_dim must be an int"),
        (lambda: BernoulliDecoder(2, (0,)), V, r"hidden_dims\[0\] must be"),
        (lambda: BernoulliDecoder(2, (8,), ()), V, "output_shape needs"),
    ],
    "ConditionalBernoulliDecoder": [
        (lambda: ConditionalBernoulliDecoder(0, 3, [16], (5,)), V, "condition_dim"),
        (lambda: ConditionalBernoulliDecoder(6, 0, [16], (5,)), V, "latent_dim"),
        (lambda: ConditionalBernoulliDecoder(6, 3, [], (5,)), V, "hidden_dims"),
        (lambda: ConditionalBernoulliDecoder(6, 3, [8], (0,)), V, "output_shape"),
    ],
    "VAE": [
        (lambda: VAE(latent_dim=0), V, "latent_dim must be >= 1"),
        (lambda: VAE(2, hidden_dims=(8, 0)), V, r"hidden_dims\[1\]"),
    ],
    "VAE.reconstruct": [
        (lambda: VAE_MODEL.reconstruct(DIGITS * 2), V, r"images must lie in \[0.0, 1"),
        (lambda: VAE_MODEL.reconstruct(DIGITS.double()), T, "images must have the"),
        (lambda: VAE_MODEL.reconstruct(DIGITS.flatten(1)), V, r"\(N, 1, 28, 28\)"),
    ],
    "VAE.sample": [
        (lambda: VAE_MODEL.sample(0), V, "count must be >= 1"),
        (lambda: VAE_MODEL.sample(2, generator=7), T, "generator must be"),
    ],
    "VAE.log_likelihood": [
        (lambda: VAE_MODEL.log_likelihood(NAN_DIGITS, 2), V, r"images must lie in \["),
        (lambda: VAE_MODEL.log_likelihood(DIGITS, 0), V, "num_samples must be"),
        (lambda: VAE_MODEL.log_likelihood(DIGITS, 2, "seed"), T, "generator must"),
    ],
    "LinearGaussianModel": [
        (lambda: model(W=W.float()), T, "W must be float64"),
        (lambda: model(W=W[:, 0]), V, "W must have 2 dimensions"),
        (lambda: model(W=W * math.nan), V, "W contains NaN"),
        (lambda: model(b=B[:2]), V, "b must have 3 columns"),
        (lambda: model(noise_std=0.0), V, "noise_std must be > 0"),
        (lambda: model(noise_std="0.5"), T, "noise_std must be a number"),
        (lambda: model(A=Q[:2]), V, "give both A and U"),
        (lambda: model(A=X[:3, :2], U=W), V, r"A must be \(d, K\), U \(D, K\)"),
    ],
    "LinearGaussianModel methods": [
        (lambda: LINEAR.log_evidence(X[:, :2]), V, "x must have 3 columns"),
        (lambda: LINEAR.posterior(X[0]), V, "x must have 2 dimensions"),
        (lambda: LINEAR.log_evidence(X.float()), T, "x must be float64"),
        (lambda: LINEAR.log_evidence(X.tolist()), T, "x must be a torch.Tensor"),
        (lambda: LINEAR.prior(Q), T, "c was given, but this model has no condition"),
        (lambda: CONDITIONAL.elbo(X, Q, Q), T, "c is required: this model has K=2"),
        (lambda: CONDITIONAL.posterior(X, c=Q[:3]), V, r"x\(4, 3\), c\(3, 2\)"),
        (lambda: LINEAR.elbo(X, Q[:3], Q), V, r"batch sizes must match: x\(4, 3\)"),
        (lambda: LINEAR.kl_to_posterior(X, Q, Q * math.nan), V, "q_logvar contains"),
        (lambda: LINEAR.log_weights(X, Q, Q, 0), V, "num_samples must be"),
        (lambda: LINEAR.elbo_monte_carlo(X, Q, Q, 2, 0), T, "generator must be"),
        (lambda: LINEAR.log_joint(X, Q[:3]), V, "z must hold one code per row of x"),
        (lambda: LINEAR.sample(0), V, "n must be >= 1"),
        (lambda: CONDITIONAL.sample(3, c=Q), V, "n must be left out or equal c's 4"),
    ],
    "random_linear_gaussian": [
        (lambda: random_linear_gaussian(0, 2, 0.5, 0), V, "data_dim must be"),
        (lambda: random_linear_gaussian(3, 2, 0.0, 0), V, "noise_std must be"),
        (lambda: random_linear_gaussian(3, 2, 0.5, -1), V, "seed must be >= 0"),
        (lambda: random_linear_gaussian(3, 2, 1, 0, condition_dim=-1), V, "condition"),
        (lambda: random_linear_gaussian(3, 2, 1, 0, **ORTHOGONAL), T, "orthogonal_"),
        (lambda: random_linear_gaussian(2, 3, 1, 0, **WIDE), V, "need latent_dim <="),
    ],
    "DigitClassifier.predict": [
        (lambda: CLASSIFIER.predict(DIGITS, 0), V, "batch_size must be >= 1"),
        (lambda: CLASSIFIER.predict(DIGITS.long()), T, "images must be a floating"),
    ],
    "agreement": [
        (lambda: agreement(LABELS, LABELS[:3]), V, "labels has 3 entries"),
        (lambda: agreement(LABELS.float(), LABELS), T, "predicted must be an int"),
        (lambda: agreement(LABELS + 7, LABELS), V, r"predicted must lie in \[0, 9\]"),
        (lambda: agreement(LABELS[:0], LABELS[:0]), V, "labels is empty"),
    ],
    "exceeds": [(lambda: exceeds(0.0, 1.0), V, "exceeds compares positive numbers")],
    "image_grid": [
        (lambda: image_grid(DIGITS, 0), V, "columns must be >= 1"),
        (lambda: image_grid(DIGITS, 2, padding=-1), V, "padding must be >= 0"),
        (lambda: image_grid(DIGITS.expand(4, 3, 28, 28), 2), V, "one channel"),
        (lambda: image_grid(NAN_DIGITS, 2), V, r"images must lie in \[0.0, 1.0\]"),
        (lambda: image_grid(DIGITS[0], 2), V, "images must have 4 dimensions"),
    ],
    "show_images": [
        (lambda: show_images(DIGITS, 2, title=3), T, "title must be a str"),
        (lambda: show_images(DIGITS, 2, row_labels="ab"), T, "row_labels must be a"),
        (lambda: show_images(DIGITS, 2, row_labels=[*"abc"]), V, "grid has 2 rows"),
        (lambda: show_images(DIGITS, 2, ax="left"), T, "ax must be a matplotlib"),
    ],
    "animate": [  # draw=print is never called: the arguments are refused first
        (lambda: animate("draw", 2, alt="a"), T, "draw must be callable"),
        (lambda: animate(print, 0, alt="a"), V, "frames must be >= 1"),
        (lambda: animate(print, 2, alt=""), V, "alt must describe"),
        (lambda: animate(print, 2, alt="a", dpi=0), V, "dpi must be >= 1"),
        (lambda: animate(print, 2, alt="a", still=2), V, "still must be a"),
        (lambda: animate(print, 2, alt="a", mode="bounce"), V, "mode must"),
        (lambda: animate(lambda fig: None, 2, alt="a"), T, "must return update"),
    ],
    "Animation": [(lambda: Animation(b"<div>", b"", 1, "a"), T, "html_player")],
    "show_source": [
        (lambda: show_source(), V, "show_source needs at least one"),
        (lambda: show_source(VAE_MODEL), T, r"objects\[0\] must be a function"),
        (lambda: show_source(VAE, torch.zeros), T, r"objects\[1\] must be"),
        (lambda: show_source(math), V, "shows the book's package only"),
    ],
}


@pytest.mark.parametrize(
    "call, error, match",
    [
        pytest.param(*c, id=f"{k}-{i}")
        for k, cs in CASES.items()
        for i, c in enumerate(cs)
    ],
)
def test_a_bad_argument_raises_one_line_naming_it(call, error, match):
    with pytest.raises(error, match=match):
        call()
