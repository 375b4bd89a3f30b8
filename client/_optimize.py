"""The loop behind `Study.optimize`: ask, evaluate, tell, in one or more threads."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asktell.client._models import Trial, failure_reason

log = logging.getLogger("asktell.client")


def run_trials(
    ask: Callable[[str], Trial | None],
    objective: Callable[[Trial], float],
    *,
    n_trials: int | None,
    n_jobs: int,
    worker_id: str,
    on_trial: Callable[[Trial], None] | None,
) -> None:
    """Runs `objective` on trials from `ask(worker_id)` until `n_trials` are done or none come.

    With several jobs, each thread asks as `{worker_id}-{job}`. An exception from
    the objective fails its trial and the loop goes on.
    """
    if n_jobs < 1:
        raise ValueError("n_jobs must be >= 1")
    budget = _Budget(n_trials)

    def run(job: int) -> None:
        while budget.take():
            trial = ask(f"{worker_id}-{job}" if n_jobs > 1 else worker_id)
            if trial is None:
                budget.close()
                return
            try:
                value = objective(trial)
            except Exception as exc:  # the trial fails, the loop goes on
                log.warning("trial %d failed: %s", trial.number, exc)
                trial.fail(failure_reason(exc))
            else:
                if trial.state == "RUNNING":
                    _finish(trial, value)
            if on_trial is not None:
                on_trial(trial)

    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        for future in [pool.submit(run, job) for job in range(n_jobs)]:
            future.result()


def _finish(trial: Trial, value: Any) -> None:
    """Tells the objective's value; a value that is not a finite number fails the trial.

    A mapping (metric -> number, for a study with several objectives or with
    constraints) is told as it is, unless one of its numbers is not finite.
    """
    if isinstance(value, Mapping):
        bad = [
            k
            for k, v in value.items()
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
        ]
        if bad:
            trial.fail(f"the objective returned {bad[0]} = {value[bad[0]]!r}, not a finite number")
        else:
            trial.tell(value)
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if math.isfinite(number):
        trial.tell(number)
    else:
        trial.fail(f"the objective returned {value!r}, not a finite number")


class _Budget:
    """A thread-safe countdown of trials left to start (None: unlimited)."""

    def __init__(self, n: int | None) -> None:
        self._left = n
        self._closed = False
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._closed:
                return False
            if self._left is None:
                return True
            if self._left <= 0:
                return False
            self._left -= 1
            return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
