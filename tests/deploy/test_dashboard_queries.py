"""The Grafana dashboard's queries over store-derived gauges give the store's truth with 1
and with 3 server replicas.

Every replica exports the same per-study gauges (read from the store at scrape time), so a
panel that sums them shows 30 trials where there are 10. The input series here are what a
real server's `StudyStatsCollector` exports for a real store (both backends), repeated for
each replica with its target labels; each query is taken from the dashboard JSON as it is
(Grafana's variables filled in) and evaluated by promtool. A panel added over these gauges
fails here until its expected values are written down below.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from asktell.server.metrics import StudyStatsCollector
from tests.conftest import LiveServer, simple_spec
from tests.deploy.kube import DEPLOY
from tests.deploy.promtool import Series, UnitTest, from_replicas, run

DASHBOARD = DEPLOY / "grafana" / "asktell-dashboard.json"
LEASE_CHECK_LATER = 24 * 3600.0  # the collector's clock: every RUNNING trial is then overdue


class Truth:
    """What the store holds, read through the client: trials by study and state, best values."""

    def __init__(self) -> None:
        self.trials: dict[tuple[str, str], int] = {}
        self.best: dict[str, float] = {}
        self.running: dict[str, int] = {}


# (panel title, refId) -> the samples the query must give, from the truth.
Expected = Callable[[Truth], dict[str, float]]
EXPECTED: dict[tuple[str, str], Expected] = {
    ("Trials by state", "A"): lambda t: {
        f'{{study="{study}",state="{state}"}}': n for (study, state), n in t.trials.items()
    },
    ("Best value over time", "A"): lambda t: {
        f'{{study="{study}"}}': v for study, v in t.best.items()
    },
    ("Leases: overdue trials and expired leases", "A"): lambda t: {
        f'{{study="{study}"}}': n for study, n in t.running.items()
    },
    ("Leases: overdue trials and expired leases", "B"): lambda t: {
        f'{{study="{study}"}}': 0 for study in t.running
    },
}


def _store_metrics(live_server: LiveServer) -> set[str]:
    collector = StudyStatsCollector(live_server.store)
    return {family.name for family in collector.collect()}


def _queries() -> list[tuple[str, str, str]]:
    """(panel title, refId, expr) of every target, with Grafana's variables filled in: all
    studies, and a rate interval of 5 minutes."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (
            panel["title"],
            target["refId"],
            target["expr"].replace("$study", ".*").replace("$__rate_interval", "5m"),
        )
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def _names(expr: str) -> set[str]:
    bare = re.sub(r"\{[^}]*\}|\b(by|without|on|ignoring) \([^)]*\)", "", expr)
    return set(re.findall(r"\b(asktell_[a-z0-9_]+)", bare))


def _fill_store(live_server: LiveServer) -> Truth:
    """Two studies: 10 trials (6 complete, 2 failed, 2 running) and 3 complete ones."""
    truth = Truth()
    with live_server.client() as client:
        first = client.create_study(simple_spec("first"))
        trials = first.ask_many(10)
        for trial, value in zip(trials[:6], (0.5, 0.25, 0.75, 1.5, 0.125, 2.0), strict=True):
            trial.tell(value)
        for trial in trials[6:8]:
            trial.fail("diverged")
        second = client.create_study(simple_spec("second"))
        for trial, value in zip(second.ask_many(3), (3.0, 2.5, 4.0), strict=True):
            trial.tell(value)
        for study in (first, second):
            counts = study.info().counts
            name = study.id
            for state, n in (
                ("COMPLETE", counts.complete),
                ("FAILED", counts.failed),
                ("RUNNING", counts.running),
            ):
                if n:
                    truth.trials[(name, state)] = n
            best = study.best_trial
            assert best is not None and best.value is not None
            truth.best[name] = best.value
            truth.running[name] = counts.running
    assert truth.trials[("first", "COMPLETE")] + truth.trials[("first", "FAILED")] == 8
    assert sum(n for (s, _), n in truth.trials.items() if s == "first") == 10
    return truth


def _exported(live_server: LiveServer) -> list[Series]:
    """The study gauges a replica exports for this store, as constant input series."""
    collector = StudyStatsCollector(
        live_server.store, clock=lambda: time.time() + LEASE_CHECK_LATER
    )
    return [
        Series(sample.name, sample.labels, f"{sample.value:g}x10")
        for family in collector.collect()
        for sample in family.samples
    ]


@pytest.mark.parametrize("replicas", [1, 3])
def test_store_derived_panels_show_the_store_with_n_replicas(
    live_server: LiveServer, replicas: int, tmp_path: Path
) -> None:
    store_metrics = _store_metrics(live_server)
    assert {"asktell_study_trials", "asktell_study_best_value"} <= store_metrics
    truth = _fill_store(live_server)
    test = UnitTest(from_replicas(replicas, _exported(live_server)))
    checked = set()
    for title, ref, expr in _queries():
        if not _names(expr) & store_metrics:
            continue  # per-process counters: summed over replicas, as they should be
        assert (title, ref) in EXPECTED, f"{title} {ref}: {expr!r} has no expected values here"
        test.expect_samples(expr, "5m", EXPECTED[(title, ref)](truth))
        checked.add((title, ref))
    assert checked == set(EXPECTED)
    run(tmp_path, [test])


def test_the_study_variable_lists_each_study_once() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variable = next(v for v in dashboard["templating"]["list"] if v["name"] == "study")
    # label_values() gives distinct values, however many replicas export the label.
    assert variable["query"] == "label_values(asktell_study_trials, study)"
