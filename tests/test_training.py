"""The shared training loop: history, early stopping, restored weights, divergence, repeatability."""

import math

import pytest
import torch
from torch import nn

from cvae.data import Batches
from cvae.training import History, TrainingDiverged, evaluate, fit
from cvae.vae import VAE


@pytest.fixture
def binary_digits():
    generator = torch.Generator().manual_seed(0)
    return (torch.rand(64, 1, 28, 28, generator=generator) > 0.7).float()


def tiny_vae(seed=0):
    torch.manual_seed(seed)
    return VAE(latent_dim=2, hidden_dims=(16,))


def test_fit_records_every_term_each_epoch_and_restores_the_best(binary_digits):
    model = tiny_vae()
    history = fit(model, Batches(binary_digits[:48], batch_size=16, shuffle=True),
                  Batches(binary_digits[48:], batch_size=16), epochs=4, device="cpu", progress=False)
    assert history.epochs == 4
    assert set(history.train) == set(history.validation) == {"loss", "reconstruction", "kl", "elbo"}
    assert all(len(v) == 4 for v in history.validation.values())
    best = history.validation["loss"][history.best_epoch - 1]
    assert best == min(history.validation["loss"])
    assert not model.training


def test_restored_weights_are_the_best_epochs():
    """A model whose validation loss is its first weight: training pushes it up, so epoch 1 wins."""

    class Drifting(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def loss_terms(self, x):
            # training loss decreases as w grows; the validation data see the opposite sign
            return {"loss": -self.w * x.squeeze(1)}

    model = Drifting()
    train = Batches(torch.ones(8, 1), batch_size=4)
    validation = Batches(-torch.ones(8, 1), batch_size=4)
    history = fit(model, train, validation, epochs=5, learning_rate=0.1, progress=False, device="cpu")
    assert history.best_epoch == 1
    assert model.w.item() == pytest.approx(0.2, abs=1e-6)  # two Adam steps of 0.1 in epoch 1
    assert evaluate(model, validation)["loss"] == pytest.approx(min(history.validation["loss"]))


def test_patience_stops_early():
    class Worsening(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def loss_terms(self, x):
            return {"loss": -self.w * x.squeeze(1)}

    history = fit(Worsening(), Batches(torch.ones(4, 1), batch_size=4), Batches(-torch.ones(4, 1), batch_size=4),
                  epochs=20, patience=2, progress=False, device="cpu")
    assert history.epochs == 3 and history.best_epoch == 1


class NaNAfter(nn.Module):
    """A one-weight model whose loss turns NaN after ``good_calls`` calls of loss_terms."""

    def __init__(self, good_calls):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.calls, self.good_calls = 0, good_calls

    def loss_terms(self, x):
        self.calls += 1
        value = (self.w * x.squeeze(1)) if self.calls <= self.good_calls else torch.full((len(x),), float("nan"))
        return {"loss": value}


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_good_weights():
    model = NaNAfter(good_calls=1)
    with pytest.raises(TrainingDiverged, match="the loss became nan in epoch 2.*weights of epoch 1 were restored"):
        fit(model, Batches(torch.ones(4, 1), batch_size=4), epochs=3, learning_rate=0.5, progress=False, device="cpu")
    assert model.w.item() == pytest.approx(0.5)  # after the one good step of epoch 1


def test_same_seed_same_machine_gives_bit_identical_parameters(binary_digits):
    runs = []
    for _ in range(2):
        model = tiny_vae(seed=3)
        fit(model, Batches(binary_digits, batch_size=16, shuffle=True, seed=5), epochs=2, seed=7, progress=False, device="cpu")
        runs.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs))


def test_fit_refuses_bad_arguments(binary_digits):
    batches = Batches(binary_digits, batch_size=16)
    with pytest.raises(TypeError, match="loss_terms"):
        fit(nn.Linear(2, 2), batches, epochs=1)
    with pytest.raises(TypeError, match="train must be cvae.data.Batches"):
        fit(tiny_vae(), [binary_digits], epochs=1)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        fit(tiny_vae(), batches, epochs=0)
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        fit(tiny_vae(), batches, epochs=1, learning_rate=-1.0)
    with pytest.raises(ValueError, match="patience must be >= 1"):
        fit(tiny_vae(), batches, epochs=1, patience=0)


def test_history_plot_names_unknown_terms():
    history = History(train={"loss": [1.0, 0.5]})
    with pytest.raises(ValueError, match="term must be one of"):
        history.plot("accuracy")


def test_divergence_leaves_the_last_good_checkpoint_on_disk(tmp_path):
    from cvae.checkpoints import load_checkpoint

    model, path = NaNAfter(good_calls=2), tmp_path / "run" / "model.pt"  # epoch 1: one step, one validation
    train, validation = Batches(torch.ones(4, 1), batch_size=4), Batches(torch.ones(4, 1), batch_size=4)
    with pytest.raises(TrainingDiverged, match=r"weights of epoch 1 were restored \(and are in .*model.pt\)"):
        fit(model, train, validation, epochs=3, learning_rate=0.5, progress=False, device="cpu", checkpoint=path)
    assert model.w.item() == pytest.approx(0.5)
    reloaded = NaNAfter(good_calls=0)
    payload = load_checkpoint(path, reloaded, config={"learning_rate": 0.5}, settings=["learning_rate"])
    assert reloaded.w.item() == pytest.approx(0.5) and payload["history"]["best_epoch"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]  # no temporary files left


def tiny_quadrant_batches():
    from cvae.quadrants import split_quadrants

    generator = torch.Generator().manual_seed(1)
    digits = (torch.rand(48, 1, 28, 28, generator=generator) > 0.7).float()
    return Batches(*split_quadrants(digits, 2), batch_size=16, shuffle=True, seed=2)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_quadrant_cvae_same_seed_gives_bit_identical_parameters(precision):
    from cvae.structured import Baseline, StructuredCVAE

    runs = []
    for _ in range(2):
        torch.manual_seed(4)
        model = StructuredCVAE(2, Baseline(2, (16,)), latent_dim=2, hidden_dims=(16,))
        fit(model, tiny_quadrant_batches(), epochs=2, seed=7, progress=False, device="cpu", precision=precision)
        runs.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs))


def test_bf16_training_follows_fp32_training():
    """Mixed precision changes the arithmetic, not the model: the two runs end close to each other."""
    from cvae.structured import Baseline, StructuredCVAE

    losses = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(4)
        model = StructuredCVAE(2, Baseline(2, (16,)), latent_dim=2, hidden_dims=(16,))
        history = fit(model, tiny_quadrant_batches(), epochs=3, seed=7, progress=False, device="cpu", precision=precision)
        losses[precision] = history.train["loss"]
    assert losses["fp32"][-1] < losses["fp32"][0]
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.02)


def test_train_step_applies_finite_losses_only():
    from cvae.training import adam, train_step

    layer = nn.Linear(2, 1)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def loss_terms(self, x):
            return {"loss": self.layer(x).squeeze(1), "twice": 2 * self.layer(x).squeeze(1)}

    model = Model()
    optimizer = adam(model, 0.1)
    before = layer.weight.detach().clone()
    expected = layer(torch.ones(3, 2)).sum().item()
    sums = train_step(model, optimizer, (torch.ones(3, 2),))
    assert set(sums) == {"loss", "twice"} and all(isinstance(v, float) for v in sums.values())
    assert sums["loss"] == pytest.approx(expected) and sums["twice"] == pytest.approx(2 * expected)
    assert not torch.equal(layer.weight, before)
    after = layer.weight.detach().clone()
    sums = train_step(model, optimizer, (torch.full((3, 2), float("nan")),))
    assert math.isnan(sums["loss"]) and torch.equal(layer.weight, after)


def test_train_step_adam_and_autocast_refuse_bad_arguments():
    from cvae.training import adam, autocast, train_step

    model = tiny_vae()
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        train_step(model, "adam", (torch.zeros(2, 1, 28, 28),))
    with pytest.raises(TypeError, match="batch must be a non-empty tuple of tensors"):
        train_step(model, adam(model, 1e-3), [torch.zeros(2, 1, 28, 28)])
    with pytest.raises(TypeError, match="loss_terms"):
        train_step(nn.Linear(2, 2), adam(model, 1e-3), (torch.zeros(2, 2),))
    with pytest.raises(ValueError, match="precision must be one of 'fp32', 'bf16'"):
        autocast(torch.device("cpu"), "fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        fit(model, Batches(torch.zeros(4, 1, 28, 28), batch_size=2), epochs=1, precision="double")
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        adam(model, 0.0)
    with pytest.raises(ValueError, match="has no trainable parameters"):
        adam(nn.Linear(2, 2).requires_grad_(False), 1e-3)
    with pytest.raises(TypeError, match="checkpoint must be a file path"):
        fit(model, Batches(torch.zeros(4, 1, 28, 28), batch_size=2), epochs=1, checkpoint=3)


def test_history_round_trips_through_a_dict():
    history = History(train={"loss": [2.0, 1.0]}, validation={"loss": [2.5, 1.5]}, best_epoch=2, seconds=1.5)
    assert History.from_dict(history.as_dict()) == history
    with pytest.raises(TypeError, match="values must be a dict"):
        History.from_dict([1, 2])


def test_fit_refuses_data_with_no_batch():
    empty = Batches(torch.ones(3, 1), batch_size=4, drop_last=True)
    with pytest.raises(ValueError, match=r"train has no batches \(3 examples, batch_size=4, drop_last=True\)"):
        fit(NaNAfter(good_calls=10), empty, epochs=1, progress=False, device="cpu")
    with pytest.raises(ValueError, match="validation has no batches"):
        fit(NaNAfter(good_calls=10), Batches(torch.ones(4, 1), batch_size=4), empty, epochs=1, progress=False,
            device="cpu")


def test_ctrl_c_restores_the_best_weights_and_keeps_the_history():
    from cvae.training import TrainingInterrupted

    class InterruptedIn(NaNAfter):
        def loss_terms(self, x):
            if self.calls == self.good_calls:
                raise KeyboardInterrupt
            return super().loss_terms(x)

    model = InterruptedIn(good_calls=2)  # epoch 1: one step and one validation; Ctrl-C in epoch 2
    batches = Batches(torch.ones(4, 1), batch_size=4)
    with pytest.raises(TrainingInterrupted, match="interrupted in epoch 2; the weights of epoch 1 were restored") as caught:
        fit(model, batches, batches, epochs=5, learning_rate=0.5, progress=False, device="cpu")
    assert isinstance(caught.value, KeyboardInterrupt)
    assert caught.value.history.epochs == 1 and caught.value.history.best_epoch == 1
    assert model.w.item() == pytest.approx(0.5) and not model.training


def test_a_real_divergence_is_reported_as_such_and_the_best_weights_are_kept(binary_digits):
    """A VAE at a learning rate of 1e3 blows up: the error blames training, not the data."""
    model = tiny_vae()
    with pytest.raises(TrainingDiverged, match="in epoch [0-9]+; the weights of epoch [0-9]+ were restored"):
        fit(model, Batches(binary_digits, batch_size=16), epochs=20, learning_rate=1e3, progress=False, device="cpu")
    assert not model.training
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_fit_checks_the_data_once_and_no_step_checks_again(binary_digits, monkeypatch):
    """The data are validated before the first step; the number of checks does not grow with the steps."""
    calls = []
    original = torch.aminmax
    monkeypatch.setattr(torch, "aminmax", lambda *a, **k: calls.append(1) or original(*a, **k))
    counts = []
    for epochs in (1, 3):
        calls.clear()
        fit(tiny_vae(), Batches(binary_digits, batch_size=8), Batches(binary_digits, batch_size=8), epochs=epochs,
            progress=False, device="cpu")
        counts.append(len(calls))
    assert counts[0] == counts[1] > 0
    bad = binary_digits.clone()
    bad[5, 0, 3, 3] = 2.0
    with pytest.raises(ValueError, match="images must lie in"):
        fit(tiny_vae(), Batches(bad, batch_size=8), epochs=1, progress=False, device="cpu")


def test_a_run_that_ends_worse_than_it_started_warns():
    from cvae.quadrants import split_quadrants
    from cvae.structured import Baseline

    torch.manual_seed(0)
    digits = (torch.rand(256, 1, 28, 28) > 0.7).float()
    batches = Batches(*split_quadrants(digits, 1), batch_size=32)
    with pytest.warns(RuntimeWarning, match="the training loss rose from .* the learning rate is probably too large"):
        fit(Baseline(1, (32,)), batches, epochs=3, learning_rate=1e6, progress=False, device="cpu")
    torch.manual_seed(0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fit(Baseline(1, (32,)), batches, epochs=3, learning_rate=1e-3, progress=False, device="cpu")


class Regression(nn.Linear):
    """A custom model for fit: ``loss_terms`` returns what ``terms`` makes of the per-example losses."""

    def __init__(self, terms):
        super().__init__(4, 1)
        self.terms = terms

    def loss_terms(self, x):
        return self.terms((self(x).squeeze(1) - 1.0) ** 2)


@pytest.mark.parametrize(
    "terms, error, problem",
    [
        (lambda loss: {"loss": loss.mean()}, ValueError,
         r"^Regression.loss_terms returned 'loss' as \(\) for a batch of 8: per-example tensors of "
         r"shape \(8,\) expected, not a batch mean$"),
        (lambda loss: {"error": loss}, ValueError, r"returned no 'loss' entry \(only 'error'\)"),
        (lambda loss: {"loss": loss, "mse": 0.5}, ValueError, r"returned 'mse' as float for a batch of 8"),
        (lambda loss: loss, TypeError, "must return a dict of per-example tensors, got Tensor"),
    ],
)
def test_fit_checks_what_a_custom_loss_terms_returns_before_its_first_step(terms, error, problem):
    """A batch mean used to divide every History number by the batch size; no 'loss' was a bare KeyError."""
    model = Regression(terms)
    before = model.weight.detach().clone()
    with pytest.raises(error, match=problem):
        fit(model, Batches(torch.ones(20, 4), batch_size=8), epochs=1, progress=False, device="cpu")
    assert torch.equal(model.weight, before)
    model = Regression(lambda loss: {"loss": loss, "mse": loss})
    history = fit(model, Batches(torch.ones(20, 4), batch_size=8), epochs=1, progress=False, device="cpu")
    assert history.train["loss"] == history.train["mse"]
