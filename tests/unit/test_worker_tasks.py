"""The built-in tasks' parameters: architecture, optimisers, the plateau schedule, L2 and
patience, on the real models and the real training loop (no server: the reporter here only
records what a task reports). The example specs are valid."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from asktell.client import spec_to_proto
from asktell.server import convert
from tests import ci
from tests.conftest import REPO

ci.require_module("torch", "worker")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from asktell.worker.tasks import _torch  # noqa: E402
from asktell.worker.tasks.digits import cnn_model, mlp, mlp_model  # noqa: E402
from asktell.worker.tasks.sequence import lstm  # noqa: E402


class Recorder:
    """A reporter that records the reports and never says stop."""

    device = "cpu"
    seed = 3
    threads = 1
    trial_number = 1
    stopping = False

    def __init__(self) -> None:
        self.reports: list[tuple[int, dict[str, float]]] = []

    def report(self, step: int, **metrics: float) -> bool:
        self.reports.append((step, metrics))
        return False


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def model() -> nn.Module:
    return nn.Linear(2, 1)


def test_sgd_takes_momentum_and_adam_takes_beta1() -> None:
    sgd = _torch.optimizer({"optimizer": "sgd", "momentum": 0.7, "beta1": 0.5, "lr": 0.1}, model())
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults["momentum"] == 0.7 and sgd.defaults["nesterov"] is True
    assert sgd.defaults["lr"] == 0.1
    for name, kind in (("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)):
        adam = _torch.optimizer({"optimizer": name, "beta1": 0.8, "momentum": 0.1}, model())
        assert type(adam) is kind
        assert adam.defaults["betas"] == (0.8, 0.999)
    # Defaults: Adam's betas, SGD's Nesterov momentum of 0.9; no momentum, no Nesterov.
    assert _torch.optimizer({}, model()).defaults["betas"] == (0.9, 0.999)
    assert _torch.optimizer({"optimizer": "sgd"}, model()).defaults["momentum"] == 0.9
    plain = _torch.optimizer({"optimizer": "sgd", "momentum": 0.0}, model())
    assert plain.defaults["nesterov"] is False


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"optimizer": "rmsprop"}, "optimizer must be adam, adamw or sgd, got 'rmsprop'"),
        ({"optimizer": "adam", "beta1": 1.0}, "beta1 must be"),
        ({"optimizer": "sgd", "momentum": -0.1}, "momentum must be"),
        ({"lr": -1}, "lr must be >= 0"),
    ],
)
def test_bad_optimizer_parameters_name_the_parameter(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _torch.optimizer(params, model())


def convs(network: nn.Module) -> list[nn.Conv2d]:
    return [m for m in network.modules() if isinstance(m, nn.Conv2d)]


def test_the_cnn_takes_per_block_widths_up_to_its_depth() -> None:
    network = cnn_model({"depth": 3, "width_1": 8, "width_2": 24, "width_3": 40, "width_4": 99})
    assert [c.out_channels for c in convs(network)] == [8, 24, 40]
    # Without width_K: `width` doubled at each block, as before the per-block widths.
    assert [c.out_channels for c in convs(cnn_model({"depth": 4, "width": 4}))] == [4, 8, 16, 32]
    assert [c.out_channels for c in convs(cnn_model({}))] == [16, 32]
    images = torch.zeros(5, 8, 8)
    for depth in (1, 2, 3, 4):
        out = cnn_model({"depth": depth, "kernel_size": 5, "dense_units": 16})(images)
        assert out.shape == (5, 10)


def test_the_cnn_takes_kernel_size_activation_batch_norm_and_a_dense_layer() -> None:
    network = cnn_model(
        {"kernel_size": 5, "activation": "gelu", "batch_norm": True, "dense_units": 32}
    )
    assert {c.kernel_size for c in convs(network)} == {(5, 5)}
    assert {c.padding for c in convs(network)} == {(2, 2)}
    kinds = [type(m) for m in network]
    assert nn.GELU in kinds and nn.ReLU not in kinds
    assert kinds.count(nn.BatchNorm2d) == 2
    assert [m.out_features for m in network if isinstance(m, nn.Linear)] == [32, 10]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"kernel_size": 4}, "kernel_size must be odd"),
        ({"depth": 5}, r"depth must be \[1, 4\], got 5"),
        ({"activation": "swish"}, "activation must be relu, tanh, elu or gelu, got 'swish'"),
        ({"depth": 2, "width_2": 0}, "width_2 must be >= 1"),
        ({"batch_norm": "yes"}, "batch_norm must be true or false"),
    ],
)
def test_bad_cnn_parameters_name_the_parameter(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cnn_model(params)


def test_the_mlp_takes_per_layer_widths_and_the_activation() -> None:
    network = mlp_model(
        {"depth": 2, "width_1": 48, "width_2": 12, "width_3": 7, "activation": "elu"}
    )
    assert [m.out_features for m in network if isinstance(m, nn.Linear)] == [48, 12, 10]
    assert sum(isinstance(m, nn.ELU) for m in network) == 2
    assert [m.out_features for m in mlp_model({"width": 20}) if isinstance(m, nn.Linear)] == [
        20,
        20,
        10,
    ]


def test_l2_penalty_is_the_sum_of_the_squared_weights() -> None:
    network = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2), nn.Linear(2, 1))
    expected = sum(
        float(m.weight.detach().pow(2).sum()) for m in network if isinstance(m, nn.Linear)
    )
    assert float(_torch.l2_penalty(network).detach()) == pytest.approx(expected)
    recurrent = nn.LSTM(1, 4)
    assert float(_torch.l2_penalty(recurrent).detach()) == pytest.approx(
        float((recurrent.weight_ih_l0.pow(2).sum() + recurrent.weight_hh_l0.pow(2).sum()).detach())
    )


def flat_training(params: dict[str, Any], losses: list[float]) -> tuple[dict[str, float], Recorder]:
    """Trains a linear model with an evaluation that returns `losses`, one per epoch."""
    torch.manual_seed(0)
    network = model()
    data = (torch.randn(16, 2), torch.randn(16, 1))
    curve = iter(losses)

    def evaluate(m: nn.Module) -> dict[str, float]:
        return {"val_loss": next(curve)}

    reporter = Recorder()
    result = _torch.train(network, nn.MSELoss(), evaluate, data, params, reporter)
    return result, reporter


def test_the_plateau_schedule_lowers_the_learning_rate_when_val_loss_stalls() -> None:
    params = {
        "lr": 0.1,
        "epochs": 5,
        "lr_schedule": "plateau",
        "plateau_factor": 0.5,
        "plateau_patience": 1,
    }
    _, reporter = flat_training(params, [1.0, 1.0, 1.0, 1.0, 1.0])
    # Epoch 1 sets the best; two epochs without improvement (patience 1) halve the rate.
    assert [round(m["lr"], 6) for _, m in reporter.reports] == [0.1, 0.1, 0.1, 0.05, 0.05]
    _, steady = flat_training({**params, "lr_schedule": "none"}, [1.0] * 5)
    assert {m["lr"] for _, m in steady.reports} == {0.1}


def test_patience_stops_and_returns_the_best_epoch() -> None:
    result, reporter = flat_training({"epochs": 10, "patience": 2}, [3.0, 1.0, 2.0, 2.5, 0.5])
    assert [step for step, _ in reporter.reports] == [1, 2, 3, 4]
    assert result == {"val_loss": 1.0, "epochs_trained": 4.0, "best_epoch": 2.0}
    result, reporter = flat_training({"epochs": 3}, [3.0, 1.0, 2.0])
    assert result == {"val_loss": 2.0, "epochs_trained": 3.0}


def test_the_tasks_train_with_the_new_parameters_and_warn_of_unknown_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reporter = Recorder()
    with caplog.at_level(logging.WARNING, "asktell.worker"):
        result = mlp({"epochs": 2, "l2": 1e-4, "grad_clip": 1.0, "widht": 3}, reporter)
    assert result["epochs_trained"] == 2.0 and 0 <= result["val_accuracy"] <= 1
    assert "digits-mlp does not use the parameters widht" in caplog.text
    reporter = Recorder()
    lstm({"epochs": 2, "width": 8, "lr_schedule": "plateau", "grad_clip": 0.5}, reporter)
    assert [sorted(m) for _, m in reporter.reports] == [
        ["lr", "samples", "val_loss", "val_mae"]
    ] * 2


@pytest.mark.parametrize("path", sorted((REPO / "examples").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_spec_is_valid(path: Any) -> None:
    spec = yaml.safe_load(path.read_text())
    _, message = spec_to_proto(spec)
    assert convert.study_spec(message).space.params


def test_the_digits_are_scikit_learns_read_without_importing_it() -> None:
    """The digits tasks read scikit-learn's file themselves (`_load_digits`: its import is
    about 2 s of each worker's start-up) and get exactly what `load_digits` returns."""
    code = (
        "import sys; from asktell.worker.tasks.digits import _load_digits; "
        "images, labels = _load_digits(); "
        "assert 'sklearn' not in sys.modules, 'scikit-learn was imported'; "
        "assert images.shape == (1797, 64) and labels.shape == (1797,)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    from sklearn.datasets import load_digits

    from asktell.worker.tasks.digits import _load_digits

    images, labels = _load_digits()
    expected_images, expected_labels = load_digits(return_X_y=True)
    assert images.dtype == expected_images.dtype and labels.dtype == expected_labels.dtype
    assert (images == expected_images).all() and (labels == expected_labels).all()
