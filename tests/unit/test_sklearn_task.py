"""The `sklearn:ESTIMATOR` task: fold by fold as cross_val_score, options and errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from asktell.worker.tasks import TaskNotFound, check_task_name, load_task
from asktell.worker.tasks.sklearn import load_data, splitter

HGB = "sklearn:sklearn.ensemble.HistGradientBoostingClassifier"


class Folds:
    """Records what the task reports; says stop after `stop_after` folds (0: never)."""

    device = "cpu"
    threads = 1
    trial_number = 1
    stopping = False

    def __init__(self, seed: int = 7, stop_after: int = 0) -> None:
        self.seed = seed
        self.reports: list[tuple[int, dict[str, float]]] = []
        self.stop_after = stop_after

    def report(self, step: int, **metrics: float) -> bool:
        self.reports.append((step, metrics))
        return len(self.reports) == self.stop_after


def test_folds_are_those_of_cross_val_score() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_score

    params = {"max_iter": 20, "learning_rate": 0.2}
    folds = Folds(seed=11)
    result = load_task(HGB, {"data": "breast_cancer", "cv": "4"})(dict(params), folds)
    features, target = load_data("breast_cancer")
    estimator = HistGradientBoostingClassifier(random_state=11, **params)  # type: ignore[arg-type]
    expected = cross_val_score(
        estimator, features, target, cv=splitter(estimator, 4, 11), scoring="accuracy"
    )
    assert [step for step, _ in folds.reports] == [0, 1, 2, 3]
    assert [m["cv_accuracy"] for _, m in folds.reports] == list(expected)
    assert result == {"cv_accuracy": math.fsum(expected) / 4}


def test_a_stop_ends_the_folds() -> None:
    folds = Folds(stop_after=2)
    result = load_task(HGB, {"data": "iris"})({"max_iter": 10}, folds)
    assert len(folds.reports) == 2
    assert result["cv_accuracy"] == math.fsum(m["cv_accuracy"] for _, m in folds.reports) / 2


def test_unknown_parameters_fail_the_trial_naming_them() -> None:
    task = load_task("sklearn:sklearn.svm.SVC", {"data": "iris"})
    with pytest.raises(ValueError, match="SVC has no parameters 'depth', 'lr'"):
        task({"C": 1.0, "lr": 0.1, "depth": 2}, Folds())


def test_regressor_scoring_and_metric_options(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 3))
    target = features @ [1.0, 2.0, -1.0] + 0.1 * rng.normal(size=60)
    path = tmp_path / "data.npz"
    np.savez(path, X=features, y=target)
    options = {"data": str(path), "cv": "3", "scoring": "neg_mean_squared_error", "metric": "mse"}
    folds = Folds()
    result = load_task("sklearn:sklearn.linear_model.Ridge", options)({"alpha": 0.1}, folds)
    assert set(result) == {"mse"} and result["mse"] < 0
    assert len(folds.reports) == 3


def test_csv_with_a_header(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    rows = [f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(40)]
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    features, target = load_data(str(path))
    assert features.shape == (40, 2) and target.dtype.kind == "i"
    result = load_task("sklearn:sklearn.tree.DecisionTreeClassifier", {"data": str(path)})(
        {"max_depth": 2}, Folds()
    )
    assert 0 <= result["cv_accuracy"] <= 1


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("sklearn:sklearn.nothere.Model", {"data": "iris"}, "cannot import sklearn.nothere"),
        ("sklearn:sklearn.svm.NoSuchSVC", {"data": "iris"}, "has no scikit-learn estimator"),
        ("sklearn:SVC", {"data": "iris"}, "give the estimator's import path"),
        (HGB, {}, "give the data set: --task-option data=NAME"),
        (HGB, {"data": "mnist"}, "neither a bundled data set"),
        (HGB, {"data": "/nonexistent/x.csv"}, "no such file"),
        (HGB, {"data": "iris", "cv": "1"}, "cv must be an integer from 2 to 100, got '1'"),
        (HGB, {"data": "iris", "cv": "five"}, "cv must be an integer"),
        (HGB, {"data": "iris", "folds": "5"}, "unknown option 'folds'"),
        ("digits-mlp", {"data": "iris"}, "takes no options"),
    ],
)
def test_bad_task_names_and_options(name: str, options: dict[str, str], message: str) -> None:
    with pytest.raises(TaskNotFound, match=message):
        check_task_name(name, options)
    with pytest.raises(TaskNotFound, match=message):
        load_task(name, options)
