"""The two halves of every model in the book: a Gaussian encoder and a Bernoulli decoder.

Explained in the chapter :chapter:`The VAE on MNIST <book/vae>` and reused, with a
condition concatenated to their inputs, by both CVAE chapters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from cvae import contracts
from cvae.checks import checked
from cvae.data import IMAGE_SHAPE


@checked(contracts.mlp)
def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]``, activation between layers.

    No activation follows the last layer: callers add the output parameterization.
    """
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), activation()]
    return nn.Sequential(*layers[:-1])


class GaussianEncoder(nn.Module):
    r"""A diagonal Gaussian :math:`q(z \mid u) = \mathcal N(\mu(u), \operatorname{diag}\sigma^2(u))`.

    An MLP maps the flat input :math:`u` (an image, or an image joined with its
    condition) to a hidden code; two linear heads give :math:`\mu` and
    :math:`\log\sigma^2`. Returning the log-variance keeps :math:`\sigma^2 > 0` without
    a constraint and makes the KL of :func:`cvae.distributions.gaussian_kl` cheap.
    """

    @checked(contracts.gaussian_encoder_init)
    def __init__(self, input_dim: int, hidden_dims: Sequence[int], latent_dim: int) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.latent_dim = latent_dim
        self.body = nn.Sequential(mlp([input_dim, *hidden_dims]), nn.ReLU())
        self.mean = nn.Linear(hidden_dims[-1], latent_dim)
        self.log_variance = nn.Linear(hidden_dims[-1], latent_dim)

    @checked(contracts.gaussian_encoder_forward)
    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """Map ``inputs`` of shape ``(B, input_dim)`` (or ``(B, ...)``, flattened) to ``(mu, logvar)``."""
        hidden = self.body(inputs.flatten(1))
        return self.mean(hidden), self.log_variance(hidden)


class BernoulliDecoder(nn.Module):
    r"""Pixel logits of :math:`p(x \mid v) = \prod_i \mathrm{Bernoulli}(x_i;\, \sigma(\ell_i(v)))`.

    :math:`v` is a latent sample, possibly joined with a condition. Leading dimensions
    are kept, so a stack of samples ``(S, B, d)`` decodes to ``(S, B, *output_shape)``.
    The decoder returns logits, never probabilities:
    :func:`cvae.distributions.bernoulli_log_likelihood` needs them for stability.
    """

    @checked(contracts.bernoulli_decoder_init)
    def __init__(self, input_dim: int, hidden_dims: Sequence[int], output_shape: Sequence[int] = IMAGE_SHAPE) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.output_shape = tuple(output_shape)
        self.net = mlp([input_dim, *hidden_dims, math.prod(self.output_shape)])

    @checked(contracts.bernoulli_decoder_forward)
    def forward(self, inputs: Tensor) -> Tensor:
        """Map ``(..., input_dim)`` to logits of shape ``(..., *output_shape)``."""
        return self.net(inputs).unflatten(-1, self.output_shape)
