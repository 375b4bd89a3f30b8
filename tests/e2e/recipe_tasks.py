"""The built-in tasks, recording which parameters each trial handed them (attrs `seen`),
named as `--task tests.e2e.recipe_tasks:NAME` from the repo root. They import torch."""

from __future__ import annotations

from typing import Any

from asktell.worker.tasks import Reporter
from asktell.worker.tasks.digits import cnn
from asktell.worker.tasks.sequence import lstm


def _seen(params: dict[str, Any]) -> dict[str, str]:
    return {"seen": ",".join(sorted(params))}


def cnn_seen(params: dict[str, Any], reporter: Reporter) -> dict[str, Any]:
    """digits-cnn, with the names of the parameters it received in attrs `seen`."""
    return {**cnn(dict(params), reporter), "attrs": _seen(params)}


def lstm_seen(params: dict[str, Any], reporter: Reporter) -> dict[str, Any]:
    """sequence-lstm, with the names of the parameters it received in attrs `seen`."""
    return {**lstm(dict(params), reporter), "attrs": _seen(params)}
