"""Likelihood estimates by sampling: importance sampling (IWAE) and plain Monte Carlo.

Explained in the chapter :chapter:`The VAE on MNIST <book/vae>` (section *How good is
the bound?*) and reused for the conditional log-likelihood :math:`\\log p(y \\mid x)` of
the structured-prediction chapter.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from cvae import checks
from cvae.distributions import GaussianParams, gaussian_log_density, log_mean_exp


@torch.no_grad()
def importance_sampled_log_likelihood(
    log_likelihood: Callable[[Tensor], Tensor],
    proposal: GaussianParams,
    log_prior: Callable[[Tensor], Tensor] | None = None,
    num_samples: int = 100,
    chunk_size: int = 100,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Estimate :math:`\log p(\text{data})` per example by importance sampling.

    .. math::

        \log p(x) \approx \log \frac1S \sum_{s=1}^S
        \frac{p(x \mid z_s)\, p(z_s)}{q(z_s)}, \qquad z_s \sim q

    For finite :math:`S` its expectation is the importance-weighted bound
    :math:`\mathcal L_S` of Burda et al.: :math:`\mathcal L_1` is the ELBO,
    :math:`\mathcal L_S \le \mathcal L_{S+1} \le \log p(x)`, and
    :math:`\mathcal L_S \to \log p(x)` as :math:`S \to \infty`. With the prior as the
    proposal the weights reduce to :math:`p(x \mid z_s)`: the plain Monte Carlo
    estimate.

    Args:
        log_likelihood: maps latent samples ``(S', B, d)`` to :math:`\log p(x \mid z)`
            of shape ``(S', B)``; it closes over the data (and any condition).
        proposal: ``(mu, logvar)`` of the diagonal Gaussian :math:`q`, each ``(B, d)``.
        log_prior: maps the same samples to :math:`\log p(z)`, ``(S', B)``; ``None``
            means :math:`\mathcal N(0, I)`.
        num_samples: :math:`S`.
        chunk_size: samples evaluated per call of ``log_likelihood`` (bounds memory;
            the estimator's distribution does not depend on it).
        generator: optional ``torch.Generator`` for reproducible draws.

    Returns:
        Tensor ``(B,)``: the estimate per example, in nats.
    """
    if not callable(log_likelihood) or not (log_prior is None or callable(log_prior)):
        raise TypeError("log_likelihood and log_prior must be functions of the codes")
    mu_q, logvar_q = proposal
    checks.check_tensor("proposal mu", mu_q, ndim=2, floating=True, finite=False)
    checks.check_same_shape(("proposal mu", "proposal logvar"), (mu_q, logvar_q))
    checks.check_positive_int("num_samples", num_samples)
    checks.check_positive_int("chunk_size", chunk_size)
    checks.check_generator("generator", generator)
    zeros = torch.zeros_like(mu_q)  # log_prior=None: N(0, I)
    log_prior = log_prior or (lambda z: gaussian_log_density(z, zeros, zeros))
    std_q = (0.5 * logvar_q).exp()
    log_weights = []
    for start in range(0, num_samples, chunk_size):
        count = min(chunk_size, num_samples - start)
        eps = torch.randn((count, *mu_q.shape), dtype=mu_q.dtype, generator=generator)
        z = mu_q + std_q * eps.to(mu_q.device)
        log_px, log_pz = log_likelihood(z), log_prior(z)
        # A (B,) or scalar result would broadcast into a wrong estimate, silently.
        for name, value in (("log_likelihood", log_px), ("log_prior", log_pz)):
            if not isinstance(value, Tensor) or value.shape != (count, len(mu_q)):
                got = getattr(value, "shape", type(value).__name__)
                want = f"(samples, batch) = {(count, len(mu_q))}"
                raise ValueError(f"{name} must return shape {want}, got {got}")
        weight = log_px + log_pz - gaussian_log_density(z, mu_q, logvar_q)
        log_weights.append(weight)
    return log_mean_exp(torch.cat(log_weights), dim=0)


@torch.no_grad()
def count_active_units(means: Tensor, threshold: float = 0.01) -> int:
    r"""Count the latent units whose posterior mean varies across the data: the
    *active units* of Burda et al.

    .. math::

        u \text{ is active} \iff
        \operatorname{Cov}_x\big(\mathbb E_{q(z \mid x)}[z_u]\big) > \delta,
        \qquad \delta = 0.01 \text{ by default}

    A unit whose mean :math:`\mathbb E_q[z_u]` is (almost) the same for every input
    carries no information about the input: the decoder cannot use it, and the KL term
    has pushed its posterior onto the prior (posterior collapse of that unit).

    Args:
        means: the posterior means :math:`\mathbb E_q[z]` of ``N`` inputs, ``(N, d)``.
        threshold: :math:`\delta`, the variance above which a unit counts as active.

    Returns:
        The number of active units, an ``int`` in ``[0, d]``.
    """
    checks.check_tensor("means", means, ndim=2, floating=True)
    if len(means) < 2:
        raise ValueError(f"means must hold at least two inputs, got {len(means)}")
    checks.check_positive_float("threshold", threshold)
    return int((means.var(dim=0, unbiased=False) > threshold).sum())
