r"""The label CVAE's prior :math:`p(z \mid y)`: one class per prior, one registry.

Explained in the chapter :chapter:`Generating digits on demand <book/cvae_labels>`.
A prior gives ``log_prob(z, labels)``, the log-density of codes ``(B, d)`` or
``(S, B, d)``, and ``sample(labels)``, one code per label. One that is a diagonal
Gaussian per class also gives it, ``gaussian(labels) -> (mu, logvar)``, and the model
uses the closed-form KL (:func:`kl_to_prior`); one without (``gaussian`` returns
``None``) gets the Monte Carlo KL of :meth:`LabelPrior.kl`. A new prior is a class
here: :data:`PRIORS` maps its ``name`` to it, and every list of prior names reads it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cvae.checks import check_generator, check_positive_int, check_range, check_tensor
from cvae.data import NUM_CLASSES
from cvae.distributions import (
    GaussianParams,
    gaussian_kl,
    gaussian_log_density,
    standardize,
)


def kl_to_prior(posterior: GaussianParams, prior: GaussianParams) -> Tensor:
    r""":math:`\mathrm{KL}(q \| p)` of diagonal Gaussians: the KL of the standardized
    :math:`q` to N(0, I).

    The map :math:`z \mapsto (z - m)/s` takes the prior :math:`\mathcal N(m, s^2)` to
    :math:`\mathcal N(0, I)`, and a KL divergence does not change when one invertible
    map is applied to both of its distributions:

    .. math::

        \mathrm{KL}\big(\mathcal N(\mu, \sigma^2) \,\|\, \mathcal N(m, s^2)\big)
        = \mathrm{KL}\big(\mathcal N\big(\tfrac{\mu - m}{s}, \tfrac{\sigma^2}{s^2}\big)
          \,\|\, \mathcal N(0, I)\big).

    So :func:`~cvae.distributions.gaussian_kl` computes it in its N(0, I) form, and a
    prior at :math:`m = 0, s = 1` gives bit for bit the KL of the standard-normal model.
    """
    (mu, logvar), (_, prior_logvar) = posterior, prior
    return gaussian_kl(standardize(mu, prior), logvar - prior_logvar)


class LabelPrior(nn.Module):
    r"""A prior :math:`p(z \mid y)` of codes of ``latent_dim`` over ``num_classes``.

    The base class is written for a Gaussian prior: its ``log_prob`` and ``sample`` use
    ``gaussian(labels)``. A prior with no Gaussian form returns ``None`` there and
    overrides ``log_prob`` and ``component``.
    """

    name = ""  # the key in PRIORS, recorded in checkpoints
    title = ""  # how figures name it

    def __init__(self, latent_dim: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.num_classes = check_positive_int("num_classes", num_classes)

    def constructor_args(self) -> dict:
        """The arguments that rebuild this prior (recorded in checkpoints)."""
        return {"latent_dim": self.latent_dim, "num_classes": self.num_classes}

    def gaussian(self, labels: Tensor) -> GaussianParams | None:
        r"""``(mu, logvar)``, each ``(B, d)``, when :math:`p(z \mid y)` is one diagonal
        Gaussian per class; ``None`` otherwise."""
        return None

    def log_prob(self, z: Tensor, labels: Tensor) -> Tensor:
        r""":math:`\log p(z \mid y)` of ``z`` ``(B, d)`` or ``(S, B, d)``."""
        return gaussian_log_density(z, *self.gaussian(labels))

    def component(self, labels: Tensor, generator: torch.Generator | None):
        """``(mu, logvar)`` of the Gaussian that the draw for each label comes from."""
        return self.gaussian(labels)

    @torch.no_grad()
    def sample(self, labels: Tensor, generator: torch.Generator | None = None):
        r"""One draw per label from the Gaussian ``(m, log s^2)`` of :meth:`component`:
        :math:`z = m + s \odot \varepsilon` with standard normal :math:`\varepsilon`."""
        labels = check_tensor("labels", labels, ndim=1, floating=False)
        check_range("labels", labels, 0, self.num_classes - 1)
        check_generator("generator", generator)
        mu, logvar = self.component(labels, generator)
        eps = torch.randn(mu.shape, generator=generator).to(mu.device)
        return mu + (0.5 * logvar).exp() * eps

    def kl(self, posterior: GaussianParams, z: Tensor, labels: Tensor) -> Tensor:
        r""":math:`\mathrm{KL}(q(z \mid x, y) \,\|\, p(z \mid y))` per example ``(B,)``.

        In closed form (:func:`kl_to_prior`) for a Gaussian prior. Otherwise the
        one-sample Monte Carlo estimate at the reparameterised code :math:`z \sim q`,

        .. math::

            \mathrm{KL}(q \,\|\, p) = \mathbb E_q[\log q(z) - \log p(z \mid y)]
            \approx \log q(z) - \log p(z \mid y),

        unbiased, and differentiable through :math:`z` like the reconstruction term.
        """
        gaussian = self.gaussian(labels)
        if gaussian is None:
            return gaussian_log_density(z, *posterior) - self.log_prob(z, labels)
        return kl_to_prior(posterior, gaussian)


class StandardNormalPrior(LabelPrior):
    r""":math:`p(z \mid y) = \mathcal N(0, I)` for every label: PyTorch-VAE's prior."""

    name, title = "standard_normal", "N(0, I)"

    def gaussian(self, labels: Tensor) -> GaussianParams:
        zeros = torch.zeros(len(labels), self.latent_dim, device=labels.device)
        return zeros, zeros


class LearnedPrior(LabelPrior):
    r""":math:`p(z \mid y) = \mathcal N(m_y, \operatorname{diag} s_y^2)`: a learned mean
    and log-variance per class.

    Two tables of ``num_classes`` rows, looked up by label, start at zero: the prior
    starts as :math:`\mathcal N(0, I)` and is trained with the rest of the model.
    """

    name, title = "learned", "learned"

    def __init__(self, latent_dim: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__(latent_dim, num_classes)
        self.means = nn.Parameter(torch.zeros(num_classes, latent_dim))
        self.log_variances = nn.Parameter(torch.zeros(num_classes, latent_dim))

    def gaussian(self, labels: Tensor) -> GaussianParams:
        return self.means[labels], self.log_variances[labels]


class MixturePrior(LabelPrior):
    r""":math:`p(z \mid y) = \sum_k w_{y,k}\, \mathcal N(m_{y,k}, \operatorname{diag}
    s_{y,k}^2)`: ``num_components`` learned diagonal Gaussians per class.

    The weights are a softmax of learned ``logits`` (zero at first: equal weights); the
    log-variances start at zero. The means start at a small spread drawn from a fixed
    seed, so the components differ from the first step: equal components get equal
    gradients and would stay equal. Not Gaussian, so the model's KL is the Monte Carlo
    estimate of :meth:`LabelPrior.kl`.
    """

    name, title = "mixture", "mixture"

    def __init__(
        self, latent_dim: int, num_classes: int = NUM_CLASSES, num_components: int = 4
    ) -> None:
        super().__init__(latent_dim, num_classes)
        self.num_components = check_positive_int("num_components", num_components)
        shape = (num_classes, num_components, latent_dim)
        spread = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        self.logits = nn.Parameter(torch.zeros(num_classes, num_components))
        self.means = nn.Parameter(0.5 * spread)  # a fixed draw: the global RNG is kept
        self.log_variances = nn.Parameter(torch.zeros(shape))

    def constructor_args(self) -> dict:
        return {**super().constructor_args(), "num_components": self.num_components}

    def log_prob(self, z: Tensor, labels: Tensor) -> Tensor:
        r""":math:`\log \sum_k w_{y,k} \mathcal N(z; m_{y,k}, s_{y,k}^2)`, by
        log-sum-exp over the components."""
        log_weights = self.logits[labels].log_softmax(-1)  # (B, K)
        mu, logvar = self.means[labels], self.log_variances[labels]  # (B, K, d)
        per_component = gaussian_log_density(z.unsqueeze(-2), mu, logvar)  # (..., B, K)
        return (log_weights + per_component).logsumexp(-1)

    def component(self, labels: Tensor, generator: torch.Generator | None):
        r"""A component :math:`k \sim w_y` per label, by the Gumbel-max trick:
        :math:`\arg\max_k \log w_{y,k} + G_k`, :math:`G_k = -\log(-\log U_k)`."""
        log_weights = self.logits[labels].log_softmax(-1)
        uniform = torch.rand(log_weights.shape, generator=generator)
        gumbel = -(-uniform.log()).log()
        k = (log_weights + gumbel.to(log_weights.device)).argmax(-1)
        return self.means[labels, k], self.log_variances[labels, k]


#: Every prior, by the ``name`` that ``LabelCVAE(prior=...)`` and checkpoints use.
PRIORS = {p.name: p for p in (StandardNormalPrior, LearnedPrior, MixturePrior)}
