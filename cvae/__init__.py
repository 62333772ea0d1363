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

from cvae.settings import data_source, epochs
from cvae.data import Batches, DigitData, binarize, load_digits, split_validation
from cvae.settings import default_device, seed_everything
from cvae.linear_gaussian import LinearGaussianModel, random_linear_gaussian
from cvae.distributions import (
    bernoulli_log_likelihood,
    gaussian_kl,
    gaussian_log_density,
    log_mean_exp,
    reparameterize,
)

__version__ = "0.1.0"

__all__ = [
    "Batches",
    "LinearGaussianModel",
    "random_linear_gaussian",
    "DigitData",
    "bernoulli_log_likelihood",
    "binarize",
    "data_source",
    "default_device",
    "epochs",
    "gaussian_kl",
    "gaussian_log_density",
    "load_digits",
    "log_mean_exp",
    "reparameterize",
    "seed_everything",
    "split_validation",
]
