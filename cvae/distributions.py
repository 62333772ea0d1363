"""Closed-form densities and divergences used by every chapter.

Explained in the chapter :chapter:`From likelihood to the ELBO <book/elbo>`. All
functions work on batches: the leading dimensions are kept, the event dimension (the
last one: latent units or pixels) is summed, so results are per example, in nats.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from cvae.checks import check_same_shape

LOG_2PI = math.log(2.0 * math.pi)
LOW_PRECISION = (torch.float16, torch.bfloat16)

GaussianParams = tuple[Tensor, Tensor]
"""``(mean, log-variance)`` of a diagonal Gaussian, each ``(..., d)``: what every
encoder returns."""


def _full_precision(*tensors: Tensor) -> list[Tensor]:
    """Upcast half-precision tensors to float32: sums over hundreds of pixels need its
    mantissa.

    Under mixed-precision training (``fit(..., precision="bf16")``) the networks'
    outputs arrive in bfloat16; every density is then computed in float32.
    """
    return [t.float() if t.dtype in LOW_PRECISION else t for t in tensors]


def gaussian_kl(
    mu_q: Tensor,
    logvar_q: Tensor,
    mu_p: Tensor | None = None,
    logvar_p: Tensor | None = None,
) -> Tensor:
    r"""KL divergence between two diagonal Gaussians, summed over the last dimension.

    .. math::

        \mathrm{KL}\big(\mathcal N(\mu_q,\sigma_q^2)\,\|\,
        \mathcal N(\mu_p,\sigma_p^2)\big)
        = \tfrac12 \sum_j \Big[\log\frac{\sigma_{p,j}^2}{\sigma_{q,j}^2}
          + \frac{\sigma_{q,j}^2 + (\mu_{q,j}-\mu_{p,j})^2}{\sigma_{p,j}^2} - 1\Big]

    With ``mu_p`` and ``logvar_p`` left out the prior is :math:`\mathcal N(0, I)` and
    this is
    :math:`\tfrac12\sum_j (\mu_{q,j}^2 + \sigma_{q,j}^2 - \log\sigma_{q,j}^2 - 1)`.

    Finite wherever the divergence is representable, for log-variances far outside the
    range of ``exp`` too (-120 or 200 in float32): the mean term is
    ``standardize(mu_q, (mu_p, logvar_p))`` squared, never a difference divided by a
    variance that underflowed to 0. A divergence larger than the dtype's largest number
    is ``inf``; NaN is left only for ``logvar_p`` below about -177 (float32) with equal
    means.

    Args:
        mu_q, logvar_q: mean and log-variance of q, shape ``(..., d)``.
        mu_p, logvar_p: mean and log-variance of p (both or neither), ``(..., d)``.

    Returns:
        Tensor of shape ``(...)``: one KL (nats) per example.
    """
    if (mu_p is None) != (logvar_p is None):
        raise ValueError("give both mu_p and logvar_p, or neither (the N(0, I) prior)")
    # Parameters of different shapes would broadcast into a wrong KL without an error.
    # Comparing shapes reads no values, so it costs a training step nothing.
    given = {"mu_q": mu_q, "logvar_q": logvar_q, "mu_p": mu_p, "logvar_p": logvar_p}
    given = {name: tensor for name, tensor in given.items() if tensor is not None}
    check_same_shape(list(given), list(given.values()))
    mu_q, logvar_q = _full_precision(mu_q, logvar_q)
    if mu_p is None:
        return 0.5 * (mu_q.pow(2) + logvar_q.exp() - logvar_q - 1.0).sum(-1)
    mu_p, logvar_p = _full_precision(mu_p, logvar_p)
    ratio = (logvar_q - logvar_p).exp()
    distance = standardize(mu_q, (mu_p, logvar_p)).pow(2)
    return 0.5 * (ratio + distance - 1.0 - (logvar_q - logvar_p)).sum(-1)


def gaussian_log_density(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    r"""Log-density of a diagonal Gaussian, summed over the last dimension.

    .. math::

        \log \mathcal N(z;\mu,\sigma^2) = -\tfrac12 \sum_j \Big[\log 2\pi
        + \log\sigma_j^2 + \frac{(z_j-\mu_j)^2}{\sigma_j^2}\Big]

    ``mu`` and ``logvar`` broadcast against ``z`` (a stack of samples ``(S, B, d)``
    against parameters ``(B, d)`` works). Returns shape ``z.shape[:-1]``.

    The squared distance is :func:`standardize`'s,
    :math:`((z - \mu) e^{-\log\sigma^2/2})^2`, so the density stays finite for
    log-variances beyond the range of ``exp`` (-120 or 200 in float32), where
    :math:`(z - \mu)^2 / \sigma^2` gives 0/0 or inf/inf; NaN is left only for ``logvar``
    below about -177 (float32) with ``z`` equal to ``mu``.
    """
    # The last dimension is the event that is summed: parameters that broadcast along
    # it (a mean (B, 1) against codes (B,)) would sum the wrong terms without an error.
    if any(t.dim() and t.shape[-1] != z.shape[-1] for t in (mu, logvar)):
        shapes = f"z{tuple(z.shape)}, mu{tuple(mu.shape)}, logvar{tuple(logvar.shape)}"
        raise ValueError(f"the last dimensions (the event) must match: {shapes}")
    z, mu, logvar = _full_precision(z, mu, logvar)
    return -0.5 * (LOG_2PI + logvar + standardize(z, (mu, logvar)).pow(2)).sum(-1)


class _BernoulliLogProb(torch.autograd.Function):
    r"""Per-pixel :math:`\log p(x_i \mid l_i) = x_i l_i - \operatorname{softplus}(l_i)`
    and its gradient.

    Stable for any logit:
    :math:`\operatorname{softplus}(l) = \max(l, 0) + \log(1 + e^{-|l|})`, where
    :math:`e^{-|l|} \le 1` never overflows. The gradient is written out,
    :math:`\partial/\partial l_i = x_i - \sigma(l_i)`, so backward is two elementwise
    passes. Same values as ``-binary_cross_entropy_with_logits``, about three times
    faster forward and backward on CPU, whose ``log1p``/``softplus`` kernels are not
    vectorized (see the Performance appendix).
    """

    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor) -> Tensor:
        ctx.save_for_backward(logits, target)
        linear = logits * target - logits.clamp_min(0)
        return linear - torch.log(1 + torch.exp(-logits.abs()))

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor | None]:
        logits, target = ctx.saved_tensors
        grad_target = grad * logits if ctx.needs_input_grad[1] else None
        return grad * (target - torch.sigmoid(logits)), grad_target


def bernoulli_log_likelihood(logits: Tensor, target: Tensor) -> Tensor:
    r"""Bernoulli log-likelihood of binary pixels, summed over all but the first
    dimension.

    .. math::

        \log p(x \mid \text{logits}) = \sum_i \big[x_i \log \sigma(l_i)
        + (1 - x_i) \log(1 - \sigma(l_i))\big]

    computed stably from the logits :math:`l` (never from probabilities). Targets may
    be grey levels in ``[0, 1]`` (the continuous relaxation Pyro's tutorial uses), but
    the book binarizes them so the number is a true log-probability.

    Args:
        logits: decoder output, shape ``(B, ...)`` or ``(S, B, ...)``.
        target: pixels in ``[0, 1]``, broadcastable to ``logits``.

    Returns:
        One log-likelihood per example (nats): shape ``logits.shape[:-k]`` where the
        trailing dimensions of ``target`` beyond its batch dimension are summed.
    """
    # A target that is not one example per row of the logits would broadcast into a
    # wrong sum without an error. Comparing shapes costs a training step nothing; the
    # range [0, 1] is a question of values, which costs a device synchronisation, so it
    # is checked once where data enters (fit, Batches, the models' public methods).
    batch = logits.dim() - target.dim()  # the dimension of logits with target's rows
    if not (
        0 <= batch < logits.dim()
        and logits.shape[batch + 1 :] == target.shape[1:]
        and target.shape[0] in (1, logits.shape[batch])
    ):
        shapes = f"target{tuple(target.shape)}, logits{tuple(logits.shape)}"
        raise ValueError(f"target must hold one example per row of logits: {shapes}")
    event_dims = tuple(range(batch + 1, logits.dim()))
    logits, target = _full_precision(logits, target)
    elementwise = _BernoulliLogProb.apply(logits, target.expand_as(logits))
    return elementwise.sum(event_dims) if event_dims else elementwise


def log_mean_exp(values: Tensor, dim: int = 0) -> Tensor:
    r"""Numerically stable :math:`\log \frac1S \sum_s e^{v_s}` along ``dim``.

    .. math::

        \log \frac1S \sum_{s=1}^S e^{v_s} = m + \log \frac1S \sum_s e^{v_s - m},
        \quad m = \max_s v_s

    Used by every Monte Carlo and importance-sampling likelihood estimate; the naive
    form underflows to ``-inf`` for log-likelihoods of a few hundred nats.
    """
    return torch.logsumexp(values, dim=dim) - math.log(values.shape[dim])


def reparameterize(
    mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    r"""Draw :math:`z = \mu + \sigma \odot \varepsilon`,
    :math:`\varepsilon \sim \mathcal N(0, I)`.

    The reparameterization trick: the randomness sits in :math:`\varepsilon`, so
    gradients flow to :math:`\mu` and :math:`\log\sigma^2` through an ordinary
    differentiable function.
    """
    mu, logvar = _full_precision(mu, logvar)
    eps = torch.randn(mu.shape, dtype=mu.dtype, device=mu.device, generator=generator)
    return mu + (0.5 * logvar).exp() * eps


def standardize(z: Tensor, gaussian: tuple[Tensor, Tensor]) -> Tensor:
    r"""Codes measured from a diagonal Gaussian in its own standard deviations:
    :math:`(z - m) / s`.

    The map takes :math:`\mathcal N(m, \operatorname{diag} s^2)` to
    :math:`\mathcal N(0, I)`: it compares a code with a prior that is not the standard
    normal one.
    """
    mean, logvar = gaussian
    return (z - mean) * (-0.5 * logvar).exp()
