r"""The label CVAE :math:`p(x \mid y)`, in the design of PyTorch-VAE's ``cvae.py``.

Explained in the chapter :chapter:`Generating digits on demand <book/cvae_labels>`.
The conditional ELBO it maximizes is

.. math::

    \log p(x \mid y) \ge \mathbb E_{q(z \mid x, y)}[\log p(x \mid z, y)]
    - \mathrm{KL}\big(q(z \mid x, y) \,\|\, p(z \mid y)\big),

with a prior :math:`p(z \mid y)` from :mod:`cvae.priors`: the standard normal
:math:`\mathcal N(0, I)` that ignores the label (PyTorch-VAE's, the default), a learned
Gaussian :math:`\mathcal N(m_y, \operatorname{diag} s_y^2)` per class, or a learned
mixture of Gaussians per class. Two encoder/decoder pairs share one model class:
convolutional (PyTorch-VAE's architecture, sized for 28x28) and MLP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvae.checks import (
    check_choice,
    check_model_input,
    check_positive_float,
    check_positive_int,
    check_sizes,
    check_tensor,
)
from cvae.data import IMAGE_PIXELS, IMAGE_SHAPE, NUM_CLASSES, check_images, check_labels
from cvae.distributions import bernoulli_log_likelihood, reparameterize, standardize
from cvae.elbo import elbo_terms
from cvae.estimators import count_active_units, importance_sampled_log_likelihood
from cvae.networks import BernoulliDecoder, GaussianEncoder
from cvae.priors import PRIORS, LabelPrior

ARCHITECTURES = ("conv", "mlp")
OBJECTIVES = ("elbo", "pytorch_vae")
PYTORCH_VAE_KLD_WEIGHT = 0.00025


def one_hot(labels: Tensor) -> Tensor:
    """Digit labels ``(B,)`` in ``0..9`` as float one-hot rows ``(B, 10)``."""
    return F.one_hot(labels, NUM_CLASSES).float()


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """PyTorch-VAE's block: stride-2 3x3 convolution, BatchNorm, LeakyReLU (side/2)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(),
    )


def deconv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Stride-2 transposed convolution, BatchNorm, LeakyReLU: doubles the image side."""
    return nn.Sequential(
        nn.ConvTranspose2d(
            in_channels, out_channels, 3, 2, padding=1, output_padding=1
        ),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(),
    )


class ConvLabelEncoder(nn.Module):
    r""":math:`q(z \mid x, y)` as in PyTorch-VAE: the label becomes an extra image
    channel.

    ``embed_class`` maps the one-hot label to a 28x28 plane (a linear layer),
    ``embed_data`` is a 1x1 convolution of the image; the two channels are stacked and
    encoded by stride-2 convolution blocks (28 -> 14 -> 7) and two linear heads.
    """

    def __init__(self, latent_dim: int, channels: Sequence[int] = (32, 64)) -> None:
        super().__init__()
        check_positive_int("latent_dim", latent_dim)
        height, width = IMAGE_SHAPE[1:]
        self.embed_class = nn.Linear(NUM_CLASSES, height * width)
        self.embed_data = nn.Conv2d(1, 1, kernel_size=1)
        blocks, previous = [], 2
        for out in check_sizes("channels", channels):
            blocks.append(conv_block(previous, out))
            previous, height, width = out, (height + 1) // 2, (width + 1) // 2
        self.body = nn.Sequential(*blocks, nn.Flatten())
        self.mean = nn.Linear(previous * height * width, latent_dim)
        self.log_variance = nn.Linear(previous * height * width, latent_dim)

    def forward(self, images: Tensor, condition: Tensor) -> tuple[Tensor, Tensor]:
        label_plane = self.embed_class(condition).view(-1, *IMAGE_SHAPE)
        hidden = self.body(torch.cat([self.embed_data(images), label_plane], dim=1))
        return self.mean(hidden), self.log_variance(hidden)


class ConvDecoder(nn.Module):
    r""":math:`p(x \mid z, y)`: a linear layer to a 7x7 feature map, transposed
    convolutions to 28x28 logits.

    Its input is ``concat(z, one_hot(y))``, as in PyTorch-VAE. Leading sample dimensions
    ``(S, B, d)`` are folded into the batch and restored.
    """

    def __init__(self, input_dim: int, channels: Sequence[int] = (64, 32)) -> None:
        super().__init__()
        self.input_dim = check_positive_int("input_dim", input_dim)
        layers = len(check_sizes("channels", channels))
        if any(side % 2**layers for side in IMAGE_SHAPE[1:]):
            want = f"sides divisible by {2**layers}"
            raise ValueError(f"channels: {layers} stride-2 layers need image {want}")
        # one stride-2 layer per channel count, each doubling the side: 7, 14, 28
        sides = (side // 2**layers for side in IMAGE_SHAPE[1:])
        self.feature_shape = (channels[0], *sides)
        self.project = nn.Linear(input_dim, math.prod(self.feature_shape))
        blocks = [deconv_block(a, b) for a, b in pairwise(channels)]
        self.body = nn.Sequential(
            *blocks,
            nn.ConvTranspose2d(channels[-1], 1, 3, 2, padding=1, output_padding=1),
        )

    def forward(self, inputs: Tensor) -> Tensor:
        leading = inputs.shape[:-1]
        hidden = self.project(inputs.reshape(-1, self.input_dim))
        hidden = hidden.view(-1, *self.feature_shape)
        return self.body(hidden).view(*leading, *IMAGE_SHAPE)


class MLPLabelEncoder(nn.Module):
    r""":math:`q(z \mid x, y)` as an MLP on ``concat(flatten(x), one_hot(y))``."""

    def __init__(self, latent_dim: int, hidden_dims: Sequence[int] = (512, 256)):
        super().__init__()
        input_dim = IMAGE_PIXELS + NUM_CLASSES
        self.gaussian = GaussianEncoder(input_dim, hidden_dims, latent_dim)

    def forward(self, images: Tensor, condition: Tensor) -> tuple[Tensor, Tensor]:
        return self.gaussian(torch.cat([images.flatten(1), condition], dim=1))


class LabelCVAE(nn.Module):
    r"""A CVAE that generates a digit of a chosen class: :math:`p(x \mid y)`.

    Args:
        architecture: ``"conv"`` (PyTorch-VAE's design) or ``"mlp"``.
        latent_dim: size of :math:`z`.
        objective: ``"elbo"`` (the book's: Bernoulli likelihood summed over pixels, KL
            at full weight) or ``"pytorch_vae"`` (the reference implementation's loss:
            mean squared error averaged over pixels plus ``kld_weight`` times the KL;
            the negative ELBO of a Gaussian decoder of variance ``D * kld_weight / 2``,
            up to scale and a constant, a density that binary pixels do not have).
        kld_weight: the KL weight of the ``"pytorch_vae"`` objective.
        prior: :math:`p(z \mid y)`: a name in :data:`cvae.priors.PRIORS`
            (``"standard_normal"``, N(0, I) for every class, is the default), or a
            :class:`~cvae.priors.LabelPrior` built for ``latent_dim`` and 10 classes.
            Training, sampling and the likelihood estimate all use it.
        prior_args: the named prior's constructor arguments (default: ``latent_dim``
            alone), as :meth:`constructor_args` records them.
    """

    def __init__(
        self,
        architecture: str = "conv",
        latent_dim: int = 16,
        objective: str = "elbo",
        kld_weight: float = PYTORCH_VAE_KLD_WEIGHT,
        prior: str | LabelPrior = "standard_normal",
        prior_args: dict | None = None,
    ) -> None:
        super().__init__()
        self.architecture = check_choice("architecture", architecture, ARCHITECTURES)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.objective = check_choice("objective", objective, OBJECTIVES)
        self.kld_weight = check_positive_float("kld_weight", kld_weight)
        if isinstance(prior, str):
            prior = PRIORS[check_choice("prior", prior, PRIORS)](
                **(prior_args or {"latent_dim": latent_dim})
            )
        elif not isinstance(prior, LabelPrior):
            names = ", ".join(map(repr, PRIORS))
            raise TypeError(f"prior must be one of {names} or a LabelPrior: {prior!r}")
        if (prior.latent_dim, prior.num_classes) != (latent_dim, NUM_CLASSES):
            raise ValueError(
                f"prior is built for latent_dim={prior.latent_dim} and "
                f"{prior.num_classes} classes; the model has latent_dim={latent_dim}"
            )
        if architecture == "conv":
            self.encoder: nn.Module = ConvLabelEncoder(latent_dim)
            self.decoder: nn.Module = ConvDecoder(latent_dim + NUM_CLASSES)
        else:
            self.encoder = MLPLabelEncoder(latent_dim)
            self.decoder = BernoulliDecoder(latent_dim + NUM_CLASSES, (256, 512))
        self.prior = prior  # built first, registered last: the parameters' order

    def constructor_args(self) -> dict:
        """The arguments that rebuild this model, the prior's included (checkpoints)."""
        return {
            "architecture": self.architecture,
            "latent_dim": self.latent_dim,
            "objective": self.objective,
            "kld_weight": self.kld_weight,
            "prior": self.prior.name,
            "prior_args": self.prior.constructor_args(),
        }

    def decode(self, z: Tensor, labels: Tensor) -> Tensor:
        r"""Logits of :math:`p(x \mid z, y)` for ``z`` ``(B, d)`` or ``(S, B, d)``."""
        condition = one_hot(labels).to(z.device).expand(*z.shape[:-1], NUM_CLASSES)
        return self.decoder(torch.cat([z, condition], dim=-1))

    def loss_terms(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Per-example terms of the objective for binary ``images`` and their labels."""
        mu, logvar = self.encoder(images, one_hot(labels))
        z = reparameterize(mu, logvar)
        logits = self.decode(z, labels)
        kl = self.prior.kl((mu, logvar), z, labels)
        terms = elbo_terms(logits, images, kl)
        if self.objective == "pytorch_vae":
            mse = (torch.sigmoid(logits) - images).pow(2).flatten(1).mean(1)
            terms["mse"] = mse
            terms["loss"] = mse + self.kld_weight * kl
        return terms

    @torch.no_grad()
    def generate(
        self,
        labels: Tensor,
        z: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Pixel probabilities of digits of classes ``labels`` from ``z`` or p(z|y)."""
        check_labels("labels", labels)  # the prior's sample checks the generator
        device = next(self.parameters()).device
        labels = labels.to(device)
        if z is None:
            z = self.prior.sample(labels, generator)
        elif check_tensor("z", z, ndim=2).shape != (len(labels), self.latent_dim):
            want = (len(labels), self.latent_dim)
            raise ValueError(f"z must have shape {want}, got {tuple(z.shape)}")
        return torch.sigmoid(self.decode(z.to(device), labels))

    def check_batch(self, images: Tensor, labels: Tensor) -> None:
        """Refuse images that are not ``(B, 1, 28, 28)`` in [0, 1], or labels that are
        not ``B`` class indices, on the model's device. ``fit`` runs it once over each
        data set, never in the training step."""
        check_model_input("images", check_images("images", images), self)
        check_model_input("labels", check_labels("labels", labels, len(images)), self)

    @torch.no_grad()
    def encode(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of :math:`q(z \\mid x, y)`."""
        self.check_batch(images, labels)
        return self.encoder(images, one_hot(labels))

    @torch.no_grad()
    def log_likelihood(
        self,
        images: Tensor,
        labels: Tensor,
        num_samples: int,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """:math:`\\log p(x \\mid y)` per image, importance-sampled under the prior."""
        self.check_batch(images, labels)
        return importance_sampled_log_likelihood(
            lambda z: bernoulli_log_likelihood(self.decode(z, labels), images),
            self.encoder(images, one_hot(labels)),
            lambda z: self.prior.log_prob(z, labels),
            num_samples=num_samples,
            generator=generator,
        )


@torch.no_grad()
def active_units(
    model: LabelCVAE, images: Tensor, labels: Tensor, threshold: float = 0.01
) -> int:
    r"""How many latent units carry information about :math:`x` beyond its label.

    Burda et al.'s count of active units
    (:func:`~cvae.estimators.count_active_units`), taken within each class.

    Unit :math:`u` is active when its posterior mean, standardized by the prior of the
    class, :math:`\bar z_u = (\mathbb E_q[z_u] - m_{y,u}) / s_{y,u}`, varies between the
    digits of one class: :math:`\mathbb E_y \operatorname{Var}_{x \mid y}[\bar z_u]`
    above ``threshold``. A unit whose posterior is the prior (zero KL) has
    :math:`\bar z_u = 0` and is inactive; so is one that encodes only the class, which
    the decoder already gets. A prior with no Gaussian form (the mixture) has no
    :math:`m_y, s_y`: its means are counted as they are, within each class.
    """
    if not isinstance(model, LabelCVAE):
        raise TypeError(f"model must be a LabelCVAE, got {type(model).__name__}")
    mu, _ = model.encode(images, labels)
    gaussian = model.prior.gaussian(labels)
    standardized = mu if gaussian is None else standardize(mu, gaussian)
    counts = torch.bincount(labels, minlength=NUM_CLASSES).clamp_min(1)[:, None]
    sums = torch.zeros(NUM_CLASSES, mu.shape[1], device=mu.device)
    class_means = sums.index_add_(0, labels, standardized) / counts
    return count_active_units(standardized - class_means[labels], threshold)
