"""Report answers should_stop from the study's early-stopping rule (real server, real SQLite)."""

from __future__ import annotations

import sqlite3

from asktell.client import Client
from asktell.server.domain import TrialState
from tests.conftest import LiveServer, simple_spec


def _run(client: Client, name: str, values: list[float], *, finish: bool = True) -> list[bool]:
    """One trial reporting `values` at steps 1, 2, ...; returns the should_stop answers."""
    trial = client.get_study(name).ask(worker_id="w")
    assert trial is not None
    answers = [trial.report(step, value) for step, value in enumerate(values, start=1)]
    if finish:
        trial.tell(values[-1])
    return answers


def test_median_rule_stops_a_trial_below_the_median(client: Client) -> None:
    client.create_study(
        simple_spec("median", early_stopping={"name": "median", "min_steps": 2, "min_trials": 2})
    )
    assert _run(client, "median", [1.0, 2.0, 3.0]) == [False, False, False]
    assert _run(client, "median", [1.0, 2.0, 3.0]) == [False, False, False]
    # Minimised: 5.0 at step 1 is a warm-up step, 5.0 at step 2 is above the median 2.0.
    assert _run(client, "median", [5.0, 5.0], finish=False) == [False, True]
    # Its best so far (0.5 at step 1) is below the median, so it goes on.
    assert _run(client, "median", [0.5, 4.0], finish=False) == [False, False]


def test_asha_keeps_the_best_third_at_each_rung(client: Client) -> None:
    client.create_study(simple_spec("asha", early_stopping={"name": "asha", "min_resource": 1}))
    assert _run(client, "asha", [3.0], finish=False) == [False]
    assert _run(client, "asha", [4.0], finish=False) == [True]  # 2 at rung 1 keep 1
    assert _run(client, "asha", [2.0, 9.0, 9.0], finish=False) == [False, False, False]


def test_no_rule_never_stops(client: Client) -> None:
    client.create_study(simple_spec("plain"))
    for _ in range(4):
        assert _run(client, "plain", [9.0, 9.0]) == [False, False]


def test_values_at_step_reads_by_primary_key(live_server: LiveServer, client: Client) -> None:
    client.create_study(simple_spec("idx"))
    _run(client, "idx", [1.0, 2.0])
    _run(client, "idx", [3.0])
    with live_server.store.read() as tx:
        assert tx.values_at_step("idx", 1, ()) == {1: 1.0, 2: 3.0}
        assert tx.values_at_step("idx", 2, (TrialState.COMPLETE,)) == {1: 2.0}
        assert tx.values_at_step("idx", 2, (TrialState.PRUNED,)) == {}
    if not live_server.db_url.startswith("sqlite:///"):
        return  # the query plan below is SQLite's
    with sqlite3.connect(live_server.db_url.removeprefix("sqlite:///")) as connection:
        plan = " ".join(
            str(row)
            for row in connection.execute(
                "EXPLAIN QUERY PLAN SELECT t.number, m.value FROM trials t JOIN measurements m "
                "ON m.study = t.study AND m.number = t.number AND m.step = ? "
                "WHERE t.study = ? AND t.state IN (?)",
                (1, "idx", "COMPLETE"),
            )
        )
    assert "sqlite_autoindex_measurements" in plan or "PRIMARY KEY" in plan, plan
