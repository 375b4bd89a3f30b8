"""A user task for the staged-tuning tests, `--task tests.integration.stage_tasks:score`.

No torch, no training: a made-up validation accuracy that depends on the architecture
(depth, width, dropout) and on the optimiser (lr, optimizer, momentum), reported over
two "epochs", so that workers start and finish in a fraction of a second.
"""

from __future__ import annotations

import math
from typing import Any

from asktell.worker.tasks import Reporter


def score(params: dict[str, Any], reporter: Reporter) -> dict[str, float]:
    """val_accuracy in (0, 1): best near depth 2, width 48, dropout 0.1, lr 1e-2, sgd 0.9."""
    architecture = (
        abs(int(params["depth"]) - 2) * 0.1
        + abs(int(params["width"]) - 48) / 480
        + abs(float(params["dropout"]) - 0.1)
    )
    optimiser = abs(math.log10(float(params["lr"])) + 2) * 0.05
    if params.get("optimizer") == "sgd":
        optimiser += abs(float(params["momentum"]) - 0.9) * 0.1
    accuracy = 0.0
    for epoch in (1, 2):
        accuracy = (1 - 0.5**epoch) * math.exp(-(architecture + optimiser))
        if reporter.report(epoch, val_accuracy=accuracy):
            break
    return {"val_accuracy": accuracy}
