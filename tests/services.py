"""Real PostgreSQL and Prometheus servers for tests, started from the machine's own packages.

`make test` installs them (scripts/test-services.sh). On a laptop without
them the tests that need them skip; in CI they fail instead (tests/ci.py).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from tests import ci


def missing(what: str) -> NoReturn:
    """Skips (or in CI fails) the calling test because `what` is not installed."""
    ci.missing(f"{what} is not installed", "run scripts/test-services.sh")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A throw-away PostgreSQL cluster on a loopback port (fsync off: tests only)."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            missing("PostgreSQL")
        self.bin = Path(found[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="asktell-pg-"))
        self.port = free_port()
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            shutil.chown(self.root, "postgres")
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
        self._run(
            "initdb",
            "-D",
            str(self.root / "data"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self._as_postgres, str(self.bin / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=300"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "30",
            "start",
            "-o",
            options,
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database; returns its URL. Whoever asks for one drops it
        (`drop_database`, or `database()` that does both)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drops the database of `url`, closing what is still connected to it (a server
        process a test killed leaves nothing behind; an in-process pool may still be open)."""
        name = url.rsplit("/", 1)[1]
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A fresh empty database's URL for the `with` block; dropped after it."""
        url = self.new_database()
        try:
            yield url
        finally:
            self.drop_database(url)

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(statement)  # type: ignore[arg-type]

    def close(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def wait_until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TimeoutError("condition not met")


Rows = list[tuple[object, ...]]
STORE_TABLES = ("studies", "trials", "measurements", "queue")


def sql_all(db_url: str, statements: Sequence[str]) -> list[Rows]:
    """Runs statements in turn directly on a store's database (SQLite or PostgreSQL), each
    committed, over one connection; returns the rows of each."""
    if db_url.startswith("sqlite:///"):
        import sqlite3

        connection = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        try:
            results = []
            for statement in statements:
                results.append(connection.execute(statement).fetchall())
                connection.commit()
            return results
        finally:
            connection.close()
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as connection:
        cursors = (connection.execute(s) for s in statements)  # type: ignore[arg-type]
        return [cursor.fetchall() if cursor.description else [] for cursor in cursors]


def sql(db_url: str, statement: str) -> Rows:
    """Runs one statement directly on a store's database (SQLite or PostgreSQL); returns rows."""
    return sql_all(db_url, [statement])[0]


def snapshot(db_url: str, tables: Sequence[str] = STORE_TABLES) -> list[tuple[str, Rows]]:
    """Every row of each table, in a stable order: two snapshots are equal exactly when
    nothing in those tables changed in between."""
    contents = sql_all(db_url, [f"SELECT * FROM {table}" for table in tables])
    return [(t, sorted(rows, key=repr)) for t, rows in zip(tables, contents, strict=True)]


class PrometheusServer:
    """A real Prometheus scraping the given targets every second."""

    def __init__(self, jobs: dict[str, list[str]], tmp_path: Path) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            missing("Prometheus")
        self.port = free_port()
        config = tmp_path / "prometheus.yml"
        scrape = "\n".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: {targets!r}"
            for job, targets in jobs.items()
        )
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"scrape_configs:\n{scrape}\n"
        )
        self.log = (tmp_path / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                str(binary),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: self._ready(), timeout=30)

    def _ready(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1):
                return True
        except OSError:
            return False

    def query(self, expr: str) -> list[dict[str, object]]:
        """Instant query through the HTTP API; returns the result vector."""
        import json
        import urllib.parse
        import urllib.request

        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr}
        )
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None  # type: ignore[index]

    def wait_for(self, expr: str, expected: float, timeout: float = 30.0) -> None:
        last: list[float | None] = [None]

        def matches() -> bool:
            last[0] = self.value(expr)
            return last[0] == expected

        try:
            wait_until(matches, timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"{expr} = {last[0]}, expected {expected}") from None

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()
