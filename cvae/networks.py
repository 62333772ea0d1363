"""The two halves of every model: a Gaussian encoder and a Bernoulli decoder.

Explained in the chapter :chapter:`The VAE on MNIST <book/vae>` and reused, with a
condition concatenated to their inputs, by both CVAE chapters; the structured-prediction
chapter's generation network decodes a code together with a whole input image
(:class:`ConditionalBernoulliDecoder`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from cvae.checks import check_positive_int, check_sizes
from cvae.data import IMAGE_SHAPE


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]``, activations between.

    No activation follows the last layer: callers add the output parameterization.
    """
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(fan_in, fan_out), activation()]
    return nn.Sequential(*layers[:-1])


class GaussianEncoder(nn.Module):
    r"""A diagonal Gaussian
    :math:`q(z \mid u) = \mathcal N(\mu(u), \operatorname{diag}\sigma^2(u))`.

    An MLP maps the flat input :math:`u` (an image, or an image joined with its
    condition) to a hidden code; two linear heads give :math:`\mu` and
    :math:`\log\sigma^2`. Returning the log-variance keeps :math:`\sigma^2 > 0` without
    a constraint and makes the KL of :func:`cvae.distributions.gaussian_kl` cheap.
    """

    def __init__(
        self, input_dim: int, hidden_dims: Sequence[int], latent_dim: int
    ) -> None:
        check_positive_int("input_dim", input_dim)
        check_sizes("hidden_dims", hidden_dims)
        check_positive_int("latent_dim", latent_dim)
        super().__init__()
        self.input_dim = input_dim
        self.latent_dim = latent_dim
        self.body = nn.Sequential(mlp([input_dim, *hidden_dims]), nn.ReLU())
        self.mean = nn.Linear(hidden_dims[-1], latent_dim)
        self.log_variance = nn.Linear(hidden_dims[-1], latent_dim)

    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """``(mu, logvar)`` of inputs ``(B, input_dim)`` or ``(B, ...)`` flattened."""
        hidden = self.body(inputs.flatten(1))
        return self.mean(hidden), self.log_variance(hidden)


class BernoulliDecoder(nn.Module):
    r"""Pixel logits of
    :math:`p(x \mid v) = \prod_i \mathrm{Bernoulli}(x_i;\, \sigma(\ell_i(v)))`.

    :math:`v` is a latent sample, possibly joined with a condition. Leading dimensions
    are kept, so a stack of samples ``(S, B, d)`` decodes to ``(S, B, *output_shape)``.
    The decoder returns logits, never probabilities:
    :func:`cvae.distributions.bernoulli_log_likelihood` needs them for stability.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dims: Sequence[int],
        output_shape: Sequence[int] = IMAGE_SHAPE,
    ) -> None:
        check_positive_int("input_dim", input_dim)
        check_sizes("hidden_dims", hidden_dims, allow_empty=True)
        check_sizes("output_shape", output_shape)
        super().__init__()
        self.input_dim = input_dim
        self.output_shape = tuple(output_shape)
        self.net = mlp([input_dim, *hidden_dims, math.prod(self.output_shape)])

    def forward(self, inputs: Tensor) -> Tensor:
        """Map ``(..., input_dim)`` to logits of shape ``(..., *output_shape)``."""
        return self.net(inputs).unflatten(-1, self.output_shape)


class ConditionalBernoulliDecoder(nn.Module):
    r"""Logits of :math:`p(y \mid x, z)`: a :class:`BernoulliDecoder` of
    ``concat(x, z)``, without the copy.

    The first layer of an MLP of the concatenation is one product,
    :math:`W [x; z] + b = W_x x + W_z z + b`. Here it is stored as the two blocks
    :math:`W_x` and :math:`W_z`: codes ``(S, B, d)`` for inputs ``(B, c)`` then cost
    the ``x`` product once per input and the ``z`` product once per code, broadcast
    together, instead of ``S`` copies of ``x``; and training computes the gradient of
    each block directly. Initialised as ``nn.Linear(c + d, hidden)`` splits in two, so
    it has the values (and the random draws) of the decoder of the concatenation.
    """

    def __init__(
        self,
        condition_dim: int,
        latent_dim: int,
        hidden_dims: Sequence[int],
        output_shape: Sequence[int],
    ) -> None:
        check_positive_int("condition_dim", condition_dim)
        check_positive_int("latent_dim", latent_dim)
        check_sizes("hidden_dims", hidden_dims)  # its first layer is split in two
        check_sizes("output_shape", output_shape)
        super().__init__()
        self.condition_dim = condition_dim
        self.latent_dim = latent_dim
        self.output_shape = tuple(output_shape)
        joint = nn.Linear(condition_dim + latent_dim, hidden_dims[0])
        weight_x, weight_z = joint.weight.detach().split(
            [condition_dim, latent_dim], dim=1
        )
        self.weight_x = nn.Parameter(weight_x.clone())
        self.weight_z = nn.Parameter(weight_z.clone())
        self.bias = nn.Parameter(joint.bias.detach().clone())
        self.rest = nn.Sequential(
            nn.ReLU(), mlp([*hidden_dims, math.prod(self.output_shape)])
        )

    def forward(self, condition: Tensor, z: Tensor) -> Tensor:
        """Logits ``(..., B, *output_shape)`` of conditions ``(B, c)``, codes
        ``(..., B, d)``."""
        first = F.linear(condition, self.weight_x, self.bias)
        first = first + F.linear(z, self.weight_z)
        return self.rest(first).unflatten(-1, self.output_shape)
