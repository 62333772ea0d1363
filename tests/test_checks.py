"""cvae.checks: each helper returns what it was given, or raises one clear line naming it."""

from __future__ import annotations

import math

import pytest
import torch

from cvae.checks import (
    check_choice,
    check_positive_float,
    check_positive_int,
    check_range,
    check_same_shape,
    check_tensor,
)


def test_check_tensor_passes_the_same_object_through():
    x = torch.zeros(2, 3)
    assert check_tensor("x", x, ndim=2, floating=True) is x
    assert check_tensor("x", x, ndim=(1, 2)) is x
    labels = torch.arange(4)
    assert check_tensor("labels", labels, ndim=1, floating=False) is labels


@pytest.mark.parametrize(
    "value, kwargs, error, match",
    [
        ([1.0], {}, TypeError, "x must be a torch.Tensor, got list"),
        (None, {}, TypeError, "x must be a torch.Tensor, got NoneType"),
        (torch.zeros(2, 3), {"ndim": 4}, ValueError, r"x must have 4 dimensions, got shape \(2, 3\)"),
        (torch.zeros(2), {"ndim": (2, 3)}, ValueError, r"x must have 2 or 3 dimensions, got shape \(2,\)"),
        (torch.arange(3), {"floating": True}, TypeError, "x must be a floating-point tensor, got dtype torch.int64"),
        (torch.zeros(3), {"floating": False}, TypeError, "x must be an integer tensor, got dtype torch.float32"),
        (torch.zeros(3, dtype=torch.bool), {"floating": False}, TypeError, "x must be an integer tensor"),
        (torch.tensor([0.0, math.nan]), {}, ValueError, "x contains NaN or infinite values"),
        (torch.tensor([0.0, -math.inf]), {}, ValueError, "x contains NaN or infinite values"),
    ],
)
def test_check_tensor_errors(value, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_tensor("x", value, **kwargs)


def test_check_tensor_finite_false_allows_nan():
    x = torch.tensor([math.nan, math.inf])
    assert check_tensor("x", x, finite=False) is x


def test_check_same_shape_lists_every_shape_by_name():
    check_same_shape(("a", "b"), (torch.zeros(2, 3), torch.ones(2, 3)))
    with pytest.raises(ValueError, match=r"shapes must match: a\(2, 3\), b\(2, 3\), c\(3, 2\)"):
        check_same_shape(("a", "b", "c"), (torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3, 2)))


def test_check_range():
    x = torch.tensor([0.0, 0.5, 1.0])
    assert check_range("x", x, 0.0, 1.0) is x
    assert check_range("empty", torch.zeros(0), 0.0, 1.0).numel() == 0
    with pytest.raises(ValueError, match=r"x must lie in \[0.0, 1.0\], got values in \[-0.5, 2\]"):
        check_range("x", torch.tensor([-0.5, 2.0]), 0.0, 1.0)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 9\], got values in \[0, 10\]"):
        check_range("labels", torch.tensor([0, 10]), 0, 9)


def test_check_positive_int():
    assert check_positive_int("n", 3) == 3
    assert check_positive_int("n", 0, minimum=0) == 0
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        check_positive_int("n", 0)
    with pytest.raises(TypeError, match="n must be an int, got bool"):
        check_positive_int("n", True)
    with pytest.raises(TypeError, match="n must be an int, got float"):
        check_positive_int("n", 2.0)


def test_check_positive_float():
    assert check_positive_float("lr", 1) == 1.0 and isinstance(check_positive_float("lr", 1), float)
    assert check_positive_float("w", 0, allow_zero=True) == 0.0
    with pytest.raises(ValueError, match="lr must be > 0, got 0.0"):
        check_positive_float("lr", 0.0)
    with pytest.raises(ValueError, match="w must be >= 0, got -1.0"):
        check_positive_float("w", -1, allow_zero=True)
    with pytest.raises(ValueError, match="lr must be finite, got nan"):
        check_positive_float("lr", math.nan)
    with pytest.raises(ValueError, match="lr must be finite, got inf"):
        check_positive_float("lr", math.inf)
    with pytest.raises(TypeError, match="lr must be a number, got str"):
        check_positive_float("lr", "0.1")
    with pytest.raises(TypeError, match="lr must be a number, got bool"):
        check_positive_float("lr", True)


def test_check_choice():
    assert check_choice("method", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"method must be one of 'a', 'b'; got 'c'"):
        check_choice("method", "c", ("a", "b"))
    with pytest.raises(ValueError, match=r"method must be one of 'a', 'b'; got None"):
        check_choice("method", None, iter(["a", "b"]))
