"""Plain client-side values: trials and study summaries, with no protobuf in sight."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

# Exactly the type the spec gives: int for int and integer discrete parameters, float for
# float and real discrete ones, a categorical's listed value with its own type.
ParamValue = bool | int | float | str
# A trial attribute: kept with its type (bool, int, float or str) on the wire and in the store.
AttrValue = bool | int | float | str
TRIAL_STATES = ("RUNNING", "COMPLETE", "FAILED", "PRUNED")


class TrialCalls(Protocol):
    """The calls a RUNNING trial makes on the client that handed it out.

    `asktell.client.Client` is one; the protocol lets a trial name what it needs
    without importing the client (the client imports this module).
    """

    def report(self, trial: Trial, step: int, value: float) -> bool: ...

    def heartbeat(self, trial: Trial) -> None: ...

    def tell(
        self,
        trial: Trial,
        value: float | Mapping[str, float] | None = None,
        *,
        state: str = "COMPLETE",
        reason: str = "",
        attrs: Mapping[str, AttrValue] | None = None,
    ) -> None: ...

    def set_trial_attrs(self, trial: Trial, attrs: Mapping[str, AttrValue]) -> None: ...


MAX_REASON_CHARACTERS = 1000


def failure_reason(exc: BaseException) -> str:
    """An exception as a FAILED trial's reason: its type and the first line of its message."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text.splitlines()[0][:MAX_REASON_CHARACTERS]


@dataclass
class Trial:
    """One trial of a study.

    Attributes:
        study: the study id.
        number: dense and unique within the study, from 1.
        params: parameter name -> value, typed as the spec says (int for int and
            integer discrete parameters, float for float and real discrete ones,
            the listed value itself for categorical ones: str, int, float or bool).
            A conditional parameter is present only when it is active.
        state: "RUNNING", "COMPLETE", "FAILED" or "PRUNED".
        value: the objective value once COMPLETE (the first objective's, when the
            study has several).
        values: every metric told with a COMPLETE trial, name -> value: each
            objective's and constraint's, and any other given (empty otherwise).
        measurements: (step, value) intermediate values reported so far.
        worker_id: the worker that holds (or held) the lease.
        lease_deadline: when the lease ends unless renewed (while RUNNING).
        reason: why a FAILED or PRUNED trial ended.
        suggested_by: the algorithm, "enqueued", "retry" or "added".
        retry_of: for a retry, the number of the failed trial it repeats.
        attrs: what was recorded with the trial (`tell(..., attrs=)`, `set_attrs`,
            `add_trials`): name -> bool, int, float or str, each with its type.

    A RUNNING trial from `Study.ask()` can report progress and be told its
    result. Used as a context manager it is marked FAILED, with the exception
    as the reason, if the block raises, and if the block ends without a tell.
    """

    study: str
    number: int
    params: dict[str, ParamValue]
    state: str
    value: float | None = None
    measurements: list[tuple[int, float]] = field(default_factory=list)
    worker_id: str = ""
    lease_deadline: dt.datetime | None = None
    create_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    reason: str = ""
    suggested_by: str = ""
    retry_of: int | None = None
    attrs: dict[str, AttrValue] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    _client: TrialCalls | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        """The resource name, "studies/{study}/trials/{number}"."""
        return f"studies/{self.study}/trials/{self.number}"

    def _calls(self) -> TrialCalls:
        if self._client is None:
            raise RuntimeError("this trial is not bound to a client")
        return self._client

    def report(self, step: int, value: float) -> bool:
        """Records an intermediate value at `step` and renews the lease.

        Returns:
            True when the server says the trial should stop early; then
            call `prune()` and move on.
        """
        return self._calls().report(self, step, value)

    def heartbeat(self) -> None:
        """Renews the lease without reporting a value (for long silent steps)."""
        self._calls().heartbeat(self)

    def tell(
        self, value: float | Mapping[str, float], attrs: Mapping[str, AttrValue] | None = None
    ) -> None:
        """Finishes the trial as COMPLETE with the objective `value`. Safe to retry.

        `value` is a number (a study with one objective and no constraints), or a
        mapping of metric -> number holding every objective's and constraint's
        metric, e.g. {"val_accuracy": 0.97, "latency_ms": 12.5, "memory_mb": 300}
        (other metrics are stored too, in `values`). A missing metric raises
        InvalidArgumentError naming it.

        `attrs` (e.g. {"model_uri": "s3://...", "train_loss": 0.12}) are stored with
        the trial, merged into those it has; see `set_attrs` for the limits.
        """
        self._calls().tell(self, value, attrs=attrs)

    def set_attrs(self, attrs: Mapping[str, AttrValue]) -> None:
        """Records attributes of this RUNNING trial (merged into `self.attrs`); renews the lease.

        Keys are like parameter names (1-64 letters, digits, '_', '.', '-'); values
        are strings (at most 4096 characters), finite numbers, ints or bools; a
        trial holds at most 64 attributes. A trial that is no longer RUNNING
        raises FailedPreconditionError.
        """
        self._calls().set_trial_attrs(self, attrs)

    def fail(self, reason: str = "", attrs: Mapping[str, AttrValue] | None = None) -> None:
        """Finishes the trial as FAILED; the study may hand its parameters out again."""
        self._calls().tell(self, state="FAILED", reason=reason, attrs=attrs)

    def prune(self, reason: str = "", attrs: Mapping[str, AttrValue] | None = None) -> None:
        """Finishes the trial as PRUNED (stopped early because it was not promising)."""
        self._calls().tell(self, state="PRUNED", reason=reason, attrs=attrs)

    def __enter__(self) -> Trial:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.state != "RUNNING":
            return
        if exc is not None:
            self.fail(failure_reason(exc))
        else:
            self.fail("the trial's block ended without a tell")


@dataclass(frozen=True)
class TrialCounts:
    """How many trials of a study are in each state, and how many wait in its queue."""

    running: int = 0
    complete: int = 0
    failed: int = 0
    pruned: int = 0
    queued: int = 0


@dataclass(frozen=True)
class StudyInfo:
    """A snapshot of a study: its spec (as the spec dict), state, seed and trial counts."""

    id: str
    spec: dict[str, Any]
    state: str
    seed: int
    create_time: dt.datetime | None
    counts: TrialCounts
    # Suggestions the algorithm has made (what max_trials limits); None from an older server.
    suggestions_made: int | None = None
