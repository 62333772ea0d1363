"""The figure of the structured CVAE's three networks
(cvae.plotting.cvae_networks_figure)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from cvae.plotting import cvae_networks_figure  # noqa: E402

NETWORKS = {"recognition network", "prior network", "generation network"}


def test_it_draws_the_three_networks_on_a_training_and_a_test_path():
    fig = cvae_networks_figure()
    try:
        assert isinstance(fig, Figure) and len(fig.axes) == 2
        assert tuple(fig.get_size_inches()) == pytest.approx((7.5, 3.15))
        training, test = fig.axes
        assert training.get_title().startswith(
            "training"
        ) and test.get_title().startswith("test")
        for ax in (training, test):
            boxes = {
                patch.get_label(): patch
                for patch in ax.patches
                if isinstance(patch, FancyBboxPatch)
            }
            assert set(boxes) == NETWORKS
            texts = " ".join(text.get_text() for text in ax.texts)
            for name, formula in (
                ("recognition", r"q(z \mid x, y)"),
                ("prior", r"p(z \mid x)"),
                ("generation", r"p(y \mid x, z)"),
            ):
                assert name in texts and formula in texts
        # The KL term ties q to the prior in training only; at test time q is unused
        # (greyed out).
        assert "KL" in [t.get_text() for t in training.texts] and "KL" not in [
            t.get_text() for t in test.texts
        ]
        test_boxes = {
            patch.get_label(): patch
            for patch in test.patches
            if isinstance(patch, FancyBboxPatch)
        }
        assert test_boxes["recognition network"].get_edgecolor() == to_rgba("0.75")
        assert test_boxes["prior network"].get_edgecolor() == to_rgba("tab:orange")
    finally:
        plt.close(fig)


def test_a_bad_width_is_named():
    with pytest.raises(ValueError, match="width must be"):
        cvae_networks_figure(width=-1)
