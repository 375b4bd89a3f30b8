"""User tasks for the worker tests, named as `--task tests.e2e.tasks:NAME` from the repo root.

No torch: these start in a fraction of a second, so the tests time the worker,
not a framework import.
"""

from __future__ import annotations

import time
from typing import Any

from asktell.worker.tasks import Reporter


def slow(params: dict[str, Any], reporter: Reporter) -> dict[str, float]:
    """Reports `loss` = x every 0.25 s for `steps` steps (default 8), stopping when told."""
    x = float(params["x"])
    for step in range(1, int(params.get("steps", 8)) + 1):
        time.sleep(0.25)
        if reporter.report(step, loss=x):
            break
    return {"loss": x}


def raises(params: dict[str, Any], reporter: Reporter) -> dict[str, float]:
    """Fails for kind "boom", with a two-line message (the reason keeps the first)."""
    if params["kind"] == "boom":
        raise ValueError("boom: this configuration cannot train\nsecond line")
    reporter.report(1, loss=1.0)
    return {"loss": 1.0}


def plateau(params: dict[str, Any], reporter: Reporter) -> dict[str, float]:
    """A learning curve rising to `quality`: bad configurations plateau low from the start."""
    quality = float(params["quality"])
    score = 0.0
    for epoch in range(1, 9):
        time.sleep(0.02)
        score = quality * (1 - 0.5**epoch)
        if reporter.report(epoch, score=score):
            break
    return {"score": score}


def with_attrs(params: dict[str, Any], reporter: Reporter) -> Any:
    """Returns its value with attributes, in each form a task may use, by `form`."""
    form = params["form"]
    if form == "metrics":  # the study's metric among the final metrics, plus attrs
        return {"loss": 1.0, "attrs": {"model_uri": f"/models/{reporter.trial_number}"}}
    if form == "value":  # {"value": x, "attrs": {...}}
        return {"value": 2.0, "attrs": {"epochs": 3, "converged": True}}
    if form == "number":  # a bare number, no attrs
        return 3.0
    return {"loss": 4.0, "attrs": {"bad key": 1}}  # attrs the server refuses: FAILED


def several_metrics(params: dict[str, Any], reporter: Reporter) -> Any:
    """Reports `lat` (the study's early-stopping metric) and returns every metric, by `form`:
    all of them, one missing, or one that is not finite."""
    form = params["form"]
    reporter.report(1, lat=2.0, acc=0.5)
    metrics: dict[str, Any] = {"acc": 0.9, "lat": 12.5, "mem": 300.0, "epochs": 3, "note": "x"}
    if form == "missing":
        del metrics["mem"]
    elif form == "nan":
        metrics["lat"] = float("nan")
    return metrics | {"attrs": {"form": form}}


def accuracy(params: dict[str, Any], reporter: Reporter) -> dict[str, float]:
    """`val_accuracy` of the retraining example's space at once, a smooth function of its
    parameters (best near lr 0.01, width 128, dropout 0.1), for pipeline tests."""
    import math

    lr, width = float(params["lr"]), float(params["width"])
    score = 0.99 - 0.05 * (math.log10(lr) + 2) ** 2 - 0.02 * math.log2(width / 128) ** 2
    score -= 0.2 * (float(params["dropout"]) - 0.1) ** 2 + 0.01 * int(params["depth"])
    reporter.report(1, val_accuracy=score)
    return {"val_accuracy": score}
