"""An MLP and a small CNN on scikit-learn's bundled 8x8 digits (no download).

Hyperparameters (all optional, defaults in brackets): lr [1e-3], weight_decay [0],
width [64] (hidden units; CNN: channels of the first block), depth [2] (hidden
layers; CNN: conv blocks, 1 or 2), dropout [0], batch_size [64],
optimizer [adam] (adam, adamw, sgd), epochs [10]. Reports val_accuracy and
val_loss after each epoch, on a fixed 20% validation split.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from asktell.worker.tasks import Reporter
from asktell.worker.tasks._torch import prepare, train

N_CLASSES = 10
SPLIT_SEED = 0  # the same validation images for every trial, so values compare


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, val images, val labels); images (n, 8, 8) in [0, 1]."""
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    images = (images / 16.0).astype(np.float32).reshape(-1, 8, 8)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    n_val = len(images) // 5
    val, tr = order[:n_val], order[n_val:]
    return images[tr], labels[tr], images[val], labels[val]


def _mlp(params: Mapping[str, Any]) -> nn.Module:
    width = int(params.get("width", 64))
    dropout = float(params.get("dropout", 0.0))
    layers: list[nn.Module] = [nn.Flatten()]
    size = 64
    for _ in range(int(params.get("depth", 2))):
        layers += [nn.Linear(size, width), nn.ReLU(), nn.Dropout(dropout)]
        size = width
    layers.append(nn.Linear(size, N_CLASSES))
    return nn.Sequential(*layers)


def _cnn(params: Mapping[str, Any]) -> nn.Module:
    channels = int(params.get("width", 16))
    depth = int(params.get("depth", 2))
    if depth not in (1, 2):
        raise ValueError(f"depth must be 1 or 2 for the CNN (8x8 images), got {depth}")
    layers: list[nn.Module] = [nn.Unflatten(1, (1, 8))]
    size, side = 1, 8
    for block in range(depth):
        out = channels * 2**block
        layers += [nn.Conv2d(size, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        size, side = out, side // 2
    layers += [
        nn.Flatten(),
        nn.Dropout(float(params.get("dropout", 0.0))),
        nn.Linear(size * side * side, N_CLASSES),
    ]
    return nn.Sequential(*layers)


def _run(model_fn: Any, params: dict[str, Any], reporter: Reporter) -> dict[str, float]:
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
    return _run(_mlp, params, reporter)


def cnn(params: dict[str, Any], reporter: Reporter) -> dict[str, float]:
    """A small convolutional network on the digits; see the module docstring."""
    return _run(_cnn, params, reporter)
