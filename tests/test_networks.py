"""Encoder, decoder and MLP builder: shapes, stacking of samples, clear errors."""

import pytest
import torch

from cvae.networks import BernoulliDecoder, GaussianEncoder, mlp


def test_mlp_has_no_activation_after_the_last_layer():
    net = mlp([4, 8, 3])
    assert isinstance(net[-1], torch.nn.Linear)
    assert net(torch.randn(5, 4)).shape == (5, 3)


@pytest.mark.parametrize("sizes", [[4], [4, 0, 2]])
def test_mlp_rejects_bad_sizes(sizes):
    with pytest.raises(ValueError, match="sizes"):
        mlp(sizes)


def test_encoder_flattens_images_and_returns_mean_and_log_variance():
    encoder = GaussianEncoder(784, [32], 5)
    mu, logvar = encoder(torch.rand(3, 1, 28, 28))
    assert mu.shape == logvar.shape == (3, 5)


def test_encoder_errors_name_the_problem():
    encoder = GaussianEncoder(784, [32], 5)
    with pytest.raises(ValueError, match="784 features"):
        encoder(torch.rand(3, 1, 14, 14))
    with pytest.raises(ValueError, match="inputs contains NaN"):
        encoder(torch.full((2, 784), float("nan")))
    with pytest.raises(TypeError, match="floating"):
        encoder(torch.zeros(2, 784, dtype=torch.long))
    with pytest.raises(ValueError, match="hidden_dims"):
        GaussianEncoder(784, [], 5)


def test_decoder_keeps_leading_sample_dimensions():
    decoder = BernoulliDecoder(5, [16])
    assert decoder(torch.randn(4, 5)).shape == (4, 1, 28, 28)
    assert decoder(torch.randn(7, 4, 5)).shape == (7, 4, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\(\.\.\., 5\)"):
        decoder(torch.randn(4, 6))
