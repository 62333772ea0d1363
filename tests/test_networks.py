"""Encoder, decoders and the MLP builder: shapes, stacks of samples, and the split
first layer of the conditional decoder against the decoder of the concatenation."""

import torch

from cvae.networks import (
    BernoulliDecoder,
    ConditionalBernoulliDecoder,
    GaussianEncoder,
    mlp,
)


def test_shapes_of_the_mlp_the_encoder_and_the_decoders():
    net = mlp([4, 8, 3])  # no activation after the last layer
    assert isinstance(net[-1], torch.nn.Linear) and net(torch.zeros(5, 4)).shape[1] == 3
    mu, logvar = GaussianEncoder(784, [32], 5)(torch.rand(3, 1, 28, 28))
    assert mu.shape == logvar.shape == (3, 5)
    decoder = BernoulliDecoder(5, [16])
    assert decoder(torch.randn(4, 5)).shape == (4, 1, 28, 28)
    assert decoder(torch.randn(7, 4, 5)).shape == (7, 4, 1, 28, 28)
    assert BernoulliDecoder(2, ())(torch.zeros(4, 2)).shape == (4, 1, 28, 28)


def joint_and_split(hidden_dims):
    """A decoder of concat(x, z) and the split one, built from the same random draws."""
    torch.manual_seed(0)
    joint = BernoulliDecoder(6 + 3, hidden_dims, (5,))
    torch.manual_seed(0)
    return joint, ConditionalBernoulliDecoder(6, 3, hidden_dims, (5,))


def test_conditional_decoder_is_the_decoder_of_the_concatenation():
    joint, split = joint_and_split([16, 8])
    first = joint.net[0]
    assert torch.equal(torch.cat([split.weight_x, split.weight_z], dim=1), first.weight)
    assert torch.equal(split.bias, first.bias)
    rest = zip(split.rest.parameters(), joint.net[1:].parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in rest)
    x, z = (
        torch.randn(4, 6),
        torch.randn(7, 4, 3),
    )  # seven codes for each of four inputs
    expected = joint(torch.cat([x.expand(7, 4, 6), z], dim=-1))
    assert split(x, z).shape == (7, 4, 5)
    assert torch.allclose(split(x, z), expected, atol=1e-6)
    assert torch.allclose(split(x, z[0]), expected[0], atol=1e-6)


def test_conditional_decoder_gradients_are_those_of_the_joint_weight():
    joint, split = joint_and_split([16])
    x, z = torch.randn(4, 6), torch.randn(2, 4, 3)
    joint(torch.cat([x.expand(2, 4, 6), z], dim=-1)).square().sum().backward()
    split(x, z).square().sum().backward()
    grad = torch.cat([split.weight_x.grad, split.weight_z.grad], dim=1)
    assert torch.allclose(grad, joint.net[0].weight.grad, atol=1e-5)
    assert torch.allclose(split.bias.grad, joint.net[0].bias.grad, atol=1e-5)
