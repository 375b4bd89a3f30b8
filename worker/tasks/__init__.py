"""Training tasks: the built-in ones by name, and any user function `package.module:function`.

A task is `function(params: dict, reporter) -> dict`:

- `params` are the trial's hyperparameters, name -> value;
- `reporter.report(step, **metrics) -> bool` sends the study's objective metric at
  `step` (renewing the lease) and answers whether to stop now: the server's
  early-stopping rule said so, or the worker is shutting down. Return soon after;
- `reporter.stopping` says the same without reporting (check it between batches);
- `reporter.device` ("cpu", "cuda", ...), `reporter.seed`, `reporter.threads` and
  `reporter.trial_number` tell the task where and how to run;
- the returned dict holds the final metrics and must contain the objective metric.

An exception fails the trial, with the exception's first line as the reason.
The torch built-in tasks import torch; elsewhere in the worker only the `--tensorboard`
writer does.

`sklearn:ESTIMATOR` (an estimator's import path) is the built-in cross-validation
task of `asktell.worker.tasks.sklearn`, configured by task options (`--task-option
data=breast_cancer`); other tasks take no options.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast


class Reporter(Protocol):
    """What a task receives to report progress; see the module docstring."""

    device: str
    seed: int
    threads: int
    trial_number: int

    @property
    def stopping(self) -> bool: ...

    def report(self, step: int, **metrics: float) -> bool: ...


Task = Callable[[dict[str, Any], Reporter], Mapping[str, Any]]

BUILTIN_TASKS: dict[str, str] = {
    "digits-mlp": "asktell.worker.tasks.digits:mlp",
    "digits-cnn": "asktell.worker.tasks.digits:cnn",
    "sequence-lstm": "asktell.worker.tasks.sequence:lstm",
}


class TaskNotFound(ValueError):
    """The task name is neither built in nor an importable `module:function`."""


SKLEARN_PREFIX = "sklearn:"


def sklearn_task(name: str, options: Mapping[str, str]) -> Task | None:
    """The `sklearn:ESTIMATOR` task with its options; None for another task name.

    Raises:
        TaskNotFound: options given to another task, or the estimator or an option is bad.
    """
    if not name.startswith(SKLEARN_PREFIX):
        if options:
            raise TaskNotFound(
                f"task {name!r} takes no options (--task-option is for sklearn:ESTIMATOR); "
                f"got {', '.join(sorted(options))}"
            )
        return None
    from asktell.worker.tasks import sklearn

    try:
        return cast(Task, sklearn.make_task(name, options))
    except sklearn.TaskError as exc:
        raise TaskNotFound(str(exc)) from exc


def _module_and_function(name: str) -> tuple[str, str]:
    """(module, function) of a built-in name or `package.module:function`, with the
    current directory made importable; TaskNotFound for a name of neither form."""
    target = BUILTIN_TASKS.get(name, name)
    module_name, sep, function_name = target.partition(":")
    if not sep or not module_name or not function_name:
        known = ", ".join(sorted(BUILTIN_TASKS))
        raise TaskNotFound(f"task {name!r}: give one of {known} or package.module:function")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return module_name, function_name


def load_task(name: str, options: Mapping[str, str] | None = None) -> Task:
    """The task called `name`: a built-in name, `sklearn:ESTIMATOR` or `package.module:function`.

    The current directory is importable, as with `python -m`, so a module next
    to where the worker starts can be named.

    Raises:
        TaskNotFound: unknown name, module or function, or bad options.
    """
    found = sklearn_task(name, options or {})
    if found is not None:
        return found
    module_name, function_name = _module_and_function(name)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TaskNotFound(f"task {name!r}: cannot import {module_name}: {exc}") from exc
    except Exception as exc:  # the module itself fails: one line, not its traceback
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise TaskNotFound(
            f"task {name!r}: importing {module_name} raised {type(exc).__name__}: {first}"
        ) from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        raise TaskNotFound(f"task {name!r}: {module_name} has no function {function_name!r}")
    # Only that it is callable can be checked before it runs; the rest is the task's contract.
    return cast(Task, function)


def check_task_name(name: str, options: Mapping[str, str] | None = None) -> None:
    """Checks, without importing it, that the task's module can be found (the CLI, at start).

    `sklearn:ESTIMATOR` is loaded whole (the estimator imported, the options checked).

    Raises:
        TaskNotFound: neither a built-in name nor `module:function`, or no module of that
            name (nor its package) on the path; bad options.
    """
    if sklearn_task(name, options or {}) is not None:
        return
    module_name, _ = _module_and_function(name)
    try:
        found = importlib.util.find_spec(module_name)
    except ImportError as exc:  # a parent package is missing
        raise TaskNotFound(f"task {name!r}: cannot import {module_name}: {exc}") from exc
    except Exception as exc:  # a parent package fails on import
        raise TaskNotFound(
            f"task {name!r}: importing {module_name} raised {type(exc).__name__}: {exc}"
        ) from exc
    if found is None:
        raise TaskNotFound(
            f"task {name!r}: cannot import {module_name}: no module named {module_name!r}"
        )
