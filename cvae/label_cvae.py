r"""The label-conditioned CVAE :math:`p(x \mid y)` of the seed (PyTorch-VAE's ``cvae.py`` design).

Explained in the chapter :chapter:`Generating digits on demand <book/cvae_labels>`.
The conditional ELBO it maximizes is

.. math::

    \log p(x \mid y) \ge \mathbb E_{q(z \mid x, y)}[\log p(x \mid z, y)]
    - \mathrm{KL}\big(q(z \mid x, y) \,\|\, p(z)\big), \qquad p(z) = \mathcal N(0, I),

the label-conditioned ELBO with a prior that ignores the label (as in the seed).
Two encoder/decoder pairs share one model class: convolutional (the seed's
architecture, sized for 28x28) and MLP.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cvae.checks import (
    check_choice,
    check_generator,
    check_model_input,
    check_positive_float,
    check_positive_int,
    check_sizes,
    check_tensor,
)
from cvae.data import IMAGE_PIXELS, IMAGE_SHAPE, NUM_CLASSES, check_images, check_labels
from cvae.distributions import bernoulli_log_likelihood, gaussian_kl, reparameterize
from cvae.estimators import importance_sampled_log_likelihood
from cvae.networks import BernoulliDecoder, GaussianEncoder
from cvae.elbo import elbo_terms

OBJECTIVES = ("elbo", "pytorch_vae")
PYTORCH_VAE_KLD_WEIGHT = 0.00025


def one_hot(labels: Tensor) -> Tensor:
    """Digit labels ``(B,)`` in ``0..9`` as float one-hot rows ``(B, 10)``."""
    check_labels("labels", labels)
    return F.one_hot(labels, NUM_CLASSES).float()


def _check_encoder_inputs(encoder: nn.Module, images: Tensor, condition: Tensor) -> None:
    """Shapes, dtypes and device of an encoder's ``(images, condition)``: no pass over the values.

    The models check the pixels and labels of a batch once (``loss_terms``, ``encode``);
    these checks only stop a wrong layout from failing deep inside a layer.
    """
    check_tensor("images", images, ndim=4, floating=True, finite=False)
    if tuple(images.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"images must have shape (B, 1, 28, 28), got {tuple(images.shape)}")
    check_tensor("condition", condition, ndim=2, floating=True, finite=False)
    if tuple(condition.shape) != (len(images), NUM_CLASSES):
        raise ValueError(
            f"condition must have shape ({len(images)}, {NUM_CLASSES}) (one-hot labels), got {tuple(condition.shape)}"
        )
    check_model_input("images", images, encoder)
    check_model_input("condition", condition, encoder)


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Stride-2 3x3 convolution, BatchNorm, LeakyReLU: halves the image side (the seed's block)."""
    check_positive_int("in_channels", in_channels)
    check_positive_int("out_channels", out_channels)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(),
    )


def deconv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Stride-2 transposed convolution, BatchNorm, LeakyReLU: doubles the image side."""
    check_positive_int("in_channels", in_channels)
    check_positive_int("out_channels", out_channels)
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1, output_padding=1),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(),
    )


class ConvLabelEncoder(nn.Module):
    r""":math:`q(z \mid x, y)` as in the seed: the label becomes an extra image channel.

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
        _check_encoder_inputs(self, images, condition)
        label_plane = self.embed_class(condition).view(-1, *IMAGE_SHAPE)
        hidden = self.body(torch.cat([self.embed_data(images), label_plane], dim=1))
        return self.mean(hidden), self.log_variance(hidden)


class ConvDecoder(nn.Module):
    r""":math:`p(x \mid z, y)`: a linear layer to a 7x7 feature map, transposed convolutions to 28x28 logits.

    Its input is ``concat(z, one_hot(y))``, as in the seed. Leading sample dimensions
    ``(S, B, d)`` are folded into the batch and restored.
    """

    def __init__(self, input_dim: int, channels: Sequence[int] = (64, 32)) -> None:
        super().__init__()
        self.input_dim = check_positive_int("input_dim", input_dim)
        channels = check_sizes("channels", channels)
        self.channels = channels[0]
        self.project = nn.Linear(input_dim, channels[0] * 7 * 7)
        blocks = [deconv_block(a, b) for a, b in zip(channels[:-1], channels[1:])]
        self.body = nn.Sequential(
            *blocks,
            nn.ConvTranspose2d(channels[-1], 1, kernel_size=3, stride=2, padding=1, output_padding=1),
        )

    def forward(self, inputs: Tensor) -> Tensor:
        check_tensor("inputs", inputs, floating=True, finite=False)
        if inputs.dim() < 2 or inputs.shape[-1] != self.input_dim:
            raise ValueError(f"inputs must have shape (..., {self.input_dim}), got {tuple(inputs.shape)}")
        check_model_input("inputs", inputs, self)
        leading = inputs.shape[:-1]
        hidden = self.project(inputs.reshape(-1, self.input_dim)).view(-1, self.channels, 7, 7)
        return self.body(hidden).view(*leading, *IMAGE_SHAPE)


class MLPLabelEncoder(nn.Module):
    r""":math:`q(z \mid x, y)` as an MLP on ``concat(flatten(x), one_hot(y))``."""

    def __init__(self, latent_dim: int, hidden_dims: Sequence[int] = (512, 256)) -> None:
        super().__init__()
        self.gaussian = GaussianEncoder(IMAGE_PIXELS + NUM_CLASSES, hidden_dims, latent_dim)

    def forward(self, images: Tensor, condition: Tensor) -> tuple[Tensor, Tensor]:
        _check_encoder_inputs(self, images, condition)
        return self.gaussian(torch.cat([images.flatten(1), condition], dim=1))


class LabelCVAE(nn.Module):
    r"""A CVAE that generates a digit of a chosen class: :math:`p(x \mid y)`.

    Args:
        architecture: ``"conv"`` (the seed's design) or ``"mlp"``.
        latent_dim: size of :math:`z`.
        objective: ``"elbo"`` (the book's: Bernoulli likelihood summed over pixels, KL
            at full weight) or ``"pytorch_vae"`` (the reference implementation's loss:
            mean squared error averaged over pixels plus ``kld_weight`` times the KL;
            *not* an ELBO, kept to show what it does).
        kld_weight: the KL weight of the ``"pytorch_vae"`` objective.
    """

    def __init__(
        self,
        architecture: str = "conv",
        latent_dim: int = 16,
        objective: str = "elbo",
        kld_weight: float = PYTORCH_VAE_KLD_WEIGHT,
    ) -> None:
        super().__init__()
        self.architecture = check_choice("architecture", architecture, ("conv", "mlp"))
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.objective = check_choice("objective", objective, OBJECTIVES)
        self.kld_weight = check_positive_float("kld_weight", kld_weight)
        if architecture == "conv":
            self.encoder: nn.Module = ConvLabelEncoder(latent_dim)
            self.decoder: nn.Module = ConvDecoder(latent_dim + NUM_CLASSES)
        else:
            self.encoder = MLPLabelEncoder(latent_dim)
            self.decoder = BernoulliDecoder(latent_dim + NUM_CLASSES, (256, 512))

    def decode(self, z: Tensor, labels: Tensor) -> Tensor:
        """Pixel logits of :math:`p(x \\mid z, y)`; ``z`` is ``(B, d)`` or ``(S, B, d)``."""
        check_tensor("z", z, ndim=(2, 3), floating=True)
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must have shape (..., B, {self.latent_dim}), got {tuple(z.shape)}")
        check_model_input("z", z, self)
        check_labels("labels", labels, count=z.shape[-2])
        return self._decode(z, labels)

    def _decode(self, z: Tensor, labels: Tensor) -> Tensor:
        """:meth:`decode` for arguments already checked (``loss_terms`` checks a batch once)."""
        condition = F.one_hot(labels, NUM_CLASSES).float().to(z.device).expand(*z.shape[:-1], NUM_CLASSES)
        return self.decoder(torch.cat([z, condition], dim=-1))

    def _check_batch(self, images: Tensor, labels: Tensor) -> None:
        """Digits in [0, 1] and their labels in 0..9, on the model's device."""
        check_model_input("images", check_images("images", images), self)
        check_model_input("labels", check_labels("labels", labels, count=len(images)), self)

    def loss_terms(self, images: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Per-example terms of the chosen objective for binary ``images`` and their ``labels``."""
        self._check_batch(images, labels)
        mu, logvar = self.encoder(images, one_hot(labels))
        logits = self._decode(reparameterize(mu, logvar), labels)
        kl = gaussian_kl(mu, logvar)
        terms = elbo_terms(logits, images, kl)
        if self.objective == "pytorch_vae":
            mse = (torch.sigmoid(logits) - images).pow(2).flatten(1).mean(1)
            terms["mse"] = mse
            terms["loss"] = mse + self.kld_weight * kl
        return terms

    @torch.no_grad()
    def generate(self, labels: Tensor, z: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Pixel probabilities of digits of class ``labels``, from ``z`` (default: draws from N(0, I))."""
        check_labels("labels", labels)
        check_generator("generator", generator)
        device = next(self.parameters()).device
        if z is None:
            z = torch.randn((len(labels), self.latent_dim), generator=generator)
        elif tuple(check_tensor("z", z, floating=True).shape) != (len(labels), self.latent_dim):
            raise ValueError(f"z must have shape {(len(labels), self.latent_dim)}, got {tuple(z.shape)}")
        z = check_model_input("z", z.to(device), self)
        return torch.sigmoid(self._decode(z, labels.to(device)))

    @torch.no_grad()
    def encode(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of :math:`q(z \\mid x, y)`."""
        self._check_batch(images, labels)
        return self.encoder(images, one_hot(labels))

    @torch.no_grad()
    def log_likelihood(
        self, images: Tensor, labels: Tensor, num_samples: int, generator: torch.Generator | None = None
    ) -> Tensor:
        """Importance-sampled :math:`\\log p(x \\mid y)` per image (see :mod:`cvae.estimators`)."""
        proposal = self.encode(images, labels)
        return importance_sampled_log_likelihood(
            lambda z: bernoulli_log_likelihood(self._decode(z, labels), images),
            proposal,
            num_samples=num_samples,
            generator=generator,
        )
