"""Burda et al.'s active units (cvae.estimators.count_active_units) and the quadrant
models' latent summary."""

from __future__ import annotations

import math

import pytest
import torch

from cvae.estimators import count_active_units
from cvae.experiment import latent_summary
from cvae.quadrants import split_quadrants
from cvae.structured import Baseline, StructuredCVAE


def test_a_unit_is_active_when_its_posterior_mean_varies_across_inputs():
    generator = torch.Generator().manual_seed(0)
    scales = torch.tensor([1.0, 0.3, 0.05, 0.0, 2.0])  # variances 1, 0.09, 0.0025, 0, 4
    means = (
        torch.randn(20_000, 5, generator=generator) * scales + 3.0
    )  # a common offset changes nothing
    assert count_active_units(means) == 3
    assert count_active_units(means, threshold=0.001) == 4
    assert count_active_units(means, threshold=5.0) == 0


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="means must have 2 dimensions"):
        count_active_units(torch.zeros(10))
    with pytest.raises(ValueError, match="means must hold at least two inputs"):
        count_active_units(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="threshold must be"):
        count_active_units(torch.zeros(4, 3), threshold=0.0)


def test_the_latent_summary_is_the_mean_kl_and_the_active_units_of_q():
    torch.manual_seed(0)
    digits = (torch.rand(40, 1, 28, 28) > 0.6).float()
    inputs, targets = split_quadrants(digits, 2)
    baseline = Baseline(2, (16,))
    cvae = StructuredCVAE(2, baseline, latent_dim=3, hidden_dims=(16,))
    summary = latent_summary(cvae, inputs, targets, batch_size=7)
    mu_q, logvar_q = cvae.recognize(inputs, targets)
    mu_p, logvar_p = cvae.prior(inputs)
    kl = 0.5 * (
        logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1
    ).sum(1)
    assert summary["kl"] == pytest.approx(float(kl.detach().mean()), rel=1e-5)
    assert summary["active_units"] == count_active_units(mu_q.detach())
    standardized = (mu_q - mu_p) * (-0.5 * logvar_p).exp()
    assert summary["active_units_vs_prior"] == count_active_units(standardized.detach())
    gsnn = StructuredCVAE(2, baseline, alpha=0.0, latent_dim=3, hidden_dims=(16,))
    assert all(
        math.isnan(value) for value in latent_summary(gsnn, inputs, targets).values()
    )
