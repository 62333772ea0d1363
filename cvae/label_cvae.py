r"""The label-conditioned CVAE :math:`p(x \mid y)` in PyTorch-VAE's ``cvae.py`` design.

Explained in the chapter :chapter:`Generating digits on demand <book/cvae_labels>`.
The conditional ELBO it maximizes is

.. math::

    \log p(x \mid y) \ge \mathbb E_{q(z \mid x, y)}[\log p(x \mid z, y)]
    - \mathrm{KL}\big(q(z \mid x, y) \,\|\, p(z)\big), \qquad p(z) = \mathcal N(0, I),

the label-conditioned ELBO with a prior that ignores the label (as in PyTorch-VAE).
Two encoder/decoder pairs share one model class: convolutional (PyTorch-VAE's
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
from cvae.distributions import bernoulli_log_likelihood, gaussian_kl, reparameterize
from cvae.estimators import importance_sampled_log_likelihood
from cvae.networks import BernoulliDecoder, GaussianEncoder
from cvae.elbo import elbo_terms

ARCHITECTURES = ("conv", "mlp")
OBJECTIVES = ("elbo", "pytorch_vae")
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
        hidden = self.project(inputs.reshape(-1, self.input_dim)).view(-1, *self.feature_shape)
        return self.body(hidden).view(*leading, *IMAGE_SHAPE)


class MLPLabelEncoder(nn.Module):
    r""":math:`q(z \mid x, y)` as an MLP on ``concat(flatten(x), one_hot(y))``."""

    @checked(contracts.mlp_label_encoder_init)
    def __init__(self, latent_dim: int, hidden_dims: Sequence[int] = (512, 256)) -> None:
        super().__init__()
        self.gaussian = GaussianEncoder(IMAGE_PIXELS + NUM_CLASSES, hidden_dims, latent_dim)

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
            mean squared error averaged over pixels plus ``kld_weight`` times the KL;
            *not* an ELBO, kept to show what it does).
        kld_weight: the KL weight of the ``"pytorch_vae"`` objective.
    """

    @checked(contracts.label_cvae_init)
    def __init__(
        self,
        architecture: str = "conv",
        latent_dim: int = 16,
        objective: str = "elbo",
        kld_weight: float = PYTORCH_VAE_KLD_WEIGHT,
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

    @checked(contracts.label_cvae_decode)
    def decode(self, z: Tensor, labels: Tensor) -> Tensor:
        """Pixel logits of :math:`p(x \\mid z, y)`; ``z`` is ``(B, d)`` or ``(S, B, d)``."""
        condition = one_hot(labels).to(z.device).expand(*z.shape[:-1], NUM_CLASSES)
        return self.decoder(torch.cat([z, condition], dim=-1))

    @checked(contracts.label_cvae_loss_terms)
    def loss_terms(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Per-example terms of the chosen objective for binary ``images`` and their ``labels``."""
        mu, logvar = self.encoder(images, one_hot(labels))
        logits = self.decode(reparameterize(mu, logvar), labels)
        kl = gaussian_kl(mu, logvar)
        terms = elbo_terms(logits, images, kl)
        if self.objective == "pytorch_vae":
            mse = (torch.sigmoid(logits) - images).pow(2).flatten(1).mean(1)
            terms["mse"] = mse
            terms["loss"] = mse + self.kld_weight * kl
        return terms

    @checked(contracts.label_cvae_generate)
    @torch.no_grad()
    def generate(self, labels: Tensor, z: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Pixel probabilities of digits of class ``labels``, from ``z`` (default: draws from N(0, I))."""
        device = next(self.parameters()).device
        if z is None:
            z = torch.randn((len(labels), self.latent_dim), generator=generator)
        return torch.sigmoid(self.decode(z.to(device), labels.to(device)))

    @checked(contracts.label_cvae_encode)
    @torch.no_grad()
    def encode(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of :math:`q(z \\mid x, y)`."""
        return self.encoder(images, one_hot(labels))

    @checked(contracts.label_cvae_log_likelihood)
    @torch.no_grad()
    def log_likelihood(
        self, images: Tensor, labels: Tensor, num_samples: int, generator: torch.Generator | None = None
    ) -> Tensor:
        """Importance-sampled :math:`\\log p(x \\mid y)` per image (see :mod:`cvae.estimators`)."""
        proposal = self.encode(images, labels)
        return importance_sampled_log_likelihood(
            lambda z: bernoulli_log_likelihood(self.decode(z, labels), images),
            proposal,
            num_samples=num_samples,
            generator=generator,
        )
