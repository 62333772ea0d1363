"""The two halves of every model in the book: a Gaussian encoder and a Bernoulli decoder.

Explained in the chapter :chapter:`The VAE on MNIST <book/vae>` and reused, with a
condition concatenated to their inputs, by both CVAE chapters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from cvae.checks import check_model_input, check_positive_int, check_sizes, check_tensor


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]``, activation between layers.

    No activation follows the last layer: callers add the output parameterization.
    """
    sizes = check_sizes("sizes", sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes needs an input and an output size, got {sizes}")
    if not (isinstance(activation, type) and issubclass(activation, nn.Module)):
        raise TypeError(f"activation must be a torch.nn.Module class such as nn.ReLU, got {activation!r}")
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

    def __init__(self, input_dim: int, hidden_dims: Sequence[int], latent_dim: int) -> None:
        super().__init__()
        self.input_dim = check_positive_int("input_dim", input_dim)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        hidden = check_sizes("hidden_dims", hidden_dims)
        self.body = nn.Sequential(mlp([input_dim, *hidden]), nn.ReLU())
        self.mean = nn.Linear(hidden[-1], latent_dim)
        self.log_variance = nn.Linear(hidden[-1], latent_dim)

    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """Map ``inputs`` of shape ``(B, input_dim)`` (or ``(B, ...)``, flattened) to ``(mu, logvar)``."""
        check_tensor("inputs", inputs, floating=True)
        if inputs.dim() < 2 or math.prod(inputs.shape[1:]) != self.input_dim:
            raise ValueError(
                f"inputs must have {self.input_dim} features per example, got shape {tuple(inputs.shape)}"
            )
        check_model_input("inputs", inputs, self)
        hidden = self.body(inputs.flatten(1))
        return self.mean(hidden), self.log_variance(hidden)


class BernoulliDecoder(nn.Module):
    r"""Pixel logits of :math:`p(x \mid v) = \prod_i \mathrm{Bernoulli}(x_i;\, \sigma(\ell_i(v)))`.

    :math:`v` is a latent sample, possibly joined with a condition. Leading dimensions
    are kept, so a stack of samples ``(S, B, d)`` decodes to ``(S, B, *output_shape)``.
    The decoder returns logits, never probabilities:
    :func:`cvae.distributions.bernoulli_log_likelihood` needs them for stability.
    """

    def __init__(self, input_dim: int, hidden_dims: Sequence[int], output_shape: Sequence[int] = (1, 28, 28)) -> None:
        super().__init__()
        self.input_dim = check_positive_int("input_dim", input_dim)
        self.output_shape = tuple(check_sizes("output_shape", output_shape))
        pixels = 1
        for n in self.output_shape:
            pixels *= n
        self.net = mlp([input_dim, *check_sizes("hidden_dims", hidden_dims, allow_empty=True), pixels])

    def forward(self, inputs: Tensor) -> Tensor:
        """Map ``(..., input_dim)`` to logits of shape ``(..., *output_shape)``."""
        check_tensor("inputs", inputs, floating=True)
        if inputs.dim() < 2 or inputs.shape[-1] != self.input_dim:
            raise ValueError(
                f"inputs must have shape (..., {self.input_dim}), got {tuple(inputs.shape)}"
            )
        check_model_input("inputs", inputs, self)
        return self.net(inputs).unflatten(-1, self.output_shape)
