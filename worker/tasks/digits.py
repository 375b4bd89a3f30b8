"""An MLP and a CIFAR-style CNN on scikit-learn's bundled 8x8 digits (no download).

Both report val_accuracy and val_loss after each epoch, on a fixed 20% validation
split. Hyperparameters (all optional, defaults in brackets):

Architecture, `digits-mlp`:
- `depth` [2]: hidden layers, 1 or more;
- `width` [64]: hidden units of every layer, or per layer `width_1` ... `width_K`
  (layer K; make `width_K` conditional on the depth: `when: {depth: [K, ..., max]}`;
  a `width_K` beyond the depth is not used);
- `activation` [relu]: relu, tanh, elu or gelu; `batch_norm` [false]: batch
  normalisation after each hidden layer; `dropout` [0]: after each hidden layer.

Architecture, `digits-cnn` (blocks of convolution, activation and 2x2 max-pooling;
the fourth block, at 1x1, does not pool):
- `depth` [2]: convolution blocks, 1 to 4;
- `width` [16]: channels of the first block, doubled at each further block, or per
  block `width_1` ... `width_4` (conditional on the depth, as for the MLP);
- `kernel_size` [3]: odd, 1 to 7 (padding keeps the side);
- `activation` [relu]; `batch_norm` [false]: after each convolution;
- `dense_units` [0: none]: a hidden fully connected layer before the output;
- `dropout` [0]: before the output layer (and before the dense layer).

Both: `l2` [0], an L2 penalty on the weights in the loss, and the training parameters
of `asktell.worker.tasks._torch`: `optimizer` [adam] (adam, adamw, sgd), `lr` [1e-3],
`weight_decay` [0], `beta1` [0.9] (adam, adamw), `momentum` [0.9] (sgd), `lr_schedule`
[none] (none, plateau) with `plateau_factor` [0.5] and `plateau_patience` [2],
`grad_clip` [0], `batch_size` [64], `epochs` [10], `patience` [0: off].
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from asktell.worker.tasks import Reporter
from asktell.worker.tasks._torch import (
    TRAINING_PARAMETERS,
    activation,
    number,
    prepare,
    train,
    warn_unknown,
    widths,
)

N_CLASSES = 10
SPLIT_SEED = 0  # the same validation images for every trial, so values compare
SIDE = 8
MAX_CNN_DEPTH = 4  # 8 -> 4 -> 2 -> 1, then a block that keeps 1x1
MLP_PARAMETERS = TRAINING_PARAMETERS | {"depth", "width", "activation", "batch_norm", "dropout"}
CNN_PARAMETERS = MLP_PARAMETERS | {"kernel_size", "dense_units"}


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, val images, val labels); images (n, 8, 8) in [0, 1]."""
    images, labels = _load_digits()
    images = (images / 16.0).astype(np.float32).reshape(-1, SIDE, SIDE)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    n_val = len(images) // 5
    val, tr = order[:n_val], order[n_val:]
    return images[tr], labels[tr], images[val], labels[val]


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits: (1797, 64) pixel values 0-16, (1797,) labels.

    Read from the file scikit-learn ships (`datasets/data/digits.csv.gz`: 64 pixels and
    the label per row, what `load_digits` reads) without importing scikit-learn, whose
    import is about 2 s of CPU, as much again as torch's, at every worker start. Where
    that file is not found, or not in that layout, `load_digits` reads it.
    """
    spec = importlib.util.find_spec("sklearn")
    folders = spec.submodule_search_locations if spec is not None else None
    for folder in folders or []:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            data = np.loadtxt(path, delimiter=",", ndmin=2)
            if data.shape == (1797, SIDE * SIDE + 1):
                return data[:, :-1], data[:, -1].astype(int)
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    return images, labels


def _flag(params: Mapping[str, Any], name: str) -> bool:
    value = params.get(name, False)
    if not isinstance(value, bool | int):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return bool(value)


def _depth(params: Mapping[str, Any], default: int, high: int) -> int:
    return int(number(params, "depth", default, 1, high))


def mlp_model(params: Mapping[str, Any]) -> nn.Module:
    """The MLP a trial's parameters describe; see the module docstring."""
    dropout = number(params, "dropout", 0.0, 0.0, 1.0)
    batch_norm = _flag(params, "batch_norm")
    width = int(params.get("width", 64))
    layers: list[nn.Module] = [nn.Flatten()]
    size = SIDE * SIDE
    for out in widths(params, _depth(params, 2, 64), lambda k: width):
        layers.append(nn.Linear(size, out))
        if batch_norm:
            layers.append(nn.BatchNorm1d(out))
        layers += [activation(params), nn.Dropout(dropout)]
        size = out
    layers.append(nn.Linear(size, N_CLASSES))
    return nn.Sequential(*layers)


def cnn_model(params: Mapping[str, Any]) -> nn.Module:
    """The CNN a trial's parameters describe; see the module docstring."""
    depth = _depth(params, 2, MAX_CNN_DEPTH)
    width = int(params.get("width", 16))
    kernel = int(params.get("kernel_size", 3))
    if kernel < 1 or kernel > 7 or kernel % 2 == 0:
        raise ValueError(f"kernel_size must be odd, 1 to 7, got {kernel}")
    batch_norm = _flag(params, "batch_norm")
    dropout = number(params, "dropout", 0.0, 0.0, 1.0)
    dense = int(number(params, "dense_units", 0, 0))
    layers: list[nn.Module] = [nn.Unflatten(1, (1, SIDE))]
    size, side = 1, SIDE
    for out in widths(params, depth, lambda k: width * 2 ** (k - 1)):
        layers.append(nn.Conv2d(size, out, kernel, padding=kernel // 2))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out))
        layers.append(activation(params))
        if side > 1:
            layers.append(nn.MaxPool2d(2))
            side //= 2
        size = out
    layers += [nn.Flatten(), nn.Dropout(dropout)]
    features = size * side * side
    if dense:
        layers += [nn.Linear(features, dense), activation(params), nn.Dropout(dropout)]
        features = dense
    layers.append(nn.Linear(features, N_CLASSES))
    return nn.Sequential(*layers)


def _run(
    task: str,
    model_fn: Callable[[Mapping[str, Any]], nn.Module],
    known: frozenset[str],
    params: dict[str, Any],
    reporter: Reporter,
) -> dict[str, float]:
    warn_unknown(task, params, known)
    device = prepare(reporter)
    x_train, y_train, x_val, y_val = _digits()
    features = torch.from_numpy(x_train).to(device)
    labels = torch.from_numpy(y_train).to(device)
    val_features = torch.from_numpy(x_val).to(device)
    val_labels = torch.from_numpy(y_val).to(device)
    model = model_fn(params).to(device)
    loss_fn = nn.CrossEntropyLoss()

    def evaluate(m: nn.Module) -> dict[str, float]:
        logits = m(val_features)
        return {
            "val_accuracy": (logits.argmax(1) == val_labels).float().mean().item(),
            "val_loss": loss_fn(logits, val_labels).item(),
        }

    return train(model, loss_fn, evaluate, (features, labels), params, reporter)


def mlp(params: dict[str, Any], reporter: Reporter) -> dict[str, float]:
    """A multilayer perceptron on the digits; see the module docstring."""
    return _run("digits-mlp", mlp_model, MLP_PARAMETERS, params, reporter)


def cnn(params: dict[str, Any], reporter: Reporter) -> dict[str, float]:
    """A small convolutional network on the digits; see the module docstring."""
    return _run("digits-cnn", cnn_model, CNN_PARAMETERS, params, reporter)
