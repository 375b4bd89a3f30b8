"""Staged tuning: an earlier study's best trial fixes parameters of a new study.

A spec's `stages` name earlier studies (`domain.Stage`). CreateStudy resolves
each unresolved one (`trial` 0) in its own write transaction (`resolve`): it
reads the earlier study's best trial (`best.best_trials_in` with count 1: the
best value, or for several objectives or constraints the first of the ranked
Pareto front, as GetBestTrials answers) and adds the values of the stage's
parameters to the new study's space as fixed parameters (`FixedParam` with
`stage_study` and `stage_trial`), after the spec's own parameters. A stage
without `parameters` takes every parameter of that trial that the spec (and
the stages before it) does not define. The stage keeps the trial's number.

A stage that arrives resolved (`trial` set: a spec read back and sent again)
is not read again: its fixed parameters are in the request, kept as given.

Identity. A study is identified by the spec that was asked for: CreateStudy of
an existing id whose spec leaves a stage unresolved is compared with the stored
spec with that stage unresolved again (`as_requested`), so creating the same
spec twice answers the existing study, resolved as it was at its creation, even
when the earlier study has found a better trial since. A spec read back (its
stages resolved) is identical to the stored one as it is.
"""

from __future__ import annotations

import dataclasses

from asktell.server.domain import FixedParam, SearchSpace, StudySpec
from asktell.server.errors import FailedPrecondition, InvalidArgument, NotFound
from asktell.server.storage import Tx
from asktell.server.usecases.best import best_trials_in


def resolve(tx: Tx, spec: StudySpec) -> StudySpec:
    """`spec` with every unresolved stage's values added as fixed parameters, read in `tx`.

    Raises:
        NotFound: a stage's study does not exist.
        FailedPrecondition: a stage's study has no COMPLETE trial.
        InvalidArgument: a stage names a parameter that the earlier best trial lacks,
            or one that the spec (or an earlier stage) defines already.
    """
    if spec.resolved:
        return spec
    space = spec.space
    fixed = list(space.fixed)
    order = list(space.names)
    tuned = {p.name for p in space.params}
    defined_by: dict[str, str] = {
        name: "tuned by this spec" if name in tuned else "fixed by this spec"
        for name in space.names
    }
    stages = []
    for i, stage in enumerate(spec.stages):
        where = f"stages[{i}]"
        if stage.trial:
            for f in space.fixed:
                if f.stage_study == stage.study:
                    defined_by[f.name] = f"fixed by {where}"
            stages.append(stage)
            continue
        earlier = tx.get_study(stage.study)
        if earlier is None:
            raise NotFound(f'{where}.study: study "{stage.study}" does not exist')
        best = best_trials_in(tx, earlier, 1)
        if not best:
            raise FailedPrecondition(
                f'{where}.study: study "{stage.study}" has no COMPLETE trial yet; a stage '
                "fixes parameters at the values of its best trial"
            )
        trial = best[0]
        names = list(stage.parameters) or [
            n for n in earlier.spec.space.names if n in trial.params and n not in defined_by
        ]
        for name in stage.parameters:
            if name not in trial.params:
                held = ", ".join(n for n in earlier.spec.space.names if n in trial.params)
                raise InvalidArgument(
                    f'{where}.parameters: "{name}" is not a parameter of study '
                    f'"{stage.study}"\'s best trial (number {trial.number}, which has {held})'
                )
            if name in defined_by:
                raise InvalidArgument(
                    f'{where}.parameters: "{name}" is {defined_by[name]}; a parameter is '
                    "tuned here or fixed from a stage, not both"
                )
        for name in names:
            fixed.append(FixedParam(name, trial.params[name], stage.study, trial.number))
            order.append(name)
            defined_by[name] = f"fixed by {where}"
        stages.append(dataclasses.replace(stage, trial=trial.number))
    resolved_space = SearchSpace(space.params, space.conditions, tuple(fixed), tuple(order))
    return dataclasses.replace(spec, space=resolved_space, stages=tuple(stages))


def as_requested(stored: StudySpec, request: StudySpec) -> StudySpec:
    """`stored` with each stage that `request` leaves unresolved unresolved again.

    A stage is undone when the request lists the same study with the same
    parameters at the same place, unresolved: its trial number goes back to 0 and
    the fixed parameters it added are left out. The result equals `request` when
    the request asked for the stored study (see the module docstring).
    """
    stages = list(stored.stages)
    undone: set[tuple[str, int]] = set()
    for i, stage in enumerate(request.stages):
        if stage.trial or i >= len(stages):
            continue
        held = stages[i]
        if held.trial and (held.study, held.parameters) == (stage.study, stage.parameters):
            undone.add((held.study, held.trial))
            stages[i] = dataclasses.replace(held, trial=0)
    if not undone:
        return stored
    space = stored.space
    dropped = {f.name for f in space.fixed if (f.stage_study, f.stage_trial) in undone}
    try:
        unresolved = SearchSpace(
            space.params,
            space.conditions,
            tuple(f for f in space.fixed if f.name not in dropped),
            tuple(n for n in space.names if n not in dropped),
        )
    except InvalidArgument:  # a condition on a value the stage fixed: not what was asked
        return stored
    return dataclasses.replace(stored, space=unresolved, stages=tuple(stages))
