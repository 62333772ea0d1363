"""Every public function, constructor and method of cvae refuses bad input with one clear line.

One case per (function, bad argument): the error must be a TypeError or ValueError whose
message names the argument. Tensors are tiny and models have one hidden layer of 8 units,
so the whole file runs in a few seconds. Device checks use the ``meta`` device, which
every machine has, in the places where it is refused before any value is read.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cvae import settings as config
from cvae.checks import (
    check_bool,
    check_generator,
    check_int,
    check_model_input,
    check_range,
    check_same_device,
    check_sizes,
)
from cvae.classifier import DigitClassifier, agreement
from cvae.data import Batches, DigitData, binarize, check_images, check_labels, load_digits, split_validation
from cvae.quadrants import check_num_given, check_quadrant_inputs, join_quadrants, quadrant_mask, split_quadrants
from cvae.settings import seed_everything
from cvae.distributions import bernoulli_log_likelihood, gaussian_kl, gaussian_log_density, log_mean_exp, reparameterize
from cvae.estimators import importance_sampled_log_likelihood
from cvae.label_cvae import (
    ConvDecoder,
    ConvLabelEncoder,
    LabelCVAE,
    LearnedPrior,
    MLPLabelEncoder,
    active_units,
    conv_block,
    deconv_block,
    kl_to_prior,
    one_hot,
)
from cvae.linear_gaussian import random_linear_gaussian
from cvae.networks import BernoulliDecoder, GaussianEncoder, mlp
from cvae.plotting import image_grid, show_images
from cvae.source import show_source
from cvae.contracts import check_alpha
from cvae.structured import (
    Baseline,
    StructuredCVAE,
    conditional_log_likelihood,
    negative_conditional_log_likelihood,
    output_size,
)
from cvae.elbo import elbo_terms
from cvae.vae import VAE

# ---------------------------------------------------------------------------- fixtures
# Built once at import: tiny tensors and models (hidden_dims=(8,), latent_dim=2), with
# the global random state restored afterwards so that other test files see it untouched.

_GLOBAL_RNG_STATE = torch.get_rng_state()
torch.manual_seed(0)
DIGITS = (torch.rand(4, 1, 28, 28) > 0.5).float()
LABELS = torch.tensor([0, 1, 2, 3])
NAN_DIGITS = DIGITS.clone().index_fill_(0, torch.tensor([0]), math.nan)
INPUTS, TARGETS = split_quadrants(DIGITS, 1)
MU, LOGVAR = torch.zeros(4, 2), torch.zeros(4, 2)
META_DIGITS = torch.zeros(4, 1, 28, 28, device="meta")
NOT_A_GENERATOR = 7

VAE_MODEL = VAE(latent_dim=2, hidden_dims=(8,))
CONV_CVAE = LabelCVAE("conv", latent_dim=2)
MLP_CVAE = LabelCVAE("mlp", latent_dim=2)
CLASSIFIER = DigitClassifier()
BASELINE = Baseline(1, (8,))
CVAE = StructuredCVAE(1, BASELINE, latent_dim=2, hidden_dims=(8,), num_particles=2)
GSNN = StructuredCVAE(1, BASELINE, alpha=0.0, latent_dim=2, hidden_dims=(8,), num_particles=2)
LINEAR = random_linear_gaussian(3, 2, 0.5, seed=0)
CONDITIONAL = random_linear_gaussian(3, 2, 0.5, seed=0, condition_dim=2)
X64, Q64 = torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4, 2, dtype=torch.float64)
torch.set_rng_state(_GLOBAL_RNG_STATE)


def decoder_log_likelihood(z: torch.Tensor) -> torch.Tensor:
    """A stand-in log p(x | z) of the right shape (S, B)."""
    return -z.pow(2).sum(-1)


def case(case_id: str, call, error: type[Exception], match: str):
    return pytest.param(call, error, match, id=case_id)


CASES = [
    # ------------------------------------------------------------------ cvae.checks
    case("check_int-float", lambda: check_int("seed", 1.5), TypeError, "seed must be an int, got float"),
    case("check_int-bool", lambda: check_int("seed", True), TypeError, "seed must be an int, got bool"),
    case("check_bool-int", lambda: check_bool("shuffle", 1), TypeError, "shuffle must be True or False, got int"),
    case("check_bool-str", lambda: check_bool("shuffle", "no"), TypeError, "shuffle must be True or False, got str"),
    case("check_sizes-int", lambda: check_sizes("hidden_dims", 8), TypeError, "hidden_dims must be a sequence of ints"),
    case("check_sizes-str", lambda: check_sizes("hidden_dims", "88"), TypeError, "hidden_dims must be a sequence"),
    case("check_sizes-empty", lambda: check_sizes("hidden_dims", []), ValueError, "hidden_dims needs at least one"),
    case("check_sizes-zero", lambda: check_sizes("hidden_dims", [8, 0]), ValueError, r"hidden_dims\[1\] must be >= 1"),
    case("check_sizes-float", lambda: check_sizes("sizes", [8, 2.0]), TypeError, r"sizes\[1\] must be an int"),
    case("check_generator-type", lambda: check_generator("generator", 3), TypeError, "generator must be a torch.Generator"),
    case(
        "check_range-not-a-tensor",
        lambda: check_range("pixels", [0.5], 0.0, 1.0),
        TypeError,
        "pixels must be a torch.Tensor",
    ),
    case(
        "check_same_device-meta",
        lambda: check_same_device(("a", "b"), (torch.zeros(2), torch.zeros(2, device="meta"))),
        ValueError,
        "tensors must be on one device: a on cpu, b on meta",
    ),
    case(
        "check_model_input-device",
        lambda: check_model_input("x", torch.zeros(2, 2, device="meta"), nn.Linear(2, 2)),
        ValueError,
        "x is on meta but the model is on cpu",
    ),
    case(
        "check_model_input-dtype",
        lambda: check_model_input("x", torch.zeros(2, 2, dtype=torch.float64), nn.Linear(2, 2)),
        TypeError,
        "x must have the model's dtype torch.float32, got torch.float64",
    ),
    case(
        "check_model_input-type",
        lambda: check_model_input("x", [[0.0, 0.0]], nn.Linear(2, 2)),
        TypeError,
        "x must be a torch.Tensor",
    ),
    # ------------------------------------------------------------------ cvae.config, cvae.device
    case("epochs-default-zero", lambda: config.epochs(0), ValueError, "default must be >= 1"),
    case("epochs-default-float", lambda: config.epochs(2.5), TypeError, "default must be an int"),
    case("seed_everything-float", lambda: seed_everything(1.5), TypeError, "seed must be an int, got float"),
    case("seed_everything-str", lambda: seed_everything("0"), TypeError, "seed must be an int, got str"),
    # ------------------------------------------------------------------ cvae.data
    case("load_digits-source", lambda: load_digits("emnist"), ValueError, "source must be one of 'sample', 'mnist'"),
    case("load_digits-root", lambda: load_digits("sample", root=5), TypeError, "root must be a folder"),
    case("load_digits-download", lambda: load_digits("sample", download="yes"), TypeError, "download must be True or False"),
    case(
        "DigitData-source",
        lambda: DigitData("emnist", DIGITS, LABELS, DIGITS, LABELS),
        ValueError,
        "source must be one of",
    ),
    case(
        "DigitData-train_images",
        lambda: DigitData("sample", DIGITS * 2, LABELS, DIGITS, LABELS),
        ValueError,
        r"train_images must lie in \[0.0, 1.0\]",
    ),
    case(
        "DigitData-train_labels",
        lambda: DigitData("sample", DIGITS, LABELS + 7, DIGITS, LABELS),
        ValueError,
        r"train_labels must lie in \[0, 9\]",
    ),
    case(
        "DigitData-test_images",
        lambda: DigitData("sample", DIGITS, LABELS, DIGITS.flatten(1), LABELS),
        ValueError,
        r"test_images must have shape \(N, 1, 28, 28\)",
    ),
    case(
        "DigitData-test_labels",
        lambda: DigitData("sample", DIGITS, LABELS, DIGITS, LABELS[:3]),
        ValueError,
        "test_labels has 3 entries but there are 4 images",
    ),
    case("check_images-range", lambda: check_images("images", DIGITS * 2), ValueError, r"images must lie in \[0.0, 1.0\]"),
    case("check_images-dtype", lambda: check_images("images", DIGITS.long()), TypeError, "images must be a floating-point"),
    case("check_images-shape", lambda: check_images("images", DIGITS.flatten(1)), ValueError, r"images must have shape"),
    case("check_images-nan", lambda: check_images("images", NAN_DIGITS), ValueError, "images contains NaN"),
    case("check_labels-range", lambda: check_labels("labels", LABELS + 7), ValueError, r"labels must lie in \[0, 9\]"),
    case("check_labels-negative", lambda: check_labels("labels", LABELS - 1), ValueError, r"labels must lie in \[0, 9\]"),
    case("check_labels-dtype", lambda: check_labels("labels", LABELS.float()), TypeError, "labels must be an integer"),
    case("check_labels-count", lambda: check_labels("labels", LABELS, count=5), ValueError, "labels has 4 entries"),
    case("binarize-method", lambda: binarize(DIGITS, method="round"), ValueError, "method must be one of"),
    case("binarize-threshold-high", lambda: binarize(DIGITS, threshold=1.5), ValueError, "threshold must be in"),
    case("binarize-threshold-zero", lambda: binarize(DIGITS, threshold=0), ValueError, "threshold must be > 0"),
    case("binarize-images-range", lambda: binarize(DIGITS * 2), ValueError, r"images must lie in \[0.0, 1.0\]"),
    case("binarize-images-dtype", lambda: binarize(DIGITS.long()), TypeError, "images must be a floating-point"),
    case(
        "binarize-generator",
        lambda: binarize(DIGITS, method="sample", generator=NOT_A_GENERATOR),
        TypeError,
        "generator must be a torch.Generator",
    ),
    case(
        "split_validation-fraction-high",
        lambda: split_validation(DIGITS, LABELS, 1.5),
        ValueError,
        "fraction must be in",
    ),
    case("split_validation-fraction-zero", lambda: split_validation(DIGITS, LABELS, 0.0), ValueError, "fraction must be > 0"),
    case(
        "split_validation-fraction-empty-split",
        lambda: split_validation(DIGITS, LABELS, 0.01),
        ValueError,
        "fraction=0.01 leaves an empty split",
    ),
    case("split_validation-seed", lambda: split_validation(DIGITS, LABELS, 0.5, seed=0.5), TypeError, "seed must be an int"),
    case("split_validation-labels", lambda: split_validation(DIGITS, LABELS[:3], 0.5), ValueError, "labels has 3 entries"),
    case(
        "split_validation-images-0d",
        lambda: split_validation(torch.tensor(0.5), LABELS, 0.5),
        ValueError,
        "images must have a first",
    ),
    case("Batches-none", lambda: Batches(batch_size=2), ValueError, "Batches needs at least one tensor"),
    case("Batches-tensor-0d", lambda: Batches(torch.tensor(1.0), batch_size=2), ValueError, r"tensors\[0\] must have a first"),
    case("Batches-tensor-type", lambda: Batches([1, 2], batch_size=2), TypeError, r"tensors\[0\] must be a torch.Tensor"),
    case("Batches-lengths", lambda: Batches(DIGITS, LABELS[:3], batch_size=2), ValueError, "all tensors must have the same"),
    case("Batches-batch_size-zero", lambda: Batches(DIGITS, batch_size=0), ValueError, "batch_size must be >= 1"),
    case("Batches-batch_size-float", lambda: Batches(DIGITS, batch_size=2.0), TypeError, "batch_size must be an int"),
    case("Batches-shuffle", lambda: Batches(DIGITS, batch_size=2, shuffle="no"), TypeError, "shuffle must be True or False"),
    case("Batches-drop_last", lambda: Batches(DIGITS, batch_size=2, drop_last=1), TypeError, "drop_last must be True or"),
    case("Batches-seed", lambda: Batches(DIGITS, batch_size=2, seed=None), TypeError, "seed must be an int"),
    case(
        "Batches-devices",
        lambda: Batches(DIGITS, META_DIGITS, batch_size=2, shuffle=True),
        ValueError,
        r"tensors must be on one device: tensors\[0\] on cpu, tensors\[1\] on meta",
    ),
    case("check_num_given-range", lambda: check_num_given(4), ValueError, "num_given must be 1, 2 or 3"),
    case("check_num_given-bool", lambda: check_num_given(True), TypeError, "num_given must be an int"),
    case("quadrant_mask-num_given", lambda: quadrant_mask(0), ValueError, "num_given must be 1, 2 or 3"),
    case("split_quadrants-num_given", lambda: split_quadrants(DIGITS, 4), ValueError, "num_given must be 1, 2 or 3"),
    case("split_quadrants-images", lambda: split_quadrants(DIGITS * 2, 1), ValueError, r"images must lie in \[0.0, 1.0\]"),
    case(
        "check_quadrant_inputs-not-split",
        lambda: check_quadrant_inputs("inputs", DIGITS, 1),
        ValueError,
        "inputs must have every output pixel of num_given=1 set to -1",
    ),
    case(
        "check_quadrant_inputs-shape",
        lambda: check_quadrant_inputs("inputs", INPUTS.flatten(1), 1),
        ValueError,
        r"inputs must have shape \(N, 1, 28, 28\)",
    ),
    case(
        "check_quadrant_inputs-nan",
        lambda: check_quadrant_inputs("inputs", INPUTS.clone().index_fill_(0, torch.tensor([0]), math.nan), 1),
        ValueError,
        "inputs contains NaN",
    ),
    case(
        "join_quadrants-outputs-shape",
        lambda: join_quadrants(INPUTS, TARGETS[:, :10], 1),
        ValueError,
        r"outputs must have shape \(\.\.\., 4, 588\)",
    ),
    case(
        "join_quadrants-outputs-range",
        lambda: join_quadrants(INPUTS, TARGETS * 2, 1),
        ValueError,
        r"outputs must lie in \[0.0, 1.0\]",
    ),
    case("join_quadrants-inputs", lambda: join_quadrants(DIGITS, TARGETS, 1), ValueError, "inputs must have every output"),
    case(
        "join_quadrants-num_given",
        lambda: join_quadrants(INPUTS, TARGETS, 2),
        ValueError,
        r"inputs \(given pixels\) must lie in \[0.0, 1.0\]",
    ),
    # ------------------------------------------------------------------ cvae.distributions
    case("gaussian_kl-shapes", lambda: gaussian_kl(MU, LOGVAR[:, :1]), ValueError, r"mu_q\(4, 2\), logvar_q\(4, 1\)"),
    case("gaussian_kl-mu_q-dtype", lambda: gaussian_kl(MU.long(), LOGVAR), TypeError, "mu_q must be a floating-point"),
    case(
        "gaussian_kl-logvar_q-inf",
        lambda: gaussian_kl(MU, torch.full((4, 2), math.inf)),
        ValueError,
        "logvar_q contains NaN or infinite",
    ),
    case("gaussian_kl-mu_p-alone", lambda: gaussian_kl(MU, LOGVAR, mu_p=MU), ValueError, "give both mu_p and logvar_p"),
    case(
        "gaussian_kl-mu_p-shape",
        lambda: gaussian_kl(MU, LOGVAR, MU[:3], LOGVAR[:3]),
        ValueError,
        r"shapes must match: mu_q\(4, 2\), mu_p\(3, 2\)",
    ),
    case(
        "gaussian_log_density-broadcast",
        lambda: gaussian_log_density(torch.zeros(4, 3), MU, LOGVAR),
        ValueError,
        r"z\(4, 3\), mu\(4, 2\) and logvar\(4, 2\) do not broadcast",
    ),
    case("gaussian_log_density-z-type", lambda: gaussian_log_density([0.0], MU, LOGVAR), TypeError, "z must be a torch."),
    case("gaussian_log_density-mu-dtype", lambda: gaussian_log_density(MU, MU.long(), LOGVAR), TypeError, "mu must be a"),
    case(
        "gaussian_log_density-logvar-nan",
        lambda: gaussian_log_density(MU, MU, torch.full((4, 2), math.nan)),
        ValueError,
        "logvar contains NaN",
    ),
    case(
        "bernoulli_log_likelihood-target-range",
        lambda: bernoulli_log_likelihood(torch.zeros(4, 1, 28, 28), DIGITS * 2),
        ValueError,
        r"target must lie in \[0.0, 1.0\]",
    ),
    case(
        "bernoulli_log_likelihood-logits-nan",
        lambda: bernoulli_log_likelihood(NAN_DIGITS, DIGITS),
        ValueError,
        "logits contains NaN",
    ),
    case(
        "bernoulli_log_likelihood-logits-dtype",
        lambda: bernoulli_log_likelihood(DIGITS.long(), DIGITS),
        TypeError,
        "logits must be a floating-point",
    ),
    case(
        "bernoulli_log_likelihood-target-ndim",
        lambda: bernoulli_log_likelihood(torch.zeros(4, 784), DIGITS),
        ValueError,
        "target has more dimensions than logits",
    ),
    case(
        "bernoulli_log_likelihood-per-example-shape",
        lambda: bernoulli_log_likelihood(torch.zeros(4, 1, 28, 27), DIGITS),
        ValueError,
        r"logits\(4, 1, 28, 27\) and target\(4, 1, 28, 28\) differ",
    ),
    case("log_mean_exp-dim-range", lambda: log_mean_exp(MU, dim=2), ValueError, "dim must index one of the 2 dimensions"),
    case("log_mean_exp-dim-float", lambda: log_mean_exp(MU, dim=0.5), TypeError, "dim must be an int"),
    case("log_mean_exp-dim-bool", lambda: log_mean_exp(MU, dim=True), TypeError, "dim must be an int"),
    case("log_mean_exp-values-0d", lambda: log_mean_exp(torch.tensor(1.0)), ValueError, "dim must index one of the 0"),
    case("log_mean_exp-values-dtype", lambda: log_mean_exp(LABELS), TypeError, "values must be a floating-point"),
    case("log_mean_exp-values-nan", lambda: log_mean_exp(torch.tensor([0.0, math.nan])), ValueError, "values contains NaN"),
    case("reparameterize-generator", lambda: reparameterize(MU, LOGVAR, generator=NOT_A_GENERATOR), TypeError, "generator"),
    case("reparameterize-shapes", lambda: reparameterize(MU, LOGVAR[:2]), ValueError, r"mu\(4, 2\), logvar\(2, 2\)"),
    case("reparameterize-mu-type", lambda: reparameterize(None, LOGVAR), TypeError, "mu must be a torch.Tensor"),
    # ------------------------------------------------------------------ cvae.linear_gaussian
    case(
        "random_linear_gaussian-orthogonal_columns",
        lambda: random_linear_gaussian(3, 2, 0.5, 0, orthogonal_columns="yes"),
        TypeError,
        "orthogonal_columns must be True or False",
    ),
    case(
        "random_linear_gaussian-conditional-orthogonal_columns",
        lambda: random_linear_gaussian(3, 2, 0.5, 0, condition_dim=2, orthogonal_columns=1),
        TypeError,
        "orthogonal_columns must be True or False",
    ),
    case("random_linear_gaussian-seed", lambda: random_linear_gaussian(3, 2, 0.5, -1), ValueError, "seed must be >= 0"),
    case("random_linear_gaussian-noise_std", lambda: random_linear_gaussian(3, 2, 0.0, 0), ValueError, "noise_std must be"),
    case("LinearGaussianModel.sample-generator", lambda: LINEAR.sample(2, generator=3), TypeError, "generator must be a"),
    case("LinearGaussianModel.sample-n", lambda: LINEAR.sample(0), ValueError, "n must be >= 1"),
    case(
        "LinearGaussianModel.log_weights-num_samples",
        lambda: LINEAR.log_weights(X64, Q64, Q64, 0),
        ValueError,
        "num_samples must be >= 1",
    ),
    case("LinearGaussianModel.elbo-q_mean-dtype", lambda: LINEAR.elbo(X64, Q64.float(), Q64), TypeError, "q_mean must be float64"),
    case("LinearGaussianModel.log_evidence-x-width", lambda: LINEAR.log_evidence(X64[:, :2]), ValueError, "x must have 3"),
    case(
        "LinearGaussianModel.sample-conditional-generator",
        lambda: CONDITIONAL.sample(generator="seed", c=Q64),
        TypeError,
        "generator must be a torch.Generator",
    ),
    case("LinearGaussianModel.prior-c", lambda: CONDITIONAL.prior(Q64[:, :1]), ValueError, "c must have 2"),
    # ------------------------------------------------------------------ cvae.networks
    case("mlp-sizes-short", lambda: mlp([4]), ValueError, "sizes needs an input and an output size"),
    case("mlp-sizes-int", lambda: mlp(4), TypeError, "sizes must be a sequence of ints"),
    case("mlp-sizes-zero", lambda: mlp([4, 0, 2]), ValueError, r"sizes\[1\] must be >= 1"),
    case("mlp-activation-function", lambda: mlp([4, 2], activation=torch.relu), TypeError, "activation must be a torch.nn"),
    case("mlp-activation-instance", lambda: mlp([4, 2], activation=nn.ReLU()), TypeError, "activation must be a torch.nn"),
    case("GaussianEncoder-input_dim", lambda: GaussianEncoder(0, (8,), 2), ValueError, "input_dim must be >= 1"),
    case("GaussianEncoder-hidden_dims-empty", lambda: GaussianEncoder(4, (), 2), ValueError, "hidden_dims needs at least"),
    case("GaussianEncoder-hidden_dims-entry", lambda: GaussianEncoder(4, (8, -1), 2), ValueError, r"hidden_dims\[1\]"),
    case("GaussianEncoder-hidden_dims-int", lambda: GaussianEncoder(4, 8, 2), TypeError, "hidden_dims must be a sequence"),
    case("GaussianEncoder-latent_dim", lambda: GaussianEncoder(4, (8,), 0), ValueError, "latent_dim must be >= 1"),
    case(
        "GaussianEncoder.forward-inputs-1d",
        lambda: GaussianEncoder(4, (8,), 2)(torch.zeros(4)),
        ValueError,
        "inputs must have 4 features per example",
    ),
    case(
        "GaussianEncoder.forward-inputs-width",
        lambda: GaussianEncoder(4, (8,), 2)(torch.zeros(3, 5)),
        ValueError,
        "inputs must have 4 features per example",
    ),
    case(
        "GaussianEncoder.forward-inputs-float64",
        lambda: GaussianEncoder(4, (8,), 2)(torch.zeros(3, 4, dtype=torch.float64)),
        TypeError,
        "inputs must have the model's dtype",
    ),
    case("BernoulliDecoder-output_shape-empty", lambda: BernoulliDecoder(2, (8,), ()), ValueError, "output_shape needs"),
    case("BernoulliDecoder-output_shape-zero", lambda: BernoulliDecoder(2, (8,), (1, 0)), ValueError, r"output_shape\[1\]"),
    case("BernoulliDecoder-hidden_dims", lambda: BernoulliDecoder(2, (0,)), ValueError, r"hidden_dims\[0\] must be >= 1"),
    case("BernoulliDecoder-input_dim", lambda: BernoulliDecoder(True, (8,)), TypeError, "input_dim must be an int"),
    case(
        "BernoulliDecoder.forward-inputs-width",
        lambda: BernoulliDecoder(2, (8,))(torch.zeros(4, 3)),
        ValueError,
        r"inputs must have shape \(\.\.\., 2\)",
    ),
    case(
        "BernoulliDecoder.forward-inputs-1d",
        lambda: BernoulliDecoder(2, (8,))(torch.zeros(2)),
        ValueError,
        r"inputs must have shape \(\.\.\., 2\)",
    ),
    case(
        "BernoulliDecoder.forward-inputs-float64",
        lambda: BernoulliDecoder(2, (8,))(torch.zeros(4, 2, dtype=torch.float64)),
        TypeError,
        "inputs must have the model's dtype",
    ),
    case(
        "BernoulliDecoder.forward-inputs-int",
        lambda: BernoulliDecoder(2, (8,))(torch.zeros(4, 2, dtype=torch.long)),
        TypeError,
        "inputs must be a floating-point",
    ),
    # ------------------------------------------------------------------ cvae.vae
    case("elbo_terms-kl-type", lambda: elbo_terms(DIGITS, DIGITS, [0.0] * 4), TypeError, "kl must be a torch.Tensor"),
    case("elbo_terms-kl-dtype", lambda: elbo_terms(DIGITS, DIGITS, LABELS), TypeError, "kl must be a floating-point"),
    case("elbo_terms-kl-shape", lambda: elbo_terms(DIGITS, DIGITS, torch.zeros(3)), ValueError, r"kl \(3,\) differ in shape"),
    case("elbo_terms-target", lambda: elbo_terms(DIGITS, DIGITS * 2, torch.zeros(4)), ValueError, "target must lie in"),
    case("VAE-latent_dim", lambda: VAE(latent_dim=0, hidden_dims=(8,)), ValueError, "latent_dim must be >= 1"),
    case("VAE-hidden_dims-empty", lambda: VAE(2, hidden_dims=()), ValueError, "hidden_dims needs at least one"),
    case("VAE-hidden_dims-entry", lambda: VAE(2, hidden_dims=(8, 0)), ValueError, r"hidden_dims\[1\] must be >= 1"),
    case("VAE-hidden_dims-int", lambda: VAE(2, hidden_dims=8), TypeError, "hidden_dims must be a sequence"),
    case("VAE.loss_terms-images-range", lambda: VAE_MODEL.loss_terms(DIGITS * 2), ValueError, "images must lie in"),
    case("VAE.loss_terms-images-shape", lambda: VAE_MODEL.loss_terms(DIGITS.flatten(1)), ValueError, "images must have"),
    case("VAE.loss_terms-images-nan", lambda: VAE_MODEL.loss_terms(NAN_DIGITS), ValueError, "images contains NaN"),
    case("VAE.loss_terms-images-int", lambda: VAE_MODEL.loss_terms(DIGITS.long()), TypeError, "images must be a floating"),
    case(
        "VAE.loss_terms-images-float64",
        lambda: VAE_MODEL.loss_terms(DIGITS.double()),
        TypeError,
        "images must have the model's dtype torch.float32",
    ),
    case("VAE.reconstruct-images-float64", lambda: VAE_MODEL.reconstruct(DIGITS.double()), TypeError, "images must have"),
    case("VAE.reconstruct-images-range", lambda: VAE_MODEL.reconstruct(DIGITS - 1), ValueError, "images must lie in"),
    case("VAE.sample-count-zero", lambda: VAE_MODEL.sample(0), ValueError, "count must be >= 1"),
    case("VAE.sample-count-float", lambda: VAE_MODEL.sample(2.0), TypeError, "count must be an int"),
    case("VAE.sample-generator", lambda: VAE_MODEL.sample(2, generator=NOT_A_GENERATOR), TypeError, "generator must be a"),
    case("VAE.log_likelihood-num_samples", lambda: VAE_MODEL.log_likelihood(DIGITS, 0), ValueError, "num_samples must be"),
    case(
        "VAE.log_likelihood-generator",
        lambda: VAE_MODEL.log_likelihood(DIGITS, 2, generator="seed"),
        TypeError,
        "generator must be a torch.Generator",
    ),
    case("VAE.log_likelihood-images", lambda: VAE_MODEL.log_likelihood(DIGITS * 3, 2), ValueError, "images must lie in"),
    # ------------------------------------------------------------------ cvae.estimators
    case(
        "importance_sampled_log_likelihood-proposal-type",
        lambda: importance_sampled_log_likelihood(decoder_log_likelihood, MU),
        TypeError,
        "proposal must be a \\(mean, log-variance\\) pair",
    ),
    case(
        "importance_sampled_log_likelihood-proposal-length",
        lambda: importance_sampled_log_likelihood(decoder_log_likelihood, (MU, LOGVAR, MU)),
        TypeError,
        "proposal must be a \\(mean, log-variance\\) pair",
    ),
    case(
        "importance_sampled_log_likelihood-proposal-ndim",
        lambda: importance_sampled_log_likelihood(decoder_log_likelihood, (MU[0], LOGVAR[0])),
        ValueError,
        "proposal mean must have 2 dimensions",
    ),
    case(
        "importance_sampled_log_likelihood-proposal-nan",
        lambda: importance_sampled_log_likelihood(decoder_log_likelihood, (MU, LOGVAR * math.nan)),
        ValueError,
        "proposal log-variance contains NaN",
    ),
    case(
        "importance_sampled_log_likelihood-prior-type",
        lambda: importance_sampled_log_likelihood(decoder_log_likelihood, (MU, LOGVAR), prior=(MU,)),
        TypeError,
        "prior must be a \\(mean, log-variance\\) pair",
    ),
    case(
        "importance_sampled_log_likelihood-prior-shape",
        lambda: importance_sampled_log_likelihood(decoder_log_likelihood, (MU, LOGVAR), prior=(MU[:3], LOGVAR[:3])),
        ValueError,
        r"proposal mean\(4, 2\), prior mean\(3, 2\)",
    ),
    case(
        "importance_sampled_log_likelihood-num_samples",
        lambda: importance_sampled_log_likelihood(decoder_log_likelihood, (MU, LOGVAR), num_samples=0),
        ValueError,
        "num_samples must be >= 1",
    ),
    case(
        "importance_sampled_log_likelihood-chunk_size-zero",
        lambda: importance_sampled_log_likelihood(decoder_log_likelihood, (MU, LOGVAR), chunk_size=0),
        ValueError,
        "chunk_size must be >= 1",
    ),
    case(
        "importance_sampled_log_likelihood-chunk_size-float",
        lambda: importance_sampled_log_likelihood(decoder_log_likelihood, (MU, LOGVAR), chunk_size=1.5),
        TypeError,
        "chunk_size must be an int",
    ),
    case(
        "importance_sampled_log_likelihood-generator",
        lambda: importance_sampled_log_likelihood(decoder_log_likelihood, (MU, LOGVAR), generator=NOT_A_GENERATOR),
        TypeError,
        "generator must be a torch.Generator",
    ),
    case(
        "importance_sampled_log_likelihood-log_likelihood-callable",
        lambda: importance_sampled_log_likelihood("decoder", (MU, LOGVAR)),
        TypeError,
        "log_likelihood must be a function",
    ),
    case(
        "importance_sampled_log_likelihood-log_likelihood-shape",
        lambda: importance_sampled_log_likelihood(lambda z: z.sum(), (MU, LOGVAR), num_samples=3),
        ValueError,
        r"log_likelihood must return a tensor of shape \(samples, batch\) = \(3, 4\), got \(\)",
    ),
    case(
        "importance_sampled_log_likelihood-log_likelihood-type",
        lambda: importance_sampled_log_likelihood(lambda z: 0.0, (MU, LOGVAR), num_samples=3),
        ValueError,
        "log_likelihood must return a tensor of shape .* got float",
    ),
    # ------------------------------------------------------------------ cvae.label_cvae
    case("one_hot-range", lambda: one_hot(torch.tensor([10])), ValueError, r"labels must lie in \[0, 9\]"),
    case("one_hot-dtype", lambda: one_hot(LABELS.float()), TypeError, "labels must be an integer tensor"),
    case("conv_block-in_channels", lambda: conv_block(0, 4), ValueError, "in_channels must be >= 1"),
    case("conv_block-out_channels", lambda: conv_block(1, 2.0), TypeError, "out_channels must be an int"),
    case("deconv_block-out_channels", lambda: deconv_block(4, 0), ValueError, "out_channels must be >= 1"),
    case("deconv_block-in_channels", lambda: deconv_block(None, 4), TypeError, "in_channels must be an int"),
    case("ConvLabelEncoder-latent_dim", lambda: ConvLabelEncoder(0), ValueError, "latent_dim must be >= 1"),
    case("ConvLabelEncoder-channels-empty", lambda: ConvLabelEncoder(2, channels=()), ValueError, "channels needs at least"),
    case("ConvLabelEncoder-channels-entry", lambda: ConvLabelEncoder(2, channels=(8, 0)), ValueError, r"channels\[1\]"),
    case(
        "ConvLabelEncoder.forward-images-shape",
        lambda: CONV_CVAE.encoder(DIGITS.flatten(1), one_hot(LABELS)),
        ValueError,
        "images must have 4 dimensions",
    ),
    case(
        "ConvLabelEncoder.forward-condition-shape",
        lambda: CONV_CVAE.encoder(DIGITS, one_hot(LABELS)[:, :9]),
        ValueError,
        r"condition must have shape \(4, 10\)",
    ),
    case(
        "ConvLabelEncoder.forward-condition-dtype",
        lambda: CONV_CVAE.encoder(DIGITS, one_hot(LABELS).long()),
        TypeError,
        "condition must be a floating-point",
    ),
    case(
        "ConvLabelEncoder.forward-images-device",
        lambda: CONV_CVAE.encoder(META_DIGITS, one_hot(LABELS)),
        ValueError,
        "images is on meta but the model is on cpu",
    ),
    case("ConvDecoder-input_dim", lambda: ConvDecoder(0), ValueError, "input_dim must be >= 1"),
    case("ConvDecoder-channels", lambda: ConvDecoder(12, channels=()), ValueError, "channels needs at least one"),
    case(
        "ConvDecoder.forward-inputs-width",
        lambda: CONV_CVAE.decoder(torch.zeros(4, 5)),
        ValueError,
        r"inputs must have shape \(\.\.\., 12\)",
    ),
    case(
        "ConvDecoder.forward-inputs-int",
        lambda: CONV_CVAE.decoder(torch.zeros(4, 12, dtype=torch.long)),
        TypeError,
        "inputs must be a floating-point",
    ),
    case(
        "ConvDecoder.forward-inputs-float64",
        lambda: CONV_CVAE.decoder(torch.zeros(4, 12, dtype=torch.float64)),
        TypeError,
        "inputs must have the model's dtype",
    ),
    case("MLPLabelEncoder-latent_dim", lambda: MLPLabelEncoder(0, (8,)), ValueError, "latent_dim must be >= 1"),
    case("MLPLabelEncoder-hidden_dims", lambda: MLPLabelEncoder(2, ()), ValueError, "hidden_dims needs at least one"),
    case(
        "MLPLabelEncoder.forward-condition-rows",
        lambda: MLP_CVAE.encoder(DIGITS, one_hot(LABELS)[:3]),
        ValueError,
        r"condition must have shape \(4, 10\)",
    ),
    case(
        "MLPLabelEncoder.forward-images-float64",
        lambda: MLP_CVAE.encoder(DIGITS.double(), one_hot(LABELS)),
        TypeError,
        "images must have the model's dtype",
    ),
    case("LabelCVAE-architecture", lambda: LabelCVAE("resnet"), ValueError, "architecture must be one of 'conv', 'mlp'"),
    case("LabelCVAE-objective", lambda: LabelCVAE("mlp", objective="mse"), ValueError, "objective must be one of"),
    case("LabelCVAE-kld_weight-zero", lambda: LabelCVAE("mlp", kld_weight=0), ValueError, "kld_weight must be > 0"),
    case("LabelCVAE-kld_weight-nan", lambda: LabelCVAE("mlp", kld_weight=math.nan), ValueError, "kld_weight must be finite"),
    case("LabelCVAE-latent_dim", lambda: LabelCVAE("mlp", latent_dim=0), ValueError, "latent_dim must be >= 1"),
    case("LabelCVAE.decode-z-width", lambda: CONV_CVAE.decode(torch.zeros(4, 3), LABELS), ValueError, r"z must have shape"),
    case("LabelCVAE.decode-z-1d", lambda: CONV_CVAE.decode(torch.zeros(2), LABELS), ValueError, "z must have 2 or 3"),
    case("LabelCVAE.decode-z-int", lambda: CONV_CVAE.decode(LABELS[:, None], LABELS), TypeError, "z must be a floating"),
    case("LabelCVAE.decode-z-nan", lambda: CONV_CVAE.decode(MU * math.nan, LABELS), ValueError, "z contains NaN"),
    case("LabelCVAE.decode-z-float64", lambda: CONV_CVAE.decode(MU.double(), LABELS), TypeError, "z must have the model's"),
    case("LabelCVAE.decode-labels-count", lambda: CONV_CVAE.decode(MU, LABELS[:3]), ValueError, "labels has 3 entries"),
    case("LabelCVAE.decode-labels-range", lambda: CONV_CVAE.decode(MU, LABELS + 7), ValueError, "labels must lie in"),
    case("LabelCVAE.loss_terms-images", lambda: CONV_CVAE.loss_terms(DIGITS * 2, LABELS), ValueError, "images must lie in"),
    case(
        "LabelCVAE.loss_terms-images-float64",
        lambda: MLP_CVAE.loss_terms(DIGITS.double(), LABELS),
        TypeError,
        "images must have the model's dtype",
    ),
    case("LabelCVAE.loss_terms-labels-count", lambda: CONV_CVAE.loss_terms(DIGITS, LABELS[:2]), ValueError, "labels has 2"),
    case("LabelCVAE.loss_terms-labels-dtype", lambda: CONV_CVAE.loss_terms(DIGITS, LABELS.float()), TypeError, "labels must"),
    case("LabelCVAE.loss_terms-labels-range", lambda: MLP_CVAE.loss_terms(DIGITS, LABELS + 8), ValueError, "labels must lie"),
    case("LabelCVAE.generate-z-shape", lambda: CONV_CVAE.generate(LABELS, z=MU[:3]), ValueError, r"z must have shape \(4, 2\)"),
    case("LabelCVAE.generate-z-type", lambda: CONV_CVAE.generate(LABELS, z=[[0.0, 0.0]] * 4), TypeError, "z must be a torch"),
    case("LabelCVAE.generate-z-nan", lambda: CONV_CVAE.generate(LABELS, z=MU * math.nan), ValueError, "z contains NaN"),
    case("LabelCVAE.generate-z-float64", lambda: CONV_CVAE.generate(LABELS, z=MU.double()), TypeError, "z must have the"),
    case("LabelCVAE.generate-generator", lambda: CONV_CVAE.generate(LABELS, generator=1), TypeError, "generator must be a"),
    case("LabelCVAE.generate-labels", lambda: CONV_CVAE.generate(LABELS + 9), ValueError, r"labels must lie in \[0, 9\]"),
    case("LabelCVAE.encode-labels", lambda: CONV_CVAE.encode(DIGITS, LABELS[:2]), ValueError, "labels has 2 entries"),
    case("LabelCVAE.encode-images", lambda: CONV_CVAE.encode(NAN_DIGITS, LABELS), ValueError, "images contains NaN"),
    case(
        "LabelCVAE.log_likelihood-num_samples",
        lambda: MLP_CVAE.log_likelihood(DIGITS, LABELS, 0),
        ValueError,
        "num_samples must be >= 1",
    ),
    case(
        "LabelCVAE.log_likelihood-generator",
        lambda: MLP_CVAE.log_likelihood(DIGITS, LABELS, 2, generator=0),
        TypeError,
        "generator must be a torch.Generator",
    ),
    case("LabelCVAE-prior-name", lambda: LabelCVAE("mlp", prior="flat"), ValueError, "prior must be one of 'standard"),
    case("LabelCVAE-prior-type", lambda: LabelCVAE("mlp", prior=None), TypeError, "prior must be one of .* or a LabelPrior"),
    case("LabelCVAE-prior-latent_dim", lambda: LabelCVAE("mlp", 2, prior=LearnedPrior(3)), ValueError, "prior is built for"),
    case("LabelCVAE-prior-classes", lambda: LabelCVAE("mlp", 2, prior=LearnedPrior(2, 4)), ValueError, "and 4 classes"),
    case("LearnedPrior-latent_dim", lambda: LearnedPrior(0), ValueError, "latent_dim must be >= 1"),
    case("LearnedPrior-num_classes", lambda: LearnedPrior(2, 1.0), TypeError, "num_classes must be an int"),
    case("LearnedPrior.forward-labels", lambda: LearnedPrior(2)(LABELS + 7), ValueError, r"labels must lie in \[0, 9\]"),
    case("LearnedPrior.forward-dtype", lambda: LearnedPrior(2)(LABELS.int()), TypeError, "labels must be an int64"),
    case("LearnedPrior.sample-generator", lambda: LearnedPrior(2).sample(LABELS, 3), TypeError, "generator must be a"),
    case("kl_to_prior-shapes", lambda: kl_to_prior((MU, LOGVAR), (MU[:3], LOGVAR[:3])), ValueError, "shapes must match"),
    case("kl_to_prior-pair", lambda: kl_to_prior((MU, LOGVAR), MU), TypeError, "prior must be a .mean, log-variance. pair"),
    case("active_units-model", lambda: active_units(VAE_MODEL, DIGITS, LABELS), TypeError, "model must be a LabelCVAE"),
    case("active_units-labels", lambda: active_units(MLP_CVAE, DIGITS, LABELS + 7), ValueError, "labels must lie in"),
    case("active_units-threshold", lambda: active_units(MLP_CVAE, DIGITS, LABELS, 0.0), ValueError, "threshold must be > 0"),
    # ------------------------------------------------------------------ cvae.classifier
    case("DigitClassifier.forward-images-range", lambda: CLASSIFIER(DIGITS * 2), ValueError, "images must lie in"),
    case("DigitClassifier.forward-images-float64", lambda: CLASSIFIER(DIGITS.double()), TypeError, "images must have the"),
    case("DigitClassifier.forward-images-shape", lambda: CLASSIFIER(DIGITS.flatten(1)), ValueError, "images must have shape"),
    case(
        "DigitClassifier.loss_terms-labels-count",
        lambda: CLASSIFIER.loss_terms(DIGITS, LABELS[:3]),
        ValueError,
        "labels has 3 entries but there are 4 images",
    ),
    case(
        "DigitClassifier.loss_terms-labels-dtype",
        lambda: CLASSIFIER.loss_terms(DIGITS, LABELS.float()),
        TypeError,
        "labels must be an integer",
    ),
    case("DigitClassifier.loss_terms-labels-range", lambda: CLASSIFIER.loss_terms(DIGITS, LABELS + 7), ValueError, "labels"),
    case("DigitClassifier.predict-batch_size-zero", lambda: CLASSIFIER.predict(DIGITS, 0), ValueError, "batch_size must be"),
    case("DigitClassifier.predict-batch_size-float", lambda: CLASSIFIER.predict(DIGITS, 1.5), TypeError, "batch_size must"),
    case("DigitClassifier.predict-images-int", lambda: CLASSIFIER.predict(DIGITS.long()), TypeError, "images must be a float"),
    case("agreement-count", lambda: agreement(LABELS, LABELS[:3]), ValueError, "labels has 3 entries"),
    case("agreement-predicted-dtype", lambda: agreement(LABELS.float(), LABELS), TypeError, "predicted must be an integer"),
    case("agreement-predicted-range", lambda: agreement(LABELS + 7, LABELS), ValueError, r"predicted must lie in \[0, 9\]"),
    case("agreement-empty", lambda: agreement(LABELS[:0], LABELS[:0]), ValueError, "labels is empty"),
    # ------------------------------------------------------------------ cvae.structured
    case("output_size-num_given", lambda: output_size(5), ValueError, "num_given must be 1, 2 or 3"),
    case("check_alpha-range", lambda: check_alpha(1.5), ValueError, r"alpha must be in \[0, 1\]"),
    case("check_alpha-nan", lambda: check_alpha(math.nan), ValueError, r"alpha must be in \[0, 1\]"),
    case("check_alpha-str", lambda: check_alpha("1"), TypeError, "alpha must be a number"),
    case("Baseline-num_given", lambda: Baseline(4, (8,)), ValueError, "num_given must be 1, 2 or 3"),
    case("Baseline-hidden_dims-empty", lambda: Baseline(1, ()), ValueError, "hidden_dims needs at least one"),
    case("Baseline-hidden_dims-entry", lambda: Baseline(1, (8, 0)), ValueError, r"hidden_dims\[1\] must be >= 1"),
    case("Baseline.forward-inputs-width", lambda: BASELINE(torch.zeros(4, 10)), ValueError, r"inputs must have shape"),
    case("Baseline.forward-inputs-int", lambda: BASELINE(INPUTS.long()), TypeError, "inputs must be a floating-point"),
    case("Baseline.forward-inputs-float64", lambda: BASELINE(INPUTS.double()), TypeError, "inputs must have the model's"),
    case("Baseline.forward-inputs-device", lambda: BASELINE(META_DIGITS), ValueError, "inputs is on meta but the model"),
    case(
        "Baseline.loss_terms-targets-shape",
        lambda: BASELINE.loss_terms(INPUTS, TARGETS[:, :10]),
        ValueError,
        r"targets must have shape \(B, P\) = \(4, 588\)",
    ),
    case(
        "Baseline.loss_terms-targets-range",
        lambda: BASELINE.loss_terms(INPUTS, TARGETS * 2),
        ValueError,
        r"targets must lie in \[0.0, 1.0\]",
    ),
    case(
        "Baseline.loss_terms-targets-1d",
        lambda: BASELINE.loss_terms(INPUTS, TARGETS[0]),
        ValueError,
        "targets must have 2 dimensions",
    ),
    case(
        "Baseline.loss_terms-targets-nan",
        lambda: BASELINE.loss_terms(INPUTS, TARGETS * math.nan),
        ValueError,
        "targets contains NaN",
    ),
    case("Baseline.loss_terms-inputs", lambda: BASELINE.loss_terms(DIGITS, TARGETS), ValueError, "inputs must have every"),
    case(
        "Baseline.loss_terms-inputs-float64",
        lambda: BASELINE.loss_terms(INPUTS.double(), TARGETS),
        TypeError,
        "inputs must have the model's dtype",
    ),
    case("Baseline.predict-inputs", lambda: BASELINE.predict(DIGITS), ValueError, "inputs must have every output pixel"),
    case("Baseline.log_likelihood-targets", lambda: BASELINE.log_likelihood(INPUTS, TARGETS - 1), ValueError, "targets must"),
    case(
        "StructuredCVAE-baseline-type",
        lambda: StructuredCVAE(1, nn.Linear(2, 2)),
        TypeError,
        "baseline must be a cvae.structured.Baseline",
    ),
    case(
        "StructuredCVAE-baseline-num_given",
        lambda: StructuredCVAE(2, BASELINE),
        ValueError,
        "baseline was built for num_given=1",
    ),
    case("StructuredCVAE-alpha", lambda: StructuredCVAE(1, BASELINE, alpha=2), ValueError, r"alpha must be in \[0, 1\]"),
    case("StructuredCVAE-latent_dim", lambda: StructuredCVAE(1, BASELINE, latent_dim=0), ValueError, "latent_dim must be"),
    case("StructuredCVAE-hidden_dims", lambda: StructuredCVAE(1, BASELINE, hidden_dims=()), ValueError, "hidden_dims needs"),
    case("StructuredCVAE-num_particles", lambda: StructuredCVAE(1, BASELINE, num_particles=0), ValueError, "num_particles"),
    case("StructuredCVAE.prior-inputs", lambda: CVAE.prior(DIGITS), ValueError, "inputs must have every output pixel"),
    case("StructuredCVAE.prior-inputs-float64", lambda: CVAE.prior(INPUTS.double()), TypeError, "inputs must have the model"),
    case("StructuredCVAE.recognize-targets", lambda: CVAE.recognize(INPUTS, TARGETS * 2), ValueError, "targets must lie in"),
    case(
        "StructuredCVAE.generate_logits-z-shape",
        lambda: CVAE.generate_logits(INPUTS, torch.zeros(4, 3)),
        ValueError,
        r"z must have shape \(\.\.\., 4, 2\)",
    ),
    case(
        "StructuredCVAE.generate_logits-z-int",
        lambda: CVAE.generate_logits(INPUTS, LABELS[:, None].expand(4, 2)),
        TypeError,
        "z must be a floating-point",
    ),
    case("StructuredCVAE.generate_logits-z-nan", lambda: CVAE.generate_logits(INPUTS, MU * math.nan), ValueError, "z contains"),
    case(
        "StructuredCVAE.generate_logits-z-float64",
        lambda: CVAE.generate_logits(INPUTS, MU.double()),
        TypeError,
        "z must have the model's dtype",
    ),
    case(
        "StructuredCVAE.generate_logits-inputs-float64",
        lambda: CVAE.generate_logits(INPUTS.double(), MU),
        TypeError,
        "inputs must have the model's dtype",
    ),
    case("StructuredCVAE.sample-num_samples", lambda: CVAE.sample(INPUTS, 0), ValueError, "num_samples must be >= 1"),
    case("StructuredCVAE.sample-generator", lambda: CVAE.sample(INPUTS, 2, generator=3), TypeError, "generator must be a"),
    case("StructuredCVAE.loss_terms-targets", lambda: CVAE.loss_terms(INPUTS, TARGETS[:3]), ValueError, "targets must have"),
    case(
        "StructuredCVAE.log_likelihood-estimator",
        lambda: CVAE.log_likelihood(INPUTS, TARGETS, 2, estimator="exact"),
        ValueError,
        "estimator must be one of 'importance', 'monte_carlo'",
    ),
    case(
        "StructuredCVAE.log_likelihood-estimator-gsnn",
        lambda: GSNN.log_likelihood(INPUTS, TARGETS, 2, estimator="importance"),
        ValueError,
        "estimator='importance' needs q",
    ),
    case(
        "StructuredCVAE.log_likelihood-num_samples",
        lambda: CVAE.log_likelihood(INPUTS, TARGETS, 0),
        ValueError,
        "num_samples must be >= 1",
    ),
    case(
        "StructuredCVAE.log_likelihood-chunk_size",
        lambda: CVAE.log_likelihood(INPUTS, TARGETS, 2, chunk_size=0),
        ValueError,
        "chunk_size must be >= 1",
    ),
    case(
        "StructuredCVAE.log_likelihood-generator",
        lambda: CVAE.log_likelihood(INPUTS, TARGETS, 2, generator="seed"),
        TypeError,
        "generator must be a torch.Generator",
    ),
    case(
        "conditional_log_likelihood-prior",
        lambda: conditional_log_likelihood(decoder_log_likelihood, MU),
        TypeError,
        "prior must be a \\(mean, log-variance\\) pair",
    ),
    case(
        "conditional_log_likelihood-proposal",
        lambda: conditional_log_likelihood(decoder_log_likelihood, (MU, LOGVAR), proposal=(MU[:2], LOGVAR[:2])),
        ValueError,
        r"proposal mean\(2, 2\), prior mean\(4, 2\)",
    ),
    case(
        "conditional_log_likelihood-num_samples",
        lambda: conditional_log_likelihood(decoder_log_likelihood, (MU, LOGVAR), num_samples=-1),
        ValueError,
        "num_samples must be >= 1",
    ),
    case(
        "negative_conditional_log_likelihood-model",
        lambda: negative_conditional_log_likelihood(nn.Linear(2, 2), INPUTS, TARGETS),
        TypeError,
        "model must be a Baseline or a StructuredCVAE",
    ),
    case(
        "negative_conditional_log_likelihood-estimator",
        lambda: negative_conditional_log_likelihood(CVAE, INPUTS, TARGETS, estimator="exact"),
        ValueError,
        "estimator must be one of",
    ),
    case(
        "negative_conditional_log_likelihood-num_samples",
        lambda: negative_conditional_log_likelihood(CVAE, INPUTS, TARGETS, num_samples=0),
        ValueError,
        "num_samples must be >= 1",
    ),
    case(
        "negative_conditional_log_likelihood-batch_size",
        lambda: negative_conditional_log_likelihood(CVAE, INPUTS, TARGETS, batch_size=0),
        ValueError,
        "batch_size must be >= 1",
    ),
    case(
        "negative_conditional_log_likelihood-seed",
        lambda: negative_conditional_log_likelihood(CVAE, INPUTS, TARGETS, seed=0.5),
        TypeError,
        "seed must be an int",
    ),
    case(
        "negative_conditional_log_likelihood-inputs-empty",
        lambda: negative_conditional_log_likelihood(BASELINE, INPUTS[:0], TARGETS[:0]),
        ValueError,
        "inputs is empty",
    ),
    case(
        "negative_conditional_log_likelihood-targets",
        lambda: negative_conditional_log_likelihood(BASELINE, INPUTS, TARGETS[:, :5]),
        ValueError,
        "targets must have shape",
    ),
    # ------------------------------------------------------------------ cvae.plotting
    case("image_grid-columns-zero", lambda: image_grid(DIGITS, 0), ValueError, "columns must be >= 1"),
    case("image_grid-columns-float", lambda: image_grid(DIGITS, 2.0), TypeError, "columns must be an int"),
    case("image_grid-padding-negative", lambda: image_grid(DIGITS, 2, padding=-1), ValueError, "padding must be >= 0"),
    case("image_grid-padding-float", lambda: image_grid(DIGITS, 2, padding=1.5), TypeError, "padding must be an int"),
    case("image_grid-images-channels", lambda: image_grid(DIGITS.expand(4, 3, 28, 28), 2), ValueError, "images must have one"),
    case("image_grid-images-range", lambda: image_grid(DIGITS * 2, 2), ValueError, r"images must lie in \[0.0, 1.0\]"),
    case("image_grid-images-nan", lambda: image_grid(NAN_DIGITS, 2), ValueError, r"images must lie in \[0.0, 1.0\]"),
    case("image_grid-images-ndim", lambda: image_grid(DIGITS[0], 2), ValueError, "images must have 4 dimensions"),
    case("image_grid-images-int", lambda: image_grid(DIGITS.long(), 2), TypeError, "images must be a floating-point"),
    case("show_images-title", lambda: show_images(DIGITS, 2, title=3), TypeError, "title must be a str"),
    case("show_images-row_labels-str", lambda: show_images(DIGITS, 2, row_labels="ab"), TypeError, "row_labels must be a"),
    case("show_images-row_labels-int", lambda: show_images(DIGITS, 2, row_labels=[1, 2]), TypeError, "row_labels must be"),
    case(
        "show_images-row_labels-count",
        lambda: show_images(DIGITS, 2, row_labels=["a", "b", "c"]),
        ValueError,
        "row_labels has 3 entries but the grid has 2 rows",
    ),
    case("show_images-ax", lambda: show_images(DIGITS, 2, ax="left"), TypeError, "ax must be a matplotlib Axes"),
    case("show_images-columns", lambda: show_images(DIGITS, 0), ValueError, "columns must be >= 1"),
    # ------------------------------------------------------------------ cvae.source
    case("show_source-objects-none", lambda: show_source(), ValueError, "show_source needs at least one"),
    case("show_source-objects-instance", lambda: show_source(VAE_MODEL), TypeError, r"objects\[0\] must be a function"),
    case("show_source-objects-builtin", lambda: show_source(VAE, torch.zeros), TypeError, r"objects\[1\] must be a function"),
    case("show_source-objects-foreign", lambda: show_source(math), ValueError, "is not from cvae"),
]


@pytest.mark.parametrize("call, error, match", CASES)
def test_bad_argument_raises_one_clear_error_naming_it(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_cases_exist_once_each():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def test_valid_edge_cases_are_still_accepted():
    """The checks refuse only what used to fail or mislead: these calls keep working."""
    assert BASELINE(INPUTS.flatten(1)).shape == (4, 588)  # flattened inputs
    assert BernoulliDecoder(2, ())(MU).shape == (4, 1, 28, 28)  # a decoder without hidden layers
    assert log_mean_exp(MU, dim=-1).shape == (4,)  # negative dim
    assert len(Batches(DIGITS, META_DIGITS, batch_size=3)) == 2  # unshuffled tensors may live apart
    assert CONV_CVAE.decode(torch.zeros(3, 4, 2), LABELS).shape == (3, 4, 1, 28, 28)  # a stack of codes
    assert split_validation(DIGITS, LABELS, 0.5, seed=-1)[0][0].shape == (2, 1, 28, 28)  # any int seed
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast casts, so the dtype may differ there
        check_model_input("x", torch.zeros(2, 2, dtype=torch.bfloat16), nn.Linear(2, 2))
