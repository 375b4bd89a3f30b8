"""A complete ask/tell loop against a running server: `asktell serve` first."""

from __future__ import annotations

import math
import sys

from asktell.client import Client

SPEC = {
    "name": "example-quadratic",
    "objective": {"metric": "loss", "goal": "minimize"},
    "algorithm": {"name": "random", "seed": 1},
    "max_trials": 20,
    "parameters": {
        "x": {"type": "float", "min": -5.0, "max": 5.0},
        "lr": {"type": "float", "min": 1e-4, "max": 1.0, "scale": "log"},
    },
}


def main(target: str) -> None:
    with Client(target) as client:
        study = client.create_study(SPEC)
        while (trial := study.ask()) is not None:
            with trial:  # marked FAILED if the block raises
                for step in range(3):
                    if trial.report(step, float(trial.params["x"]) ** 2 / (step + 1)):
                        trial.prune("stopped early")
                        break
                else:
                    trial.tell(
                        (float(trial.params["x"]) - 1) ** 2
                        + math.log10(float(trial.params["lr"])) ** 2
                    )
        best = study.best_trial
        print(f"best trial {best.number}: {best.value:.4f} {best.params}" if best else "no trial")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051")
