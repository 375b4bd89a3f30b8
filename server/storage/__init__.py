"""Stores behind one interface: `open_store(url)` picks the backend from the URL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from asktell.server.storage.base import QueuedTrial, Store, Tx
from asktell.server.storage.sqlite import SqliteStore


def open_store(url: str) -> Store:
    """Opens (and migrates) the store at `url`.

    `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, optionally with
    `?synchronous=full` (see `SqliteStore`) and `?group_commit=off` (a transaction
    per request instead of batches on a writer thread); a bare path is taken as a SQLite file;
    `postgresql://user:password@host:port/database` for PostgreSQL.

    Raises:
        ValueError: an unsupported or malformed URL.
    """
    if "://" not in url:
        return SqliteStore(url)
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = parsed.path[1:] if parsed.path.startswith("/") else parsed.path
        if not path:
            raise ValueError(f"{url!r}: give a file, e.g. sqlite:///asktell.db")
        options = parse_qs(parsed.query)
        group_commit = options.get("group_commit", ["on"])[0].lower()
        if group_commit not in ("on", "off"):
            raise ValueError(f"{url!r}: group_commit must be on or off, not {group_commit!r}")
        return SqliteStore(
            path,
            synchronous=options.get("synchronous", ["normal"])[0],
            group_commit=group_commit == "on",
        )
    if parsed.scheme in ("postgresql", "postgres"):
        from asktell.server.storage.postgres import PostgresStore

        return PostgresStore(url)
    raise ValueError(
        f"{url!r}: unsupported database; use sqlite:///path.db or postgresql://user@host/db"
    )


__all__ = ["QueuedTrial", "SqliteStore", "Store", "Tx", "open_store"]
