"""The algorithm state a study keeps between Asks (the GP's fitted hyperparameters), on both
stores: written with the Ask that produced it, read by the next, and never a reason to fail.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from asktell.client import Client
from asktell.server.algorithms.gp import STATE_FORMAT
from tests.conftest import LiveServer, simple_spec
from tests.services import sql

TRIALS = [
    {"params": {"x": -4.0 + 0.9 * i, "n": 1 + i % 10}, "value": (i - 4.5) ** 2} for i in range(9)
]


def _gp_study(client: Client, name: str, seed: int = 1) -> Any:
    spec = simple_spec(name, "gp")
    spec["algorithm"] = {"name": "gp", "seed": seed, "n_initial_trials": 3}
    study = client.create_study(spec)
    study.add_trials(TRIALS)
    return study


def _state(db_url: str, name: str) -> str | None:
    [(state,)] = sql(db_url, f"SELECT algorithm_state FROM studies WHERE name = '{name}'")
    return None if state is None else str(state)


def _set_state(db_url: str, name: str, state: str | None) -> None:
    value = "NULL" if state is None else "'" + state.replace("'", "''") + "'"
    sql(db_url, f"UPDATE studies SET algorithm_state = {value} WHERE name = '{name}'")


def _loss(params: dict[str, Any]) -> float:
    return float((params["x"] - 1.0) ** 2 + params["n"])


def test_the_store_round_trips_a_state(live_server: LiveServer, client: Client) -> None:
    client.create_study(simple_spec("kept"))
    with live_server.store.read() as tx:
        assert tx.algorithm_state("kept") is None
    text = '{"any": "text", "é": [1, 2.5]}'
    with live_server.store.write("kept") as tx:
        tx.set_algorithm_state("kept", text)
    with live_server.store.read() as tx:
        assert tx.algorithm_state("kept") == text
        assert tx.algorithm_state("missing") is None


def test_a_gp_ask_stores_its_fit_and_the_next_starts_from_it(
    live_server: LiveServer, client: Client
) -> None:
    study = _gp_study(client, "warm")
    assert _state(live_server.db_url, "warm") is None
    trial = study.ask()
    assert trial is not None
    first = json.loads(_state(live_server.db_url, "warm") or "")
    assert first["format"] == STATE_FORMAT
    assert len(first["fits"]["objective0"]["theta"]) == 2 + 2  # two columns, s2, noise
    assert first["fits"]["objective0"]["n_warm"] == 0
    client.tell(trial, _loss(trial.params))
    assert study.ask() is not None
    second = json.loads(_state(live_server.db_url, "warm") or "")
    assert second["fits"]["objective0"]["n_warm"] == 1


def test_algorithms_without_state_store_none(live_server: LiveServer, client: Client) -> None:
    study = client.create_study(simple_spec("plain"))
    assert study.ask() is not None
    assert _state(live_server.db_url, "plain") is None


def test_a_study_from_before_the_state_still_asks(live_server: LiveServer, client: Client) -> None:
    # A study that had GP Asks before the column existed: trials, no state.
    study = _gp_study(client, "old")
    for _ in range(2):
        trial = study.ask()
        assert trial is not None
        client.tell(trial, _loss(trial.params))
    _set_state(live_server.db_url, "old", None)
    assert study.ask() is not None
    assert json.loads(_state(live_server.db_url, "old") or "")["fits"]["objective0"]["n_warm"] == 0


@pytest.mark.parametrize(
    "state",
    [
        "not json at all",
        '{"format": "gp-fits/999", "fits": {}}',
        f'{{"format": "{STATE_FORMAT}", "fits": {{"objective0": {{"theta": [1, 2, 3]}}}}}}',
        f'{{"format": "{STATE_FORMAT}", "fits": {{"objective0": {{"theta": "x"}}}}}}',
    ],
    ids=["not-json", "unknown-format", "wrong-shape", "corrupt-theta"],
)
def test_a_state_the_gp_cannot_use_is_ignored(
    live_server: LiveServer, client: Client, state: str
) -> None:
    """The Ask answers as a study without state does (same seed, same trials: same trial)."""
    fresh, spoiled = _gp_study(client, "fresh"), _gp_study(client, "spoiled")
    _set_state(live_server.db_url, "spoiled", state)
    expected, got = fresh.ask(), spoiled.ask()
    assert expected is not None and got is not None
    assert got.params == expected.params
    assert _state(live_server.db_url, "spoiled") == _state(live_server.db_url, "fresh")


def test_same_seed_and_results_give_the_same_trials_and_states(
    live_server: LiveServer, client: Client
) -> None:
    studies = [_gp_study(client, "a", seed=7), _gp_study(client, "b", seed=7)]
    for _ in range(3):
        trials = [s.ask() for s in studies]
        assert trials[0] is not None and trials[1] is not None
        assert trials[0].params == trials[1].params
        assert _state(live_server.db_url, "a") == _state(live_server.db_url, "b")
        for trial in trials:
            client.tell(trial, _loss(trial.params))  # type: ignore[arg-type]


def test_a_multi_objective_study_keeps_one_fit_per_metric(
    live_server: LiveServer, client: Client
) -> None:
    spec = simple_spec("mo", "gp")
    spec.pop("objective")
    spec["objectives"] = [
        {"metric": "loss", "goal": "minimize"},
        {"metric": "cost", "goal": "minimize"},
    ]
    spec["algorithm"] = {"name": "gp", "seed": 1, "n_initial_trials": 3}
    study = client.create_study(spec)
    study.add_trials(
        [
            {"params": t["params"], "values": {"loss": t["value"], "cost": -t["value"]}}
            for t in TRIALS
        ]
    )
    assert study.ask() is not None
    fits = json.loads(_state(live_server.db_url, "mo") or "")["fits"]
    assert sorted(fits) == ["objective0", "objective1"]
