"""A study's best COMPLETE trials, read in a transaction the caller holds.

GetBestTrials (`trials.best_trials`) and CreateStudy's stages (`stages.resolve`)
both read them here, so an earlier stage's best trial is the one GetBestTrials
answers first.
"""

from __future__ import annotations

import math

from asktell.server import pareto
from asktell.server.domain import Goal, Study, StudySpec, Trial, TrialState
from asktell.server.storage import Tx

MAX_BEST_TRIALS = 100


def best_trials_in(tx: Tx, study: Study, count: int) -> list[Trial]:
    """The best COMPLETE trials of `study`, best first (the order service.proto documents).

    A single-objective study without constraints is ordered by value in SQL; a
    study with several objectives or with constraints by `pareto.best_order`
    over all its COMPLETE trials, where count 0 means the whole Pareto front of
    the feasible trials (at most 100), or the least violating trial when none
    is feasible.
    """
    study_id = study.id
    if not study.spec.pareto:
        minimize = study.spec.objective.goal is Goal.MINIMIZE
        return tx.best_trials(study_id, minimize, count or 1)
    complete = [t for t in tx.history_trials(study_id) if t.state is TrialState.COMPLETE]
    objectives = [trial_objectives(study.spec, t) for t in complete]
    violations = [trial_violations(study.spec, t) for t in complete]
    if count == 0:
        feasible = [not any(v > 0 for v in row) for row in violations]
        count = min(MAX_BEST_TRIALS, len(pareto.front_indices(objectives, feasible)) or 1)
    order = pareto.best_order([t.number for t in complete], objectives, violations, count)
    # With their measurements, as every other read of a trial answers it.
    found = (tx.get_trial(study_id, complete[i].number) for i in order)
    return [t for t in found if t is not None]


def trial_objectives(spec: StudySpec, trial: Trial) -> list[float]:
    """A COMPLETE trial's objectives, each flipped so that lower is better."""
    values = trial.values
    out = []
    for i, objective in enumerate(spec.objectives):
        raw = values.get(objective.metric, trial.value if i == 0 else None)
        number = math.inf if raw is None else float(raw)
        out.append(number if objective.goal is Goal.MINIMIZE else -number)
    return out


def trial_violations(spec: StudySpec, trial: Trial) -> list[float]:
    """A COMPLETE trial's violation of each constraint (0 where it holds; inf when unknown)."""
    return [
        c.violation(trial.values[c.metric]) if c.metric in trial.values else math.inf
        for c in spec.constraints
    ]
