"""Every alert rule of deploy/prometheus/asktell-rules.yml under promtool, with input series
from 1 and from 3 server replicas (or worker pods): a case where it fires, with the labels
and summary it fires with, and cases where it must not.

Store-derived gauges (asktell_study_*, asktell_store_up) come from every replica with the
same values, so a rule that sums them would see 3 times the truth with 3 replicas; the
per-process counters (RPCs, worker trials) are summed. The rules are tested as they are,
with only their `description` left out (promtool compares every annotation; each firing
case states the summary it expects).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.kube import DEPLOY
from tests.deploy.promtool import Series, UnitTest, from_replicas, run

RULES = DEPLOY / "prometheus" / "asktell-rules.yml"
REPLICAS = (1, 3)
RPC = {"grpc_service": "asktell.v1.AsktellService", "grpc_type": "unary"}


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _alert(summary: str, severity: str = "warning", **labels: str) -> dict[str, Any]:
    """A firing alert as promtool reports it: its labels (severity and what the expression
    keeps) and its summary."""
    return {"labels": {"severity": severity, **labels}, "annotations": {"summary": summary}}


@dataclass(frozen=True)
class Case:
    """Input series for N replicas, and expectations at given times: (eval_time, the
    alerts firing then, empty for none; `{replicas}` in a summary stands for N)."""

    alert: str
    fires: bool
    series: Callable[[int], list[dict[str, str]]]
    expect: list[tuple[str, list[dict[str, Any]]]]


def _servers(*series: Series) -> Callable[[int], list[dict[str, str]]]:
    return lambda replicas: from_replicas(replicas, series)


def _workers(*series: Series) -> Callable[[int], list[dict[str, str]]]:
    return lambda replicas: from_replicas(replicas, series, job="asktell-worker")


def _trials(study: str, state: str, values: str) -> Series:
    return Series("asktell_study_trials", {"study": study, "state": state}, values)


def _handled(code: str, per_minute: int) -> Series:
    labels = {**RPC, "grpc_method": "Ask", "grpc_code": code}
    return Series("grpc_server_handled_total", labels, f"0+{per_minute}x40")


def _ask_seconds(le: str, per_minute: int) -> Series:
    labels = {**RPC, "grpc_method": "Ask", "le": le}
    return Series("grpc_server_handling_seconds_bucket", labels, f"0+{per_minute}x40")


def _ask_latency(slow: bool) -> list[Series]:
    """10 Asks a minute, all under 1 s or all between 2.5 and 5 s."""
    fast = 0 if slow else 10
    return [
        _ask_seconds("1", fast),
        _ask_seconds("2.5", fast),
        _ask_seconds("5", 10),
        _ask_seconds("+Inf", 10),
    ]


def _worker_trials(outcome: str, per_minute: int) -> Series:
    return Series("asktell_worker_trials_total", {"outcome": outcome}, f"0+{per_minute}x60")


def _up(values: str) -> Series:
    return Series("up", {}, values)


def _not_for_new_study(replicas: int) -> list[dict[str, str]]:
    # Prometheus has run for 40 minutes; the study is created then, its trials run and none
    # has finished 12 minutes later (the old rule fired here).
    return from_replicas(replicas, [_trials("new", "RUNNING", "_x40 2x20")])


def _one_replica_replaced(replicas: int) -> list[dict[str, str]]:
    # A study stuck since minute 0; the last replica was replaced at minute 20: its series
    # stop then, and the new pod's (another pod and instance label) start.
    stuck = _trials("stuck", "RUNNING", "3x60")
    series = from_replicas(replicas, [stuck])
    series[-1]["values"] = "3x20"
    new_pod = {"job": "asktell-server", "instance": "10.0.0.99:9090", "pod": "asktell-server-new"}
    return [*series, {"series": stuck.text(new_pod), "values": "_x20 3x40"}]


STUCK_SUMMARY = "study stuck: 3 trials running, none finished in 30 minutes"
CASES: dict[str, Case] = {
    "servers-down-all-replicas-fail-their-scrape": Case(
        "AsktellServersDown",
        True,
        _servers(_up("1x5 0x20")),
        [
            ("7m", []),  # down for 2 minutes: still pending
            ("9m", [_alert("every asktell server replica is down", "critical")]),
        ],
    ),
    "servers-down-no-target-at-all": Case(
        "AsktellServersDown",
        True,
        lambda _: [{"series": 'up{job="some-other-job"}', "values": "1x20"}],
        [("5m", [_alert("every asktell server replica is down", "critical")])],
    ),
    "servers-down-not-while-one-replica-is-up": Case(
        "AsktellServersDown",
        False,
        lambda replicas: [
            *from_replicas(replicas - 1, [_up("0x20")]),
            *from_replicas(replicas, [_up("1x20")])[-1:],
        ],
        [("10m", [])],
    ),
    "rpc-errors-ten-percent": Case(
        "AsktellRpcErrorRatioHigh",
        True,
        _servers(_handled("OK", 90), _handled("INTERNAL", 10)),
        [
            (
                "20m",
                [
                    _alert(
                        "asktell answers more than 5% of RPCs with a server-side error",
                    )
                ],
            )
        ],
    ),
    "rpc-errors-one-replica-failing-a-third-of-its-calls": Case(
        "AsktellRpcErrorRatioHigh",
        True,
        lambda replicas: [
            *from_replicas(replicas, [_handled("OK", 100)]),
            *from_replicas(replicas, [_handled("UNAVAILABLE", 50)])[-1:],
        ],
        [
            (
                "20m",
                [
                    _alert(
                        "asktell answers more than 5% of RPCs with a server-side error",
                    )
                ],
            )
        ],
    ),
    "rpc-errors-not-for-bad-requests-or-one-percent": Case(
        "AsktellRpcErrorRatioHigh",
        False,
        _servers(_handled("OK", 90), _handled("INVALID_ARGUMENT", 50), _handled("INTERNAL", 1)),
        [("20m", [])],
    ),
    "store-down-on-every-replica": Case(
        "AsktellStoreDown",
        True,
        _servers(Series("asktell_store_up", {}, "1x5 0x20")),
        [
            ("7m", []),
            (
                "9m",
                [_alert("{replicas} asktell server replica(s) cannot read the store", "critical")],
            ),
        ],
    ),
    "store-down-on-one-replica": Case(
        "AsktellStoreDown",
        True,
        lambda replicas: [
            *from_replicas(replicas - 1, [Series("asktell_store_up", {}, "1x20")]),
            *from_replicas(replicas, [Series("asktell_store_up", {}, "0x20")])[-1:],
        ],
        [
            (
                "5m",
                [_alert("1 asktell server replica(s) cannot read the store", "critical")],
            )
        ],
    ),
    "store-down-not-for-a-one-minute-blip": Case(
        "AsktellStoreDown",
        False,
        _servers(Series("asktell_store_up", {}, "1x5 0 1x10")),
        [("6m", []), ("9m", [])],
    ),
    "no-trial-finished-since-the-study-began": Case(
        "AsktellNoTrialFinished",
        True,
        _servers(_trials("stuck", "RUNNING", "3x60")),
        [
            ("12m", []),
            ("29m", []),
            ("31m", [_alert(STUCK_SUMMARY, study="stuck")]),
        ],
    ),
    "no-trial-finished-for-30-minutes-after-the-last": Case(
        "AsktellNoTrialFinished",
        True,
        _servers(
            _trials("stuck", "RUNNING", "3x70"),
            # One trial complete at minute 5, another at 10, the last failed at 20.
            _trials("stuck", "COMPLETE", "_x5 1x4 2x60"),
            _trials("stuck", "FAILED", "_x20 1x50"),
        ),
        [
            ("40m", []),
            ("49m", []),
            ("51m", [_alert(STUCK_SUMMARY, study="stuck")]),
        ],
    ),
    "no-trial-finished-while-a-replica-is-replaced": Case(
        "AsktellNoTrialFinished",
        True,
        _one_replica_replaced,
        [("40m", [_alert(STUCK_SUMMARY, study="stuck")])],
    ),
    "no-trial-finished-not-for-a-new-study": Case(
        "AsktellNoTrialFinished",
        False,
        _not_for_new_study,
        [("52m", []), ("60m", [])],
    ),
    "no-trial-finished-not-while-trials-finish": Case(
        "AsktellNoTrialFinished",
        False,
        _servers(
            _trials("busy", "RUNNING", "2x90"),
            # A trial finishes every 20 minutes: never 30 minutes without one.
            _trials("busy", "COMPLETE", "_x9 1x20 2x20 3x20 4x20"),
            _trials("busy", "PRUNED", "_x59 1x30"),
        ),
        [("35m", []), ("50m", []), ("75m", []), ("89m", [])],
    ),
    "no-trial-finished-not-when-nothing-runs": Case(
        "AsktellNoTrialFinished",
        False,
        _servers(_trials("done", "COMPLETE", "10x60"), _trials("idle", "RUNNING", "0x60")),
        [("45m", [])],
    ),
    "stuck-past-lease-for-ten-minutes": Case(
        "AsktellTrialsStuckPastLease",
        True,
        _servers(Series("asktell_study_overdue_trials", {"study": "gone"}, "0x5 2x30")),
        [
            ("14m", []),
            (
                "17m",
                [
                    _alert(
                        "study gone: 2 trials past their lease",
                        study="gone",
                    )
                ],
            ),
        ],
    ),
    "stuck-past-lease-not-when-the-next-request-fails-them": Case(
        "AsktellTrialsStuckPastLease",
        False,
        _servers(Series("asktell_study_overdue_trials", {"study": "gone"}, "0x5 2x5 0x20")),
        [("12m", []), ("20m", [])],
    ),
    "ask-latency-high": Case(
        "AsktellAskLatencyHigh",
        True,
        _servers(*_ask_latency(slow=True)),
        [("20m", [_alert("asktell Ask p99 latency above 2 s")])],
    ),
    "ask-latency-not-when-fast": Case(
        "AsktellAskLatencyHigh",
        False,
        _servers(*_ask_latency(slow=False)),
        [("20m", [])],
    ),
    "worker-trials-failing": Case(
        "AsktellWorkerTrialsFailing",
        True,
        _workers(_worker_trials("FAILED", 6), _worker_trials("COMPLETE", 4)),
        [
            (
                "40m",
                [_alert("more than half of the workers' trials fail")],
            )
        ],
    ),
    "worker-trials-not-failing": Case(
        "AsktellWorkerTrialsFailing",
        False,
        _workers(_worker_trials("FAILED", 1), _worker_trials("COMPLETE", 9)),
        [("40m", [])],
    ),
}


def _expected(alerts: list[dict[str, Any]], replicas: int) -> list[dict[str, Any]]:
    """The alerts, with `{replicas}` in a summary replaced by the number of replicas."""
    return [
        {
            "labels": a["labels"],
            "annotations": {"summary": a["annotations"]["summary"].format(replicas=replicas)},
        }
        for a in alerts
    ]


@pytest.fixture(scope="module")
def rule_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rule file with each rule's description left out (see the module docstring)."""
    data = yaml.safe_load(RULES.read_text())
    for group in data["groups"]:
        for rule in group["rules"]:
            rule.get("annotations", {}).pop("description", None)
    path = tmp_path_factory.mktemp("rules") / "asktell-rules.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("replicas", REPLICAS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_alert_rule(name: str, replicas: int, rule_file: Path, tmp_path: Path) -> None:
    case = CASES[name]
    test = UnitTest(case.series(replicas))
    for eval_time, alerts in case.expect:
        test.expect_alerts(case.alert, eval_time, _expected(alerts, replicas))
    assert case.fires == any(alerts for _, alerts in case.expect)
    run(tmp_path, [test], [rule_file])


def test_every_rule_has_a_firing_and_a_quiet_case() -> None:
    alerts = [rule["alert"] for rule in _rules()]
    assert len(alerts) == len(set(alerts)) and "AsktellServersDown" in alerts
    for alert in alerts:
        outcomes = {case.fires for case in CASES.values() if case.alert == alert}
        assert outcomes == {True, False}, f"{alert}: cases that fire and that do not"
    assert {case.alert for case in CASES.values()} == set(alerts)


def test_servers_down_watches_the_job_the_service_monitor_scrapes() -> None:
    from tests.deploy.kube import find, render

    objects = render("production")
    monitor = find(objects, "ServiceMonitor", "asktell-server")
    service = find(objects, "Service", "asktell")
    job = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    rule = next(r for r in _rules() if r["alert"] == "AsktellServersDown")
    assert f'up{{job="{job}"}}' in rule["expr"]
    pod_monitor = find(objects, "PodMonitor", "asktell-worker")
    worker = find(objects, "Deployment", "asktell-worker")
    labels = worker["spec"]["template"]["metadata"]["labels"]
    assert labels[pod_monitor["spec"]["jobLabel"]] == "asktell-worker"
