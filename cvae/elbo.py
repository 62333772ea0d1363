r"""The terms of an ELBO, packaged once for every model that reports them.

Explained in the chapter :chapter:`From likelihood to the ELBO <book/elbo>` and used by
the VAE, the label CVAE and the structured CVAE: each computes its reconstruction
log-likelihood and its KL, and reports them through :func:`elbo_terms`.
"""

from __future__ import annotations

from torch import Tensor

from cvae.checks import check_same_shape
from cvae.distributions import bernoulli_log_likelihood


def elbo_terms(logits: Tensor, target: Tensor, kl: Tensor) -> dict[str, Tensor]:
    r"""Package the per-example terms of an ELBO for training and reporting.

    .. math::

        \mathrm{ELBO}
        = \underbrace{\mathbb E_q[\log p(x \mid z)]}_{\text{reconstruction}}
        - \underbrace{\mathrm{KL}(q \,\|\, p)}_{\text{kl}}

    The expectation is estimated with the one reparameterized sample whose ``logits``
    are given. ``loss`` (what :func:`cvae.training.fit` minimizes) is the negative
    ELBO; all values are per example, in nats, summed over pixels and latent units.
    """
    reconstruction = bernoulli_log_likelihood(logits, target)
    # A KL of another shape would broadcast into a wrong ELBO without an error.
    check_same_shape(("reconstruction", "kl"), (reconstruction, kl))
    elbo = reconstruction - kl
    return {"loss": -elbo, "reconstruction": reconstruction, "kl": kl, "elbo": elbo}
