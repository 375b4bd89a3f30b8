"""The schema, as numbered migrations shared by SQLite and PostgreSQL.

A migration is never edited once released: add the next number instead. Each
store applies the ones it has not applied yet, in order, at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asktell.server.storage.legacy_spec import is_legacy, upgrade

Execute = Callable[..., Any]


def _store_specs_as_contract_json(execute: Execute, placeholder: str) -> None:
    """Rewrites every study's spec from the old hand-made dict to the contract's JSON."""
    rows = execute("SELECT name, spec FROM studies", ()).fetchall()
    for name, text in rows:
        if is_legacy(text):
            execute(
                f"UPDATE studies SET spec = {placeholder} WHERE name = {placeholder}",
                (upgrade(text), name),
            )


# A migration is SQL (statements separated by ';') or a function over (execute, placeholder).
Migration = str | Callable[[Execute, str], None]

MIGRATIONS: tuple[tuple[int, Migration], ...] = (
    (
        1,
        """
        CREATE TABLE studies (
            name TEXT PRIMARY KEY,
            spec TEXT NOT NULL,
            seed BIGINT NOT NULL,
            state TEXT NOT NULL,
            create_time DOUBLE PRECISION NOT NULL,
            n_suggested BIGINT NOT NULL DEFAULT 0
        );
        CREATE TABLE trials (
            study TEXT NOT NULL REFERENCES studies(name) ON DELETE CASCADE,
            number BIGINT NOT NULL,
            state TEXT NOT NULL,
            params TEXT NOT NULL,
            value DOUBLE PRECISION,
            worker_id TEXT NOT NULL DEFAULT '',
            request_id TEXT NOT NULL DEFAULT '',
            lease_deadline DOUBLE PRECISION,
            create_time DOUBLE PRECISION NOT NULL,
            end_time DOUBLE PRECISION,
            reason TEXT NOT NULL DEFAULT '',
            suggested_by TEXT NOT NULL DEFAULT '',
            retry_of BIGINT,
            attempt INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (study, number)
        );
        CREATE INDEX trials_by_state ON trials (study, state, lease_deadline);
        CREATE INDEX trials_by_request ON trials (study, request_id, number);
        CREATE INDEX trials_by_worker ON trials (study, worker_id, state, number);
        CREATE TABLE measurements (
            study TEXT NOT NULL,
            number BIGINT NOT NULL,
            step BIGINT NOT NULL,
            value DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (study, number, step),
            FOREIGN KEY (study, number) REFERENCES trials(study, number) ON DELETE CASCADE
        );
        CREATE TABLE queue (
            study TEXT NOT NULL REFERENCES studies(name) ON DELETE CASCADE,
            position BIGINT NOT NULL,
            params TEXT NOT NULL,
            suggested_by TEXT NOT NULL,
            retry_of BIGINT,
            attempt INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (study, position)
        );
        """,
    ),
    (
        2,
        """
        ALTER TABLE trials ADD COLUMN attrs TEXT NOT NULL DEFAULT '{}'
        """,
    ),
    (3, _store_specs_as_contract_json),
    (
        4,
        # Every metric told with a COMPLETE trial (several objectives, constraints), as JSON;
        # `value` keeps the first objective's.
        """
        ALTER TABLE trials ADD COLUMN metric_values TEXT NOT NULL DEFAULT '{}'
        """,
    ),
    (
        5,
        # What the study's algorithm carries from one Ask to the next (the GP's fitted
        # hyperparameters), opaque to the store; NULL until an Ask wrote one.
        """
        ALTER TABLE studies ADD COLUMN algorithm_state TEXT
        """,
    ),
)


def statements(sql: str) -> list[str]:
    """The statements of one migration script (no semicolons inside statements)."""
    return [s.strip() for s in sql.split(";") if s.strip()]


def apply_migrations(execute: Execute, placeholder: str = "?") -> None:
    """Applies the migrations not applied yet, inside the caller's transaction.

    `execute(sql, args)` runs one statement and returns a cursor (sqlite3 and
    psycopg connections both have one).
    """
    execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)", ())
    applied = {v for (v,) in execute("SELECT version FROM schema_version", ()).fetchall()}
    for version, migration in MIGRATIONS:
        if version in applied:
            continue
        if isinstance(migration, str):
            for statement in statements(migration):
                execute(statement, ())
        else:
            migration(execute, placeholder)
        execute(f"INSERT INTO schema_version (version) VALUES ({placeholder})", (version,))
