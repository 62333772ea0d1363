"""Argument checks shared by every public function of the package.

Each check raises an error that names the argument and says what was expected, so a
reader who passes the wrong thing sees one clear line instead of a deep traceback
from inside PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor


def check_tensor(
    name: str,
    value: object,
    *,
    ndim: int | Sequence[int] | None = None,
    floating: bool | None = None,
    finite: bool = True,
) -> Tensor:
    """Check that ``value`` is a tensor of the expected rank and kind, and return it.

    Args:
        name: the argument's name, quoted in the error.
        value: what the caller passed.
        ndim: the allowed number of dimensions (one int or several).
        floating: ``True`` requires a floating dtype, ``False`` an integer dtype.
        finite: when ``True`` (and the tensor is floating), NaN and inf are refused.
    """
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.dim() not in allowed:
            want = " or ".join(str(n) for n in allowed)
            raise ValueError(
                f"{name} must have {want} dimensions, got shape {tuple(value.shape)}"
            )
    if floating is True and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if floating is False and (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool):
        raise TypeError(f"{name} must be an integer tensor, got dtype {value.dtype}")
    if finite and value.is_floating_point() and value.numel():
        # One min/max reduction: NaN propagates into both and inf shows in one. It is
        # several times cheaper than isfinite(value).all(), and it runs on every batch.
        if not all(math.isfinite(v.item()) for v in torch.aminmax(value)):
            raise ValueError(f"{name} contains NaN or infinite values")
    return value


def check_same_shape(names: Sequence[str], tensors: Sequence[Tensor]) -> None:
    """Require that all ``tensors`` have one shape; the error lists every shape by name."""
    shapes = [tuple(t.shape) for t in tensors]
    if any(s != shapes[0] for s in shapes):
        listing = ", ".join(f"{n}{s}" for n, s in zip(names, shapes))
        raise ValueError(f"shapes must match: {listing}")


def check_range(name: str, value: Tensor, low: float, high: float) -> Tensor:
    """Require ``low <= value <= high`` element-wise (for pixels, labels, probabilities).

    One min/max reduction, so it is cheap enough to run on every training batch; NaN
    fails it too.
    """
    if value.numel():
        smallest, largest = (v.item() for v in torch.aminmax(value))
        if not (smallest >= low and largest <= high):
            raise ValueError(f"{name} must lie in [{low}, {high}], got values in [{smallest:g}, {largest:g}]")
    return value


def check_positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """Require an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_positive_float(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Require a finite real number > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not value == value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {value}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def check_choice(name: str, value: object, choices: Iterable[str]) -> str:
    """Require one of a fixed set of option names."""
    options = tuple(choices)
    if value not in options:
        listing = ", ".join(repr(c) for c in options)
        raise ValueError(f"{name} must be one of {listing}; got {value!r}")
    return value  # type: ignore[return-value]
