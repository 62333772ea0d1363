"""Argument checks for the places where data and settings enter the package.

Each helper returns the value it checked, or raises one clear line that names the
argument and says what was expected, instead of a traceback from inside PyTorch. The
entry points (data loading, ``fit``, the constructors, the model methods a reader calls
with their own data) call them at their top; inside, torch's own errors stand.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn


def check_tensor(name, value, *, ndim=None, floating=None, finite=True) -> Tensor:
    """A tensor of ``ndim`` dimensions (one int or several), floating (``True``) or
    integer (``False``) if asked, without NaN or inf if ``finite`` (one reduction)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {_kind(value)}")
    allowed, dtype = (ndim,) if isinstance(ndim, int) else ndim, value.dtype
    if allowed is not None and value.dim() not in allowed:
        want, shape = " or ".join(map(str, allowed)), tuple(value.shape)
        raise ValueError(f"{name} must have {want} dimensions, got shape {shape}")
    floats = value.is_floating_point()
    if floating is True and not floats:
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {dtype}")
    if floating is False and (floats or value.is_complex() or dtype == torch.bool):
        raise TypeError(f"{name} must be an integer tensor, got dtype {dtype}")
    if finite and floats and value.numel():  # NaN reaches both ends, an inf one
        if not all(math.isfinite(v.item()) for v in torch.aminmax(value)):
            raise ValueError(f"{name} contains NaN or infinite values")
    return value


def check_same_shape(names: Sequence[str], tensors: Sequence[Tensor]) -> None:
    """One shape for all ``tensors``; the error lists every shape by name."""
    shapes = [tuple(t.shape) for t in tensors]
    if any(s != shapes[0] for s in shapes):
        listing = ", ".join(f"{n}{s}" for n, s in zip(names, shapes, strict=True))
        raise ValueError(f"shapes must match: {listing}")


def check_same_device(names: Sequence[str], tensors: Sequence[Tensor]) -> None:
    """One device for all ``tensors`` (0-dimensional ones aside: torch moves those)."""
    placed = [(n, t.device) for n, t in zip(names, tensors, strict=True) if t.dim()]
    if len({device for _, device in placed}) > 1:
        listing = ", ".join(f"{n} on {device}" for n, device in placed)
        raise ValueError(f"tensors must be on one device: {listing}")


def check_range(name: str, value: Tensor, low: float, high: float) -> Tensor:
    """``low <= value <= high`` everywhere (one min/max reduction; NaN fails it)."""
    check_tensor(name, value, finite=False)
    if value.numel():
        smallest, largest = (v.item() for v in torch.aminmax(value))
        if not (smallest >= low and largest <= high):
            got = f"got values in [{smallest:g}, {largest:g}]"
            raise ValueError(f"{name} must lie in [{low}, {high}], {got}")
    return value


def check_int(name: str, value: object) -> int:
    """An int, not a bool (``True`` is an int to Python)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {_kind(value)}")
    return int(value)


def check_seed(name: str, value: object) -> int:
    """A seed every generator takes: an int (not a bool) in ``[0, 2**63)``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValueError(f"{name} must be an int in [0, 2**63), got {value!r}")
    return value


def check_bool(name: str, value: object) -> bool:
    """``True`` or ``False``, so that ``shuffle="no"`` is not read as true."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {_kind(value)}")
    return value


def check_positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """An int (not a bool) of at least ``minimum``."""
    if check_int(name, value) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_positive_float(name: str, value: object, *, allow_zero=False) -> float:
    """A finite real number > 0 (or >= 0 with ``allow_zero``), as a plain float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {_kind(value)}")
    if not math.isfinite(value := float(value)):
        raise ValueError(f"{name} must be finite, got {value}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>=' if allow_zero else '>'} 0, got {value}")
    return value


def check_choice(name: str, value: object, choices: Iterable[str]) -> str:
    """One of a fixed set of option names (returned as the option itself)."""
    if value not in (options := tuple(choices)):
        listing = ", ".join(repr(c) for c in options)
        raise ValueError(f"{name} must be one of {listing}; got {value!r}")
    return options[options.index(value)]


def check_sizes(name: str, value: object, *, allow_empty=False) -> list[int]:
    """Positive ints (layer widths, a shape), at least one unless ``allow_empty``; an
    entry's error names it, as in ``hidden_dims[1] must be >= 1``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a sequence of ints, got {_kind(value)}")
    if not (sizes := list(value)) and not allow_empty:
        raise ValueError(f"{name} needs at least one entry, got an empty sequence")
    return [check_positive_int(f"{name}[{i}]", size) for i, size in enumerate(sizes)]


def check_generator(name: str, value: object, device="cpu") -> torch.Generator | None:
    """``None`` or a ``torch.Generator`` that draws on ``device`` (CPU by default)."""
    if value is not None and not isinstance(value, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {_kind(value)}")
    if value is not None and value.device.type != (want := torch.device(device).type):
        raise ValueError(
            f"{name} must be a {want} generator here, got one on {value.device}"
        )
    return value


def check_model_input(name: str, value: Tensor, model: nn.Module) -> Tensor:
    """A tensor on ``model``'s device, of its dtype if floating (any dtype inside
    autocast, which casts). It reads no values, so it costs microseconds."""
    check_tensor(name, value, finite=False)
    if (parameter := next(model.parameters(), None)) is None:
        return value
    if value.device != parameter.device:
        where = f"{value.device} but the model is on {parameter.device}"
        raise ValueError(f"{name} is on {where}: move it with .to()")
    autocast = torch.is_autocast_enabled(value.device.type)
    if value.is_floating_point() and value.dtype != parameter.dtype and not autocast:
        want = f"the model's dtype {parameter.dtype}, got {value.dtype}"
        raise TypeError(f"{name} must have {want}")
    return value


def _kind(value: object) -> str:
    return type(value).__name__
