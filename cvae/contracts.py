"""What every public function and method of the math modules accepts: their argument contracts.

Each contract takes the arguments of the function it guards (``self`` first for a
method) and raises a ``TypeError`` or ``ValueError`` naming the bad argument. The
function declares it with ``@checked(contracts.<name>)`` (:func:`cvae.checks.checked`),
so the contract runs once, at the outermost call, and not at all when validation is
off; the function's own body is the math only. Kept in one place so that the modules a
reader studies (:mod:`cvae.distributions`, :mod:`cvae.networks`, the models) read like
the equations they implement.

Sections follow the modules, in the order the chapters introduce them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from cvae.checks import (
    check_bool,
    check_choice,
    check_gaussian,
    check_generator,
    check_int,
    check_model_input,
    check_positive_float,
    check_positive_int,
    check_range,
    check_same_device,
    check_same_shape,
    check_sizes,
    check_tensor,
    validation_enabled,
)
from cvae.data import IMAGE_PIXELS, IMAGE_SHAPE, NUM_CLASSES, check_images, check_labels

# ----------------------------------------------------------------- cvae.distributions, cvae.elbo, cvae.estimators


def gaussian_kl(
    mu_q: Tensor,
    logvar_q: Tensor,
    mu_p: Tensor | None = None,
    logvar_p: Tensor | None = None,
) -> None:
    """Finite floating parameters of one shape on one device; the prior's two given together or not at all."""
    check_tensor("mu_q", mu_q, floating=True)
    check_tensor("logvar_q", logvar_q, floating=True)
    check_same_shape(("mu_q", "logvar_q"), (mu_q, logvar_q))
    check_same_device(("mu_q", "logvar_q"), (mu_q, logvar_q))
    if (mu_p is None) != (logvar_p is None):
        raise ValueError("give both mu_p and logvar_p, or neither (for the N(0, I) prior)")
    if mu_p is not None:
        check_tensor("mu_p", mu_p, floating=True)
        check_tensor("logvar_p", logvar_p, floating=True)
        check_same_shape(("mu_q", "mu_p", "logvar_p"), (mu_q, mu_p, logvar_p))
        check_same_device(("mu_q", "logvar_q", "mu_p", "logvar_p"), (mu_q, logvar_q, mu_p, logvar_p))


def gaussian_log_density(z: Tensor, mu: Tensor, logvar: Tensor) -> None:
    """Finite floating tensors on one device whose shapes broadcast together."""
    check_tensor("z", z, floating=True)
    check_tensor("mu", mu, floating=True)
    check_tensor("logvar", logvar, floating=True)
    try:
        torch.broadcast_shapes(z.shape, mu.shape, logvar.shape)
    except RuntimeError:
        raise ValueError(
            f"z{tuple(z.shape)}, mu{tuple(mu.shape)} and logvar{tuple(logvar.shape)} do not broadcast"
        ) from None
    check_same_device(("z", "mu", "logvar"), (z, mu, logvar))


def bernoulli_log_likelihood(logits: Tensor, target: Tensor) -> None:
    """Finite floating logits; targets in ``[0, 1]`` with the logits' per-example shape and a batch that broadcasts."""
    check_tensor("logits", logits, floating=True)
    check_tensor("target", target, floating=True)
    check_range("target", target, 0.0, 1.0)
    check_same_device(("logits", "target"), (logits, target))
    if target.dim() > logits.dim():
        raise ValueError(
            f"target has more dimensions than logits: {tuple(target.shape)} vs {tuple(logits.shape)}"
        )
    if logits.shape[logits.dim() - target.dim() + 1 :] != target.shape[1:]:
        raise ValueError(
            f"logits{tuple(logits.shape)} and target{tuple(target.shape)} differ in their "
            "per-example shape"
        )
    if target.dim() and logits.shape[logits.dim() - target.dim()] != target.shape[0] != 1:
        raise ValueError(f"target{tuple(target.shape)} does not broadcast to logits{tuple(logits.shape)}")


def log_mean_exp(values: Tensor, dim: int = 0) -> None:
    """Floating values without NaN (``-inf`` is a fine log-weight), at least one along an existing ``dim``."""
    check_tensor("values", values, floating=True, finite=False)
    check_int("dim", dim)
    if not -values.dim() <= dim < values.dim():
        raise ValueError(f"dim must index one of the {values.dim()} dimensions of values, got {dim}")
    if values.numel() == 0 or values.shape[dim] == 0:
        raise ValueError(f"values must have at least one entry along dim {dim}")
    if bool(torch.isnan(values).any()):
        raise ValueError("values contains NaN")


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> None:
    """Finite floating parameters of one shape on one device, and a generator for that device (or ``None``)."""
    check_tensor("mu", mu, floating=True)
    check_tensor("logvar", logvar, floating=True)
    check_same_shape(("mu", "logvar"), (mu, logvar))
    check_same_device(("mu", "logvar"), (mu, logvar))
    check_generator("generator", generator, mu.device)


def elbo_terms(logits: Tensor, target: Tensor, kl: Tensor) -> None:
    """Logits and target as for :func:`bernoulli_log_likelihood`, and a floating ``kl`` of its result's shape."""
    check_tensor("kl", kl, floating=True, finite=False)
    bernoulli_log_likelihood(logits, target)
    # bernoulli_log_likelihood keeps the dimensions of logits up to and including the batch one of target.
    reconstruction = logits.shape[: logits.dim() - target.dim() + 1]
    if reconstruction != kl.shape:
        raise ValueError(f"reconstruction {tuple(reconstruction)} and kl {tuple(kl.shape)} differ in shape")


def importance_sampled_log_likelihood(
    log_likelihood: Callable[[Tensor], Tensor],
    proposal: tuple[Tensor, Tensor],
    prior: tuple[Tensor, Tensor] | None = None,
    num_samples: int = 100,
    chunk_size: int = 100,
    generator: torch.Generator | None = None,
) -> None:
    """Two Gaussians ``(B, d)`` of one shape, positive counts, a CPU generator (or ``None``), a callable likelihood.

    What the callable returns is checked chunk by chunk, by :func:`log_likelihood_samples`.
    """
    mu_q, _ = check_gaussian("proposal", proposal)
    if prior is not None:
        mu_p, _ = check_gaussian("prior", prior)
        check_same_shape(("proposal mean", "prior mean"), (mu_q, mu_p))
        check_same_device(("proposal mean", "prior mean"), (mu_q, mu_p))
    check_positive_int("num_samples", num_samples)
    check_positive_int("chunk_size", chunk_size)
    check_generator("generator", generator)
    if not callable(log_likelihood):
        raise TypeError("log_likelihood must be a function of the latent samples")


def log_likelihood_samples(log_px: object, shape: tuple[int, int]) -> None:
    """What the ``log_likelihood`` callable of :func:`importance_sampled_log_likelihood` returns: a tensor ``shape``.

    The result exists only inside the estimator, so the estimator calls this on each chunk
    (the one contract a body calls itself). It reads shapes, not values, and honours
    :func:`cvae.checks.set_validation`. Without it a scalar or a ``(B,)`` result would
    broadcast into a wrong estimate without an error.
    """
    if validation_enabled() and (not isinstance(log_px, Tensor) or tuple(log_px.shape) != shape):
        got = tuple(log_px.shape) if isinstance(log_px, Tensor) else type(log_px).__name__
        raise ValueError(f"log_likelihood must return a tensor of shape (samples, batch) = {shape}, got {got}")


def count_active_units(means: Tensor, threshold: float = 0.01) -> None:
    """Finite floating posterior means ``(N, d)`` of at least two inputs, and a positive threshold."""
    check_tensor("means", means, ndim=2, floating=True)
    if len(means) < 2:
        raise ValueError(f"means must hold at least two inputs (a variance across them), got {tuple(means.shape)}")
    check_positive_float("threshold", threshold)

# ----------------------------------------------------------------- cvae.networks, cvae.vae, cvae.classifier


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> None:
    """At least two positive layer widths, and an activation that is a module class (``nn.ReLU``, not ``nn.ReLU()``)."""
    sizes = check_sizes("sizes", sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes needs an input and an output size, got {sizes}")
    if not (isinstance(activation, type) and issubclass(activation, nn.Module)):
        raise TypeError(f"activation must be a torch.nn.Module class such as nn.ReLU, got {activation!r}")


def gaussian_encoder_init(encoder: nn.Module, input_dim: int, hidden_dims: Sequence[int], latent_dim: int) -> None:
    """Positive widths, with at least one hidden layer."""
    check_positive_int("input_dim", input_dim)
    check_positive_int("latent_dim", latent_dim)
    check_sizes("hidden_dims", hidden_dims)


def gaussian_encoder_forward(encoder: nn.Module, inputs: Tensor) -> None:
    """Finite inputs ``(B, ...)`` with ``input_dim`` features per example, of the encoder's dtype and device."""
    check_tensor("inputs", inputs, floating=True)
    if inputs.dim() < 2 or math.prod(inputs.shape[1:]) != encoder.input_dim:
        raise ValueError(f"inputs must have {encoder.input_dim} features per example, got shape {tuple(inputs.shape)}")
    check_model_input("inputs", inputs, encoder)


def bernoulli_decoder_init(
    decoder: nn.Module, input_dim: int, hidden_dims: Sequence[int], output_shape: Sequence[int] = IMAGE_SHAPE
) -> None:
    """Positive widths and output sizes; no hidden layer at all is allowed."""
    check_positive_int("input_dim", input_dim)
    check_sizes("output_shape", output_shape)
    check_sizes("hidden_dims", hidden_dims, allow_empty=True)


def bernoulli_decoder_forward(decoder: nn.Module, inputs: Tensor) -> None:
    """Finite inputs ``(..., input_dim)`` with at least a batch dimension, of the decoder's dtype and device."""
    check_tensor("inputs", inputs, floating=True)
    if inputs.dim() < 2 or inputs.shape[-1] != decoder.input_dim:
        raise ValueError(f"inputs must have shape (..., {decoder.input_dim}), got {tuple(inputs.shape)}")
    check_model_input("inputs", inputs, decoder)


def conditional_bernoulli_decoder_init(
    decoder: nn.Module, condition_dim: int, latent_dim: int, hidden_dims: Sequence[int], output_shape: Sequence[int]
) -> None:
    """Positive sizes, with at least one hidden layer (the first layer is the one split in two)."""
    check_positive_int("condition_dim", condition_dim)
    check_positive_int("latent_dim", latent_dim)
    check_sizes("hidden_dims", hidden_dims)
    check_sizes("output_shape", output_shape)


def conditional_bernoulli_decoder_forward(decoder: nn.Module, condition: Tensor, z: Tensor) -> None:
    """Finite conditions ``(B, condition_dim)`` and codes ``(..., B, latent_dim)`` of the decoder's dtype and device."""
    check_tensor("condition", condition, floating=True)
    if condition.dim() != 2 or condition.shape[1] != decoder.condition_dim:
        raise ValueError(f"condition must have shape (B, {decoder.condition_dim}), got {tuple(condition.shape)}")
    check_tensor("z", z, floating=True)
    if z.dim() < 2 or z.shape[-2:] != (len(condition), decoder.latent_dim):
        raise ValueError(f"z must have shape (..., {len(condition)}, {decoder.latent_dim}), got {tuple(z.shape)}")
    check_model_input("condition", condition, decoder)
    check_model_input("z", z, decoder)


def vae_init(model: nn.Module, latent_dim: int = 16, hidden_dims: Sequence[int] = (512, 256)) -> None:
    """A positive latent size and at least one positive hidden width."""
    check_positive_int("latent_dim", latent_dim)
    check_sizes("hidden_dims", hidden_dims)


def vae_loss_terms(model: nn.Module, images: Tensor) -> None:
    """A batch of digits ``(B, 1, 28, 28)`` in ``[0, 1]``, of the model's dtype and device."""
    check_model_input("images", check_images("images", images), model)


def vae_reconstruct(model: nn.Module, images: Tensor) -> None:
    """A batch of digits ``(B, 1, 28, 28)`` in ``[0, 1]``, of the model's dtype and device."""
    check_model_input("images", check_images("images", images), model)


def vae_sample(model: nn.Module, count: int, generator: torch.Generator | None = None) -> None:
    """A positive count and a CPU generator (or ``None``): the codes are drawn on the CPU."""
    check_positive_int("count", count)
    check_generator("generator", generator)


def vae_log_likelihood(
    model: nn.Module, images: Tensor, num_samples: int, generator: torch.Generator | None = None
) -> None:
    """Digits as for :func:`vae_loss_terms`, a positive sample count and a CPU generator (or ``None``)."""
    check_model_input("images", check_images("images", images), model)
    check_positive_int("num_samples", num_samples)
    check_generator("generator", generator)


def digit_classifier_forward(model: nn.Module, images: Tensor) -> None:
    """A batch of digits ``(B, 1, 28, 28)`` in ``[0, 1]``, of the model's dtype and device."""
    check_model_input("images", check_images("images", images), model)


def digit_classifier_loss_terms(model: nn.Module, images: Tensor, labels: Tensor) -> None:
    """Digits as for :func:`digit_classifier_forward` and one label in ``0..9`` per image, on the model's device."""
    digit_classifier_forward(model, images)
    check_model_input("labels", check_labels("labels", labels, count=len(images)), model)


def digit_classifier_predict(model: nn.Module, images: Tensor, batch_size: int = 1000) -> None:
    """Digits ``(N, 1, 28, 28)`` in ``[0, 1]`` of the model's dtype, on any device, and a positive batch size."""
    check_images("images", images)
    check_positive_int("batch_size", batch_size)
    # predict moves each chunk to the model: an empty slice moved there checks the dtype alone.
    check_model_input("images", images[:0].to(next(model.parameters()).device), model)


def agreement(predicted: Tensor, labels: Tensor) -> None:
    """Two non-empty vectors of digit labels ``0..9`` of one length."""
    check_labels("predicted", predicted)
    check_labels("labels", labels, count=len(predicted))
    if len(labels) == 0:
        raise ValueError("labels is empty")

# ----------------------------------------------------------------- cvae.label_cvae



def one_hot(labels: Tensor) -> None:
    """Integer digit labels ``(B,)`` in ``0..9``."""
    check_labels("labels", labels)


def conv_block(in_channels: int, out_channels: int) -> None:
    """Two positive channel counts."""
    check_positive_int("in_channels", in_channels)
    check_positive_int("out_channels", out_channels)


def deconv_block(in_channels: int, out_channels: int) -> None:
    """Two positive channel counts."""
    conv_block(in_channels, out_channels)


def conv_label_encoder_init(encoder: nn.Module, latent_dim: int, channels: Sequence[int] = (32, 64)) -> None:
    """A positive latent size and at least one positive channel count."""
    check_positive_int("latent_dim", latent_dim)
    check_sizes("channels", channels)


def conv_label_encoder_forward(encoder: nn.Module, images: Tensor, condition: Tensor) -> None:
    """Images ``(B, 1, 28, 28)`` and one-hot rows ``(B, 10)``, floating, of the encoder's dtype and device.

    Layout only, no pass over the values: the models check the pixels and labels of a
    batch (:func:`label_cvae_loss_terms`); this stops a wrong layout from failing deep
    inside a layer when a reader calls an encoder.
    """
    check_tensor("images", images, ndim=4, floating=True, finite=False)
    if tuple(images.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"images must have shape (B, 1, 28, 28), got {tuple(images.shape)}")
    check_tensor("condition", condition, ndim=2, floating=True, finite=False)
    if tuple(condition.shape) != (len(images), NUM_CLASSES):
        raise ValueError(
            f"condition must have shape ({len(images)}, {NUM_CLASSES}) (one-hot labels), got {tuple(condition.shape)}"
        )
    check_model_input("images", images, encoder)
    check_model_input("condition", condition, encoder)


def conv_decoder_init(decoder: nn.Module, input_dim: int, channels: Sequence[int] = (64, 32)) -> None:
    """A positive input size, and channel counts whose stride-2 layers (one each) tile the image exactly."""
    check_positive_int("input_dim", input_dim)
    layers = len(check_sizes("channels", channels))
    if any(side % 2**layers for side in IMAGE_SHAPE[1:]):
        raise ValueError(
            f"channels has {layers} entries, so {layers} stride-2 layers, which need image sides divisible by "
            f"{2**layers}; the images are {IMAGE_SHAPE[1]}x{IMAGE_SHAPE[2]}"
        )


def conv_decoder_forward(decoder: nn.Module, inputs: Tensor) -> None:
    """Floating inputs ``(..., input_dim)`` with at least a batch dimension, of the decoder's dtype and device."""
    check_tensor("inputs", inputs, floating=True, finite=False)
    if inputs.dim() < 2 or inputs.shape[-1] != decoder.input_dim:
        raise ValueError(f"inputs must have shape (..., {decoder.input_dim}), got {tuple(inputs.shape)}")
    check_model_input("inputs", inputs, decoder)


def mlp_label_encoder_init(encoder: nn.Module, latent_dim: int, hidden_dims: Sequence[int] = (512, 256)) -> None:
    """A positive latent size and at least one positive hidden width."""
    check_positive_int("latent_dim", latent_dim)
    check_sizes("hidden_dims", hidden_dims)


def mlp_label_encoder_forward(encoder: nn.Module, images: Tensor, condition: Tensor) -> None:
    """As for :func:`conv_label_encoder_forward`."""
    conv_label_encoder_forward(encoder, images, condition)


def label_cvae_init(
    model: nn.Module,
    architecture: str = "conv",
    latent_dim: int = 16,
    objective: str = "elbo",
    kld_weight: float = 0.00025,  # cvae.label_cvae.PYTORCH_VAE_KLD_WEIGHT
    prior: object = "standard_normal",
) -> None:
    """A known architecture, objective and prior, a positive latent size and a positive, finite KL weight.

    ``prior`` is a name in ``cvae.label_cvae.PRIORS`` or a ``LabelPrior`` built for
    ``latent_dim`` and the 10 digit classes.
    """
    from cvae.label_cvae import ARCHITECTURES, OBJECTIVES, PRIORS, LabelPrior

    check_choice("architecture", architecture, ARCHITECTURES)
    check_positive_int("latent_dim", latent_dim)
    check_choice("objective", objective, OBJECTIVES)
    check_positive_float("kld_weight", kld_weight)
    if isinstance(prior, str):
        check_choice("prior", prior, PRIORS)
    elif not isinstance(prior, LabelPrior):
        names = ", ".join(map(repr, PRIORS))
        raise TypeError(f"prior must be one of {names} or a LabelPrior, got {type(prior).__name__}")
    elif (prior.latent_dim, prior.num_classes) != (latent_dim, NUM_CLASSES):
        raise ValueError(
            f"prior is built for latent_dim={prior.latent_dim} and {prior.num_classes} classes, "
            f"but this model has latent_dim={latent_dim} and {NUM_CLASSES} classes"
        )


def label_prior_init(prior: nn.Module, latent_dim: int, num_classes: int = NUM_CLASSES) -> None:
    """A positive latent size and a positive number of classes."""
    check_positive_int("latent_dim", latent_dim)
    check_positive_int("num_classes", num_classes)


def label_prior_forward(prior: nn.Module, labels: Tensor) -> None:
    """``int64`` class indices ``(B,)`` in ``0..num_classes - 1``, on the prior's device."""
    check_tensor("labels", labels, ndim=1, floating=False)
    if labels.dtype != torch.int64:
        raise TypeError(f"labels must be an int64 (torch.long) tensor of class indices, got dtype {labels.dtype}")
    check_range("labels", labels, 0, prior.num_classes - 1)
    check_model_input("labels", labels, prior)


def label_prior_sample(prior: nn.Module, labels: Tensor, generator: torch.Generator | None = None) -> None:
    """Labels as for :func:`label_prior_forward` and a CPU generator (or ``None``)."""
    label_prior_forward(prior, labels)
    check_generator("generator", generator)


def standardize(z: Tensor, gaussian: object) -> None:
    """Floating codes ``(..., d)`` and a ``(mean, log-variance)`` pair of their shape, on their device."""
    check_tensor("z", z, floating=True)
    mean, _ = check_gaussian("gaussian", gaussian)
    check_same_shape(("z", "gaussian mean"), (z, mean))
    check_same_device(("z", "gaussian mean"), (z, mean))


def kl_to_prior(posterior: object, prior: object) -> None:
    """Two ``(mean, log-variance)`` pairs of one shape ``(B, d)``, on one device."""
    posterior_mean, _ = check_gaussian("posterior", posterior)
    prior_mean, _ = check_gaussian("prior", prior)
    check_same_shape(("posterior mean", "prior mean"), (posterior_mean, prior_mean))
    check_same_device(("posterior mean", "prior mean"), (posterior_mean, prior_mean))


def active_units(model: nn.Module, images: Tensor, labels: Tensor, threshold: float = 0.01) -> None:
    """A label CVAE, a batch as for :func:`label_cvae_loss_terms` and a positive threshold."""
    from cvae.label_cvae import LabelCVAE

    if not isinstance(model, LabelCVAE):
        raise TypeError(f"model must be a LabelCVAE, got {type(model).__name__}")
    label_cvae_loss_terms(model, images, labels)
    check_positive_float("threshold", threshold)


def label_cvae_decode(model: nn.Module, z: Tensor, labels: Tensor) -> None:
    """Finite codes ``(B, d)`` or ``(S, B, d)`` of the model's dtype and device, and ``B`` labels in ``0..9``."""
    check_tensor("z", z, ndim=(2, 3), floating=True)
    if z.shape[-1] != model.latent_dim:
        raise ValueError(f"z must have shape (..., B, {model.latent_dim}), got {tuple(z.shape)}")
    check_model_input("z", z, model)
    check_labels("labels", labels, count=z.shape[-2])


def label_cvae_loss_terms(model: nn.Module, images: Tensor, labels: Tensor) -> None:
    """Digits ``(B, 1, 28, 28)`` in ``[0, 1]`` and their ``B`` labels in ``0..9``, on the model's device."""
    check_model_input("images", check_images("images", images), model)
    check_model_input("labels", check_labels("labels", labels, count=len(images)), model)


def label_cvae_encode(model: nn.Module, images: Tensor, labels: Tensor) -> None:
    """A batch as for :func:`label_cvae_loss_terms`."""
    label_cvae_loss_terms(model, images, labels)


def label_cvae_generate(
    model: nn.Module, labels: Tensor, z: Tensor | None = None, generator: torch.Generator | None = None
) -> None:
    """Labels ``0..9``, a CPU generator (or ``None``), and ``z`` ``None`` or ``(B, d)`` of the model's dtype."""
    check_labels("labels", labels)
    check_generator("generator", generator)
    if z is None:
        return
    if tuple(check_tensor("z", z, floating=True).shape) != (len(labels), model.latent_dim):
        raise ValueError(f"z must have shape {(len(labels), model.latent_dim)}, got {tuple(z.shape)}")
    check_model_input("z", z.to(next(model.parameters()).device), model)  # generate moves z to the model


def label_cvae_log_likelihood(
    model: nn.Module, images: Tensor, labels: Tensor, num_samples: int, generator: torch.Generator | None = None
) -> None:
    """A batch as for :func:`label_cvae_loss_terms`, a positive sample count and a CPU generator (or ``None``)."""
    label_cvae_loss_terms(model, images, labels)
    check_positive_int("num_samples", num_samples)
    check_generator("generator", generator)


# ----------------------------------------------------------------- cvae.quadrants, cvae.structured
# cvae.quadrants, whose checks these contracts use, imports this module for its own
# contracts: its names are imported inside the contracts, when they run.



def quadrant_mask(num_given: int) -> None:
    """A number of given quadrants: an int in ``{1, 2, 3}``."""
    from cvae.quadrants import check_num_given

    check_num_given(num_given)


def output_size(num_given: int) -> None:
    """As for :func:`quadrant_mask`."""
    quadrant_mask(num_given)


def split_quadrants(images: Tensor, num_given: int) -> None:
    """Digits ``(N, 1, 28, 28)`` in ``[0, 1]`` and a number of given quadrants."""
    check_images("images", images)
    quadrant_mask(num_given)


def join_quadrants(inputs: Tensor, outputs: Tensor, num_given: int) -> None:
    """Inputs from :func:`~cvae.quadrants.split_quadrants` for ``num_given``; outputs ``(..., N, P)`` in [0, 1]."""
    from cvae.quadrants import check_quadrant_inputs, output_size

    check_quadrant_inputs("inputs", inputs, num_given)
    check_tensor("outputs", outputs, floating=True)
    check_range("outputs", outputs, 0.0, 1.0)
    check_same_device(("inputs", "outputs"), (inputs, outputs))
    expected = (len(inputs), output_size(num_given))
    if outputs.dim() < 2 or tuple(outputs.shape[-2:]) != expected:
        raise ValueError(f"outputs must have shape (..., {expected[0]}, {expected[1]}), got {tuple(outputs.shape)}")


def check_alpha(alpha: object) -> float:
    """Require the hybrid weight of :class:`cvae.structured.StructuredCVAE`: a real number in ``[0, 1]``."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"alpha must be a number in [0, 1], got {type(alpha).__name__}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:  # also refuses NaN
        raise ValueError(f"alpha must be in [0, 1] (1: CVAE, 0: GSNN), got {alpha}")
    return alpha


def _quadrant_inputs(model: nn.Module, inputs: Tensor) -> None:
    """Inputs from ``split_quadrants`` for the model's ``num_given``, of its dtype and device."""
    from cvae.quadrants import check_quadrant_inputs

    check_model_input("inputs", inputs, model)
    check_quadrant_inputs("inputs", inputs, model.num_given)


def _quadrant_targets(model: nn.Module, inputs: Tensor, targets: Tensor) -> None:
    """Targets ``(B, P)`` in ``[0, 1]`` beside ``B`` inputs: the model's ``P`` output pixels, on the inputs' device."""
    check_tensor("targets", targets, ndim=2, floating=True)
    if tuple(targets.shape) != (len(inputs), model.output_dim):
        raise ValueError(
            f"targets must have shape (B, P) = ({len(inputs)}, {model.output_dim}) for "
            f"num_given={model.num_given} and {len(inputs)} inputs, got {tuple(targets.shape)}"
        )
    check_same_device(("inputs", "targets"), (inputs, targets))
    check_range("targets", targets, 0.0, 1.0)


def _estimator(model: nn.Module, estimator: str) -> None:
    """A known estimator, and not importance sampling for a GSNN: it has no proposal q(z | x, y)."""
    from cvae.structured import ESTIMATORS, StructuredCVAE

    check_choice("estimator", estimator, ESTIMATORS)
    if estimator == "importance" and isinstance(model, StructuredCVAE) and model.recognition_net is None:
        raise ValueError(
            "estimator='importance' needs q(z | x, y), but a GSNN (alpha=0) has no recognition network: "
            "use estimator='monte_carlo'"
        )


def baseline_init(model: nn.Module, num_given: int, hidden_dims: Sequence[int] = (256, 256)) -> None:
    """A number of given quadrants and at least one positive hidden width."""
    quadrant_mask(num_given)
    check_sizes("hidden_dims", hidden_dims)


def baseline_forward(model: nn.Module, inputs: Tensor) -> None:
    """Floating inputs ``(B, 1, 28, 28)`` or ``(B, 784)`` of the model's dtype and device (layout, not values)."""
    check_tensor("inputs", inputs, floating=True, finite=False)
    if inputs.dim() < 2 or math.prod(inputs.shape[1:]) != IMAGE_PIXELS:
        raise ValueError(f"inputs must have shape (B, 1, 28, 28) or (B, 784), got {tuple(inputs.shape)}")
    check_model_input("inputs", inputs, model)


def baseline_loss_terms(model: nn.Module, inputs: Tensor, targets: Tensor) -> None:
    """Inputs from ``split_quadrants`` for the model's ``num_given``, on its device; targets ``(B, P)`` in [0, 1]."""
    _quadrant_inputs(model, inputs)
    _quadrant_targets(model, inputs, targets)


def baseline_predict(model: nn.Module, inputs: Tensor) -> None:
    """Inputs from ``split_quadrants`` for the model's ``num_given``, of its dtype and device."""
    _quadrant_inputs(model, inputs)


def baseline_log_likelihood(model: nn.Module, inputs: Tensor, targets: Tensor) -> None:
    """A batch as for :func:`baseline_loss_terms`."""
    baseline_loss_terms(model, inputs, targets)


def conditional_log_likelihood(
    log_likelihood: Callable[[Tensor], Tensor],
    prior: tuple[Tensor, Tensor],
    proposal: tuple[Tensor, Tensor] | None = None,
    num_samples: int = 100,
    chunk_size: int = 100,
    generator: torch.Generator | None = None,
) -> None:
    """What :func:`importance_sampled_log_likelihood` accepts, with the proposal defaulting to the prior."""
    check_gaussian("prior", prior)  # first: with proposal=None the estimator would call it the proposal
    importance_sampled_log_likelihood(
        log_likelihood, prior if proposal is None else proposal, prior, num_samples, chunk_size, generator
    )


def structured_cvae_init(
    model: nn.Module,
    num_given: int,
    baseline: nn.Module,
    *,
    alpha: float = 1.0,
    latent_dim: int = 32,
    hidden_dims: Sequence[int] = (256, 256),
    num_particles: int = 10,
    gsnn_objective: str = "mean_log",
) -> None:
    """A trained :class:`~cvae.structured.Baseline` of the same task, ``alpha`` in ``[0, 1]``, positive sizes."""
    from cvae.structured import GSNN_OBJECTIVES, Baseline

    quadrant_mask(num_given)
    if not isinstance(baseline, Baseline):
        raise TypeError(f"baseline must be a cvae.structured.Baseline, got {type(baseline).__name__}")
    if baseline.num_given != num_given:
        raise ValueError(f"baseline was built for num_given={baseline.num_given}, this model for num_given={num_given}")
    check_alpha(alpha)
    check_positive_int("latent_dim", latent_dim)
    check_sizes("hidden_dims", hidden_dims)
    check_positive_int("num_particles", num_particles)
    check_choice("gsnn_objective", gsnn_objective, GSNN_OBJECTIVES)


def structured_cvae_prior(model: nn.Module, inputs: Tensor) -> None:
    """Inputs as for :func:`baseline_predict`."""
    _quadrant_inputs(model, inputs)


def structured_cvae_recognize(model: nn.Module, inputs: Tensor, targets: Tensor) -> None:
    """A batch as for :func:`baseline_loss_terms`, for a model with a recognition network (not a GSNN)."""
    baseline_loss_terms(model, inputs, targets)
    if model.recognition_net is None:
        raise RuntimeError("a GSNN (alpha=0) has no recognition network; use estimator='monte_carlo'")


def structured_cvae_generate_logits(model: nn.Module, inputs: Tensor, z: Tensor) -> None:
    """Inputs as for :func:`baseline_predict`, and codes as for the generation network's forward."""
    _quadrant_inputs(model, inputs)
    conditional_bernoulli_decoder_forward(model.generation_net, inputs.flatten(1), z)


def structured_cvae_loss_terms(model: nn.Module, inputs: Tensor, targets: Tensor) -> None:
    """A batch as for :func:`baseline_loss_terms`."""
    baseline_loss_terms(model, inputs, targets)


def structured_cvae_sample(
    model: nn.Module, inputs: Tensor, num_samples: int, generator: torch.Generator | None = None
) -> None:
    """Inputs as for :func:`baseline_predict`, a positive sample count and a CPU generator (or ``None``)."""
    _quadrant_inputs(model, inputs)
    check_positive_int("num_samples", num_samples)
    check_generator("generator", generator)


def structured_cvae_log_likelihood(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    num_samples: int = 100,
    estimator: str = "importance",
    chunk_size: int = 100,
    generator: torch.Generator | None = None,
) -> None:
    """A batch as for :func:`baseline_loss_terms`, an estimator the model has, positive counts, a CPU generator."""
    baseline_loss_terms(model, inputs, targets)
    _estimator(model, estimator)
    check_positive_int("num_samples", num_samples)
    check_positive_int("chunk_size", chunk_size)
    check_generator("generator", generator)


def negative_conditional_log_likelihood(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor,
    *,
    estimator: str = "importance",
    num_samples: int = 100,
    batch_size: int = 100,
    seed: int = 0,
) -> None:
    """A quadrant model, an estimator it has, positive counts, an int seed and a non-empty data set on any device."""
    from cvae.quadrants import check_quadrant_inputs
    from cvae.structured import Baseline, StructuredCVAE

    if not isinstance(model, (Baseline, StructuredCVAE)):
        raise TypeError(f"model must be a Baseline or a StructuredCVAE, got {type(model).__name__}")
    _estimator(model, estimator)
    check_positive_int("num_samples", num_samples)
    check_positive_int("batch_size", batch_size)
    check_int("seed", seed)
    check_quadrant_inputs("inputs", inputs, model.num_given)
    _quadrant_targets(model, inputs, targets)
    if not len(inputs):
        raise ValueError("inputs is empty: there is no example to score")
    # The batches move to the model: an empty slice moved there checks the dtype alone.
    check_model_input("inputs", inputs[:0].to(next(model.parameters()).device), model)


# ----------------------------------------------------------------- cvae.linear_gaussian



def _float64(name: str, value: object, ndim: int | tuple[int, ...], width: int | None = None) -> Tensor:
    """A finite float64 tensor with ``ndim`` dimensions (one or several) and, if given, ``width`` columns."""
    tensor = check_tensor(name, value, ndim=ndim, floating=True)
    if tensor.dtype != torch.float64:
        raise TypeError(f"{name} must be float64 (the exact checks need it), got dtype {tensor.dtype}")
    if width is not None and tensor.shape[-1] != width:
        raise ValueError(f"{name} must have {width} entries in its last dimension, got shape {tuple(tensor.shape)}")
    return tensor


def _same_batch(names: tuple[str, ...], tensors: tuple[Tensor, ...]) -> None:
    """All ``tensors`` (already checked) describe the same examples: one batch size."""
    sizes = [t.shape[0] for t in tensors]
    if any(n != sizes[0] for n in sizes):
        listing = ", ".join(f"{name}{tuple(t.shape)}" for name, t in zip(names, tensors))
        raise ValueError(f"batch sizes must match: {listing}")


def _linear_gaussian_condition(model, c: object) -> None:
    """``c`` is given exactly when the model has a condition, and then it is float64 ``(B, K)``."""
    if model.condition_dim == 0 and c is not None:
        raise TypeError("c was given, but this model has no condition (no A and U): leave c out")
    if model.condition_dim and c is None:
        raise TypeError(f"c is required: this model has a condition of {model.condition_dim} coordinates")
    if c is not None:
        _float64("c", c, 2, model.condition_dim)


def _linear_gaussian_data(model, x: object, c: object) -> None:
    """``x`` of shape ``(B, D)`` and, for a conditional model, its conditions ``c`` of shape ``(B, K)``."""
    _float64("x", x, 2, model.data_dim)
    _linear_gaussian_condition(model, c)
    if c is not None:
        _same_batch(("x", "c"), (x, c))


def _linear_gaussian_q(model, x: object, q_mean: object, q_logvar: object, c: object) -> None:
    """The data, and the parameters of one diagonal Gaussian q(z) per row of ``x``."""
    _linear_gaussian_data(model, x, c)
    _float64("q_mean", q_mean, 2, model.latent_dim)
    _float64("q_logvar", q_logvar, 2, model.latent_dim)
    _same_batch(("x", "q_mean", "q_logvar"), (x, q_mean, q_logvar))


def linear_gaussian_init(model) -> None:
    """The fields of a :class:`~cvae.linear_gaussian.LinearGaussianModel`: float64, matching sizes, ``s > 0``."""
    W = _float64("W", model.W, 2)
    _float64("b", model.b, 1, W.shape[0])
    check_positive_float("noise_std", model.noise_std)
    if (model.A is None) != (model.U is None):
        raise ValueError("give both A and U (a conditional model) or neither (no condition)")
    if model.A is not None:
        A = _float64("A", model.A, 2)
        if A.shape[0] != W.shape[1]:
            raise ValueError(f"A must have W's {W.shape[1]} latent rows, got shape {tuple(A.shape)}")
        U = _float64("U", model.U, 2, A.shape[1])
        if U.shape[0] != W.shape[0]:
            raise ValueError(f"U must have W's {W.shape[0]} data rows, got shape {tuple(U.shape)}")


def linear_gaussian_prior(model, c: object) -> None:
    _linear_gaussian_condition(model, c)


def linear_gaussian_log_evidence(model, x: object, *, c: object = None) -> None:
    _linear_gaussian_data(model, x, c)


def linear_gaussian_posterior(model, x: object, *, c: object = None) -> None:
    _linear_gaussian_data(model, x, c)


def linear_gaussian_log_joint(model, x: object, z: object, *, c: object = None) -> None:
    _linear_gaussian_data(model, x, c)
    _float64("z", z, (2, 3), model.latent_dim)
    if z.shape[-2] != x.shape[0]:
        raise ValueError(f"z must hold one latent per row of x: z{tuple(z.shape)}, x{tuple(x.shape)}")


def linear_gaussian_elbo(model, x: object, q_mean: object, q_logvar: object, *, c: object = None) -> None:
    _linear_gaussian_q(model, x, q_mean, q_logvar, c)


def linear_gaussian_log_weights(
    model,
    x: object,
    q_mean: object,
    q_logvar: object,
    num_samples: object,
    generator: object = None,
    *,
    c: object = None,
) -> None:
    _linear_gaussian_q(model, x, q_mean, q_logvar, c)
    check_positive_int("num_samples", num_samples)
    check_generator("generator", generator)


def linear_gaussian_kl_to_posterior(model, x: object, q_mean: object, q_logvar: object, *, c: object = None) -> None:
    _linear_gaussian_q(model, x, q_mean, q_logvar, c)


def linear_gaussian_sample(model, n: object = None, generator: object = None, *, c: object = None) -> None:
    _linear_gaussian_condition(model, c)
    if c is None or n is not None:
        check_positive_int("n", n)
    if c is not None and n is not None and n != c.shape[0]:
        raise ValueError(f"n must be left out or equal c's {c.shape[0]} rows, got {n}")
    check_generator("generator", generator)


def random_linear_gaussian(
    data_dim: object,
    latent_dim: object,
    noise_std: object,
    seed: object,
    *,
    condition_dim: object = 0,
    orthogonal_columns: object = False,
) -> None:
    check_positive_int("data_dim", data_dim)
    check_positive_int("latent_dim", latent_dim)
    check_positive_float("noise_std", noise_std)
    check_positive_int("seed", seed, minimum=0)
    check_positive_int("condition_dim", condition_dim, minimum=0)
    check_bool("orthogonal_columns", orthogonal_columns)
    if orthogonal_columns and latent_dim > data_dim:
        raise ValueError(f"orthogonal columns need latent_dim <= data_dim, got {latent_dim} > {data_dim}")
