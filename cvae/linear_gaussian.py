r"""Exactly solvable linear-Gaussian latent-variable models, for checking every ELBO identity.

Explained in the chapter :chapter:`From likelihood to the ELBO <book/elbo>`. The model

.. math::

    z \sim \mathcal N(0, I_d), \qquad x \mid z \sim \mathcal N(W z + b,\; s^2 I_D)

is probabilistic PCA (Tipping and Bishop, 1999): its evidence :math:`\log p(x)` and its
posterior :math:`p(z \mid x)` have closed forms, so the bound, its gap and Monte Carlo
estimates of it can be compared with exact numbers. The conditional version lets the
prior mean and the decoder depend on a condition :math:`c`:

.. math::

    z \mid c \sim \mathcal N(A c, I_d), \qquad
    x \mid z, c \sim \mathcal N(W z + U c + b,\; s^2 I_D).

Everything is float64 so that identities hold to about :math:`10^{-12}`. All data
arguments are batches: ``x`` is ``(B, D)``, ``c`` is ``(B, K)``, the parameters of a
diagonal Gaussian :math:`q(z)` are ``(B, d)`` each, one distribution per example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from cvae.checks import check_bool, check_generator, check_positive_float, check_positive_int, check_tensor
from cvae.distributions import gaussian_kl, gaussian_log_density, reparameterize


# --------------------------------------------------------------------------------------
# Argument checks specific to this module (float64, batch shapes), built on cvae.checks.
# --------------------------------------------------------------------------------------


def _check_float64(name: str, value: object, ndim: int | tuple[int, ...], width: int | None = None) -> Tensor:
    """A finite float64 tensor with ``ndim`` dimensions (one or several) and, if given, ``width`` columns."""
    tensor = check_tensor(name, value, ndim=ndim, floating=True)
    if tensor.dtype != torch.float64:
        raise TypeError(f"{name} must be float64 (the exact checks need it), got dtype {tensor.dtype}")
    if width is not None and tensor.shape[-1] != width:
        raise ValueError(f"{name} must have {width} entries in its last dimension, got shape {tuple(tensor.shape)}")
    return tensor


def _check_batch(names: tuple[str, ...], tensors: tuple[Tensor, ...]) -> None:
    """All ``tensors`` (already checked) describe the same examples: one batch size."""
    sizes = [t.shape[0] for t in tensors]
    if any(n != sizes[0] for n in sizes):
        listing = ", ".join(f"{name}{tuple(t.shape)}" for name, t in zip(names, tensors))
        raise ValueError(f"batch sizes must match: {listing}")


def _check_q(x: Tensor, q_mean: object, q_logvar: object, latent_dim: int) -> tuple[Tensor, Tensor]:
    """The parameters of one diagonal Gaussian q(z) per row of ``x``."""
    q_mean = _check_float64("q_mean", q_mean, 2, latent_dim)
    q_logvar = _check_float64("q_logvar", q_logvar, 2, latent_dim)
    _check_batch(("x", "q_mean", "q_logvar"), (x, q_mean, q_logvar))
    return q_mean, q_logvar


# --------------------------------------------------------------------------------------
# The math, written once for the general case
#     z ~ N(m, I),  x | z ~ N(W z + o, s^2 I)
# with a per-example prior mean m (None: zero) and decoder offset o. The unconditional
# model is m = 0, o = b; the conditional one is m = A c, o = U c + b.
# --------------------------------------------------------------------------------------


def _log_evidence(W: Tensor, noise_var: float, prior_mean: Tensor | None, offset: Tensor, x: Tensor) -> Tensor:
    """log N(x; W m + o, W W^T + s^2 I) through a Cholesky factor."""
    data_dim = W.shape[0]
    covariance = W @ W.T + noise_var * torch.eye(data_dim, dtype=W.dtype)
    cholesky = torch.linalg.cholesky(covariance)
    mean = offset if prior_mean is None else offset + prior_mean @ W.T
    whitened = torch.linalg.solve_triangular(cholesky, (x - mean).T, upper=False)
    log_det = 2.0 * cholesky.diagonal().log().sum()
    return -0.5 * (data_dim * math.log(2.0 * math.pi) + log_det + whitened.pow(2).sum(0))


def _posterior_precision(W: Tensor, noise_var: float) -> Tensor:
    """Lambda = I + W^T W / s^2: the inverse posterior covariance (the same for every x)."""
    return torch.eye(W.shape[1], dtype=W.dtype) + W.T @ W / noise_var


def _posterior(
    W: Tensor, noise_var: float, prior_mean: Tensor | None, offset: Tensor, x: Tensor
) -> tuple[Tensor, Tensor]:
    """Mean Lambda^{-1} (m + W^T (x - o) / s^2), shape (B, d), and covariance Lambda^{-1}, (d, d)."""
    covariance = torch.linalg.inv(_posterior_precision(W, noise_var))
    covariance = 0.5 * (covariance + covariance.T)
    natural = (x - offset) @ W / noise_var
    if prior_mean is not None:
        natural = natural + prior_mean
    return natural @ covariance, covariance


def _log_joint(
    W: Tensor, noise_var: float, prior_mean: Tensor | None, offset: Tensor, x: Tensor, z: Tensor
) -> Tensor:
    """log p(x | z) + log p(z) for z of shape (B, d) or a stack (S, B, d)."""
    zero = torch.zeros((), dtype=z.dtype)
    log_likelihood = gaussian_log_density(x, z @ W.T + offset, torch.full((), math.log(noise_var), dtype=z.dtype))
    log_prior = gaussian_log_density(z, zero if prior_mean is None else prior_mean, zero)
    return log_likelihood + log_prior


def _elbo(
    W: Tensor,
    noise_var: float,
    prior_mean: Tensor | None,
    offset: Tensor,
    x: Tensor,
    q_mean: Tensor,
    q_logvar: Tensor,
) -> Tensor:
    """E_q[log p(x|z)] - KL(q || p(z)), both in closed form."""
    log_noise_var = torch.full((), math.log(noise_var), dtype=x.dtype)
    spread = (q_logvar.exp() * W.pow(2).sum(0)).sum(-1) / (2.0 * noise_var)
    expected_log_likelihood = gaussian_log_density(x, q_mean @ W.T + offset, log_noise_var) - spread
    if prior_mean is None:
        kl = gaussian_kl(q_mean, q_logvar)
    else:
        kl = gaussian_kl(q_mean, q_logvar, prior_mean, torch.zeros_like(prior_mean))
    return expected_log_likelihood - kl


def _log_weights(
    W: Tensor,
    noise_var: float,
    prior_mean: Tensor | None,
    offset: Tensor,
    x: Tensor,
    q_mean: Tensor,
    q_logvar: Tensor,
    num_samples: int,
    generator: torch.Generator | None,
) -> Tensor:
    """log p(x, z_s) - log q(z_s) for S reparameterized samples z_s ~ q: shape (S, B)."""
    shape = (num_samples, *q_mean.shape)
    z = reparameterize(q_mean.expand(shape), q_logvar.expand(shape), generator)
    return _log_joint(W, noise_var, prior_mean, offset, x, z) - gaussian_log_density(z, q_mean, q_logvar)


def _kl_to_posterior(
    W: Tensor,
    noise_var: float,
    prior_mean: Tensor | None,
    offset: Tensor,
    x: Tensor,
    q_mean: Tensor,
    q_logvar: Tensor,
) -> Tensor:
    """KL(N(mu, diag sigma^2) || N(m, Lambda^{-1})) with the exact, full-covariance posterior."""
    precision = _posterior_precision(W, noise_var)
    posterior_mean, _ = _posterior(W, noise_var, prior_mean, offset, x)
    difference = posterior_mean - q_mean
    trace = (precision.diagonal() * q_logvar.exp()).sum(-1)
    mahalanobis = ((difference @ precision) * difference).sum(-1)
    log_det_precision = 2.0 * torch.linalg.cholesky(precision).diagonal().log().sum()
    latent_dim = W.shape[1]
    return 0.5 * (trace + mahalanobis - latent_dim - log_det_precision - q_logvar.sum(-1))


# --------------------------------------------------------------------------------------
# The two public models.
# --------------------------------------------------------------------------------------


class _LinearGaussianDims:
    """Sizes shared by both models: read off the loading matrix ``W`` and ``noise_std``."""

    W: Tensor
    noise_std: float

    @property
    def data_dim(self) -> int:
        """:math:`D`, the number of modeled coordinates."""
        return self.W.shape[0]

    @property
    def latent_dim(self) -> int:
        """:math:`d`, the number of latent coordinates."""
        return self.W.shape[1]

    @property
    def noise_var(self) -> float:
        """:math:`s^2`."""
        return self.noise_std**2


@dataclass(frozen=True, eq=False)
class LinearGaussianModel(_LinearGaussianDims):
    r"""The linear-Gaussian latent-variable model (probabilistic PCA).

    .. math::

        p(z) = \mathcal N(0, I_d), \qquad p(x \mid z) = \mathcal N(W z + b,\; s^2 I_D)

    Attributes:
        W: the loading matrix, float64, shape ``(D, d)``.
        b: the data mean, float64, shape ``(D,)``.
        noise_std: the observation noise :math:`s > 0`.
    """

    W: Tensor
    b: Tensor
    noise_std: float

    def __post_init__(self) -> None:
        W = _check_float64("W", self.W, 2)
        _check_float64("b", self.b, 1, W.shape[0])
        object.__setattr__(self, "noise_std", check_positive_float("noise_std", self.noise_std))

    def _x(self, x: object) -> Tensor:
        return _check_float64("x", x, 2, self.data_dim)

    def log_evidence(self, x: Tensor) -> Tensor:
        r"""The exact log marginal likelihood, one value per row of ``x`` (shape ``(B,)``).

        .. math::

            p(x) = \int p(x \mid z)\, p(z)\, dz = \mathcal N\big(x;\; b,\; W W^\top + s^2 I_D\big)
        """
        x = self._x(x)
        return _log_evidence(self.W, self.noise_var, None, self.b, x)

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r"""The exact posterior :math:`p(z \mid x) = \mathcal N(m(x), \Lambda^{-1})`.

        .. math::

            \Lambda = I_d + \frac{W^\top W}{s^2}, \qquad
            m(x) = \Lambda^{-1} \frac{W^\top (x - b)}{s^2}

        The covariance is full unless the columns of :math:`W` are orthogonal, and it
        does not depend on :math:`x`.

        Returns:
            ``(mean, covariance)`` of shapes ``(B, d)`` and ``(d, d)``.
        """
        x = self._x(x)
        return _posterior(self.W, self.noise_var, None, self.b, x)

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        r""":math:`\log p(x \mid z) + \log p(z)` for ``z`` of shape ``(B, d)`` or ``(S, B, d)``."""
        x = self._x(x)
        z = _check_float64("z", z, (2, 3), self.latent_dim)
        if z.shape[-2] != x.shape[0]:
            raise ValueError(f"z must hold one latent per row of x: z{tuple(z.shape)}, x{tuple(x.shape)}")
        return _log_joint(self.W, self.noise_var, None, self.b, x, z)

    def elbo(self, x: Tensor, q_mean: Tensor, q_logvar: Tensor) -> Tensor:
        r"""The ELBO of :math:`q(z) = \mathcal N(\mu, \operatorname{diag}\sigma^2)`, in closed form.

        .. math::

            \mathcal L(q) = \underbrace{\log \mathcal N(x;\, W\mu + b,\, s^2 I)
            - \frac{1}{2s^2} \sum_j \sigma_j^2 \lVert w_j \rVert^2}_{\mathbb E_q[\log p(x \mid z)]}
            - \mathrm{KL}\big(q \,\|\, \mathcal N(0, I)\big)

        where :math:`w_j` is column :math:`j` of :math:`W`. Shape ``(B,)``.
        """
        x = self._x(x)
        q_mean, q_logvar = _check_q(x, q_mean, q_logvar, self.latent_dim)
        return _elbo(self.W, self.noise_var, None, self.b, x, q_mean, q_logvar)

    def log_weights(
        self, x: Tensor, q_mean: Tensor, q_logvar: Tensor, num_samples: int, generator: torch.Generator | None = None
    ) -> Tensor:
        r"""Log importance weights :math:`\log p(x, z_s) - \log q(z_s)`, :math:`z_s \sim q` reparameterized.

        Their mean over the ``num_samples`` rows is the Monte Carlo ELBO. Shape ``(S, B)``.
        """
        x = self._x(x)
        q_mean, q_logvar = _check_q(x, q_mean, q_logvar, self.latent_dim)
        num_samples = check_positive_int("num_samples", num_samples)
        generator = check_generator("generator", generator)
        return _log_weights(self.W, self.noise_var, None, self.b, x, q_mean, q_logvar, num_samples, generator)

    def elbo_monte_carlo(
        self, x: Tensor, q_mean: Tensor, q_logvar: Tensor, num_samples: int, generator: torch.Generator | None = None
    ) -> Tensor:
        r"""Unbiased Monte Carlo estimate of :meth:`elbo` from ``num_samples`` samples of q.

        .. math::

            \hat{\mathcal L} = \frac1S \sum_{s=1}^S \log \frac{p(x, z_s)}{q(z_s)},
            \qquad z_s = \mu + \sigma \odot \varepsilon_s,\; \varepsilon_s \sim \mathcal N(0, I)
        """
        return self.log_weights(x, q_mean, q_logvar, num_samples, generator).mean(0)

    def kl_to_posterior(self, x: Tensor, q_mean: Tensor, q_logvar: Tensor) -> Tensor:
        r"""The exact gap :math:`\mathrm{KL}(q \,\|\, p(z \mid x))` against the full-covariance posterior.

        .. math::

            \mathrm{KL} = \tfrac12 \Big[\operatorname{tr}(\Lambda \operatorname{diag}\sigma^2)
            + (m - \mu)^\top \Lambda (m - \mu) - d - \log\det\Lambda - \sum_j \log \sigma_j^2\Big]
        """
        x = self._x(x)
        q_mean, q_logvar = _check_q(x, q_mean, q_logvar, self.latent_dim)
        return _kl_to_posterior(self.W, self.noise_var, None, self.b, x, q_mean, q_logvar)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Ancestral sampling: ``n`` latents ``z ~ p(z)``, then ``x ~ p(x | z)``; returns ``(z, x)``."""
        n = check_positive_int("n", n)
        generator = check_generator("generator", generator)
        z = torch.randn(n, self.latent_dim, dtype=torch.float64, generator=generator)
        noise = torch.randn(n, self.data_dim, dtype=torch.float64, generator=generator)
        return z, z @ self.W.T + self.b + self.noise_std * noise


@dataclass(frozen=True, eq=False)
class ConditionalLinearGaussianModel(_LinearGaussianDims):
    r"""A linear-Gaussian model of :math:`x` given a condition :math:`c`, with a conditional prior.

    .. math::

        p(z \mid c) = \mathcal N(A c,\, I_d), \qquad
        p(x \mid z, c) = \mathcal N(W z + U c + b,\; s^2 I_D)

    One model serves both conditional ELBOs of the book: with :math:`c` a label
    :math:`y` it models :math:`p(x \mid y)`; with :math:`c` an input and the modeled
    variable an output it is Sohn et al.'s :math:`p(y \mid x)`. The code always calls
    the modeled variable ``x`` and the condition ``c``.

    Attributes:
        A: prior mean map, float64, shape ``(d, K)``.
        W: loading matrix, float64, shape ``(D, d)``.
        U: direct effect of the condition on the data, float64, shape ``(D, K)``.
        b: data offset, float64, shape ``(D,)``.
        noise_std: the observation noise :math:`s > 0`.
    """

    A: Tensor
    W: Tensor
    U: Tensor
    b: Tensor
    noise_std: float

    def __post_init__(self) -> None:
        W = _check_float64("W", self.W, 2)
        A = _check_float64("A", self.A, 2)
        if A.shape[0] != W.shape[1]:
            raise ValueError(f"A must have W's {W.shape[1]} latent rows, got shape {tuple(A.shape)}")
        U = _check_float64("U", self.U, 2, A.shape[1])
        if U.shape[0] != W.shape[0]:
            raise ValueError(f"U must have W's {W.shape[0]} data rows, got shape {tuple(U.shape)}")
        _check_float64("b", self.b, 1, W.shape[0])
        object.__setattr__(self, "noise_std", check_positive_float("noise_std", self.noise_std))

    @property
    def condition_dim(self) -> int:
        """:math:`K`, the number of condition coordinates."""
        return self.A.shape[1]

    def _c(self, c: object) -> Tensor:
        return _check_float64("c", c, 2, self.condition_dim)

    def _given(self, x: object, c: object) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Checked ``x`` and ``c``, the prior means :math:`A c` and the decoder offsets :math:`U c + b`."""
        x = _check_float64("x", x, 2, self.data_dim)
        c = self._c(c)
        _check_batch(("x", "c"), (x, c))
        return x, c, c @ self.A.T, c @ self.U.T + self.b

    def prior(self, c: Tensor) -> tuple[Tensor, Tensor]:
        r"""Mean :math:`A c` and log-variance :math:`0` of :math:`p(z \mid c)`, each ``(B, d)``."""
        mean = self._c(c) @ self.A.T
        return mean, torch.zeros_like(mean)

    def log_evidence(self, x: Tensor, c: Tensor) -> Tensor:
        r"""The exact conditional log-likelihood :math:`\log p(x \mid c)`, shape ``(B,)``.

        .. math::

            p(x \mid c) = \mathcal N\big(x;\; (W A + U) c + b,\; W W^\top + s^2 I_D\big)
        """
        x, _, prior_mean, offset = self._given(x, c)
        return _log_evidence(self.W, self.noise_var, prior_mean, offset, x)

    def posterior(self, x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        r"""The exact posterior :math:`p(z \mid x, c) = \mathcal N(m(x, c), \Lambda^{-1})`.

        .. math::

            \Lambda = I_d + \frac{W^\top W}{s^2}, \qquad
            m(x, c) = \Lambda^{-1} \Big(A c + \frac{W^\top (x - U c - b)}{s^2}\Big)

        Returns:
            ``(mean, covariance)`` of shapes ``(B, d)`` and ``(d, d)``.
        """
        x, _, prior_mean, offset = self._given(x, c)
        return _posterior(self.W, self.noise_var, prior_mean, offset, x)

    def log_joint(self, x: Tensor, c: Tensor, z: Tensor) -> Tensor:
        r""":math:`\log p(x \mid z, c) + \log p(z \mid c)` for ``z`` of shape ``(B, d)`` or ``(S, B, d)``."""
        x, _, prior_mean, offset = self._given(x, c)
        z = _check_float64("z", z, (2, 3), self.latent_dim)
        if z.shape[-2] != x.shape[0]:
            raise ValueError(f"z must hold one latent per row of x: z{tuple(z.shape)}, x{tuple(x.shape)}")
        return _log_joint(self.W, self.noise_var, prior_mean, offset, x, z)

    def elbo(self, x: Tensor, c: Tensor, q_mean: Tensor, q_logvar: Tensor) -> Tensor:
        r"""The conditional ELBO of :math:`q(z \mid x, c) = \mathcal N(\mu, \operatorname{diag}\sigma^2)`.

        .. math::

            \mathcal L(q) = \mathbb E_q[\log p(x \mid z, c)]
            - \mathrm{KL}\big(q \,\|\, \mathcal N(A c, I)\big) \le \log p(x \mid c)

        Shape ``(B,)``.
        """
        x, _, prior_mean, offset = self._given(x, c)
        q_mean, q_logvar = _check_q(x, q_mean, q_logvar, self.latent_dim)
        return _elbo(self.W, self.noise_var, prior_mean, offset, x, q_mean, q_logvar)

    def log_weights(
        self,
        x: Tensor,
        c: Tensor,
        q_mean: Tensor,
        q_logvar: Tensor,
        num_samples: int,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        r""":math:`\log p(x, z_s \mid c) - \log q(z_s)` for reparameterized :math:`z_s \sim q`: shape ``(S, B)``."""
        x, _, prior_mean, offset = self._given(x, c)
        q_mean, q_logvar = _check_q(x, q_mean, q_logvar, self.latent_dim)
        num_samples = check_positive_int("num_samples", num_samples)
        generator = check_generator("generator", generator)
        return _log_weights(self.W, self.noise_var, prior_mean, offset, x, q_mean, q_logvar, num_samples, generator)

    def elbo_monte_carlo(
        self,
        x: Tensor,
        c: Tensor,
        q_mean: Tensor,
        q_logvar: Tensor,
        num_samples: int,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Unbiased Monte Carlo estimate of :meth:`elbo`: the mean of :meth:`log_weights`."""
        return self.log_weights(x, c, q_mean, q_logvar, num_samples, generator).mean(0)

    def kl_to_posterior(self, x: Tensor, c: Tensor, q_mean: Tensor, q_logvar: Tensor) -> Tensor:
        r"""The exact gap :math:`\log p(x \mid c) - \mathcal L(q) = \mathrm{KL}(q \,\|\, p(z \mid x, c))`."""
        x, _, prior_mean, offset = self._given(x, c)
        q_mean, q_logvar = _check_q(x, q_mean, q_logvar, self.latent_dim)
        return _kl_to_posterior(self.W, self.noise_var, prior_mean, offset, x, q_mean, q_logvar)

    def sample(self, c: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """One ``z ~ p(z | c)`` and ``x ~ p(x | z, c)`` per row of ``c``; returns ``(z, x)``."""
        c = self._c(c)
        generator = check_generator("generator", generator)
        n = c.shape[0]
        z = c @ self.A.T + torch.randn(n, self.latent_dim, dtype=torch.float64, generator=generator)
        noise = torch.randn(n, self.data_dim, dtype=torch.float64, generator=generator)
        return z, z @ self.W.T + c @ self.U.T + self.b + self.noise_std * noise


# --------------------------------------------------------------------------------------
# Constructors.
# --------------------------------------------------------------------------------------


def _random_loadings(
    data_dim: int, latent_dim: int, orthogonal_columns: bool, generator: torch.Generator
) -> Tensor:
    W = torch.randn(data_dim, latent_dim, dtype=torch.float64, generator=generator)
    if not orthogonal_columns:
        return W
    if latent_dim > data_dim:
        raise ValueError(f"orthogonal columns need latent_dim <= data_dim, got {latent_dim} > {data_dim}")
    basis, _ = torch.linalg.qr(W)
    return basis * W.norm(dim=0)


def random_linear_gaussian(
    data_dim: int,
    latent_dim: int,
    noise_std: float,
    seed: int,
    *,
    orthogonal_columns: bool = False,
) -> LinearGaussianModel:
    r"""A :class:`LinearGaussianModel` with standard-normal :math:`W` and :math:`b`, reproducible from ``seed``.

    With ``orthogonal_columns=True`` the columns of :math:`W` are made orthogonal (same
    lengths), so :math:`W^\top W` and hence the posterior covariance are diagonal: then a
    diagonal Gaussian :math:`q` can equal the posterior and close the ELBO's gap.
    """
    data_dim = check_positive_int("data_dim", data_dim)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    noise_std = check_positive_float("noise_std", noise_std)
    seed = check_positive_int("seed", seed, minimum=0)
    check_bool("orthogonal_columns", orthogonal_columns)
    generator = torch.Generator().manual_seed(seed)
    W = _random_loadings(data_dim, latent_dim, orthogonal_columns, generator)
    b = torch.randn(data_dim, dtype=torch.float64, generator=generator)
    return LinearGaussianModel(W, b, noise_std)


def random_conditional_linear_gaussian(
    data_dim: int,
    latent_dim: int,
    condition_dim: int,
    noise_std: float,
    seed: int,
    *,
    orthogonal_columns: bool = False,
) -> ConditionalLinearGaussianModel:
    """A :class:`ConditionalLinearGaussianModel` with standard-normal parameters, reproducible from ``seed``.

    ``orthogonal_columns`` has the meaning of :func:`random_linear_gaussian`.
    """
    data_dim = check_positive_int("data_dim", data_dim)
    latent_dim = check_positive_int("latent_dim", latent_dim)
    condition_dim = check_positive_int("condition_dim", condition_dim)
    noise_std = check_positive_float("noise_std", noise_std)
    seed = check_positive_int("seed", seed, minimum=0)
    check_bool("orthogonal_columns", orthogonal_columns)
    generator = torch.Generator().manual_seed(seed)
    W = _random_loadings(data_dim, latent_dim, orthogonal_columns, generator)
    A = torch.randn(latent_dim, condition_dim, dtype=torch.float64, generator=generator)
    U = torch.randn(data_dim, condition_dim, dtype=torch.float64, generator=generator)
    b = torch.randn(data_dim, dtype=torch.float64, generator=generator)
    return ConditionalLinearGaussianModel(A, W, U, b, noise_std)
