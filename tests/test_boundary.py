"""Argument contracts run at the boundary: on a reader's call, never on nested calls, never when switched off.

Shown on the math modules (:mod:`cvae.distributions`, :mod:`cvae.elbo`,
:mod:`cvae.estimators`, :mod:`cvae.networks`, :mod:`cvae.vae`, :mod:`cvae.classifier`):
each public function is declared with the contract of its name in :mod:`cvae.contracts`;
a bad argument raises the contract's error at a direct call, the function's body has no
check left (with validation off the same call gets through, or fails inside PyTorch), and
a call made from inside a checked call runs no contract. Which contracts run is recorded
with :func:`sys.setprofile`, so nothing is patched.
"""

from __future__ import annotations

import inspect
import math
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch

from cvae import classifier, contracts, distributions, elbo, estimators, networks, vae
from cvae.checks import checked_region, validation
from cvae.classifier import DigitClassifier, agreement
from cvae.distributions import bernoulli_log_likelihood, gaussian_kl, log_mean_exp, standardize
from cvae.estimators import importance_sampled_log_likelihood
from cvae.networks import GaussianEncoder, mlp
from cvae.vae import VAE

MATH_MODULES = (distributions, elbo, estimators, networks, vae, classifier)
WITHOUT_ARGUMENTS = {"DigitClassifier.__init__"}  # nothing to check, so no contract

DIGITS = (torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.5).float()
MU, LOGVAR = torch.zeros(4, 2), torch.zeros(4, 2)


def contract_name(qualified_name: str) -> str:
    """``GaussianEncoder.__init__`` -> ``gaussian_encoder_init``; a function keeps its name."""
    owner, _, method = qualified_name.rpartition(".")
    if not owner:
        return method
    return f"{re.sub(r'(?<=[a-z])(?=[A-Z])', '_', owner).lower()}_{method.strip('_')}"


def public_callables() -> list[tuple[str, Callable]]:
    """Every public function, constructor and method the math modules define."""
    found = []
    for module in MATH_MODULES:
        for name, value in vars(module).items():
            if getattr(value, "__module__", None) != module.__name__ or name.startswith("_"):
                continue
            if inspect.isfunction(value):
                found.append((name, value))
            elif inspect.isclass(value):
                found += [
                    (f"{name}.{attribute}", member)
                    for attribute, member in vars(value).items()
                    if inspect.isfunction(member) and (attribute == "__init__" or not attribute.startswith("_"))
                ]
    return [(name, function) for name, function in found if name not in WITHOUT_ARGUMENTS]


@pytest.mark.parametrize(("name", "function"), [pytest.param(*pair, id=pair[0]) for pair in public_callables()])
def test_each_public_callable_declares_the_contract_of_its_name(name, function):
    contract = getattr(contracts, contract_name(name))
    assert function.contract is contract

    def parameters(callable_: Callable) -> list[tuple[str, object, object]]:
        listed = [(p.name, p.kind, p.default) for p in inspect.signature(callable_).parameters.values()]
        return listed[1:] if "." in name else listed  # a method's contract names its instance, not ``self``

    assert parameters(contract) == parameters(inspect.unwrap(function))


def test_the_math_modules_have_public_callables():
    assert len(public_callables()) >= 20  # the list above is not silently empty


# A bad call, the error its contract raises, and the same call with validation off: it
# must not raise that error (it returns, or fails inside PyTorch), so no check is left in
# the body.
BAD_CALLS = [
    pytest.param(
        lambda: log_mean_exp(torch.tensor([0.0, math.nan])),
        ValueError,
        "values contains NaN",
        id="log_mean_exp",
    ),
    pytest.param(
        lambda: gaussian_kl(MU, torch.full((4, 2), math.inf)),
        ValueError,
        "logvar_q contains NaN or infinite",
        id="gaussian_kl",
    ),
    pytest.param(
        lambda: standardize(MU, (MU[:, :1], MU[:, :1])),
        ValueError,
        r"shapes must match: z\(4, 2\), gaussian mean\(4, 1\)",
        id="standardize",
    ),
    pytest.param(
        lambda: bernoulli_log_likelihood(torch.zeros(4, 3), torch.full((4, 3), 2.0)),
        ValueError,
        r"target must lie in \[0.0, 1.0\]",
        id="bernoulli_log_likelihood",
    ),
    pytest.param(lambda: mlp([4]), ValueError, "sizes needs an input and an output size", id="mlp"),
    pytest.param(
        lambda: GaussianEncoder(4, (8,), 2)(torch.zeros(3, 5)),
        ValueError,
        "inputs must have 4 features per example",
        id="GaussianEncoder.forward",
    ),
    pytest.param(lambda: VAE(2, (8,)).sample(0), ValueError, "count must be >= 1", id="VAE.sample"),
    pytest.param(
        lambda: importance_sampled_log_likelihood(lambda z: z.sum(), (MU, LOGVAR), num_samples=3),
        ValueError,
        r"log_likelihood must return a tensor of shape \(samples, batch\)",
        id="importance_sampled_log_likelihood-result",
    ),
    pytest.param(lambda: agreement(torch.tensor([1]), torch.tensor([1, 2])), ValueError, "labels has 2", id="agree"),
]


@pytest.mark.parametrize(("call", "error", "match"), BAD_CALLS)
def test_a_direct_bad_call_raises_the_contracts_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(("call", "error", "match"), BAD_CALLS)
def test_with_validation_off_the_body_checks_nothing(call, error, match):
    with validation(False):
        try:
            call()
        except Exception as failure:  # PyTorch's own error, not the contract's
            assert not re.search(match, str(failure))


@contextmanager
def contracts_run() -> Iterator[Counter]:
    """Count, by name, the contracts of :mod:`cvae.contracts` that run inside the block."""
    names = {
        value.__code__: name
        for name, value in vars(contracts).items()
        if inspect.isfunction(value) and value.__module__ == contracts.__name__
    }
    counts: Counter = Counter()

    def profile(frame, event, _):
        if event == "call" and frame.f_code in names:
            counts[names[frame.f_code]] += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield counts
    finally:
        sys.setprofile(previous)


def test_a_training_step_runs_its_own_contract_once_and_no_nested_one():
    """``loss_terms`` calls the encoder, the sampler, the decoder, the KL and the ELBO: none is re-checked."""
    model = VAE(2, (8,))
    with contracts_run() as counts:
        model.loss_terms(DIGITS)["loss"].mean().backward()
    assert counts == {"vae_loss_terms": 1}
    with contracts_run() as counts:
        model.loss_terms(DIGITS)
        model.loss_terms(DIGITS)
    assert counts == {"vae_loss_terms": 2}  # each reader's call is checked again


def test_the_likelihood_estimate_checks_its_arguments_once_and_the_callables_result_per_chunk():
    model = VAE(2, (8,))
    with contracts_run() as counts:
        model.log_likelihood(DIGITS, 5)
    assert counts == {"vae_log_likelihood": 1, "log_likelihood_samples": 1}


def test_inside_a_checked_region_no_contract_runs():
    model, classifier_ = VAE(2, (8,)), DigitClassifier()
    with checked_region(), contracts_run() as counts:
        model.loss_terms(DIGITS)
        classifier_.loss_terms(DIGITS, torch.tensor([0, 1, 2, 3]))
        gaussian_kl(MU, torch.full((4, 2), math.inf))  # bad data is not looked at
    assert counts == {}


def host_reads(call: Callable[[], object]) -> list[str]:
    """The calls of ``call`` that copy tensor values to the host (``.item()``, ``aminmax``, ``.tolist()``)."""
    reads = []

    def profile(frame, event, function):
        if event == "c_call" and getattr(function, "__name__", "") in {"item", "aminmax", "tolist"}:
            reads.append(function.__name__)

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(previous)
    return reads


def test_the_hot_path_reads_no_tensor_value_on_the_host():
    """Inside a training step the networks, the densities and ``loss_terms`` never sync with the device."""
    model = VAE(2, (8,))
    with checked_region():
        assert host_reads(lambda: model.loss_terms(DIGITS)) == []
    assert "aminmax" in host_reads(lambda: model.loss_terms(DIGITS))  # a reader's call: the contract reads values


def test_a_contract_repeats_the_checks_of_the_nested_calls_it_skips():
    """The estimator's and the forward pass's checks are skipped inside these methods, so their contracts hold them."""
    with pytest.raises(ValueError, match="num_samples must be >= 1"):
        VAE(2, (8,)).log_likelihood(DIGITS, 0)
    with pytest.raises(TypeError, match="images must have the model's dtype torch.float32"):
        DigitClassifier().predict(DIGITS.double())
