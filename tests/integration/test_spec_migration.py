"""A store written by asktell 0.1.0 (schema version 1, specs as a hand-made dict) opens,
migrates once, and serves its studies unchanged; the spec is then stored as the
contract's own JSON, the one stored form."""

from __future__ import annotations

import json

from asktell.server.storage import open_store
from asktell.server.storage.schema import MIGRATIONS, statements
from tests.conftest import _live_server
from tests.services import sql, sql_all

# A study as version 0.1.0 stored it, byte for byte.
LEGACY_SPEC = json.dumps(
    {
        "algorithm": {
            "name": "gp",
            "seed": 7,
            "settings": {"acquisition": "ucb", "n_initial_trials": 4, "ucb_beta": 2.0},
            "suggestion_deadline": 1.5,
        },
        "early_stopping": {"name": "asha", "min_resource": 2, "reduction_factor": 3},
        "lease_seconds": 120.0,
        "max_retries": 1,
        "max_trials": 30,
        "objective": {"goal": "maximize", "metric": "acc"},
        "parameters": [
            {
                "name": "lr",
                "type": "float",
                "min": 0.001,
                "max": 0.1,
                "scale": "log",
                "grid_points": 0,
            },
            {"name": "bs", "type": "discrete", "values": [16.0, 32.0]},
            {"name": "act", "type": "categorical", "values": ["relu", "True"]},
            {"name": "h", "type": "int", "min": 1, "max": 9, "scale": "linear", "step": 2},
        ],
    },
    sort_keys=True,
    separators=(",", ":"),
)


def _version_1_store(db_url: str) -> None:
    version, migration = MIGRATIONS[0]
    assert version == 1 and isinstance(migration, str)
    sql_all(
        db_url,
        [
            *statements(migration),
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY)",
            "INSERT INTO schema_version (version) VALUES (1)",
            "INSERT INTO studies (name, spec, seed, state, create_time, n_suggested) "
            f"VALUES ('old', '{LEGACY_SPEC}', 7, 'ACTIVE', 1700000000.0, 1)",
            "INSERT INTO trials (study, number, state, params, value, create_time, end_time) "
            "VALUES ('old', 1, 'COMPLETE', "
            '\'{"lr":0.01,"bs":32.0,"act":"True","h":3}\', 0.9, 1700000001.0, 1700000002.0)',
        ],
    )


def test_a_version_1_store_is_migrated_and_serves_its_studies(db_url: str) -> None:
    _version_1_store(db_url)
    for live in _live_server(db_url):
        with live.client() as client:
            info = client.get_study_info("old")
            assert info.spec["algorithm"] == {
                "name": "gp",
                "seed": 7,
                "acquisition": "ucb",
                "n_initial_trials": 4,
                "ucb_beta": 2.0,
                "suggestion_deadline": 1.5,
            }
            assert info.spec["early_stopping"] == {
                "name": "asha",
                "min_resource": 2,
                "reduction_factor": 3,
            }
            assert info.spec["lease_seconds"] == 120.0 and info.spec["max_retries"] == 1
            assert info.spec["parameters"] == {
                "lr": {"type": "float", "min": 0.001, "max": 0.1, "scale": "log"},
                # Old studies keep the types they were created with.
                "bs": {"type": "discrete", "values": [16.0, 32.0]},
                "act": {"type": "categorical", "values": ["relu", "True"]},
                "h": {"type": "int", "min": 1, "max": 9, "scale": "linear", "step": 2},
            }
            (trial,) = client.get_study("old").trials()
            assert trial.params == {"lr": 0.01, "bs": 32.0, "act": "True", "h": 3}
            new = client.get_study("old").ask()
            assert new is not None and type(new.params["bs"]) is float
    ((stored,),) = sql(db_url, "SELECT spec FROM studies WHERE name = 'old'")
    assert isinstance(stored, str)
    assert "floatParameter" not in stored and "float_parameter" in stored
    assert {v for (v,) in sql(db_url, "SELECT version FROM schema_version")} == {
        v for v, _ in MIGRATIONS
    }
    # A second start finds nothing to migrate and changes nothing.
    open_store(db_url).close()
    assert sql(db_url, "SELECT spec FROM studies WHERE name = 'old'") == [(stored,)]
