"""The algorithm interface: pure functions from (space, history, n, rng) to suggestions.

The server rebuilds everything an algorithm needs from the store on every Ask:
an algorithm keeps no state in memory (what it carries from one Ask to the next it
returns as `Suggestion.state`, which the store keeps and passes back as
`History.state`), reads no clock except through `Deadline`, and does no I/O.
Values in `History` are flipped once so that lower is always better.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from asktell.server.domain import Params, SearchSpace

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


@dataclass(frozen=True, slots=True)
class Observation:
    """A configuration and its value, lower is better (maximised metrics are negated).

    Attributes:
        params: the configuration (its active parameters).
        value: the study's first objective, lower is better.
        objectives: every objective of a multi-objective study, in the spec's order, each
            flipped so that lower is better (`objectives[0] == value`); empty for a
            single-objective study.
        violations: one number per constraint of the study, in the spec's order: how far
            the trial is outside the constraint's bound (0 when it is satisfied, > 0 by how
            much it is not); empty when the study has no constraints.
    """

    params: Params
    value: float
    objectives: tuple[float, ...] = ()
    violations: tuple[float, ...] = ()

    @property
    def feasible(self) -> bool:
        return all(v <= 0 for v in self.violations)


@dataclass(frozen=True, slots=True)
class History:
    """What an algorithm may know of a study when it suggests.

    Attributes:
        seed: the study seed, for sequences that must be stable across Asks
            (a shuffled grid's order, a Sobol scramble).
        n_suggested: suggestions this algorithm has made so far in the study;
            the grid's cursor and the Sobol sequence's position.
        n_objectives: how many objectives the study has (each completed
            Observation then holds that many in `objectives`, when more than one).
        n_constraints: how many constraints (each completed Observation holds that
            many `violations`).
        completed: COMPLETE trials (and trials added as COMPLETE).
        pending: configurations handed out or queued, not yet finished.
        pruned: PRUNED trials with their last reported value, when they reported one.
        failed: FAILED trials' configurations (and pruned ones that never reported).
        state: what this algorithm left for the study's next Ask (`Suggestion.state` of an
            earlier Ask, kept by the store), None when it left nothing. Opaque to the server:
            the algorithm that wrote it reads it, and must ignore one it cannot use (an
            unknown format, a corrupt text, a space that changed shape).
    """

    seed: int
    n_suggested: int = 0
    n_objectives: int = 1
    n_constraints: int = 0
    completed: tuple[Observation, ...] = ()
    pending: tuple[Params, ...] = ()
    pruned: tuple[Observation, ...] = ()
    failed: tuple[Params, ...] = ()
    state: str | None = None


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One suggested configuration; `note` says why it is not a regular one (e.g. a fallback).

    `state`, on the last suggestion of an Ask only, is what the algorithm leaves for the
    study's next Ask (`History.state` then); None keeps what the study had. Algorithms
    without state (grid, random, genetic) leave it None.
    """

    params: Params
    note: str = ""
    state: str | None = None


def state_of(suggestions: list[Suggestion]) -> str | None:
    """The state an Ask's suggestions leave for the next Ask: the last one set, or None."""
    for suggestion in reversed(suggestions):
        if suggestion.state is not None:
            return suggestion.state
    return None


@dataclass(frozen=True, slots=True)
class Deadline:
    """A time budget for one suggestion, measured on an injected monotonic clock."""

    at: float | None = None
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """A deadline `seconds` from now; 0 or less means none."""
        return cls(clock() + seconds if seconds > 0 else None, clock)

    def remaining(self) -> float:
        return float("inf") if self.at is None else self.at - self.clock()

    def expired(self) -> bool:
        return self.remaining() <= 0


NO_DEADLINE = Deadline()


class SuggestFn(Protocol):
    """Suggests up to `n` configurations; fewer (or none) only when the space is exhausted."""

    def __call__(
        self,
        space: SearchSpace,
        history: History,
        n: int,
        rng: np.random.Generator,
        settings: Any,
        deadline: Deadline,
        /,
    ) -> list[Suggestion]: ...


@dataclass(frozen=True, slots=True)
class AlgorithmInfo:
    """How the server uses one algorithm.

    Attributes:
        name: the name in specs ("grid", "random", "gp", "genetic").
        suggest: the pure suggestion function.
        settings_type: a frozen dataclass whose fields match the algorithm's
            settings message in the contract; its constructor validates.
        needs_history: whether `suggest` reads completed/pending trials. Grid and
            random don't, so their Asks cost the same at 20 or 20,000 trials.
        check_space: raises InvalidArgument if the algorithm cannot search the space.
    """

    name: str
    suggest: SuggestFn
    settings_type: type[DataclassInstance]
    needs_history: bool
    check_space: Callable[[SearchSpace, Any], None] = lambda space, settings: None

    def parse_settings(self, values: Mapping[str, Any]) -> Any:
        """Builds the settings object from a mapping of field names to values.

        Raises:
            InvalidArgument: an unknown field or an invalid value.
        """
        from asktell.server.errors import InvalidArgument

        known = {setting.name for setting in fields(self.settings_type)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidArgument(
                f"algorithm {self.name}: unknown setting {unknown[0]!r}; "
                f"known: {', '.join(sorted(known)) or 'none'}"
            )
        try:
            return self.settings_type(**values)
        except TypeError as exc:
            raise InvalidArgument(f"algorithm {self.name}: {exc}") from exc
