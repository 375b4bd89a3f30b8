"""The one place that says whether the tests run in CI, and what that changes.

CI is the environment variable `CI` set to `true`, `1` or `yes` (any case), as CI
services set it. On a developer's machine a test whose real component (PostgreSQL,
Prometheus, Node.js, a tmpfs mount, torch) is missing is skipped with the reason and
the command that installs it. In CI nothing is skipped: `missing` fails the test, and
`fail_skips_in_ci` (a hook of tests/conftest.py) turns any other skip into a failure,
so a component that CI lacks can never pass as a skip.
"""

from __future__ import annotations

import importlib.util
import os
from typing import NoReturn

import pytest

CI_VALUES = frozenset({"true", "1", "yes"})


def in_ci() -> bool:
    """Whether this run is CI: `CI` is true, 1 or yes."""
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def missing(what: str, fix: str) -> NoReturn:
    """Skips the calling test because `what` is missing here, or fails it in CI.

    Args:
        what: the missing component, as a person would name it ("PostgreSQL is not installed").
        fix: how to get it ("run scripts/test-services.sh").
    """
    message = f"{what}; {fix}"
    if in_ci():
        pytest.fail(f"{message} (CI: a missing component fails, it is not skipped)", pytrace=False)
    pytest.skip(message)


def require_module(module: str, extra: str) -> None:
    """Skips (or in CI fails) the calling test unless `module` imports; names the extra to
    install, so a missing torch reads as such and not as a crash inside a worker process."""
    if importlib.util.find_spec(module) is None:
        missing(f"Python module {module} is not installed", f"pip install -e '.[{extra}]'")


def fail_skips_in_ci(report: pytest.TestReport) -> None:
    """In CI, marks a skipped test report as failed (expected failures stay as they are)."""
    if not in_ci() or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, which must run every test: {reason}"
