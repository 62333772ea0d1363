"""Encoder, decoder and MLP builder: shapes, stacking of samples, clear errors."""

import pytest
import torch

from cvae.networks import BernoulliDecoder, ConditionalBernoulliDecoder, GaussianEncoder, mlp


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


def test_conditional_decoder_is_the_decoder_of_the_concatenation_with_its_initialisation():
    torch.manual_seed(0)
    joint = BernoulliDecoder(6 + 3, [16, 8], (5,))
    torch.manual_seed(0)
    split = ConditionalBernoulliDecoder(6, 3, [16, 8], (5,))
    first = joint.net[0]
    assert torch.equal(torch.cat([split.weight_x, split.weight_z], dim=1), first.weight)
    assert torch.equal(split.bias, first.bias)
    assert all(torch.equal(a, b) for a, b in zip(split.rest.parameters(), joint.net[1:].parameters()))
    x, z = torch.randn(4, 6), torch.randn(7, 4, 3)  # seven codes for each of four inputs
    expected = joint(torch.cat([x.expand(7, 4, 6), z], dim=-1))
    assert split(x, z).shape == (7, 4, 5)
    assert torch.allclose(split(x, z), expected, atol=1e-6)
    assert torch.allclose(split(x, z[0]), expected[0], atol=1e-6)


def test_conditional_decoder_gradients_are_those_of_the_joint_weight():
    torch.manual_seed(0)
    joint = BernoulliDecoder(6 + 3, [16], (5,))
    torch.manual_seed(0)
    split = ConditionalBernoulliDecoder(6, 3, [16], (5,))
    x, z = torch.randn(4, 6), torch.randn(2, 4, 3)
    joint(torch.cat([x.expand(2, 4, 6), z], dim=-1)).square().sum().backward()
    split(x, z).square().sum().backward()
    grad = torch.cat([split.weight_x.grad, split.weight_z.grad], dim=1)
    assert torch.allclose(grad, joint.net[0].weight.grad, atol=1e-5)
    assert torch.allclose(split.bias.grad, joint.net[0].bias.grad, atol=1e-5)


def test_conditional_decoder_errors_name_the_problem():
    decoder = ConditionalBernoulliDecoder(6, 3, [16], (5,))
    with pytest.raises(ValueError, match=r"condition must have shape \(B, 6\)"):
        decoder(torch.randn(4, 7), torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"z must have shape \(\.\.\., 4, 3\)"):
        decoder(torch.randn(4, 6), torch.randn(5, 3))
    with pytest.raises(ValueError, match="z contains NaN"):
        decoder(torch.randn(4, 6), torch.full((4, 3), float("nan")))
    with pytest.raises(TypeError, match="condition must have the model's dtype"):
        decoder(torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 3))
    with pytest.raises(ValueError, match="hidden_dims needs at least one"):
        ConditionalBernoulliDecoder(6, 3, [], (5,))
    with pytest.raises(ValueError, match="latent_dim must be >= 1"):
        ConditionalBernoulliDecoder(6, 0, [16], (5,))
