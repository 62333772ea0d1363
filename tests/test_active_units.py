"""Burda et al.'s active units (cvae.estimators.count_active_units)."""

import pytest
import torch

from cvae.estimators import count_active_units


def test_a_unit_is_active_when_its_posterior_mean_varies_across_inputs():
    generator = torch.Generator().manual_seed(0)
    scales = torch.tensor([1.0, 0.3, 0.05, 0.0, 2.0])  # variances 1, 0.09, 0.0025, 0, 4
    means = torch.randn(20_000, 5, generator=generator) * scales + 3.0  # a common offset changes nothing
    assert count_active_units(means) == 3
    assert count_active_units(means, threshold=0.001) == 4


def test_bad_means_are_refused_by_name():
    with pytest.raises(ValueError, match="means must hold at least two inputs"):
        count_active_units(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="means must have 2 dimensions"):
        count_active_units(torch.zeros(4))
    with pytest.raises(ValueError, match="threshold must be > 0"):
        count_active_units(torch.zeros(4, 2), threshold=0.0)
