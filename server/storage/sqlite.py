"""The embedded store: one SQLite file in WAL mode, one connection per server thread.

Writers take the database's single write lock up front (`BEGIN IMMEDIATE`), so
concurrent Asks on any study are serialised and trial numbers stay dense. With
WAL and `synchronous=NORMAL` a committed transaction survives a crash of the
process (not necessarily a power cut: use `?synchronous=full` for that).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from asktell.server.errors import Aborted, Unavailable
from asktell.server.storage.schema import apply_migrations
from asktell.server.storage.sql import SqlTx

BUSY_TIMEOUT_MS = 30_000


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Driver errors -> domain errors; nothing from sqlite3 leaves this module."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        message = str(exc)
        if "locked" in message or "busy" in message:
            raise Aborted(f"the database is busy, retry: {message}") from exc
        raise Unavailable(f"the database cannot be used: {message}") from exc
    except sqlite3.DatabaseError as exc:
        raise Unavailable(f"database error: {exc}") from exc


class SqliteStore:
    """A `Store` on one SQLite file, shared safely by the server's threads and processes."""

    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous.upper()
        if self._synchronous not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"synchronous must be off, normal, full or extra, not {synchronous}")
        self._local = threading.local()
        self._all_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        with _mapped_errors():
            self._migrate()

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,  # transactions are begun explicitly below
                check_same_thread=False,
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA synchronous={self._synchronous}")
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._local.connection = connection
            with self._lock:
                self._all_connections.append(connection)
        return connection

    def _migrate(self) -> None:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            apply_migrations(connection.execute)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[SqlTx]:
        with _mapped_errors():
            connection = self._connection()
            connection.execute(begin)
            try:
                yield SqlTx(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def read(self) -> AbstractContextManager[SqlTx]:
        return self._transaction("BEGIN")

    @contextmanager
    def write(self, study_id: str | None = None) -> Iterator[SqlTx]:
        # Threads of this process queue on a lock instead of SQLite's sleeping busy handler;
        # other processes on the same file still wait on the busy timeout.
        with self._write_lock, self._transaction("BEGIN IMMEDIATE") as tx:
            yield tx

    def close(self) -> None:
        with self._lock:
            for connection in self._all_connections:
                connection.close()
            self._all_connections.clear()
        self._local = threading.local()
