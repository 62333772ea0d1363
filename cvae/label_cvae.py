r"""The label-conditioned CVAE :math:`p(x \mid y)` in PyTorch-VAE's ``cvae.py`` design, with a choice of prior.

Explained in the chapter :chapter:`Generating digits on demand <book/cvae_labels>`.
The conditional ELBO it maximizes is

.. math::

    \log p(x \mid y) \ge \mathbb E_{q(z \mid x, y)}[\log p(x \mid z, y)]
    - \mathrm{KL}\big(q(z \mid x, y) \,\|\, p(z \mid y)\big),

with the prior :math:`p(z \mid y)` either the standard normal :math:`\mathcal N(0, I)`
that ignores the label (PyTorch-VAE's, the default) or a learned Gaussian
:math:`\mathcal N(m_y, \operatorname{diag} s_y^2)` with one mean and log-variance per
class. Two encoder/decoder pairs share one model class: convolutional (PyTorch-VAE's
architecture, sized for 28x28) and MLP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvae import contracts
from cvae.checks import checked
from cvae.data import IMAGE_PIXELS, IMAGE_SHAPE, NUM_CLASSES
from cvae.distributions import GaussianParams, bernoulli_log_likelihood, gaussian_kl, reparameterize, standardize
from cvae.estimators import count_active_units, importance_sampled_log_likelihood
from cvae.networks import BernoulliDecoder, GaussianEncoder
from cvae.elbo import elbo_terms

ARCHITECTURES = ("conv", "mlp")
OBJECTIVES = ("elbo", "pytorch_vae")
PRIORS = ("standard_normal", "learned")
PYTORCH_VAE_KLD_WEIGHT = 0.00025


@checked(contracts.one_hot)
def one_hot(labels: Tensor) -> Tensor:
    """Digit labels ``(B,)`` in ``0..9`` as float one-hot rows ``(B, 10)``."""
    return F.one_hot(labels, NUM_CLASSES).float()


@checked(contracts.conv_block)
def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Stride-2 3x3 convolution, BatchNorm, LeakyReLU: halves the image side (PyTorch-VAE's block)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(),
    )


@checked(contracts.deconv_block)
def deconv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Stride-2 transposed convolution, BatchNorm, LeakyReLU: doubles the image side."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1, output_padding=1),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(),
    )


class LabelPrior(nn.Module):
    r"""A prior :math:`p(z \mid y)`: one diagonal Gaussian per class, ``forward(labels) -> (mean, log-variance)``."""

    name = ""  # the ``prior`` name LabelCVAE records in its checkpoints

    @checked(contracts.label_prior_init)
    def __init__(self, latent_dim: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.num_classes = num_classes

    @checked(contracts.label_prior_sample)
    @torch.no_grad()
    def sample(self, labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        r"""One draw :math:`z = m_y + s_y \odot \varepsilon` per label, :math:`\varepsilon \sim \mathcal N(0, I)`."""
        mean, logvar = self(labels)
        eps = torch.randn(mean.shape, generator=generator).to(mean.device)
        return mean + (0.5 * logvar).exp() * eps


class StandardNormalPrior(LabelPrior):
    r""":math:`p(z \mid y) = \mathcal N(0, I)` whatever the label: PyTorch-VAE's prior."""

    name = "standard_normal"

    @checked(contracts.label_prior_forward)
    def forward(self, labels: Tensor) -> GaussianParams:
        zeros = torch.zeros(len(labels), self.latent_dim, device=labels.device)
        return zeros, zeros


class LearnedPrior(LabelPrior):
    r""":math:`p(z \mid y) = \mathcal N(m_y, \operatorname{diag} s_y^2)`: a learned mean and log-variance per class.

    Two tables of ``num_classes`` rows, looked up by label, start at zero: the prior
    starts as :math:`\mathcal N(0, I)` and is trained with the rest of the model.
    """

    name = "learned"

    def __init__(self, latent_dim: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__(latent_dim, num_classes)
        self.means = nn.Parameter(torch.zeros(num_classes, latent_dim))
        self.log_variances = nn.Parameter(torch.zeros(num_classes, latent_dim))

    @checked(contracts.label_prior_forward)
    def forward(self, labels: Tensor) -> GaussianParams:
        return self.means[labels], self.log_variances[labels]


PRIOR_CLASSES = {prior.name: prior for prior in (StandardNormalPrior, LearnedPrior)}


@checked(contracts.kl_to_prior)
def kl_to_prior(posterior: GaussianParams, prior: GaussianParams) -> Tensor:
    r""":math:`\mathrm{KL}(q \| p)` of diagonal Gaussians: the KL of the standardized :math:`q` to N(0, I).

    The map :math:`z \mapsto (z - m)/s` takes the prior :math:`\mathcal N(m, s^2)` to
    :math:`\mathcal N(0, I)`, and a KL divergence does not change when one invertible map
    is applied to both of its distributions:

    .. math::

        \mathrm{KL}\big(\mathcal N(\mu, \sigma^2) \,\|\, \mathcal N(m, s^2)\big)
        = \mathrm{KL}\big(\mathcal N\big(\tfrac{\mu - m}{s}, \tfrac{\sigma^2}{s^2}\big)
          \,\|\, \mathcal N(0, I)\big).

    So :func:`~cvae.distributions.gaussian_kl` computes it in its N(0, I) form, and a
    prior at :math:`m = 0, s = 1` gives bit for bit the KL of the standard-normal model.
    """
    (mu, logvar), (_, prior_logvar) = posterior, prior
    return gaussian_kl(standardize(mu, prior), logvar - prior_logvar)


class ConvLabelEncoder(nn.Module):
    r""":math:`q(z \mid x, y)` as in PyTorch-VAE: the label becomes an extra image channel.

    ``embed_class`` maps the one-hot label to a 28x28 plane (a linear layer),
    ``embed_data`` is a 1x1 convolution of the image; the two channels are stacked and
    encoded by stride-2 convolution blocks (28 -> 14 -> 7) and two linear heads.
    """

    @checked(contracts.conv_label_encoder_init)
    def __init__(self, latent_dim: int, channels: Sequence[int] = (32, 64)) -> None:
        super().__init__()
        height, width = IMAGE_SHAPE[1:]
        self.embed_class = nn.Linear(NUM_CLASSES, height * width)
        self.embed_data = nn.Conv2d(1, 1, kernel_size=1)
        blocks, previous = [], 2
        for out in channels:
            blocks.append(conv_block(previous, out))
            previous, height, width = out, (height + 1) // 2, (width + 1) // 2
        self.body = nn.Sequential(*blocks, nn.Flatten())
        self.mean = nn.Linear(previous * height * width, latent_dim)
        self.log_variance = nn.Linear(previous * height * width, latent_dim)

    @checked(contracts.conv_label_encoder_forward)
    def forward(self, images: Tensor, condition: Tensor) -> tuple[Tensor, Tensor]:
        label_plane = self.embed_class(condition).view(-1, *IMAGE_SHAPE)
        hidden = self.body(torch.cat([self.embed_data(images), label_plane], dim=1))
        return self.mean(hidden), self.log_variance(hidden)


class ConvDecoder(nn.Module):
    r""":math:`p(x \mid z, y)`: a linear layer to a 7x7 feature map, transposed convolutions to 28x28 logits.

    Its input is ``concat(z, one_hot(y))``, as in PyTorch-VAE. Leading sample dimensions
    ``(S, B, d)`` are folded into the batch and restored.
    """

    @checked(contracts.conv_decoder_init)
    def __init__(self, input_dim: int, channels: Sequence[int] = (64, 32)) -> None:
        super().__init__()
        self.input_dim = input_dim
        # one stride-2 layer per channel count, each doubling the side: 7x7 -> 14x14 -> 28x28 for two
        self.feature_shape = (channels[0], *(side // 2 ** len(channels) for side in IMAGE_SHAPE[1:]))
        self.project = nn.Linear(input_dim, math.prod(self.feature_shape))
        blocks = [deconv_block(a, b) for a, b in zip(channels[:-1], channels[1:])]
        self.body = nn.Sequential(
            *blocks,
            nn.ConvTranspose2d(channels[-1], 1, kernel_size=3, stride=2, padding=1, output_padding=1),
        )

    @checked(contracts.conv_decoder_forward)
    def forward(self, inputs: Tensor) -> Tensor:
        leading = inputs.shape[:-1]
        hidden = self.project(inputs.reshape(-1, self.input_dim))
        hidden = hidden.view(-1, *self.feature_shape)
        return self.body(hidden).view(*leading, *IMAGE_SHAPE)


class MLPLabelEncoder(nn.Module):
    r""":math:`q(z \mid x, y)` as an MLP on ``concat(flatten(x), one_hot(y))``."""

    @checked(contracts.mlp_label_encoder_init)
    def __init__(
        self, latent_dim: int, hidden_dims: Sequence[int] = (512, 256)
    ) -> None:
        super().__init__()
        input_dim = IMAGE_PIXELS + NUM_CLASSES
        self.gaussian = GaussianEncoder(input_dim, hidden_dims, latent_dim)

    @checked(contracts.mlp_label_encoder_forward)
    def forward(self, images: Tensor, condition: Tensor) -> tuple[Tensor, Tensor]:
        return self.gaussian(torch.cat([images.flatten(1), condition], dim=1))


class LabelCVAE(nn.Module):
    r"""A CVAE that generates a digit of a chosen class: :math:`p(x \mid y)`.

    Args:
        architecture: ``"conv"`` (PyTorch-VAE's design) or ``"mlp"``.
        latent_dim: size of :math:`z`.
        objective: ``"elbo"`` (the book's: Bernoulli likelihood summed over pixels, KL
            at full weight) or ``"pytorch_vae"`` (the reference implementation's loss:
            mean squared error averaged over pixels plus ``kld_weight`` times the KL; the
            negative ELBO of a Gaussian decoder of variance ``D * kld_weight / 2``, up to
            scale and a constant, a density that binary pixels do not have).
        kld_weight: the KL weight of the ``"pytorch_vae"`` objective.
        prior: :math:`p(z \mid y)`: ``"standard_normal"`` (N(0, I) for every class),
            ``"learned"`` (a :class:`LearnedPrior`), or a :class:`LabelPrior` built for
            ``latent_dim`` and 10 classes. Training, sampling and the likelihood
            estimate all use it.
    """

    @checked(contracts.label_cvae_init)
    def __init__(
        self,
        architecture: str = "conv",
        latent_dim: int = 16,
        objective: str = "elbo",
        kld_weight: float = PYTORCH_VAE_KLD_WEIGHT,
        prior: str | LabelPrior = "standard_normal",
    ) -> None:
        super().__init__()
        self.architecture = architecture
        self.latent_dim = latent_dim
        self.objective = objective
        self.kld_weight = float(kld_weight)
        if architecture == "conv":
            self.encoder: nn.Module = ConvLabelEncoder(latent_dim)
            self.decoder: nn.Module = ConvDecoder(latent_dim + NUM_CLASSES)
        else:
            self.encoder = MLPLabelEncoder(latent_dim)
            self.decoder = BernoulliDecoder(latent_dim + NUM_CLASSES, (256, 512))
        self.prior = PRIOR_CLASSES[prior](latent_dim) if isinstance(prior, str) else prior

    def constructor_args(self) -> dict:
        """The arguments that rebuild this architecture, the prior's name included (stored in checkpoints)."""
        return {
            "architecture": self.architecture,
            "latent_dim": self.latent_dim,
            "objective": self.objective,
            "kld_weight": self.kld_weight,
            "prior": self.prior.name,
        }

    @checked(contracts.label_cvae_decode)
    def decode(self, z: Tensor, labels: Tensor) -> Tensor:
        """Pixel logits of :math:`p(x \\mid z, y)`; ``z`` is ``(B, d)`` or ``(S, B, d)``."""
        condition = one_hot(labels).to(z.device).expand(*z.shape[:-1], NUM_CLASSES)
        return self.decoder(torch.cat([z, condition], dim=-1))

    @checked(contracts.label_cvae_loss_terms)
    def loss_terms(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Per-example terms of the objective for binary ``images`` and their ``labels``."""
        mu, logvar = self.encoder(images, one_hot(labels))
        logits = self.decode(reparameterize(mu, logvar), labels)
        kl = kl_to_prior((mu, logvar), self.prior(labels))
        terms = elbo_terms(logits, images, kl)
        if self.objective == "pytorch_vae":
            mse = (torch.sigmoid(logits) - images).pow(2).flatten(1).mean(1)
            terms["mse"] = mse
            terms["loss"] = mse + self.kld_weight * kl
        return terms

    @checked(contracts.label_cvae_generate)
    @torch.no_grad()
    def generate(
        self,
        labels: Tensor,
        z: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Pixel probabilities of digits of classes ``labels``, from ``z`` or p(z|y) draws."""
        device = next(self.parameters()).device
        labels = labels.to(device)
        if z is None:
            z = self.prior.sample(labels, generator)
        return torch.sigmoid(self.decode(z.to(device), labels))

    @checked(contracts.label_cvae_encode)
    @torch.no_grad()
    def encode(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of :math:`q(z \\mid x, y)`."""
        return self.encoder(images, one_hot(labels))

    @checked(contracts.label_cvae_log_likelihood)
    @torch.no_grad()
    def log_likelihood(
        self,
        images: Tensor,
        labels: Tensor,
        num_samples: int,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Importance-sampled :math:`\\log p(x \\mid y)` per image, under the model's prior."""
        proposal = self.encode(images, labels)
        return importance_sampled_log_likelihood(
            lambda z: bernoulli_log_likelihood(self.decode(z, labels), images),
            proposal,
            prior=self.prior(labels),
            num_samples=num_samples,
            generator=generator,
        )


@checked(contracts.active_units)
@torch.no_grad()
def active_units(
    model: LabelCVAE, images: Tensor, labels: Tensor, threshold: float = 0.01
) -> int:
    r"""How many latent units carry information about :math:`x` beyond its label.

    Burda et al.'s count of active units
    (:func:`~cvae.estimators.count_active_units`), taken within each class.

    Unit :math:`u` is active when its posterior mean, standardized by the prior of the
    class, :math:`\bar z_u = (\mathbb E_q[z_u] - m_{y,u}) / s_{y,u}`, varies between the
    digits of one class: :math:`\mathbb E_y \operatorname{Var}_{x \mid y}[\bar z_u]` above
    ``threshold``. A unit whose posterior is the prior (zero KL) has
    :math:`\bar z_u = 0` and is inactive; so is one that encodes only the class, which
    the decoder already gets.
    """
    mu, _ = model.encode(images, labels)
    standardized = standardize(mu, model.prior(labels))
    counts = torch.bincount(labels, minlength=NUM_CLASSES).clamp_min(1)[:, None]
    sums = torch.zeros(NUM_CLASSES, mu.shape[1], device=mu.device)
    class_means = sums.index_add_(0, labels, standardized) / counts
    return count_active_units(standardized - class_means[labels], threshold)
