"""promtool unit tests written from Python: input series for N replicas, alert and
expression expectations, run with `promtool test rules` (Debian package prometheus)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests import services

REPLICA_LABELS = ("instance", "pod")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        services.missing("promtool (Debian package prometheus)")
    return found


@dataclass(frozen=True)
class Series:
    """One input series: a metric, its labels and promtool's expanding notation for its
    values, one per interval: '2x30' is 31 samples of 2, '0+10x30' counts up by 10 in
    31 samples, '_x5' is 5 missing ones."""

    metric: str
    labels: Mapping[str, str]
    values: str

    def text(self, extra: Mapping[str, str] = {}) -> str:
        labels = {**self.labels, **extra}
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return f"{self.metric}{{{inner}}}"


def replica_labels(index: int, job: str = "asktell-server") -> dict[str, str]:
    """The target labels Prometheus adds to what one server replica (or worker pod) exports."""
    return {
        "job": job,
        "namespace": "asktell",
        "instance": f"10.0.0.{index + 1}:9090",
        "pod": f"{job}-{index}",
    }


def from_replicas(
    replicas: int, series: Sequence[Series], job: str = "asktell-server"
) -> list[dict[str, str]]:
    """promtool input series: each of `series` as exported by every one of `replicas`
    processes (store-derived gauges: the same values from each)."""
    return [
        {"series": s.text(replica_labels(i, job)), "values": s.values}
        for i in range(replicas)
        for s in series
    ]


@dataclass
class UnitTest:
    """One promtool test group: input series and what to expect at given times."""

    input_series: list[dict[str, str]]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    exprs: list[dict[str, Any]] = field(default_factory=list)
    interval: str = "1m"

    def expect_alerts(
        self, alertname: str, eval_time: str, alerts: Sequence[Mapping[str, Any]]
    ) -> None:
        """`alerts`: the firing alerts, each {'labels': ..., 'annotations': ...}."""
        self.alerts.append(
            {
                "eval_time": eval_time,
                "alertname": alertname,
                "exp_alerts": [
                    {
                        "exp_labels": dict(a["labels"]),
                        "exp_annotations": dict(a.get("annotations", {})),
                    }
                    for a in alerts
                ],
            }
        )

    def expect_samples(self, expr: str, eval_time: str, samples: Mapping[str, float]) -> None:
        """`samples`: the result's label sets ('{study="a"}') and values."""
        self.exprs.append(
            {
                "expr": expr,
                "eval_time": eval_time,
                "exp_samples": [{"labels": k, "value": v} for k, v in samples.items()],
            }
        )

    def as_yaml(self) -> dict[str, Any]:
        test: dict[str, Any] = {"interval": self.interval, "input_series": self.input_series}
        if self.alerts:
            test["alert_rule_test"] = self.alerts
        if self.exprs:
            test["promql_expr_test"] = self.exprs
        return test


def run(directory: Path, tests: Sequence[UnitTest], rule_files: Sequence[Path] = ()) -> None:
    """Writes the tests to `directory` and runs `promtool test rules`; fails with its
    report (expected and got samples or alerts) unless every test passes."""
    path = directory / "promtool-test.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(f) for f in rule_files],
                "evaluation_interval": "1m",
                "tests": [t.as_yaml() for t in tests],
            },
            sort_keys=False,
        )
    )
    result = subprocess.run(
        [promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"promtool test rules {path}:\n{result.stdout}{result.stderr}"
