"""Argument checks: the helpers, the switch, and the decorator that runs them at the boundary.

Each check raises an error that names the argument and says what was expected, so a
reader who passes the wrong thing sees one clear line instead of a deep traceback
from inside PyTorch.

Where the checks run. A public function or method declares its argument contract with
``@checked(contract)`` (the contracts are in :mod:`cvae.contracts`); its body is the math
only. The contract runs when the call comes *from outside* the package's checked code:
a reader's call, or the first call of a training step. Calls made from inside an
already-checked call (the encoder inside ``loss_terms``, the KL inside it, ...) skip
their contracts, because their arguments were made by code that is already checked.
So data is validated once, where it enters.

The switch. :func:`set_validation` (or the :func:`validation` context) turns every
contract off, in the spirit of ``torch.distributions.Distribution.set_default_validate_args``
and ``pyro.enable_validation``. It is on by default; turning it off buys speed and
gives up the clear errors.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import Tensor, nn

F = TypeVar("F", bound=Callable)

_enabled = True
_inside = threading.local()  # .active: a checked call of this thread is running


def set_validation(enabled: bool) -> None:
    """Turn argument validation on (the default) or off for the whole package."""
    global _enabled
    _enabled = check_bool("enabled", enabled)


def validation_enabled() -> bool:
    """Whether argument contracts run (see :func:`set_validation`)."""
    return _enabled


@contextmanager
def validation(enabled: bool) -> Iterator[None]:
    """Validation on or off inside a ``with`` block, restored afterwards."""
    previous = _enabled
    set_validation(enabled)
    try:
        yield
    finally:
        set_validation(previous)


def checked(contract: Callable[..., None]) -> Callable[[F], F]:
    """Decorate a public function or method with its argument ``contract``.

    ``contract`` takes the same arguments as the function (defaults included) and
    raises on bad input. It runs at the outermost checked call only, and not at all
    when validation is off; the decorated function's own body holds no checks.
    """

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def boundary(*args, **kwargs):
            if not _enabled or getattr(_inside, "active", False):
                return function(*args, **kwargs)
            _inside.active = True
            try:
                contract(*args, **kwargs)
                return function(*args, **kwargs)
            finally:
                _inside.active = False

        boundary.contract = contract  # type: ignore[attr-defined]
        return boundary  # type: ignore[return-value]

    return decorate


@contextmanager
def checked_region() -> Iterator[None]:
    """Run the block as inside a checked call: nested contracts are skipped.

    For a boundary that has validated its data up front (``fit`` checks the whole data
    set once, then runs every training step inside this region).
    """
    previous = getattr(_inside, "active", False)
    _inside.active = True
    try:
        yield
    finally:
        _inside.active = previous


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


def check_same_device(names: Sequence[str], tensors: Sequence[Tensor]) -> None:
    """Require all ``tensors`` on one device; the error lists each by name.

    0-dimensional tensors are left out: PyTorch moves those itself.
    """
    placed = [(n, t.device) for n, t in zip(names, tensors) if t.dim()]
    if len({device for _, device in placed}) > 1:
        listing = ", ".join(f"{n} on {device}" for n, device in placed)
        raise ValueError(f"tensors must be on one device: {listing}")


def check_range(name: str, value: Tensor, low: float, high: float) -> Tensor:
    """Require ``low <= value <= high`` element-wise (for pixels, labels, probabilities).

    One min/max reduction, so it is cheap enough to run on every training batch; NaN
    fails it too.
    """
    check_tensor(name, value, finite=False)
    if value.numel():
        smallest, largest = (v.item() for v in torch.aminmax(value))
        if not (smallest >= low and largest <= high):
            raise ValueError(f"{name} must lie in [{low}, {high}], got values in [{smallest:g}, {largest:g}]")
    return value


def check_int(name: str, value: object) -> int:
    """Require an int, not a bool (``True`` is an int to Python); return it as a plain int."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return int(value)


def check_seed(name: str, value: object) -> int:
    """Require a random seed: an int (not a bool) in ``[0, 2**63)``, which every generator here takes."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValueError(f"{name} must be an int in [0, 2**63), got {value!r}")
    return value


def check_bool(name: str, value: object) -> bool:
    """Require ``True`` or ``False`` for a switch, so that ``shuffle="no"`` is not read as true."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return value


def check_positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """Require an int (not a bool) of at least ``minimum``; return a plain int."""
    value = check_int(name, value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_positive_float(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Require a finite real number > 0 (or >= 0 with ``allow_zero``); return a plain float."""
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
    """Require one of a fixed set of option names; return the option itself (a plain str)."""
    options = tuple(choices)
    if value not in options:
        listing = ", ".join(repr(c) for c in options)
        raise ValueError(f"{name} must be one of {listing}; got {value!r}")
    return options[options.index(value)]


def check_sizes(name: str, value: object, *, allow_empty: bool = False) -> list[int]:
    """Require a sequence of positive ints (layer widths, channels, a shape); return it as a list.

    An empty sequence is refused unless ``allow_empty``; each entry's error names it,
    as in ``hidden_dims[1] must be >= 1, got 0``.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a sequence of ints, got {type(value).__name__}")
    sizes = list(value)
    if not sizes and not allow_empty:
        raise ValueError(f"{name} needs at least one entry, got an empty sequence")
    return [check_positive_int(f"{name}[{i}]", size) for i, size in enumerate(sizes)]


def check_gaussian(name: str, value: object) -> tuple[Tensor, Tensor]:
    """Require the ``(mean, log-variance)`` pair of one diagonal Gaussian per example, each ``(B, d)``.

    The errors call them ``"{name} mean"`` and ``"{name} log-variance"``.
    """
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a (mean, log-variance) pair of tensors, got {type(value).__name__}")
    mean, log_variance = value
    check_tensor(f"{name} mean", mean, ndim=2, floating=True)
    check_tensor(f"{name} log-variance", log_variance, ndim=2, floating=True)
    check_same_shape((f"{name} mean", f"{name} log-variance"), (mean, log_variance))
    check_same_device((f"{name} mean", f"{name} log-variance"), (mean, log_variance))
    return mean, log_variance


def check_generator(name: str, value: object, device: torch.device | str = "cpu") -> torch.Generator | None:
    """Require ``None`` or a ``torch.Generator`` that can draw on ``device`` (a CPU one for the CPU)."""
    if value is None:
        return None
    if not isinstance(value, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(value).__name__}")
    wanted = torch.device(device).type
    if value.device.type != wanted:
        raise ValueError(f"{name} must be a {wanted} generator here, got one on {value.device}")
    return value


def check_model_input(name: str, value: Tensor, model: nn.Module) -> Tensor:
    """Require a tensor on ``model``'s device and, if floating, of its parameters' dtype.

    Outside an autocast region a tensor of another precision fails in the first layer,
    as does one on another device, both with an error that names no argument. Inside
    autocast the dtype may differ (autocast casts it). It reads no values (no
    reduction), so it costs microseconds; check the values with :func:`check_tensor`.
    """
    check_tensor(name, value, finite=False)
    parameter = next(model.parameters(), None)
    if parameter is None:
        return value
    if value.device != parameter.device:
        raise ValueError(f"{name} is on {value.device} but the model is on {parameter.device}: move it with .to()")
    if (
        value.is_floating_point()
        and value.dtype != parameter.dtype
        and not torch.is_autocast_enabled(value.device.type)
    ):
        raise TypeError(f"{name} must have the model's dtype {parameter.dtype}, got {value.dtype}")
    return value
