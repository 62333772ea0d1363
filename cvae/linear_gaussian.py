r"""An exactly solvable linear-Gaussian latent-variable model, for checking every ELBO
identity.

Explained in the chapter :chapter:`From likelihood to the ELBO <book/elbo>`. The model

.. math::

    z \sim \mathcal N(0, I_d), \qquad x \mid z \sim \mathcal N(W z + b,\; s^2 I_D)

is probabilistic PCA (Tipping and Bishop, 1999): its evidence :math:`\log p(x)` and its
posterior :math:`p(z \mid x)` have closed forms, so the bound, its gap and Monte Carlo
estimates of it can be compared with exact numbers. Given a condition :math:`c`, the
prior mean and the decoder depend on it too:

.. math::

    z \mid c \sim \mathcal N(A c, I_d), \qquad
    x \mid z, c \sim \mathcal N(W z + U c + b,\; s^2 I_D).

One class, :class:`LinearGaussianModel`, is both: the unconditional model is the
conditional one without :math:`A`, :math:`U` and :math:`c`. Everything is float64 so
that identities hold to about :math:`10^{-12}`. All data arguments are batches: ``x``
is ``(B, D)``, ``c`` is ``(B, K)``, the parameters of a diagonal Gaussian :math:`q(z)`
are ``(B, d)`` each, one distribution per example.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from cvae.checks import (
    check_bool,
    check_generator,
    check_positive_float,
    check_positive_int,
    check_tensor,
)
from cvae.distributions import gaussian_kl, gaussian_log_density, reparameterize


def _float64(name: str, value: object, ndim, width: int | None = None) -> Tensor:
    """A finite float64 tensor of ``ndim`` dimensions (and ``width`` columns)."""
    check_tensor(name, value, ndim=ndim, floating=True)
    if value.dtype != torch.float64:
        raise TypeError(f"{name} must be float64 (exact identities), got {value.dtype}")
    if width is not None and value.shape[-1] != width:
        raise ValueError(f"{name} must have {width} columns, got {tuple(value.shape)}")
    return value


@dataclass(frozen=True, eq=False)
class LinearGaussianModel:
    r"""The linear-Gaussian latent-variable model, given a condition :math:`c` or not.

    .. math::

        p(z \mid c) = \mathcal N(A c,\, I_d), \qquad
        p(x \mid z, c) = \mathcal N(W z + U c + b,\; s^2 I_D)

    Without ``A`` and ``U`` there is no condition: :math:`p(z) = \mathcal N(0, I_d)`,
    :math:`p(x \mid z) = \mathcal N(W z + b, s^2 I_D)`, probabilistic PCA, and the
    methods take no ``c``. With them, every method takes the condition as the keyword
    ``c``. One conditional model serves both conditional ELBOs of the book: with
    :math:`c` a label :math:`y` it models :math:`p(x \mid y)`; with :math:`c` an input
    and the modeled variable an output it is Sohn et al.'s :math:`p(y \mid x)`. The code
    always calls the modeled variable ``x`` and the condition ``c``.

    Attributes:
        W: the loading matrix, float64, shape ``(D, d)``.
        b: the data offset (the data mean without a condition), float64, ``(D,)``.
        noise_std: the observation noise :math:`s > 0`.
        A: the prior mean map, float64, ``(d, K)``, or ``None`` (no condition).
        U: the direct effect of the condition on the data, float64, ``(D, K)``, or
            ``None``.
    """

    W: Tensor
    b: Tensor
    noise_std: float
    A: Tensor | None = None
    U: Tensor | None = None

    def __post_init__(self) -> None:
        """Check the fields: float64, sizes that match, ``s > 0`` (kept as a float)."""
        W = _float64("W", self.W, 2)
        _float64("b", self.b, 1, len(W))
        noise_std = check_positive_float("noise_std", self.noise_std)
        object.__setattr__(self, "noise_std", noise_std)
        if (self.A is None) != (self.U is None):
            raise ValueError("give both A and U (a conditional model) or neither")
        if self.A is not None:
            A, U = _float64("A", self.A, 2), _float64("U", self.U, 2, self.A.shape[1])
            if len(A) != W.shape[1] or len(U) != len(W):
                shapes = f"W{tuple(W.shape)}, A{tuple(A.shape)}, U{tuple(U.shape)}"
                raise ValueError(f"A must be (d, K), U (D, K) for W (D, d): {shapes}")

    def _check(self, c: Tensor | None, **data: Tensor) -> None:
        """``c`` exactly when the model has a condition, and float64 ``x``, ``c``,
        ``q_mean``, ``q_logvar`` of their widths (D, K, d, d), with one batch size."""
        if c is not None and self.A is None:
            raise TypeError("c was given, but this model has no condition: leave c out")
        if c is None and self.A is not None:
            raise TypeError(f"c is required: this model has K={self.condition_dim}")
        widths = {"x": self.data_dim, "c": self.condition_dim}
        widths |= {"q_mean": self.latent_dim, "q_logvar": self.latent_dim}
        given = {**data} if c is None else {**data, "c": c}
        given = {name: _float64(name, t, 2, widths[name]) for name, t in given.items()}
        if len({len(tensor) for tensor in given.values()}) > 1:
            listing = ", ".join(f"{n}{tuple(t.shape)}" for n, t in given.items())
            raise ValueError(f"batch sizes must match: {listing}")

    @property
    def data_dim(self) -> int:
        """:math:`D`, the number of modeled coordinates."""
        return self.W.shape[0]

    @property
    def latent_dim(self) -> int:
        """:math:`d`, the number of latent coordinates."""
        return self.W.shape[1]

    @property
    def condition_dim(self) -> int:
        """:math:`K`, the number of condition coordinates (0 without a condition)."""
        return 0 if self.A is None else self.A.shape[1]

    @property
    def noise_var(self) -> float:
        """:math:`s^2`."""
        return self.noise_std**2

    def _prior_mean_and_offset(self, c: Tensor | None) -> tuple[Tensor | None, Tensor]:
        """The prior means :math:`A c` (``None``: zero) and the decoder offsets
        :math:`U c + b`."""
        if c is None:
            return None, self.b
        return c @ self.A.T, c @ self.U.T + self.b

    def _posterior_precision(self) -> Tensor:
        r""":math:`\Lambda = I_d + W^\top W / s^2`, the inverse posterior covariance
        (the same for every x)."""
        eye = torch.eye(self.latent_dim, dtype=self.W.dtype)
        return eye + self.W.T @ self.W / self.noise_var

    def prior(self, c: Tensor) -> tuple[Tensor, Tensor]:
        r"""Mean :math:`A c` and log-variance :math:`0` of :math:`p(z \mid c)`, each
        ``(B, d)``."""
        self._check(c)
        mean = c @ self.A.T
        return mean, torch.zeros_like(mean)

    def log_evidence(self, x: Tensor, *, c: Tensor | None = None) -> Tensor:
        r"""The exact log-likelihood :math:`\log p(x \mid c)`, one value per row of
        ``x`` (shape ``(B,)``).

        .. math::

            p(x \mid c) = \int p(x \mid z, c)\, p(z \mid c)\, dz
            = \mathcal N\big(x;\; (W A + U) c + b,\; W W^\top + s^2 I_D\big)

        Without a condition, :math:`p(x) = \mathcal N(x;\, b,\, W W^\top + s^2 I_D)`.
        """
        self._check(c, x=x)
        prior_mean, offset = self._prior_mean_and_offset(c)
        eye = torch.eye(self.data_dim, dtype=self.W.dtype)
        cholesky = torch.linalg.cholesky(self.W @ self.W.T + self.noise_var * eye)
        mean = offset if prior_mean is None else offset + prior_mean @ self.W.T
        whitened = torch.linalg.solve_triangular(cholesky, (x - mean).T, upper=False)
        log_det = 2.0 * cholesky.diagonal().log().sum()
        squares = whitened.pow(2).sum(0)
        return -0.5 * (self.data_dim * math.log(2.0 * math.pi) + log_det + squares)

    def posterior(self, x: Tensor, *, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        r"""The exact posterior
        :math:`p(z \mid x, c) = \mathcal N(m(x, c), \Lambda^{-1})`.

        .. math::

            \Lambda = I_d + \frac{W^\top W}{s^2}, \qquad
            m(x, c) = \Lambda^{-1} \Big(A c + \frac{W^\top (x - U c - b)}{s^2}\Big)

        (without a condition, :math:`m(x) = \Lambda^{-1} W^\top (x - b) / s^2`). The
        covariance is full unless the columns of :math:`W` are orthogonal, and it does
        not depend on :math:`x` or :math:`c`.

        Returns:
            ``(mean, covariance)`` of shapes ``(B, d)`` and ``(d, d)``.
        """
        self._check(c, x=x)
        prior_mean, offset = self._prior_mean_and_offset(c)
        covariance = torch.linalg.inv(self._posterior_precision())
        covariance = 0.5 * (covariance + covariance.T)
        natural = (x - offset) @ self.W / self.noise_var
        if prior_mean is not None:
            natural = natural + prior_mean
        return natural @ covariance, covariance

    def log_joint(self, x: Tensor, z: Tensor, *, c: Tensor | None = None) -> Tensor:
        r""":math:`\log p(x \mid z, c) + \log p(z \mid c)` for ``z`` of shape
        ``(B, d)`` or ``(S, B, d)``."""
        self._check(c, x=x)
        if _float64("z", z, (2, 3), self.latent_dim).shape[-2] != len(x):
            raise ValueError(
                f"z must hold one code per row of x, got z{tuple(z.shape)}"
            )
        prior_mean, offset = self._prior_mean_and_offset(c)
        zero = torch.zeros((), dtype=z.dtype)
        log_noise_var = torch.full((), math.log(self.noise_var), dtype=z.dtype)
        log_likelihood = gaussian_log_density(x, z @ self.W.T + offset, log_noise_var)
        mean = zero if prior_mean is None else prior_mean
        return log_likelihood + gaussian_log_density(z, mean, zero)

    def elbo(
        self, x: Tensor, q_mean: Tensor, q_logvar: Tensor, *, c: Tensor | None = None
    ) -> Tensor:
        r"""The ELBO of :math:`q(z) = \mathcal N(\mu, \operatorname{diag}\sigma^2)`, in
        closed form.

        .. math::

            \begin{aligned}
            \mathcal L(q) &= \underbrace{\log \mathcal N(x;\, W\mu + U c + b,\, s^2 I)
            - \frac{1}{2s^2} \sum_j \sigma_j^2 \lVert w_j \rVert^2}_{
              \mathbb E_q[\log p(x \mid z, c)]} \\
            &\quad - \mathrm{KL}\big(q \,\|\, \mathcal N(A c, I)\big)
              \le \log p(x \mid c)
            \end{aligned}

        where :math:`w_j` is column :math:`j` of :math:`W` (without a condition, drop
        :math:`U c` and :math:`A c`). Shape ``(B,)``.
        """
        self._check(c, x=x, q_mean=q_mean, q_logvar=q_logvar)
        prior_mean, offset = self._prior_mean_and_offset(c)
        log_noise_var = torch.full((), math.log(self.noise_var), dtype=x.dtype)
        spread = (q_logvar.exp() * self.W.pow(2).sum(0)).sum(-1) / (
            2.0 * self.noise_var
        )
        mean = q_mean @ self.W.T + offset
        expected_log_likelihood = gaussian_log_density(x, mean, log_noise_var) - spread
        zero = None if prior_mean is None else torch.zeros_like(prior_mean)
        return expected_log_likelihood - gaussian_kl(q_mean, q_logvar, prior_mean, zero)

    def log_weights(
        self,
        x: Tensor,
        q_mean: Tensor,
        q_logvar: Tensor,
        num_samples: int,
        generator: torch.Generator | None = None,
        *,
        c: Tensor | None = None,
    ) -> Tensor:
        r"""Log importance weights :math:`\log p(x, z_s \mid c) - \log q(z_s)`,
        :math:`z_s \sim q` reparameterized.

        Their mean over the ``num_samples`` rows is the Monte Carlo ELBO. Shape
        ``(S, B)``.
        """
        self._check(c, x=x, q_mean=q_mean, q_logvar=q_logvar)
        check_positive_int("num_samples", num_samples)
        check_generator("generator", generator)
        shape = (num_samples, *q_mean.shape)
        z = reparameterize(q_mean.expand(shape), q_logvar.expand(shape), generator)
        return self.log_joint(x, z, c=c) - gaussian_log_density(z, q_mean, q_logvar)

    def elbo_monte_carlo(
        self,
        x: Tensor,
        q_mean: Tensor,
        q_logvar: Tensor,
        num_samples: int,
        generator: torch.Generator | None = None,
        *,
        c: Tensor | None = None,
    ) -> Tensor:
        r"""Unbiased Monte Carlo estimate of :meth:`elbo` from ``num_samples`` samples
        of q.

        .. math::

            \hat{\mathcal L} = \frac1S \sum_{s=1}^S
            \log \frac{p(x, z_s \mid c)}{q(z_s)},
            \qquad z_s = \mu + \sigma \odot \varepsilon_s,\;
            \varepsilon_s \sim \mathcal N(0, I)
        """
        weights = self.log_weights(x, q_mean, q_logvar, num_samples, generator, c=c)
        return weights.mean(0)

    def kl_to_posterior(
        self, x: Tensor, q_mean: Tensor, q_logvar: Tensor, *, c: Tensor | None = None
    ) -> Tensor:
        r"""The exact gap
        :math:`\log p(x \mid c) - \mathcal L(q) = \mathrm{KL}(q \,\|\, p(z \mid x, c))`.

        .. math::

            \mathrm{KL} = \tfrac12 \Big[\operatorname{tr}(\Lambda
            \operatorname{diag}\sigma^2) + (m - \mu)^\top \Lambda (m - \mu) - d
            - \log\det\Lambda - \sum_j \log \sigma_j^2\Big]
        """
        self._check(c, x=x, q_mean=q_mean, q_logvar=q_logvar)
        precision = self._posterior_precision()
        posterior_mean, _ = self.posterior(x, c=c)
        difference = posterior_mean - q_mean
        trace = (precision.diagonal() * q_logvar.exp()).sum(-1)
        mahalanobis = ((difference @ precision) * difference).sum(-1)
        cholesky = torch.linalg.cholesky(precision)
        log_det_precision = 2.0 * cholesky.diagonal().log().sum()
        log_det_q = q_logvar.sum(-1)
        return 0.5 * (
            trace + mahalanobis - self.latent_dim - log_det_precision - log_det_q
        )

    def sample(
        self,
        n: int | None = None,
        generator: torch.Generator | None = None,
        *,
        c: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Ancestral sampling: ``z ~ p(z | c)``, then ``x ~ p(x | z, c)``; returns
        ``(z, x)``.

        ``n`` pairs without a condition; one pair per row of ``c`` with one (``n`` may
        be left out).
        """
        self._check(c)
        if c is None or n is not None:
            check_positive_int("n", n)
        if c is not None and n not in (None, len(c)):
            raise ValueError(f"n must be left out or equal c's {len(c)} rows, got {n}")
        check_generator("generator", generator)
        n = n if c is None else c.shape[0]
        z = torch.randn(n, self.latent_dim, dtype=torch.float64, generator=generator)
        noise = torch.randn(n, self.data_dim, dtype=torch.float64, generator=generator)
        if c is None:
            return z, z @ self.W.T + self.b + self.noise_std * noise
        z = c @ self.A.T + z
        return z, z @ self.W.T + c @ self.U.T + self.b + self.noise_std * noise


def random_linear_gaussian(
    data_dim: int,
    latent_dim: int,
    noise_std: float,
    seed: int,
    *,
    condition_dim: int = 0,
    orthogonal_columns: bool = False,
) -> LinearGaussianModel:
    r"""A :class:`LinearGaussianModel` with standard-normal parameters, reproducible
    from ``seed``.

    With ``condition_dim > 0`` it has a condition of that many coordinates (random
    :math:`A` and :math:`U`). With ``orthogonal_columns=True`` the columns of :math:`W`
    are made orthogonal (same lengths), so :math:`W^\top W` and hence the posterior
    covariance are diagonal: then a diagonal Gaussian :math:`q` can equal the posterior
    and close the ELBO's gap.
    """
    check_positive_int("data_dim", data_dim)
    check_positive_int("latent_dim", latent_dim)
    check_positive_float("noise_std", noise_std)
    check_positive_int("seed", seed, minimum=0)
    check_positive_int("condition_dim", condition_dim, minimum=0)
    if check_bool("orthogonal_columns", orthogonal_columns) and latent_dim > data_dim:
        raise ValueError(f"orthogonal columns need latent_dim <= data_dim ({data_dim})")
    generator = torch.Generator().manual_seed(seed)
    draw = functools.partial(torch.randn, dtype=torch.float64, generator=generator)
    W = draw(data_dim, latent_dim)  # the draws come in the order W, A, U, b
    if orthogonal_columns:
        basis, _ = torch.linalg.qr(W)
        W = basis * W.norm(dim=0)
    A = U = None
    if condition_dim:
        A, U = draw(latent_dim, condition_dim), draw(data_dim, condition_dim)
    return LinearGaussianModel(W, draw(data_dim), noise_std, A=A, U=U)
