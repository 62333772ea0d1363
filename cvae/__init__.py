"""cvae: the shared package of the book *Conditional Variational Autoencoders in PyTorch*.

Every chapter imports its building blocks from here; each module's docstring names the
chapter that explains it. The book renders this package's own source, so the code a
reader sees is the code that runs.
"""

from cvae.settings import data_source, epochs
from cvae.data import Batches, DigitData, binarize, load_digits, split_validation
from cvae.settings import default_device, seed_everything
from cvae.linear_gaussian import (
    ConditionalLinearGaussianModel,
    LinearGaussianModel,
    random_conditional_linear_gaussian,
    random_linear_gaussian,
)
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
    "ConditionalLinearGaussianModel",
    "LinearGaussianModel",
    "random_conditional_linear_gaussian",
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
