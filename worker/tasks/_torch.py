"""What the built-in tasks share: device and seed set-up, optimisers, the epoch loop.

Tensors live on the task's device from the start (these data sets are small), so
CPU and CUDA run the same code and batches are index slices, not a DataLoader.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from asktell.worker.tasks import Reporter

Batch = tuple[torch.Tensor, torch.Tensor]


def cuda_device_count() -> int:
    """CUDA devices torch can use here (0 on a CPU-only build or machine)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def prepare(reporter: Reporter) -> torch.device:
    """Threads, seeds and determinism for one trial; returns the device to train on."""
    if reporter.threads > 0 and torch.get_num_threads() != reporter.threads:
        torch.set_num_threads(reporter.threads)
    torch.manual_seed(reporter.seed)
    # Same seed, same result: no autotuned kernels that differ between runs.
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    return torch.device(reporter.device)


def optimizer(params: Mapping[str, Any], model: nn.Module) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD with Nesterov momentum, from `optimizer`, `lr`, `weight_decay`.

    SGD's `momentum` (0.9 when the study has no such parameter) is typically a
    conditional parameter: `when: {optimizer: [sgd]}`.
    """
    name = str(params.get("optimizer", "adam"))
    lr = float(params.get("lr", 1e-3))
    weight_decay = float(params.get("weight_decay", 0.0))
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=lr,
            weight_decay=weight_decay,
            momentum=float(params.get("momentum", 0.9)),
            nesterov=True,
        )
    raise ValueError(f"optimizer must be adam, adamw or sgd, got {name!r}")


def train(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    evaluate: Callable[[nn.Module], dict[str, float]],
    data: Batch,
    params: Mapping[str, Any],
    reporter: Reporter,
) -> dict[str, float]:
    """Trains `model` for `epochs`, reporting `evaluate(model)` after each epoch.

    Stops early, between batches or after an epoch, when the reporter says so.

    Returns:
        The last epoch's metrics, plus `epochs_trained`.
    """
    features, targets = data
    epochs = int(params.get("epochs", 10))
    batch_size = int(params.get("batch_size", 64))
    opt = optimizer(params, model)
    generator = torch.Generator().manual_seed(reporter.seed)
    metrics: dict[str, float] = {}
    epoch = 0
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(features), generator=generator).to(features.device)
        for start in range(0, len(features), batch_size):
            if reporter.stopping:
                return {**metrics, "epochs_trained": float(epoch - 1)}
            index = order[start : start + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(features[index]), targets[index])
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"the training loss diverged at epoch {epoch}")
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
            opt.step()
        model.eval()
        with torch.no_grad():
            metrics = evaluate(model)
        if reporter.report(epoch, samples=float(len(features)), **metrics):
            break
    return {**metrics, "epochs_trained": float(epoch)}
