"""Group commit on SQLite (`storage.sqlite.WriteLane`): requests queued together run in one
transaction, each in a savepoint of its own, and are answered only after it committed.

The batches are made deterministic by holding the writer thread in a first request
until the others are queued: the next batch is then exactly those.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import pytest

from asktell.client import Client, spec_to_proto
from asktell.server import convert
from asktell.server.app import create_server
from asktell.server.domain import Study
from asktell.server.errors import Aborted, InvalidArgument, Unavailable
from asktell.server.storage import SqliteStore, open_store, sqlite
from asktell.server.storage.sqlite import WriteLane
from asktell.server.usecases import studies
from tests.conftest import simple_spec
from tests.services import sql


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqliteStore]:
    monkeypatch.setattr(sqlite, "MAX_BATCH_SECONDS", 60.0)  # batches are not cut short here
    opened = SqliteStore(tmp_path / "asktell.db")
    yield opened
    opened.close()


@pytest.fixture
def lane(store: SqliteStore) -> WriteLane:
    """The store's write lane (group commit is on unless the URL turns it off)."""
    started = store.write_lane()
    assert started is not None
    return started


def _template(store: SqliteStore) -> Study:
    """A study as the store holds it, to insert copies of under other names."""
    domain_spec = convert.study_spec(spec_to_proto(simple_spec("template"))[1])
    view, _ = studies.create_study(store, "template", domain_spec, 1.0)
    return view.study


def _insert(store: SqliteStore, study: Study, name: str) -> Callable[[], str]:
    def work() -> str:
        with store.write(name) as tx:
            tx.insert_study(_renamed(study, name))
        return name

    return work


def _renamed(study: Study, name: str) -> Study:
    return dataclasses.replace(study, id=name)


def _names(store: SqliteStore) -> set[str]:
    with store.read() as tx:
        return {s.id for s in tx.list_studies("", 100)}


def _in_one_batch(lane: WriteLane, works: list[Callable[[], Any]]) -> list[futures.Future[Any]]:
    """Queues `works` while the writer thread is held, so that they form one batch."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        held.set()
        release.wait(10)

    first = lane.submit(hold)
    assert held.wait(10)
    queued = [lane.submit(work) for work in works]
    release.set()
    first.result(10)
    return queued


def test_a_request_that_fails_leaves_the_others_of_its_batch_committed(
    store: SqliteStore, lane: WriteLane
) -> None:
    template = _template(store)

    def writes_then_fails() -> None:
        with store.write("b") as tx:
            tx.insert_study(_renamed(template, "b"))
            raise InvalidArgument("b: refused after writing")

    before = lane.commits
    a, b, c = _in_one_batch(
        lane, [_insert(store, template, "a"), writes_then_fails, _insert(store, template, "c")]
    )
    assert a.result(10) == "a" and c.result(10) == "c"
    with pytest.raises(InvalidArgument, match="refused after writing"):
        b.result(10)
    assert _names(store) == {"template", "a", "c"}  # b's insert was rolled back alone
    assert lane.commits == before + 1  # one COMMIT for the three requests


def test_a_statement_that_fails_in_a_batch_rolls_back_only_its_request(
    store: SqliteStore, lane: WriteLane
) -> None:
    """A duplicate key (an SQL error inside the savepoint) is answered to that request."""
    template = _template(store)
    a, again, c = _in_one_batch(
        lane,
        [
            _insert(store, template, "a"),
            _insert(store, template, "template"),  # exists: the INSERT fails
            _insert(store, template, "c"),
        ],
    )
    assert a.result(10) == "a" and c.result(10) == "c"
    with pytest.raises(Aborted):
        again.result(10)
    assert _names(store) == {"template", "a", "c"}


def test_a_transaction_lost_mid_batch_runs_its_earlier_requests_again(
    store: SqliteStore, lane: WriteLane
) -> None:
    """When the transaction itself is gone (as SQLite may roll back by itself after
    SQLITE_FULL), the requests whose work it held were never acknowledged: they run once
    more in a batch of their own (answered ABORTED if that fails too); later ones go on."""
    template = _template(store)
    runs: list[str] = []

    def counted() -> str:
        runs.append("a")
        return _insert(store, template, "a")()

    def loses_the_transaction() -> None:
        with store.write("x") as tx:
            tx._execute("ROLLBACK")  # what SQLite may do by itself after SQLITE_FULL

    a, lost, c = _in_one_batch(
        lane, [counted, loses_the_transaction, _insert(store, template, "c")]
    )
    with pytest.raises(Unavailable, match="no such savepoint"):  # its own error
        lost.result(10)
    assert a.result(10) == "a" and c.result(10) == "c"
    assert runs == ["a", "a"]
    assert _names(store) == {"template", "a", "c"}


def test_requests_of_a_batch_are_answered_only_after_its_commit(
    store: SqliteStore, lane: WriteLane
) -> None:
    """A request whose work is done waits for the rest of its batch: what it answers is
    already committed, as a reader on another connection sees at that moment."""
    template = _template(store)
    a_ran, finish = threading.Event(), threading.Event()

    def slow_second() -> str:
        a_ran.wait(10)
        finish.wait(10)
        return _insert(store, template, "b")()

    def first() -> str:
        name = _insert(store, template, "a")()
        a_ran.set()
        return name

    a, b = _in_one_batch(lane, [first, slow_second])
    assert a_ran.wait(10)
    with pytest.raises(futures.TimeoutError):
        a.result(0.2)  # done, but not answered: its batch has not committed
    assert "a" not in _names(store)
    finish.set()
    assert a.result(10) == "a" and b.result(10) == "b"
    assert _names(store) == {"template", "a", "b"}


def test_group_commit_can_be_switched_off(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/off.db?group_commit=off")
    assert isinstance(store, SqliteStore) and store.write_lane() is None
    store.close()
    with pytest.raises(ValueError, match="group_commit"):
        open_store(f"sqlite:///{tmp_path}/bad.db?group_commit=maybe")


@pytest.mark.parametrize("group_commit", ["on", "off"])
def test_parallel_clients_get_dense_numbers_and_every_tell_is_stored(
    tmp_path: Path, group_commit: str
) -> None:
    """16 clients on a live server: every acknowledged Tell is in the file, numbers dense."""
    url = f"sqlite:///{tmp_path}/live.db?group_commit={group_commit}"
    live = open_store(url)
    server, port = create_server(live, "127.0.0.1:0")
    server.start()
    told: dict[int, float] = {}
    lock = threading.Lock()
    try:
        with Client(f"127.0.0.1:{port}") as client:
            client.create_study(simple_spec("dense"))

        def work(worker: int) -> None:
            with Client(f"127.0.0.1:{port}") as client:
                study = client.get_study("dense")
                for _ in range(25):
                    trial = study.ask(worker_id=f"w{worker}")
                    assert trial is not None
                    trial.tell(float(trial.number))
                    with lock:
                        told[trial.number] = float(trial.number)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        server.stop(None)
        live.close()
    rows = sql(url.split("?")[0], "SELECT number, state, value FROM trials ORDER BY number")
    assert [r[0] for r in rows] == list(range(1, 401))
    assert {int(r[0]): r[2] for r in rows if r[1] == "COMPLETE"} == told


# ---------------------------------------------------------------- batches on the event loop
def _on_loop(lane: WriteLane, works: list[Callable[[], Any]], ticks: list[float]) -> list[Any]:
    """Submits `works` from a running event loop together, and awaits them while a ticker
    task records the loop's turns (a loop that waits on the store records none)."""

    async def main() -> list[Any]:
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        try:
            submitted = [lane.submit_async(work) for work in works]
            return list(await asyncio.gather(*submitted, return_exceptions=True))
        finally:
            stop.set()
            await ticking

    return asyncio.run(main())


def _thread_of(work: Callable[[], str], threads: list[int]) -> Callable[[], str]:
    def run() -> str:
        threads.append(threading.get_ident())
        return work()

    return run


def test_requests_that_reach_the_loop_together_run_there_in_one_batch(
    store: SqliteStore, lane: WriteLane
) -> None:
    template = _template(store)
    threads: list[int] = []
    works = [_thread_of(_insert(store, template, name), threads) for name in "abc"]
    commits, loop_batches = lane.commits, lane.loop_batches
    assert _on_loop(lane, works, []) == ["a", "b", "c"]
    assert set(threads) == {threading.get_ident()}  # asyncio.run's loop runs on this thread
    assert (lane.commits, lane.loop_batches) == (commits + 1, loop_batches + 1)
    assert _names(store) == {"template", "a", "b", "c"}


def test_a_write_lock_held_elsewhere_sends_the_batch_to_the_writer_thread(
    store: SqliteStore, lane: WriteLane
) -> None:
    """The loop does not wait for a write of another thread (an Ask's algorithm step on
    the handler pool): the writer thread does, and the loop keeps turning meanwhile."""
    template = _template(store)
    holding, release = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        with store.write("x"):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    assert holding.wait(10)
    threading.Timer(0.3, release.set).start()
    threads: list[int] = []
    ticks: list[float] = []
    loop_batches = lane.loop_batches
    assert _on_loop(lane, [_thread_of(_insert(store, template, "a"), threads)], ticks) == ["a"]
    holder.join(10)
    assert threads and threads[0] != threading.get_ident()  # the writer thread ran it
    assert lane.loop_batches == loop_batches
    assert len(ticks) >= 10  # about 30 turns of 10 ms while the lock was held
    assert _names(store) == {"template", "a"}


def test_a_database_locked_by_another_process_does_not_stall_the_loop(
    store: SqliteStore, lane: WriteLane
) -> None:
    """SQLite's lock held outside this store (another process on the file): the loop's
    connection does not wait for it; the writer thread waits, and the request completes."""
    template = _template(store)
    other = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.3, other.execute, args=("COMMIT",)).start()
    threads: list[int] = []
    ticks: list[float] = []
    try:
        assert _on_loop(lane, [_thread_of(_insert(store, template, "a"), threads)], ticks) == ["a"]
    finally:
        other.close()
    assert threads and threads[0] != threading.get_ident()
    assert len(ticks) >= 10
    assert _names(store) == {"template", "a"}


def test_the_writer_thread_checkpoints_the_log_that_the_loop_writes(
    store: SqliteStore, lane: WriteLane, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's connection never checkpoints; the writer thread does, so the log stays
    small however much the loop writes."""
    monkeypatch.setattr(sqlite, "CHECKPOINT_SECONDS", 0.0)
    checkpoints: list[float] = []
    checkpoint = SqliteStore.checkpoint

    def counted(self: SqliteStore) -> None:
        checkpoints.append(time.monotonic())
        checkpoint(self)

    monkeypatch.setattr(SqliteStore, "checkpoint", counted)
    template = _template(store)
    loop_batches = lane.loop_batches

    async def write_one_by_one() -> None:
        for index in range(300):
            await lane.submit_async(_insert(store, template, f"s{index}"))
            await asyncio.sleep(0.002)  # an idle loop lets the writer thread run

    asyncio.run(write_one_by_one())
    # Every write committed: on the loop, or on the writer thread when it arrived while
    # the writer held the write lock for a checkpoint (after every commit here).
    assert lane.loop_batches > loop_batches
    assert checkpoints
    # 300 commits of a few pages each would make a log of megabytes without checkpoints.
    assert Path(store.path + "-wal").stat().st_size < 1024 * 1024
    with store.read() as tx:
        assert len(tx.list_studies("", 1000)) == 301
