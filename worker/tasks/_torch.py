"""What the built-in tasks share: device and seed set-up, activations, optimisers, the
learning-rate schedule, the epoch loop with its regularisers and patience.

Tensors live on the task's device from the start (these data sets are small), so
CPU and CUDA run the same code and batches are index slices, not a DataLoader.

The training parameters every built-in task understands (all optional, defaults
in brackets); `TRAINING_PARAMETERS` lists them:

- `optimizer` [adam]: adam, adamw or sgd; `lr` [1e-3; the LSTM 1e-2];
  `weight_decay` [0] (L2 in the gradient for adam and sgd, decoupled for adamw);
- `beta1` [0.9]: Adam's and AdamW's first-moment decay (used by adam and adamw only,
  so make it conditional: `when: {optimizer: [adam, adamw]}`);
- `momentum` [0.9]: SGD's Nesterov momentum (sgd only: `when: {optimizer: [sgd]}`);
- `lr_schedule` [none]: none, or plateau (ReduceLROnPlateau on val_loss) with
  `plateau_factor` [0.5] (the learning rate is multiplied by it) and
  `plateau_patience` [2] (epochs without improvement before it is);
- `l2` [0]: an L2 penalty, l2 * the sum of the squared weights of the linear,
  convolution and LSTM layers (not biases or norms), added to the training loss;
- `grad_clip` [0: off]: clip the gradients' total norm to this value;
- `batch_size` [64], `epochs` [10];
- `patience` [0: off]: stop when val_loss has not improved for this many epochs and
  return the metrics of the best epoch (Keras' EarlyStopping with restore_best_weights).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from asktell.worker.tasks import Reporter

Batch = tuple[torch.Tensor, torch.Tensor]

log = logging.getLogger("asktell.worker")

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}
OPTIMIZERS = ("adam", "adamw", "sgd")
LR_SCHEDULES = ("none", "plateau")
TRAINING_PARAMETERS = frozenset(
    {
        "optimizer",
        "lr",
        "weight_decay",
        "beta1",
        "momentum",
        "lr_schedule",
        "plateau_factor",
        "plateau_patience",
        "l2",
        "grad_clip",
        "batch_size",
        "epochs",
        "patience",
    }
)
# The metric the schedule and the patience watch: both tasks report it, lower is better.
MONITOR = "val_loss"


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


def warn_unknown(task: str, params: Mapping[str, Any], known: Iterable[str]) -> None:
    """Logs the parameters `task` does not use (a typo in a spec reads as such).

    `width_K` is known when `width` is: the per-layer widths.
    """
    names = set(known)
    unused = sorted(
        name
        for name in params
        if name not in names and not ("width" in names and re.fullmatch(r"width_[1-9]", name))
    )
    if unused:
        log.warning("%s does not use the parameters %s", task, ", ".join(unused))


def choice(params: Mapping[str, Any], name: str, default: str, allowed: Iterable[str]) -> str:
    """The string parameter `name`, one of `allowed`.

    Raises:
        ValueError: another value, naming the parameter and the values allowed.
    """
    options = tuple(allowed)
    value = str(params.get(name, default))
    if value not in options:
        raise ValueError(
            f"{name} must be {', '.join(options[:-1])} or {options[-1]}, got {value!r}"
        )
    return value


def number(
    params: Mapping[str, Any], name: str, default: float, low: float, high: float = math.inf
) -> float:
    """The numeric parameter `name`, within [low, high].

    Raises:
        ValueError: out of range, naming the parameter.
    """
    value = float(params.get(name, default))
    if not low <= value <= high:
        shown = f"[{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
        raise ValueError(f"{name} must be {shown}, got {value:g}")
    return value


def activation(params: Mapping[str, Any]) -> nn.Module:
    """A new activation layer from `activation` [relu]: relu, tanh, elu or gelu."""
    return ACTIVATIONS[choice(params, "activation", "relu", ACTIVATIONS)]()


def widths(params: Mapping[str, Any], depth: int, default: Callable[[int], int]) -> list[int]:
    """The width of each of `depth` layers: `width_K` for layer K, else `default(K)`.

    Raises:
        ValueError: a width below 1.
    """
    sizes = [int(params.get(f"width_{k}", default(k))) for k in range(1, depth + 1)]
    for k, size in enumerate(sizes, 1):
        if size < 1:
            raise ValueError(f"width_{k} must be >= 1, got {size}")
    return sizes


def optimizer(params: Mapping[str, Any], model: nn.Module) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD with Nesterov momentum, from `optimizer`, `lr`, `weight_decay`.

    Adam's and AdamW's `beta1` (0.9 by default) and SGD's `momentum` (0.9 by
    default) are typically conditional parameters: `when: {optimizer: [adam, adamw]}`
    and `when: {optimizer: [sgd]}`; each optimiser ignores the other's.
    """
    name = choice(params, "optimizer", "adam", OPTIMIZERS)
    lr = number(params, "lr", 1e-3, 0.0)
    weight_decay = number(params, "weight_decay", 0.0, 0.0)
    if name in ("adam", "adamw"):
        betas = (number(params, "beta1", 0.9, 0.0, 0.999999), 0.999)
        adam = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        return adam(model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
    momentum = number(params, "momentum", 0.9, 0.0, 1.0)
    return torch.optim.SGD(
        model.parameters(),
        lr=lr,
        weight_decay=weight_decay,
        momentum=momentum,
        nesterov=momentum > 0,  # Nesterov needs some momentum
    )


def scheduler(
    params: Mapping[str, Any], opt: torch.optim.Optimizer
) -> torch.optim.lr_scheduler.ReduceLROnPlateau | None:
    """ReduceLROnPlateau on val_loss when `lr_schedule` is plateau; None for none."""
    if choice(params, "lr_schedule", "none", LR_SCHEDULES) == "none":
        return None
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt,
        mode="min",
        factor=number(params, "plateau_factor", 0.5, 1e-6, 0.999999),
        patience=int(number(params, "plateau_patience", 2, 0)),
    )


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """The sum of the squared weights of the model's linear, convolution and LSTM layers."""
    weights = [
        p
        for m in model.modules()
        if isinstance(m, nn.Linear | nn.Conv2d | nn.LSTM)
        for name, p in m.named_parameters(recurse=False)
        if name.startswith("weight")
    ]
    return torch.stack([w.pow(2).sum() for w in weights]).sum()


def train(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    evaluate: Callable[[nn.Module], dict[str, float]],
    data: Batch,
    params: Mapping[str, Any],
    reporter: Reporter,
) -> dict[str, float]:
    """Trains `model` for `epochs`, reporting `evaluate(model)` after each epoch.

    `evaluate` returns the validation metrics, val_loss among them. Each report also
    carries `samples` (the epoch's training samples) and `lr` (the learning rate the
    epoch trained with). Stops early, between batches or after an epoch, when the
    reporter says so, or when `patience` epochs passed without a better val_loss.

    Returns:
        The last epoch's metrics (with `patience`: the best epoch's), plus
        `epochs_trained` (and with `patience`, `best_epoch`).
    """
    features, targets = data
    epochs = int(number(params, "epochs", 10, 0))
    batch_size = int(number(params, "batch_size", 64, 1))
    l2 = number(params, "l2", 0.0, 0.0)
    grad_clip = number(params, "grad_clip", 0.0, 0.0)
    patience = int(number(params, "patience", 0, 0))
    opt = optimizer(params, model)
    schedule = scheduler(params, opt)
    generator = torch.Generator().manual_seed(reporter.seed)
    metrics: dict[str, float] = {}
    best: tuple[float, int, dict[str, float]] | None = None  # (val_loss, epoch, metrics)
    epoch = 0
    for epoch in range(1, epochs + 1):
        lr = float(opt.param_groups[0]["lr"])
        model.train()
        order = torch.randperm(len(features), generator=generator).to(features.device)
        for start in range(0, len(features), batch_size):
            if reporter.stopping:
                return _result(metrics, epoch - 1, best, patience)
            index = order[start : start + batch_size]
            if len(index) == 1 and start > 0:
                continue  # a last batch of one sample: batch normalisation needs two
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(features[index]), targets[index])
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"the training loss diverged at epoch {epoch}")
            if l2 > 0:
                loss = loss + l2 * l2_penalty(model)
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
            if grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            opt.step()
        model.eval()
        with torch.no_grad():
            metrics = evaluate(model)
        monitored = metrics[MONITOR]
        if schedule is not None:
            schedule.step(monitored)
        if best is None or monitored < best[0]:
            best = (monitored, epoch, metrics)
        if reporter.report(epoch, samples=float(len(features)), lr=lr, **metrics):
            break
        if patience and epoch - best[1] >= patience:
            log.debug("no better %s for %d epochs: stopping at epoch %d", MONITOR, patience, epoch)
            break
    return _result(metrics, epoch, best, patience)


def _result(
    metrics: dict[str, float],
    epochs_trained: int,
    best: tuple[float, int, dict[str, float]] | None,
    patience: int,
) -> dict[str, float]:
    if patience and best is not None:
        return {**best[2], "epochs_trained": float(epochs_trained), "best_epoch": float(best[1])}
    return {**metrics, "epochs_trained": float(epochs_trained)}
