"""The variational autoencoder: encoder, reparameterized sample, decoder, and its ELBO.

Explained in the chapter :chapter:`The VAE on MNIST <book/vae>`; the conditional
models of the later chapters reuse its parts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cvae.checks import (
    check_generator,
    check_model_input,
    check_positive_int,
    check_sizes,
)
from cvae.data import IMAGE_PIXELS, check_images
from cvae.distributions import bernoulli_log_likelihood, gaussian_kl, reparameterize
from cvae.elbo import elbo_terms
from cvae.estimators import importance_sampled_log_likelihood
from cvae.networks import BernoulliDecoder, GaussianEncoder


class VAE(nn.Module):
    r"""A VAE for binarized 28x28 digits with prior :math:`p(z) = \mathcal N(0, I)`.

    :math:`q(z \mid x)` is a :class:`~cvae.networks.GaussianEncoder`,
    :math:`p(x \mid z)` a :class:`~cvae.networks.BernoulliDecoder`.
    """

    def __init__(self, latent_dim: int = 16, hidden_dims: Sequence[int] = (512, 256)):
        check_positive_int("latent_dim", latent_dim)
        check_sizes("hidden_dims", hidden_dims)
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = GaussianEncoder(IMAGE_PIXELS, hidden_dims, latent_dim)
        self.decoder = BernoulliDecoder(latent_dim, hidden_dims[::-1])

    def loss_terms(self, images: Tensor) -> dict[str, Tensor]:
        """Per-example ELBO terms of binary ``images`` ``(B, 1, 28, 28)``, one sample of
        z each."""
        mu, logvar = self.encoder(images)
        z = reparameterize(mu, logvar)
        return elbo_terms(self.decoder(z), images, gaussian_kl(mu, logvar))

    def check_batch(self, images: Tensor) -> None:
        """Refuse images that are not ``(B, 1, 28, 28)`` in [0, 1] on the model's
        device: Bernoulli targets outside [0, 1] would give a finite, wrong ELBO.
        ``fit`` runs it once over each data set, never in the training step."""
        check_model_input("images", check_images("images", images), self)

    @torch.no_grad()
    def reconstruct(self, images: Tensor) -> Tensor:
        """Pixel probabilities decoded from the posterior mean of each image."""
        self.check_batch(images)
        mu, _ = self.encoder(images)
        return torch.sigmoid(self.decoder(mu))

    @torch.no_grad()
    def sample(self, count: int, generator: torch.Generator | None = None) -> Tensor:
        """Pixel probabilities of ``count`` digits decoded from ``z ~ N(0, I)``."""
        check_positive_int("count", count)
        check_generator("generator", generator)  # the codes are drawn on the CPU
        device = next(self.parameters()).device
        z = torch.randn((count, self.latent_dim), generator=generator).to(device)
        return torch.sigmoid(self.decoder(z))

    @torch.no_grad()
    def log_likelihood(
        self, images: Tensor, num_samples: int, generator: torch.Generator | None = None
    ) -> Tensor:
        r"""Importance-sampled :math:`\log p(x)` per image with ``num_samples`` draws
        from :math:`q(z \mid x)`.

        See :func:`cvae.estimators.importance_sampled_log_likelihood`; with
        ``num_samples=1`` this is an unbiased estimate of the ELBO.
        """
        self.check_batch(images)
        check_positive_int("num_samples", num_samples)
        check_generator("generator", generator)
        proposal = self.encoder(images)
        return importance_sampled_log_likelihood(
            lambda z: bernoulli_log_likelihood(self.decoder(z), images),
            proposal,
            num_samples=num_samples,
            generator=generator,
        )
