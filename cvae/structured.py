r"""Structured output prediction :math:`p(y \mid x)`: the baseline, the CVAE, the GSNN
and the hybrid of Sohn et al.

Explained in the chapter
:chapter:`Structured output prediction: completing digits <book/quadrants>`.
The task (:func:`cvae.quadrants.split_quadrants`): ``x`` is a digit with some
quadrants hidden (set to ``-1``), ``y`` the ``P`` hidden pixels, binarized. Every model
here predicts all ``P`` pixels, and every log-likelihood is summed over them (nats per
image).

* :class:`Baseline`: a deterministic network :math:`\hat y = \sigma(f(x))`, trained
  with the per-pixel binary cross-entropy (independent Bernoulli pixels).
* :class:`StructuredCVAE`: three networks, recognition :math:`q(z \mid x, y)`, prior
  :math:`p(z \mid x)` and generation :math:`p(y \mid x, z)`, trained on

  .. math::

      \mathcal L_{\mathrm{CVAE}} = \mathbb E_{q(z \mid x, y)}[\log p(y \mid x, z)]
        - \mathrm{KL}\big(q(z \mid x, y) \,\|\, p(z \mid x)\big) \le \log p(y \mid x),

  the GSNN objective of Sohn et al. (the recognition network replaced by the prior
  network, :math:`q(z \mid x, y) := p(z \mid x)`, so the KL term vanishes and the
  generation network is trained on codes from the prior network)

  .. math::

      \mathcal L_{\mathrm{GSNN}} = \frac1L \sum_{l=1}^L \log p(y \mid x, z_l),
      \qquad z_l \sim p(z \mid x),

  or, as an option (``gsnn_objective="log_mean"``), the logarithm of the mean,
  :math:`\log \frac1L \sum_l p(y \mid x, z_l)`: by Jensen's inequality it is at
  least the mean of the logarithms, a tighter multi-sample bound on
  :math:`\log p(y \mid x)` with the prior as proposal. Either way, the model may be
  trained on the hybrid
  :math:`\alpha \mathcal L_{\mathrm{CVAE}} + (1 - \alpha) \mathcal L_{\mathrm{GSNN}}`
  (``alpha = 1``: CVAE, ``alpha = 0``: GSNN).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from cvae import checks, quadrants
from cvae.data import IMAGE_PIXELS
from cvae.distributions import (
    GaussianParams,
    bernoulli_log_likelihood,
    gaussian_kl,
    gaussian_log_density,
    log_mean_exp,
    reparameterize,
)
from cvae.elbo import elbo_terms
from cvae.estimators import importance_sampled_log_likelihood
from cvae.networks import ConditionalBernoulliDecoder, GaussianEncoder, mlp

ESTIMATORS = ("importance", "monte_carlo")
GSNN_OBJECTIVES = ("mean_log", "log_mean")  # Sohn et al.'s; the log of the mean


class _QuadrantModel(nn.Module):
    """What every quadrant model shares: its task (``num_given``), the ``P`` output
    pixels it predicts, and the check of a reader's batch."""

    def __init__(self, num_given: int) -> None:
        super().__init__()
        self.num_given = quadrants.check_num_given(num_given)
        self.input_dim = quadrants.input_size(num_given)  # G: x, the given pixels
        self.output_dim = quadrants.output_size(num_given)  # P: y, the hidden ones

    def check_batch(
        self, inputs: Tensor, targets: Tensor | None = None, guess: Tensor | None = None
    ) -> None:
        """Refuse inputs not made by ``split_quadrants`` for this task, or not of the
        model's dtype and device, and targets (or a precomputed ``guess``) other than
        ``(B, P)`` in ``[0, 1]``."""
        checks.check_model_input("inputs", inputs, self)
        quadrants.check_quadrant_inputs("inputs", inputs, self.num_given)
        want = (len(inputs), self.output_dim)
        for name, outputs in (("targets", targets), ("guess", guess)):
            if outputs is None:
                continue
            if checks.check_tensor(name, outputs, floating=True).shape != want:
                got = tuple(outputs.shape)
                raise ValueError(f"{name} must have shape (B, P) = {want}, got {got}")
            checks.check_range(name, outputs, 0.0, 1.0)


class Baseline(_QuadrantModel):
    r"""The deterministic baseline :math:`\hat y = \sigma(f(x))`: an MLP from 784 pixels
    to ``P`` logits.

    Read as a model, it says the output pixels are independent Bernoullis with means
    :math:`\hat y`, so its conditional log-likelihood is exact:

    .. math::

        \log p(y \mid x) = \sum_{i=1}^{P}
        \big[y_i \log \hat y_i + (1 - y_i) \log(1 - \hat y_i)\big],

    minus the per-pixel binary cross-entropy, summed over the output pixels.
    """

    def __init__(self, num_given: int, hidden_dims: Sequence[int] = (256, 256)) -> None:
        super().__init__(num_given)
        self.hidden_dims = checks.check_sizes("hidden_dims", hidden_dims)
        self.net = mlp([self.input_dim, *self.hidden_dims, self.output_dim])

    def constructor_args(self) -> dict:
        """The arguments that rebuild this architecture (stored in checkpoints)."""
        return {"num_given": self.num_given, "hidden_dims": list(self.hidden_dims)}

    def forward(self, inputs: Tensor) -> Tensor:
        """Logits ``(B, P)`` of the output pixels."""
        return self.net(quadrants.given_pixels(inputs, self.num_given))

    def loss_terms(self, inputs: Tensor, targets: Tensor) -> dict[str, Tensor]:
        """Per-example BCE summed over output pixels (``loss``), and its negative."""
        log_likelihood = bernoulli_log_likelihood(self(inputs), targets)
        return {"loss": -log_likelihood, "log_likelihood": log_likelihood}

    @torch.no_grad()
    def predict(self, inputs: Tensor) -> Tensor:
        """The prediction :math:`\\hat y`: output pixel probabilities ``(B, P)``."""
        self.check_batch(inputs)
        return torch.sigmoid(self(inputs))

    @torch.no_grad()
    def log_likelihood(self, inputs: Tensor, targets: Tensor) -> Tensor:
        """The exact :math:`\\log p(y \\mid x)` per example, ``(B,)``, in nats."""
        self.check_batch(inputs, targets)
        return self.loss_terms(inputs, targets)["log_likelihood"]


def conditional_log_likelihood(
    log_likelihood: Callable[[Tensor], Tensor],
    prior: GaussianParams,
    proposal: GaussianParams | None = None,
    num_samples: int = 100,
    chunk_size: int = 100,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Estimate :math:`\log p(y \mid x) = \log \int p(y \mid x, z)\, p(z \mid x)\, dz`
    per example.

    * ``proposal=None``: Monte Carlo from the prior,
      :math:`\log \frac1S \sum_s p(y \mid x, z_s)`, :math:`z_s \sim p(z \mid x)`.
    * ``proposal = q(z | x, y)``: importance sampling,
      :math:`\log \frac1S \sum_s
      \frac{p(y \mid x, z_s)\, p(z_s \mid x)}{q(z_s \mid x, y)}`, :math:`z_s \sim q`.

    Both average :math:`S` unbiased estimates of :math:`p(y \mid x)` inside the
    logarithm (so each is, in expectation, a lower bound that tightens as :math:`S`
    grows); both use :func:`cvae.estimators.importance_sampled_log_likelihood`: batched
    over samples in chunks of ``chunk_size``, with a stable log-mean-exp.

    Args:
        log_likelihood: maps codes ``(S', B, d)`` to :math:`\log p(y \mid x, z)`,
            ``(S', B)``.
        prior: ``(mu, logvar)`` of :math:`p(z \mid x)`, each ``(B, d)``.
        proposal: ``(mu, logvar)`` of :math:`q(z \mid x, y)`, or ``None`` for the prior.
        num_samples: :math:`S`.

    Returns:
        ``(B,)``, nats.
    """
    mu_p, logvar_p = prior
    checks.check_same_shape(("prior mu", "prior logvar"), (mu_p, logvar_p))
    return importance_sampled_log_likelihood(
        log_likelihood,
        prior if proposal is None else proposal,
        lambda z: gaussian_log_density(z, mu_p, logvar_p),
        num_samples=num_samples,
        chunk_size=chunk_size,
        generator=generator,
    )


class StructuredCVAE(_QuadrantModel):
    r"""Sohn et al.'s conditional VAE for :math:`p(y \mid x)`, trained as a CVAE, a GSNN
    or their hybrid.

    * ``prior_net`` :math:`p(z \mid x)`: a :class:`~cvae.networks.GaussianEncoder` of
      the input completed with the baseline's prediction :math:`\hat y(x)` (Sohn et
      al.'s "recurrent connection").
    * ``recognition_net`` :math:`q(z \mid x, y)`: a
      :class:`~cvae.networks.GaussianEncoder` of the input completed with the true
      :math:`y` (the whole digit). A GSNN (``alpha = 0``) never uses it and has none.
    * ``generation_net`` :math:`p(y \mid x, z)`: a
      :class:`~cvae.networks.ConditionalBernoulliDecoder` of ``concat(x, z)`` to the
      ``P`` output logits.

    The baseline is trained first; the model keeps a frozen copy of it, so its
    prediction stays what it was trained to be, an estimate of
    :math:`\mathbb E[y \mid x]`, and only the three new networks learn.

    Args:
        num_given: 1, 2 or 3 given quadrants.
        baseline: a trained :class:`Baseline` for the same ``num_given`` (copied, then
            frozen).
        alpha: weight of :math:`\mathcal L_{\mathrm{CVAE}}` in the hybrid objective.
        latent_dim: size of :math:`z`.
        hidden_dims: hidden layers of each network (reversed for the generation
            network).
        num_particles: :math:`L`, the prior samples of the GSNN term.
        gsnn_objective: ``"mean_log"`` (Sohn et al.'s mean of the log-likelihoods) or
            ``"log_mean"`` (the log of their mean, never smaller: the :math:`L`-sample
            importance-weighted bound with the prior as proposal).
    """

    def __init__(
        self,
        num_given: int,
        baseline: Baseline,
        *,
        alpha: float = 1.0,
        latent_dim: int = 32,
        hidden_dims: Sequence[int] = (256, 256),
        num_particles: int = 10,
        gsnn_objective: str = "mean_log",
    ) -> None:
        super().__init__(num_given)
        if not isinstance(baseline, Baseline) or baseline.num_given != num_given:
            raise TypeError(f"baseline must be a Baseline for num_given={num_given}")
        self.alpha = checks.check_positive_float("alpha", alpha, allow_zero=True)
        if self.alpha > 1:
            raise ValueError(f"alpha must be in [0, 1] (1: CVAE, 0: GSNN), got {alpha}")
        self.latent_dim = checks.check_positive_int("latent_dim", latent_dim)
        self.hidden_dims = checks.check_sizes("hidden_dims", hidden_dims)
        self.num_particles = checks.check_positive_int("num_particles", num_particles)
        self.gsnn_objective = checks.check_choice(
            "gsnn_objective", gsnn_objective, GSNN_OBJECTIVES
        )
        self.baseline = copy.deepcopy(baseline).requires_grad_(False).eval()
        sizes = (IMAGE_PIXELS, self.hidden_dims, latent_dim)  # whole digits
        self.prior_net = GaussianEncoder(*sizes)
        self.recognition_net = GaussianEncoder(*sizes) if self.alpha > 0 else None
        self.generation_net = ConditionalBernoulliDecoder(
            self.input_dim, latent_dim, self.hidden_dims[::-1], (self.output_dim,)
        )

    def constructor_args(self) -> dict:
        """The arguments that rebuild this architecture, the baseline's included
        (stored in checkpoints)."""
        return {
            "num_given": self.num_given,
            "alpha": self.alpha,
            "latent_dim": self.latent_dim,
            "hidden_dims": list(self.hidden_dims),
            "num_particles": self.num_particles,
            "gsnn_objective": self.gsnn_objective,
            "baseline": self.baseline.constructor_args(),
        }

    def train(self, mode: bool = True) -> StructuredCVAE:
        """Switch training mode; the frozen baseline always stays in evaluation mode."""
        super().train(mode)
        self.baseline.eval()
        return self

    @torch.no_grad()
    def guess(self, inputs: Tensor) -> Tensor:
        r"""The frozen baseline's prediction :math:`\hat y(x)`, ``(B, P)``: a fixed
        function of the input, so training computes it once per data set."""
        return torch.sigmoid(self.baseline(inputs))

    def prior(self, inputs: Tensor, guess: Tensor | None = None) -> GaussianParams:
        r"""The prior network :math:`p(z \mid x)`: ``(mu, logvar)`` from the input
        completed with :math:`\hat y(x)` (``guess``, computed here when not given)."""
        guess = self.guess(inputs) if guess is None else guess
        return self.prior_net(quadrants.fill_outputs(inputs, guess, self.num_given))

    def recognize(self, inputs: Tensor, targets: Tensor) -> GaussianParams:
        r"""The recognition network :math:`q(z \mid x, y)`: ``(mu, logvar)`` from the
        whole digit."""
        return self.recognition_net(
            quadrants.fill_outputs(inputs, targets, self.num_given)
        )

    def generate_logits(self, inputs: Tensor, z: Tensor) -> Tensor:
        r"""Logits ``(..., B, P)`` of :math:`p(y \mid x, z)` for codes ``(B, d)`` or
        ``(S, B, d)``.

        The generation network of ``concat(x, z)``, x the ``G`` given pixels; for ``S``
        codes per input it never copies ``x`` (see
        :class:`~cvae.networks.ConditionalBernoulliDecoder`).
        """
        given = quadrants.given_pixels(inputs, self.num_given)
        return self.generation_net(given, z)

    def loss_terms(
        self, inputs: Tensor, targets: Tensor, guess: Tensor | None = None
    ) -> dict[str, Tensor]:
        r"""Per-example terms of the hybrid objective, and its negative ``loss``
        (``guess``: the baseline's precomputed :meth:`guess`, as training passes it).

        ``loss`` :math:`= -\alpha \mathcal L_{\mathrm{CVAE}}
        - (1-\alpha) \mathcal L_{\mathrm{GSNN}}`. With ``alpha > 0`` also ``elbo``
        (:math:`\mathcal L_{\mathrm{CVAE}}`, one sample of :math:`q`),
        ``reconstruction`` and ``kl``; with ``alpha < 1`` also ``gsnn``
        (:math:`\mathcal L_{\mathrm{GSNN}}` with ``num_particles`` prior samples,
        reduced as ``gsnn_objective`` says).
        """
        mu_p, logvar_p = self.prior(inputs, guess)
        terms: dict[str, Tensor] = {}
        loss = torch.zeros(len(inputs), dtype=inputs.dtype, device=inputs.device)
        if self.alpha > 0:
            mu_q, logvar_q = self.recognize(inputs, targets)
            logits = self.generate_logits(inputs, reparameterize(mu_q, logvar_q))
            kl = gaussian_kl(mu_q, logvar_q, mu_p, logvar_p)
            terms = elbo_terms(logits, targets, kl)
            loss = loss + self.alpha * terms.pop("loss")
        if self.alpha < 1:
            shape = (self.num_particles, *mu_p.shape)
            z = reparameterize(mu_p.expand(shape), logvar_p.expand(shape))
            logits = self.generate_logits(inputs, z)
            log_likelihoods = bernoulli_log_likelihood(logits, targets)  # (L, B)
            if self.gsnn_objective == "mean_log":  # Sohn et al.: (1/L) sum log p
                gsnn = log_likelihoods.mean(dim=0)
            else:  # "log_mean": log (1/L) sum p(y|x,z_l), never smaller (Jensen)
                gsnn = log_mean_exp(log_likelihoods, dim=0)
            terms["gsnn"] = gsnn
            loss = loss - (1 - self.alpha) * gsnn
        return {"loss": loss, **terms}

    @torch.no_grad()
    def sample(
        self, inputs: Tensor, num_samples: int, generator: torch.Generator | None = None
    ) -> Tensor:
        r"""``S`` completions per input: output pixel probabilities ``(S, B, P)`` from
        :math:`z_s \sim p(z \mid x)`."""
        self.check_batch(inputs)
        checks.check_positive_int("num_samples", num_samples)
        checks.check_generator("generator", generator)
        mu, logvar = self.prior(inputs)
        eps = torch.randn((num_samples, *mu.shape), generator=generator).to(mu.device)
        z = mu + (0.5 * logvar).exp() * eps
        return torch.sigmoid(self.generate_logits(inputs, z))

    @torch.no_grad()
    def log_likelihood(
        self,
        inputs: Tensor,
        targets: Tensor,
        num_samples: int = 100,
        estimator: str = "importance",
        chunk_size: int = 100,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        r"""Estimated :math:`\log p(y \mid x)` per example, ``(B,)``: see
        :func:`conditional_log_likelihood`.

        ``estimator``: ``"importance"`` (proposal :math:`q(z \mid x, y)`) or
        ``"monte_carlo"`` (samples from the prior network).
        """
        self.check_batch(inputs, targets)
        checks.check_choice("estimator", estimator, ESTIMATORS)
        if estimator == "importance" and self.recognition_net is None:
            raise ValueError(
                "estimator='importance' needs q(z | x, y), but a GSNN (alpha=0) has no "
                "recognition network: use estimator='monte_carlo'"
            )
        q = None if estimator == "monte_carlo" else self.recognize(inputs, targets)

        def log_likelihood(z: Tensor) -> Tensor:
            return bernoulli_log_likelihood(self.generate_logits(inputs, z), targets)

        return conditional_log_likelihood(
            log_likelihood,
            self.prior(inputs),
            q,
            num_samples=num_samples,
            chunk_size=chunk_size,
            generator=generator,
        )


def negative_conditional_log_likelihood(
    model: Baseline | StructuredCVAE,
    inputs: Tensor,
    targets: Tensor,
    *,
    estimator: str = "importance",
    num_samples: int = 100,
    batch_size: int = 100,
    seed: int = 0,
) -> Tensor:
    r""":math:`-\log p(y \mid x)` of every example, ``(N,)`` in nats, in batches.

    Exact for a :class:`Baseline` (``estimator`` and ``num_samples`` are then unused);
    estimated with ``num_samples`` draws for a :class:`StructuredCVAE`, reproducibly
    from ``seed``.
    """
    if not isinstance(model, (Baseline, StructuredCVAE)):
        raise TypeError(f"model must be a Baseline or a StructuredCVAE: {model!r}")
    checks.check_positive_int("batch_size", batch_size)
    checks.check_seed("seed", seed)
    if not len(inputs):
        raise ValueError("inputs is empty: there is no example to score")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    sampled = {
        "num_samples": num_samples,
        "estimator": estimator,
        "generator": generator,
    }
    options = {} if isinstance(model, Baseline) else sampled
    values = []
    for start in range(0, len(inputs), batch_size):
        x = inputs[start : start + batch_size].to(device)
        y = targets[start : start + batch_size].to(device)
        values.append(-model.log_likelihood(x, y, **options))
    model.train(was_training)
    return torch.cat(values).cpu()
