"""cvae: the shared package of the book *Conditional Variational Autoencoders in PyTorch*.

Every chapter imports its building blocks from here; each module's docstring names the
chapter that explains it. The book renders this package's own source, so the code a
reader sees is the code that runs.

The layout, in the order the chapters build it up:

==========================  ========================================================================
``settings``                every ``CVAE_*`` switch, the device, seeding
``data``                    loading MNIST, binarization, splits, batches, image geometry
``quadrants``               the quadrant task of structured prediction (x = given quadrants)
``distributions``           densities and divergences: Gaussian, Bernoulli, KL, log-mean-exp
``elbo``                    the ELBO's terms, reported the same way by every model
``estimators``              importance sampling and Monte Carlo likelihood estimates
``linear_gaussian``         an exactly solvable (conditional) latent-variable model
``networks``                the Gaussian encoder and Bernoulli decoder every model reuses
``vae``                     the VAE
``label_cvae``              the label-conditioned CVAE p(x | y)
``structured``              Sohn et al.'s p(y | x): baseline, CVAE, GSNN, hybrid
``classifier``              the digit classifier that reads generated digits
``training``                ``fit``: one training loop for every model
``checkpoints``             atomic, self-describing checkpoints
``checks``, ``contracts``   argument checks, run once where data enters (switch: ``set_validation``)
``plotting``, ``source``    figures, and the listings the chapters show
``bench``, ``experiments``  the benchmark and the command-line quadrant experiment
==========================  ========================================================================

Where new things plug in:

* **A new prior** for the label CVAE: a class in :mod:`cvae.label_cvae` that returns
  the ``(mean, log-variance)`` of p(z | y); the model's KL and sampling use it through
  :func:`cvae.distributions.gaussian_kl`.
* **A new model**: a class with ``loss_terms(*batch) -> dict`` of per-example tensors
  with a ``"loss"`` entry (report ELBO terms with :func:`cvae.elbo.elbo_terms`); its
  argument contract goes in :mod:`cvae.contracts`. :func:`cvae.training.fit`, the
  checkpoints and the benchmark then work unchanged.
* **A second 28x28 data set**: a source name in :data:`cvae.settings.DATA_SOURCES` and a
  loader in :mod:`cvae.data` that returns :class:`cvae.data.DigitData`.

Each change touches its module, its tests and the chapter that explains it.
"""

import importlib
import importlib.util

__version__ = "0.1.0"

# The names re-exported here and the module of each. They are imported on first use
# (PEP 562), so ``import cvae`` takes no time and a command line such as
# ``python -m cvae.experiments.quadrants`` answers Ctrl-C while torch is still loading.
_EXPORTS = {
    "Batches": "cvae.data",
    "LinearGaussianModel": "cvae.linear_gaussian",
    "random_linear_gaussian": "cvae.linear_gaussian",
    "DigitData": "cvae.data",
    "bernoulli_log_likelihood": "cvae.distributions",
    "binarize": "cvae.data",
    "data_source": "cvae.settings",
    "default_device": "cvae.settings",
    "epochs": "cvae.settings",
    "gaussian_kl": "cvae.distributions",
    "gaussian_log_density": "cvae.distributions",
    "load_digits": "cvae.data",
    "log_mean_exp": "cvae.distributions",
    "reparameterize": "cvae.distributions",
    "seed_everything": "cvae.settings",
    "split_validation": "cvae.data",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> object:
    """A re-exported name, or a submodule (``cvae.data``), imported when first asked for."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
