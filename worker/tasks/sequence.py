"""An LSTM forecasting the next value of noisy sine waves, generated here (no download).

Each example is a window of WINDOW values of sin(2*pi*f*t + phase) plus Gaussian
noise, with f and phase drawn per example; the target is the next noiseless value.
Reports val_loss (mean squared error) and val_mae after each epoch.

Hyperparameters (all optional, defaults in brackets):
- `width` [32]: hidden units (the LSTM's hidden size);
- `depth` [1]: stacked LSTM layers;
- `dropout` [0]: between stacked layers and before the output layer;
- `l2` [0]: an L2 penalty on the weights in the loss; `grad_clip` [0: off]: clip the
  gradients' total norm (LSTMs' usual guard against exploding gradients);
- the training parameters of `asktell.worker.tasks._torch`: `optimizer` [adam]
  (adam, adamw, sgd), `lr` [1e-2], `weight_decay` [0], `beta1` [0.9] (adam, adamw),
  `momentum` [0.9] (sgd), `lr_schedule` [none] (none, or plateau: ReduceLROnPlateau
  on val_loss) with `plateau_factor` [0.5] and `plateau_patience` [2], `batch_size`
  [64], `epochs` [10], `patience` [0: off].
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from torch import nn

from asktell.worker.tasks import Reporter
from asktell.worker.tasks._torch import TRAINING_PARAMETERS, number, prepare, train, warn_unknown

WINDOW = 24
N_EXAMPLES = 1200
NOISE = 0.1
DATA_SEED = 0  # one data set for every trial, so values compare
LSTM_PARAMETERS = TRAINING_PARAMETERS | {"width", "depth", "dropout"}


@functools.cache
def _waves() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train windows (n, WINDOW, 1), train targets (n, 1), val windows, val targets)."""
    rng = np.random.default_rng(DATA_SEED)
    frequency = rng.uniform(0.02, 0.12, size=(N_EXAMPLES, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(N_EXAMPLES, 1))
    t = np.arange(WINDOW + 1)[None, :]
    clean = np.sin(2 * np.pi * frequency * t + phase)
    noisy = clean[:, :WINDOW] + rng.normal(0, NOISE, size=(N_EXAMPLES, WINDOW))
    windows = noisy[:, :, None].astype(np.float32)
    targets = clean[:, WINDOW:].astype(np.float32)
    n_val = N_EXAMPLES // 5
    return windows[n_val:], targets[n_val:], windows[:n_val], targets[:n_val]


class Forecaster(nn.Module):
    """LSTM over the window, then a linear layer on the last hidden state."""

    def __init__(self, width: int, depth: int, dropout: float) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.lstm = nn.LSTM(
            1, width, num_layers=depth, batch_first=True, dropout=dropout if depth > 1 else 0.0
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # (batch, WINDOW, width)
        return self.head(self.dropout(out[:, -1]))  # type: ignore[no-any-return]


def lstm(params: dict[str, Any], reporter: Reporter) -> dict[str, float]:
    """Trains the forecaster; see the module docstring."""
    warn_unknown("sequence-lstm", params, LSTM_PARAMETERS)
    device = prepare(reporter)
    x_train, y_train, x_val, y_val = (torch.from_numpy(a).to(device) for a in _waves())
    model = Forecaster(
        int(params.get("width", 32)),
        int(params.get("depth", 1)),
        number(params, "dropout", 0.0, 0.0, 1.0),
    ).to(device)
    loss_fn = nn.MSELoss()

    def evaluate(m: nn.Module) -> dict[str, float]:
        predicted = m(x_val)
        return {
            "val_loss": loss_fn(predicted, y_val).item(),
            "val_mae": (predicted - y_val).abs().mean().item(),
        }

    return train(model, loss_fn, evaluate, (x_train, y_train), {"lr": 1e-2, **params}, reporter)
