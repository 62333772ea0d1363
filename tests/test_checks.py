"""cvae.checks: each helper returns what it checked, or raises one line naming it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cvae.checks import (
    check_bool,
    check_choice,
    check_generator,
    check_int,
    check_model_input,
    check_positive_float,
    check_positive_int,
    check_range,
    check_same_device,
    check_same_shape,
    check_seed,
    check_sizes,
    check_tensor,
)

X, LINEAR, META = torch.zeros(2, 3), nn.Linear(2, 2), torch.zeros(2, 2, device="meta")
INT, BOOL, NAN = (
    torch.arange(3),
    torch.ones(2, dtype=torch.bool),
    torch.tensor([math.nan]),
)
T, V = TypeError, ValueError

CASES = {
    "check_tensor": [
        (lambda: check_tensor("x", [1.0]), T, "x must be a torch.Tensor, got list"),
        (lambda: check_tensor("x", X, ndim=4), V, r"4 dimensions, got shape \(2, 3\)"),
        (lambda: check_tensor("x", X, ndim=(1, 4)), V, "x must have 1 or 4 dim"),
        (lambda: check_tensor("x", INT, floating=True), T, "x must be a floating"),
        (lambda: check_tensor("x", X, floating=False), T, "x must be an integer"),
        (lambda: check_tensor("x", BOOL, floating=False), T, "got dtype torch.bool"),
        (lambda: check_tensor("x", -1 / X), V, "x contains NaN or infinite values"),
    ],
    "check_same_shape": [
        (lambda: check_same_shape("ab", (X, X.T)), V, r"a\(2, 3\), b\(3, 2\)"),
    ],
    "check_same_device": [
        (lambda: check_same_device("ab", (X, META)), V, "one device: a on cpu, b on"),
    ],
    "check_range": [
        (lambda: check_range("p", X - 1, 0, 1), V, r"p must lie in \[0, 1\], got"),
        (lambda: check_range("p", NAN, 0.0, 1.0), V, r"got values in \[nan, nan\]"),
        (lambda: check_range("p", [0.5], 0.0, 1.0), T, "p must be a torch.Tensor"),
    ],
    "check_int": [(lambda: check_int("n", True), T, "n must be an int, got bool")],
    "check_seed": [(lambda: check_seed("seed", -1), V, r"in \[0, 2\*\*63\), got -1")],
    "check_bool": [(lambda: check_bool("on", "no"), T, "on must be True or False")],
    "check_positive_int": [
        (lambda: check_positive_int("n", 0), V, "n must be >= 1, got 0"),
        (lambda: check_positive_int("n", 2.0), T, "n must be an int, got float"),
    ],
    "check_positive_float": [
        (lambda: check_positive_float("lr", 0.0), V, "lr must be > 0, got 0.0"),
        (lambda: check_positive_float("w", -1, allow_zero=True), V, "w must be >= 0"),
        (lambda: check_positive_float("lr", math.inf), V, "lr must be finite"),
        (lambda: check_positive_float("lr", "0.1"), T, "lr must be a number, got str"),
    ],
    "check_choice": [
        (lambda: check_choice("m", None, iter("ab")), V, "m must be one of 'a', 'b'"),
    ],
    "check_sizes": [
        (lambda: check_sizes("dims", "88"), T, "dims must be a sequence of ints"),
        (lambda: check_sizes("dims", []), V, "dims needs at least one entry"),
        (lambda: check_sizes("dims", [8, 0]), V, r"dims\[1\] must be >= 1"),
    ],
    "check_generator": [
        (lambda: check_generator("g", 3), T, "g must be a torch.Generator or None"),
        (lambda: check_generator("g", torch.Generator(), "meta"), V, "a meta gen"),
    ],
    "check_model_input": [
        (lambda: check_model_input("x", META, LINEAR), V, "x is on meta but the model"),
        (lambda: check_model_input("x", X.double(), LINEAR), T, "the model's dtype"),
    ],
}


@pytest.mark.parametrize(
    "call, error, match",
    [
        pytest.param(*c, id=f"{k}-{i}")
        for k, cs in CASES.items()
        for i, c in enumerate(cs)
    ],
)
def test_a_bad_value_raises_one_line_naming_it(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_good_values_pass_through():
    assert check_tensor("x", X, ndim=(1, 2), floating=True) is X
    assert check_tensor("labels", INT, ndim=1, floating=False) is INT
    assert check_tensor("x", NAN, finite=False) is NAN
    assert check_range("empty", torch.zeros(0), 0.0, 1.0).numel() == 0
    assert check_positive_int("n", 0, minimum=0) == 0
    assert type(check_positive_float("lr", 1)) is float
    assert check_sizes("dims", (), allow_empty=True) == []
    assert check_choice("method", "a", ("a", "b")) == "a"
    check_same_device("ab", (X, torch.zeros((), device="meta")))  # torch moves 0-d
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast casts: any dtype
        check_model_input("x", torch.zeros(2, 2, dtype=torch.bfloat16), LINEAR)
