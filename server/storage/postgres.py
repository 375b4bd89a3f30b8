"""The PostgreSQL store, for several server replicas on one database.

Writers of one study are serialised by a row lock on the study (`SELECT ...
FOR UPDATE`), taken first in every write transaction: trial numbers stay dense,
a grid point is handed out once and every Ask sees the others' pending trials,
while Tells and Asks on other studies never wait. A writer whose study has no
row when it takes the lock is answered NOT_FOUND at once: without the row
nothing would serialise it against a create and a delete of that study, and a
study created a moment later is not the one it addressed. Reads use READ
COMMITTED snapshots. Connections come from a pool that checks them before use,
so the server recovers by itself after the database restarts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from asktell.server.errors import Aborted, NotFound, Unavailable
from asktell.server.storage.schema import apply_migrations
from asktell.server.storage.sql import SqlTx

# Any constant: the key of the advisory lock that serialises migrations across replicas.
MIGRATION_LOCK_KEY = 0x61736B74656C6C


class PostgresTx(SqlTx):
    placeholder = "%s"


def _one_line(exc: Exception) -> str:
    """The driver's message (libpq adds a hint on a line of its own) as one line."""
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """psycopg errors -> domain errors; nothing from the driver leaves this module."""
    try:
        yield
    except (
        pg_errors.SerializationFailure,
        pg_errors.DeadlockDetected,
        pg_errors.UniqueViolation,
        pg_errors.LockNotAvailable,
    ) as exc:
        raise Aborted(f"a concurrent write conflicted, retry: {exc.sqlstate}") from exc
    except pg_errors.ForeignKeyViolation as exc:
        # A row's study or trial was deleted by a transaction that committed first;
        # the retry sees the deletion and answers NOT_FOUND.
        raise Aborted(f"the study changed concurrently, retry: {exc.sqlstate}") from exc
    except PoolTimeout as exc:
        raise Unavailable(f"no database connection available: {exc}") from exc
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise Unavailable(f"the database cannot be reached: {_one_line(exc)}") from exc
    except psycopg.DatabaseError as exc:
        if exc.sqlstate and exc.sqlstate.startswith(("08", "57")):  # connection, shutdown
            raise Unavailable(f"the database cannot be reached: {exc.sqlstate}") from exc
        raise


class PostgresStore:
    """A `Store` on a PostgreSQL database, safe for many threads and many replicas."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 16,
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        with _mapped_errors():
            # One plain connection first: an unreachable database fails at once with the
            # driver's own reason, instead of the pool retrying (and logging) for `timeout`.
            psycopg.connect(url, connect_timeout=5).close()
        self._pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            check=ConnectionPool.check_connection,
            kwargs={"autocommit": False, "connect_timeout": 5},
            open=False,
        )
        with _mapped_errors():
            self._pool.open(wait=True, timeout=timeout)
            self._migrate()

    def _migrate(self) -> None:
        with self._pool.connection() as connection, connection.transaction():
            # Replicas starting together take turns; the second finds nothing left to apply.
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            apply_migrations(connection.execute, placeholder="%s")

    @contextmanager
    def _transaction(self, study_id: str | None, *, read_only: bool) -> Iterator[PostgresTx]:
        with _mapped_errors(), self._pool.connection() as connection:
            connection.read_only = read_only
            with connection.transaction():
                tx = PostgresTx(connection)
                if study_id is not None:
                    locked = tx._one("SELECT 1 FROM studies WHERE name = ? FOR UPDATE", (study_id,))
                    if locked is None:
                        raise NotFound(f'study "{study_id}" does not exist')
                yield tx

    def read(self) -> AbstractContextManager[PostgresTx]:
        return self._transaction(None, read_only=True)

    def write(self, study_id: str | None = None) -> AbstractContextManager[PostgresTx]:
        return self._transaction(study_id, read_only=False)

    def close(self) -> None:
        self._pool.close()

    def stats(self) -> dict[str, Any]:
        return dict(self._pool.get_stats())
