"""The quadrant task of structured prediction: x = given quadrants of a digit, y = rest.

Explained in the chapter :chapter:`Structured output prediction <book/quadrants>`.
Pyro's conventions (examples/cvae): 1 given quadrant = the bottom-left one; 2 = the left
half; 3 = all but the bottom-right one. In the input the hidden pixels are set to -1, a
value no pixel takes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cvae.checks import check_int, check_range, check_same_device, check_tensor
from cvae.data import IMAGE_SHAPE, check_images

QUADRANT_COUNTS = (1, 2, 3)
HIDDEN_PIXEL_VALUE = -1.0


def check_num_given(num_given: object) -> int:
    """Require the number of given quadrants: an int in ``{1, 2, 3}``."""
    if check_int("num_given", num_given) not in QUADRANT_COUNTS:
        raise ValueError(f"num_given must be 1, 2 or 3, got {num_given}")
    return num_given


def quadrant_mask(num_given: int) -> Tensor:
    """Boolean mask ``(1, 28, 28)`` of the *output* pixels y (True) when ``num_given``
    quadrants are given.

    Its complement is the input x. With Pyro's conventions the given quadrants are:
    ``1``: bottom-left; ``2``: left half; ``3``: all but bottom-right. So y is three
    quadrants (588 pixels), the right half (392) or the bottom-right quadrant (196).
    """
    check_num_given(num_given)
    height, width = IMAGE_SHAPE[1:]
    given = torch.zeros(IMAGE_SHAPE, dtype=torch.bool)
    given[:, height // 2 :, : width // 2] = True  # bottom-left: always given
    if num_given >= 2:
        given[:, :, : width // 2] = True  # the left half
    if num_given == 3:
        given[:, : height // 2, :] = True  # and the top half
    return ~given


def output_size(num_given: int) -> int:
    """``P``, the number of output pixels for ``num_given`` (588, 392 or 196)."""
    return int(quadrant_mask(num_given).sum())


def input_size(num_given: int) -> int:
    """``G``, the number of given pixels for ``num_given`` (196, 392 or 588)."""
    return IMAGE_SHAPE[1] * IMAGE_SHAPE[2] - output_size(num_given)


_PIXEL_INDICES: dict[tuple[int, torch.device], tuple[Tensor, Tensor]] = {}


@torch.compiler.assume_constant_result
def _pixel_indices(num_given: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Row-major indices into the 784 pixels of the given (x) and output (y) pixels,
    built once per device.

    Training steps gather and scatter with these instead of a boolean mask, which would
    cost a ``nonzero`` pass per call. Marked constant for ``torch.compile``, which then
    keeps the indices in the compiled graph instead of breaking it at ``nonzero``.
    """
    key = (num_given, device)
    if key not in _PIXEL_INDICES:
        output = quadrant_mask(num_given).flatten()
        given = (~output).nonzero().squeeze(1).to(device)
        _PIXEL_INDICES[key] = given, output.nonzero().squeeze(1).to(device)
    return _PIXEL_INDICES[key]


def split_quadrants(images: Tensor, num_given: int) -> tuple[Tensor, Tensor]:
    """Split digits into the input x (given quadrants) and the output y (the others).

    Args:
        images: ``(N, 1, 28, 28)`` pixels in ``[0, 1]`` (binarize them first for a
            Bernoulli likelihood of y).
        num_given: 1, 2 or 3 given quadrants (:func:`quadrant_mask`).

    Returns:
        ``(inputs, targets)``: ``inputs`` has the shape of ``images`` with the output
        pixels set to ``-1``; ``targets`` ``(N, P)`` holds the ``P`` output pixels in
        row-major order, ready for :func:`cvae.distributions.bernoulli_log_likelihood`.
    """
    check_images("images", images)
    _, output = _pixel_indices(check_num_given(num_given), images.device)
    flat = images.flatten(1)
    inputs = flat.index_fill(1, output, HIDDEN_PIXEL_VALUE).view_as(images)
    return inputs, flat.index_select(1, output)


def check_quadrant_inputs(name: str, inputs: Tensor, num_given: int) -> Tensor:
    """Require inputs made by :func:`split_quadrants` for ``num_given``:
    ``(N, 1, 28, 28)``, given pixels in ``[0, 1]``, every output pixel ``-1``.

    A few reductions and host reads: for a reader's batches, not the training step.
    """
    check_tensor(name, inputs, floating=True)
    if inputs.dim() != 4 or tuple(inputs.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"{name} must have shape (N, 1, 28, 28), got {inputs.shape}")
    given, output = _pixel_indices(check_num_given(num_given), inputs.device)
    check_range(f"{name} (given pixels)", inputs.flatten(1)[:, given], 0.0, 1.0)
    if not (inputs.flatten(1)[:, output] == HIDDEN_PIXEL_VALUE).all():
        raise ValueError(
            f"{name} must have every output pixel of num_given={num_given} set to -1: "
            "make them with split_quadrants(images, num_given) for the same num_given"
        )
    return inputs


def join_quadrants(inputs: Tensor, outputs: Tensor, num_given: int) -> Tensor:
    """Put output pixels back into the image: the inverse of :func:`split_quadrants`.

    Args:
        inputs: ``(N, 1, 28, 28)`` from :func:`split_quadrants`.
        outputs: ``(..., N, P)`` output pixels in ``[0, 1]`` (targets, predicted
            probabilities, or a stack of samples).

    Returns:
        ``(..., N, 1, 28, 28)`` images: the given pixels of ``inputs`` and ``outputs``
        in the hidden ones.
    """
    check_quadrant_inputs("inputs", inputs, num_given)
    check_range("outputs", check_tensor("outputs", outputs, floating=True), 0.0, 1.0)
    check_same_device(("inputs", "outputs"), (inputs, outputs))
    n, p = len(inputs), output_size(num_given)
    if outputs.dim() < 2 or tuple(outputs.shape[-2:]) != (n, p):
        raise ValueError(
            f"outputs must have shape (..., {n}, {p}), got {outputs.shape}"
        )
    return fill_outputs(inputs, outputs, num_given)


def given_pixels(inputs: Tensor, num_given: int) -> Tensor:
    """The ``G`` given pixels ``(N, G)`` of inputs ``(N, 1, 28, 28)``, row-major: what
    the networks whose input is x see (Sohn et al.'s x), without the -1 placeholders."""
    given, _ = _pixel_indices(num_given, inputs.device)
    return inputs.flatten(1).index_select(1, given)


def fill_outputs(inputs: Tensor, outputs: Tensor, num_given: int) -> Tensor:
    """:func:`join_quadrants` without its checks: the models' inner steps call it."""
    _, output = _pixel_indices(num_given, inputs.device)
    flat = inputs.flatten(1)
    flat = flat.expand(*outputs.shape[:-1], flat.shape[-1])
    joined = flat.index_copy(-1, output, outputs.to(flat.dtype))
    return joined.unflatten(-1, IMAGE_SHAPE)
