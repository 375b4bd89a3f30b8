"""The built-in task `sklearn:ESTIMATOR`: k-fold cross-validation of a scikit-learn estimator.

`asktell worker --task sklearn:sklearn.ensemble.HistGradientBoostingClassifier
--task-option data=breast_cancer --task-option cv=5` tunes the estimator named by its
import path. Each trial:

1. builds the estimator with its defaults and sets the trial's parameters on it
   (`set_params`); a parameter the estimator does not have fails the trial with a
   reason naming it. `random_state` is the trial's seed unless the trial sets it;
2. splits the data with `StratifiedKFold(cv, shuffle=True, random_state=seed)`
   (`KFold` for a regressor), seed being the trial's seed: the same folds, fold
   for fold, as `cross_val_score(estimator, X, y, cv=that splitter, scoring=...)`;
3. fits and scores the folds one by one and reports each score with the fold
   number (0 to cv-1) as the step, so that the study's early-stopping rule (the
   racing rule, `early_stopping: {name: racing}`) can stop it after a few folds;
4. returns the mean of the fold scores: declare the objective with
   `aggregate: mean` and the server checks that what is told is that mean.

Options (`--task-option KEY=VALUE`):

- `data` (required): `digits`, `breast_cancer`, `iris` or `wine` (scikit-learn's
  bundled sets), or the path of a `.npz` file (arrays `X` and `y`) or of a `.csv`
  file (numbers, the last column the target; a header row is skipped);
- `cv`: the number of folds, 2 to 100 (default 5);
- `scoring`: a scikit-learn scorer name (default `accuracy` for a classifier, `r2`
  for a regressor);
- `metric`: the metric reported and returned, the study's objective (default `cv_`
  + scoring, e.g. `cv_accuracy`).

The estimator uses `reporter.threads` threads (OpenMP and BLAS). OpenMP threads wait
passively (`OMP_WAIT_POLICY=PASSIVE` unless the environment sets it): worker processes
share the cores, and spinning threads on a busy machine made a gradient-boosting fit
60 times slower. No torch here.
"""

from __future__ import annotations

import functools
import importlib
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

# Before scikit-learn's OpenMP runtime starts (it reads the policy once).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

PREFIX = "sklearn:"
BUNDLED = ("digits", "breast_cancer", "iris", "wine")
OPTION_KEYS = ("data", "cv", "scoring", "metric")
MAX_FOLDS = 100


class TaskError(ValueError):
    """The estimator or an option cannot be used; one line (`load_task` raises it as
    `TaskNotFound`). This module does not import `asktell.worker.tasks`, which imports it."""


class Reporter(Protocol):
    """What the task uses of `asktell.worker.tasks.Reporter`."""

    seed: int
    threads: int

    def report(self, step: int, **metrics: float) -> bool: ...


@dataclass(frozen=True, slots=True)
class Options:
    """The task's options, checked."""

    data: str
    cv: int = 5
    scoring: str | None = None
    metric: str | None = None


def parse_options(name: str, options: Mapping[str, str]) -> Options:
    """The options of task `name`, checked; TaskError (one line) naming a bad one."""
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        raise TaskError(
            f"task {name!r}: unknown option {unknown[0]!r}; known: {', '.join(OPTION_KEYS)}"
        )
    data = options.get("data", "")
    if not data:
        raise TaskError(
            f"task {name!r}: give the data set: --task-option data=NAME (one of "
            f"{', '.join(BUNDLED)}) or data=PATH (.npz with X and y, or .csv)"
        )
    if data not in BUNDLED:
        if not data.endswith((".npz", ".csv")):
            raise TaskError(
                f"task {name!r}: data={data!r} is neither a bundled data set "
                f"({', '.join(BUNDLED)}) nor a .npz or .csv path"
            )
        if not os.path.isfile(data):
            raise TaskError(f"task {name!r}: data={data!r}: no such file")
    text = options.get("cv", "5")
    try:
        cv = int(text)
    except ValueError:
        cv = 0
    if not 2 <= cv <= MAX_FOLDS:
        raise TaskError(f"task {name!r}: cv must be an integer from 2 to {MAX_FOLDS}, got {text!r}")
    return Options(data, cv, options.get("scoring") or None, options.get("metric") or None)


def estimator_class(name: str) -> type[Any]:
    """The estimator class that `sklearn:package.module.Class` names.

    Raises:
        TaskError: one line: no such module or class, or not an estimator.
    """
    path = name.removeprefix(PREFIX)
    module_name, _, class_name = path.rpartition(".")
    if not module_name or not class_name:
        raise TaskError(
            f"task {name!r}: give the estimator's import path, e.g. "
            "sklearn:sklearn.ensemble.HistGradientBoostingClassifier"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TaskError(f"task {name!r}: cannot import {module_name}: {exc}") from exc
    except Exception as exc:  # the module itself fails: one line
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise TaskError(
            f"task {name!r}: importing {module_name} raised {type(exc).__name__}: {first}"
        ) from exc
    found = getattr(module, class_name, None)
    if not isinstance(found, type) or not hasattr(found, "get_params"):
        raise TaskError(
            f"task {name!r}: {module_name} has no scikit-learn estimator {class_name!r}"
        )
    return found


@functools.cache
def load_data(data: str) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of a bundled data set or a user's .npz / .csv file."""
    if data in BUNDLED:
        from sklearn import datasets

        loader: Callable[..., Any] = getattr(datasets, f"load_{data}")
        features, target = loader(return_X_y=True)
        return np.asarray(features, dtype=np.float64), np.asarray(target)
    if data.endswith(".npz"):
        with np.load(data, allow_pickle=False) as arrays:
            missing = [k for k in ("X", "y") if k not in arrays]
            if missing:
                raise ValueError(f"{data}: no array {missing[0]!r} (give X and y)")
            return np.asarray(arrays["X"], dtype=np.float64), np.asarray(arrays["y"])
    try:
        table = np.loadtxt(data, delimiter=",", ndmin=2)
    except ValueError:
        table = np.loadtxt(data, delimiter=",", ndmin=2, skiprows=1)
    if table.shape[1] < 2:
        raise ValueError(f"{data}: need at least one feature column and the target column")
    target = table[:, -1]
    if np.all(target == np.round(target)):
        target = target.astype(np.int64)
    return table[:, :-1], target


def make_task(
    name: str, options: Mapping[str, str]
) -> Callable[[dict[str, Any], Reporter], dict[str, float]]:
    """The task `sklearn:ESTIMATOR` with its options; TaskError (one line) when it cannot run."""
    options_ = parse_options(name, options)
    estimator = estimator_class(name)

    def task(params: dict[str, Any], reporter: Reporter) -> dict[str, float]:
        return cross_validate(estimator, params, options_, reporter)

    return task


def splitter(estimator: Any, cv: int, seed: int) -> Any:
    """The folds of a trial: stratified for a classifier, shuffled with the trial's seed."""
    from sklearn.base import is_classifier
    from sklearn.model_selection import KFold, StratifiedKFold

    kind = StratifiedKFold if is_classifier(estimator) else KFold
    return kind(n_splits=cv, shuffle=True, random_state=seed)


def configured(estimator_type: type[Any], params: Mapping[str, Any], seed: int) -> Any:
    """The estimator with the trial's parameters set; ValueError naming unknown ones."""
    estimator = estimator_type()
    known = estimator.get_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        shown = ", ".join(repr(p) for p in unknown)
        raise ValueError(
            f"{estimator_type.__name__} has no parameter{'s' if len(unknown) > 1 else ''} {shown}"
        )
    values = dict(params)
    if "random_state" in known and "random_state" not in values:
        values["random_state"] = seed
    return estimator.set_params(**values)


def cross_validate(
    estimator_type: type[Any], params: Mapping[str, Any], options: Options, reporter: Reporter
) -> dict[str, float]:
    """Fits and scores the folds one by one, reporting each; the mean of the scores."""
    from sklearn.base import clone, is_classifier
    from sklearn.metrics import check_scoring
    from threadpoolctl import threadpool_limits

    features, target = load_data(options.data)
    estimator = configured(estimator_type, params, reporter.seed)
    scoring = options.scoring or ("accuracy" if is_classifier(estimator) else "r2")
    metric = options.metric or f"cv_{scoring}"
    scorer = check_scoring(estimator, scoring=scoring)
    scores: list[float] = []
    with threadpool_limits(max(1, reporter.threads)):
        for fold, (train, test) in enumerate(
            splitter(estimator, options.cv, reporter.seed).split(features, target)
        ):
            model = clone(estimator).fit(features[train], target[train])
            scores.append(float(scorer(model, features[test], target[test])))
            if reporter.report(fold, **{metric: scores[-1]}):
                break
    return {metric: math.fsum(scores) / len(scores)}
