"""Worker pieces that need no server: device placement, task loading, seeds, results."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from asktell.client import Trial, failure_reason, spec_to_proto
from asktell.server import convert
from asktell.worker.demo import DEMO_STUDY, demo_spec
from asktell.worker.device import Placement, plan
from asktell.worker.loop import objective_value, task_attrs, trial_seed
from asktell.worker.tasks import BUILTIN_TASKS, TaskNotFound, load_task
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("device", "n", "gpus", "cores", "expected"),
    [
        ("auto", 2, [], 2, [Placement("cpu", None, 1)] * 2),
        ("auto", 1, [], 8, [Placement("cpu", None, 8)]),
        ("cpu", 3, ["0"], 8, [Placement("cpu", None, 2)] * 3),
        (
            "auto",
            2,
            ["3", "5"],
            16,
            [Placement("cuda", "3", 8), Placement("cuda", "5", 8)],
        ),
        (
            "cuda",
            3,
            ["0", "1"],
            3,
            [Placement("cuda", "0", 1), Placement("cuda", "1", 1), Placement("cuda", "0", 1)],
        ),
        ("cuda:1", 2, ["0", "1"], 4, [Placement("cuda:1", None, 2)] * 2),
    ],
)
def test_plan(device: str, n: int, gpus: list[str], cores: int, expected: list[Placement]) -> None:
    assert plan(device, n, gpus, cores) == expected


@pytest.mark.parametrize(
    ("device", "gpus", "message"),
    [("gpu", [], "device must be"), ("cuda", [], "no CUDA GPU"), ("cuda:0", [], "no CUDA GPU")],
)
def test_plan_rejects(device: str, gpus: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan(device, 1, gpus, 2)


def test_builtin_and_user_tasks_load() -> None:
    assert set(BUILTIN_TASKS) == {"digits-mlp", "digits-cnn", "sequence-lstm"}
    assert load_task("tests.e2e.tasks:plateau").__name__ == "plateau"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nope", "give one of"),
        ("no_such_module_xyz:f", "cannot import"),
        ("tests.e2e.tasks:missing", "has no function 'missing'"),
    ],
)
def test_bad_task_names(name: str, message: str) -> None:
    with pytest.raises(TaskNotFound, match=message):
        load_task(name)


def test_cli_start_up_does_not_import_torch() -> None:
    code = (
        "import sys, click; from asktell.client._cli import main; "
        "assert main.get_command(click.Context(main), 'worker').name == 'worker'; "
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_trial_seed_is_stable_and_shared_by_retries() -> None:
    first = Trial(study="s", number=4, params={}, state="RUNNING")
    retry = Trial(study="s", number=9, params={}, state="RUNNING", retry_of=4)
    other = Trial(study="s", number=5, params={}, state="RUNNING")
    assert trial_seed(7, first) == trial_seed(7, retry) == trial_seed(7, first)
    assert trial_seed(7, first) != trial_seed(7, other)
    assert trial_seed(7, first) != trial_seed(8, first)
    assert 0 <= trial_seed(7, first) < 2**31


@pytest.mark.parametrize(
    ("result", "value", "message"),
    [
        ({"acc": 0.5, "loss": 1}, 0.5, None),
        ({"acc": 1}, 1.0, None),
        ({"loss": 1.0}, None, "returned no 'acc'"),
        (0.5, 0.5, None),
        (3, 3.0, None),
        ({"value": 2, "attrs": {"a": 1}}, 2.0, None),
        ({"acc": 0.25, "value": 2}, 0.25, None),
        (True, None, "returned no 'acc'"),
        ("0.5", None, "returned no 'acc'"),
        (float("inf"), None, "not a finite number"),
        ({"acc": True}, None, "not a finite number"),
        ({"acc": float("nan")}, None, "not a finite number"),
        ({"acc": "high"}, None, "not a finite number"),
    ],
)
def test_objective_value(result: object, value: float | None, message: str | None) -> None:
    if message is None:
        assert objective_value(result, "acc") == value
    else:
        with pytest.raises(ValueError, match=message):
            objective_value(result, "acc")


def test_task_attrs() -> None:
    assert task_attrs({"acc": 1.0, "attrs": {"uri": "/m", "n": 2}}) == {"uri": "/m", "n": 2}
    assert task_attrs({"acc": 1.0}) == task_attrs(0.5) == task_attrs(None) == {}
    assert task_attrs({"acc": 1.0, "attrs": None}) == {}
    with pytest.raises(ValueError, match="attrs = \\[1\\], not a mapping"):
        task_attrs({"acc": 1.0, "attrs": [1]})


def test_one_line_reason() -> None:
    assert failure_reason(ValueError("first\nsecond")) == "ValueError: first"
    assert failure_reason(MemoryError()) == "MemoryError"


@pytest.mark.parametrize("task", sorted(BUILTIN_TASKS))
def test_each_builtin_task_has_a_valid_example_spec(task: str) -> None:
    spec = yaml.safe_load((REPO / "examples" / f"{task}.yaml").read_text())
    _, message = spec_to_proto(spec)
    assert convert.study_spec(message).early_stopping is not None


def test_the_demo_runs_the_digits_mlp_example() -> None:
    example = yaml.safe_load((REPO / "examples" / "digits-mlp.yaml").read_text())
    assert demo_spec("gp", 20) == {**example, "name": DEMO_STUDY}
