"""Faults under load, on real server processes and real databases.

Each test runs client threads that Ask and Tell in a loop and log every Tell
the server acknowledged, injects one fault, and then checks two things: what
the clients saw (status codes, messages a person can act on: never INTERNAL),
and that the store holds every acknowledged Tell with its value, with trial
numbers dense and no half-written trial. docs/reliability.md tabulates them.
"""

from __future__ import annotations

import collections
import random
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from asktell.client import AsktellError, Client
from tests.conftest import ServerProcess, simple_spec
from tests.services import PostgresServer, sql

pytestmark = pytest.mark.slow


class Load:
    """Client threads asking and telling until stopped; what was acknowledged and what failed."""

    def __init__(self, address: str, study: str, threads: int = 8) -> None:
        self.acknowledged: dict[int, float] = {}
        self.errors: collections.Counter[str] = collections.Counter()
        self.messages: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(address, study, i), daemon=True)
            for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, address: str, study_id: str, worker: int) -> None:
        with Client(address, retry_seconds=0, timeout=5) as client:
            study = client.get_study(study_id)
            while not self._stop.is_set():
                try:
                    trial = study.ask(worker_id=f"w{worker}")
                    if trial is None:
                        return
                    value = float(trial.params["x"]) ** 2  # type: ignore[arg-type]
                    trial.tell(value)
                except AsktellError as error:
                    code = str(error).split(":")[0]
                    with self._lock:
                        self.errors[code] += 1
                        self.messages.setdefault(code, str(error)[:200])
                    time.sleep(0.05)
                    continue
                with self._lock:
                    self.acknowledged[trial.number] = value

    def wait_for(self, n: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.acknowledged) >= n, f"only {len(self.acknowledged)} tells: {self.messages}"

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def assert_nothing_lost(db_url: str, study: str, acknowledged: dict[int, float]) -> int:
    """Every acknowledged Tell stored with its value; numbers dense; rows whole.

    Returns the number of trials stored.
    """
    rows = sql(
        db_url,
        f"SELECT number, state, value, params FROM trials WHERE study = '{study}' ORDER BY number",
    )
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), "trial numbers not dense"
    for _number, state, value, params in rows:
        assert state in ("RUNNING", "COMPLETE", "FAILED"), state
        assert isinstance(params, str) and params.startswith("{")
        assert (value is None) == (state != "COMPLETE")
    stored = {int(r[0]): r[2] for r in rows if r[1] == "COMPLETE"}
    lost = {n: v for n, v in acknowledged.items() if stored.get(n) != v}
    assert not lost, f"acknowledged tells lost: {sorted(lost)[:10]}"
    return len(rows)


def assert_no_internal(load: Load) -> None:
    print(f"clients saw: {dict(load.errors)} {load.messages}")  # shown with -s
    assert "INTERNAL" not in load.errors and "UNKNOWN" not in load.errors, load.messages
    for message in load.messages.values():
        assert "Traceback" not in message


# ------------------------------------------------------------------ kill -9
def test_kill_9_at_a_random_moment(server_process: ServerProcess) -> None:
    """kill -9 while clients Ask and Tell; restart: every acknowledged Tell is stored."""
    address = server_process.start()
    with Client(address) as client:
        client.create_study(simple_spec("kill"))
    load = Load(address, "kill")
    load.wait_for(20)
    time.sleep(random.uniform(0.0, 1.5))  # the kill lands inside some Ask or Tell
    server_process.kill()
    time.sleep(0.3)
    load.stop()
    assert_no_internal(load)
    assert set(load.errors) <= {"UNAVAILABLE", "DEADLINE_EXCEEDED"}, load.messages
    count = assert_nothing_lost(server_process.db_url, "kill", load.acknowledged)

    address = server_process.start()
    with Client(address) as client:
        study = client.get_study("kill")
        trial = study.ask()
        assert trial is not None and trial.number == count + 1  # numbering continues
        trial.tell(1.0)
    assert_nothing_lost(server_process.db_url, "kill", load.acknowledged)


# ------------------------------------------------------------------ database cut
@pytest.fixture
def pg_process(postgres: PostgresServer, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(postgres.new_database(), tmp_path / "server.log")
    yield process
    process.kill()


def test_postgres_stopped_and_restarted_under_load(
    postgres: PostgresServer, pg_process: ServerProcess
) -> None:
    address = pg_process.start()
    with Client(address) as client:
        client.create_study(simple_spec("cut"))
    load = Load(address, "cut")
    load.wait_for(20)
    try:
        postgres.stop("immediate")
        time.sleep(2)
        during = len(load.acknowledged)
        time.sleep(1)
        assert len(load.acknowledged) == during, "a Tell was acknowledged with the database down"
    finally:
        postgres.start()
    after = len(load.acknowledged)
    load.wait_for(after + 20)  # the same server recovers by itself
    load.stop()
    assert_no_internal(load)
    assert "UNAVAILABLE" in load.errors, load.errors
    assert "cannot be reached" in load.messages["UNAVAILABLE"]
    assert set(load.errors) <= {"UNAVAILABLE", "ABORTED", "DEADLINE_EXCEEDED"}, load.messages
    assert_nothing_lost(pg_process.db_url, "cut", load.acknowledged)


def test_sqlite_file_moved_away_under_a_running_server(tmp_path: Path) -> None:
    """The database file renamed under the server: no wrong answer, no INTERNAL, nothing lost."""
    db = tmp_path / "asktell.db"
    process = ServerProcess(f"sqlite:///{db}", tmp_path / "server.log")
    try:
        address = process.start("--max-workers", "4")
        with Client(address) as client:
            client.create_study(simple_spec("moved"))
        load = Load(address, "moved")
        load.wait_for(20)
        moved = tmp_path / "elsewhere"
        moved.mkdir()
        for path in tmp_path.glob("asktell.db*"):
            path.rename(moved / path.name)
        time.sleep(2)
        load.stop()
        process.kill()
    finally:
        process.kill()
    assert_no_internal(load)
    assert set(load.errors) <= {"UNAVAILABLE", "ABORTED"}, load.messages
    # The server kept its open file: what it acknowledged is in the moved database.
    for path in moved.iterdir():
        path.rename(tmp_path / path.name)
    assert_nothing_lost(f"sqlite:///{db}", "moved", load.acknowledged)


# ------------------------------------------------------------------ full
@pytest.fixture
def tiny_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs root and mount); skipped where it cannot be mounted."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_sqlite_disk_full(tiny_filesystem: Path, tmp_path: Path) -> None:
    """The disk fills up under load: UNAVAILABLE saying so; everything acknowledged stays."""
    db = tiny_filesystem / "asktell.db"
    process = ServerProcess(f"sqlite:///{db}", tmp_path / "server.log")
    try:
        address = process.start()
        spec = simple_spec("full")
        spec["parameters"]["c"] = {  # type: ignore[index]
            "type": "categorical",
            "values": [f"{'v' * 200}{i}" for i in range(50)],
        }
        with Client(address) as client:
            client.create_study(spec)
        load = Load(address, "full")
        deadline = time.monotonic() + 60
        while "UNAVAILABLE" not in load.errors and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        load.stop()
        assert_no_internal(load)
        assert "UNAVAILABLE" in load.errors, f"the disk never filled: {len(load.acknowledged)}"
        assert "full" in load.messages["UNAVAILABLE"], load.messages
        with Client(address, retry_seconds=0) as client:  # reads still answer
            assert client.get_study("full").info().counts.complete >= 1
        process.terminate()
    finally:
        process.kill()
    assert_nothing_lost(f"sqlite:///{db}", "full", load.acknowledged)
