"""CI detection (tests/ci.py): one rule, and no skip passes in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import ci

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        (" True ", True),
        ("1", True),
        ("yes", True),
        ("Yes", True),
        ("", False),
        ("0", False),
        ("false", False),
        ("no", False),
        ("on", False),
    ],
)
def test_ci_is_the_variable_set_to_true_1_or_yes(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv("CI", value)
    assert ci.in_ci() is expected


def test_no_ci_variable_is_not_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert ci.in_ci() is False


# A suite of its own, with the hook of tests/conftest.py: a component that is missing,
# a plain skip, a skip mark, and an expected failure.
SUITE = {
    "conftest.py": """
import pytest
from tests import ci

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    ci.fail_skips_in_ci(outcome.get_result())
""",
    "test_sample.py": """
import pytest
from tests import ci

def test_needs_a_component():
    ci.missing("Frobnicator is not installed", "apt-get install frobnicator")

def test_skips_by_itself():
    pytest.skip("not today")

@pytest.mark.skipif(True, reason="marked")
def test_skip_mark():
    pass

def test_needs_a_module():
    ci.require_module("no_such_module_anywhere", "worker")

@pytest.mark.xfail(reason="known", strict=True)
def test_expected_failure():
    assert False

def test_passes():
    pass
""",
}


def _run_suite(tmp_path: Path, ci_value: str | None) -> subprocess.CompletedProcess[str]:
    for name, text in SUITE.items():
        (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(REPO)
    if ci_value is not None:
        env["CI"] = ci_value
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_outside_ci_a_missing_component_skips_with_its_fix(tmp_path: Path) -> None:
    result = _run_suite(tmp_path, None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 4 skipped, 1 xfailed" in result.stdout, result.stdout
    assert "Frobnicator is not installed; apt-get install frobnicator" in result.stdout
    assert "pip install -e '.[worker]'" in result.stdout


def test_in_ci_every_skip_fails_and_says_why(tmp_path: Path) -> None:
    result = _run_suite(tmp_path, "true")
    assert result.returncode == 1, result.stdout + result.stderr
    # The skip mark acts before the test runs: it shows as an error of the set-up.
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("3 failed, 1 passed, 1 xfailed, 1 error in"), result.stdout
    assert "Frobnicator is not installed; apt-get install frobnicator" in result.stdout
    assert "a missing component fails, it is not skipped" in result.stdout
    assert "skipped in CI, which must run every test: not today" in result.stdout
    assert "skipped in CI, which must run every test: marked" in result.stdout
