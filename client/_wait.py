"""`asktell study wait`: block until a study is finished, for the next step of a pipeline.

Exit codes, so that a workflow can branch on them:

| code | meaning |
| --- | --- |
| 0 | COMPLETED (budget used, every trial finished) with at least one COMPLETE trial |
| 1 | an error (unknown study, server unreachable for longer than the retries) |
| 3 | `--max-wait` passed first |
| 4 | the study is STOPPED |
| 5 | COMPLETED, but no trial is COMPLETE (all failed or pruned) |
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import click

from asktell.client._models import StudyInfo

EXIT_FINISHED = 0
EXIT_TIMEOUT = 3
EXIT_STOPPED = 4
EXIT_ALL_FAILED = 5


@dataclass(frozen=True, slots=True)
class WaitOutcome:
    """How a wait ended: its exit code, a line for the log, the last study read."""

    code: int
    message: str
    info: StudyInfo


def progress(info: StudyInfo) -> str:
    c = info.counts
    budget = info.spec.get("max_trials") or "unlimited"
    return (
        f"study {info.id}: {info.state}, {c.complete} complete, {c.running} running, "
        f"{c.failed} failed, {c.pruned} pruned, {c.queued} queued (max_trials {budget})"
    )


def outcome(info: StudyInfo) -> WaitOutcome | None:
    """The end of the wait that the study's state gives; None while it goes on."""
    if info.state == "STOPPED":
        return WaitOutcome(EXIT_STOPPED, f"study {info.id} is stopped", info)
    if info.state != "COMPLETED":
        return None
    if info.counts.complete == 0:
        return WaitOutcome(
            EXIT_ALL_FAILED, f"study {info.id} finished without a COMPLETE trial", info
        )
    return WaitOutcome(EXIT_FINISHED, f"study {info.id} finished", info)


def wait_for_study(
    read: Callable[[], StudyInfo],
    *,
    max_wait: float | None,
    interval: float,
    on_change: Callable[[StudyInfo], None] = lambda info: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WaitOutcome:
    """Reads the study every `interval` seconds until it is finished or stopped, or time is up.

    `on_change` sees the study each time its progress line changes.
    """
    deadline = None if max_wait is None else clock() + max_wait
    last = ""
    while True:
        info = read()
        line = progress(info)
        if line != last:
            on_change(info)
            last = line
        ended = outcome(info)
        if ended is not None:
            return ended
        if deadline is not None and clock() >= deadline:
            return WaitOutcome(
                EXIT_TIMEOUT, f"study {info.id} is not finished after {max_wait:g} s", info
            )
        pause = interval if deadline is None else max(0.0, min(interval, deadline - clock()))
        sleep(pause)


def echo_progress(info: StudyInfo) -> None:
    click.echo(progress(info), err=True)
