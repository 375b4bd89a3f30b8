"""The embedded store: one SQLite file in WAL mode, one connection per server thread.

Writers take the database's single write lock up front (`BEGIN IMMEDIATE`), so
concurrent Asks on any study are serialised and trial numbers stay dense. With
WAL and `synchronous=NORMAL` a committed transaction survives a crash of the
process (not necessarily a power cut: use `?synchronous=full` for that).

A full disk is answered UNAVAILABLE ("the disk holding the database is full"),
the code clients retry with backoff; the failed write changed nothing. Reads go
on meanwhile, also after a restart: reading never writes, and opening the store
migrates only when a migration is pending. The write-ahead log is truncated
once it is half as large as the space left, so that what it holds always fits
in the database file; a write that fails for lack of space truncates it too,
and when that gives space back the write is run again (by answering `Aborted`,
which `retry_on_conflict` retries inside the server). A connection that failed
is closed and a fresh one opened on next use, so none stays wedged once the
disk has room again. A small reserve file next to the database is given up
when a restart finds the disk too full even to read, and set aside again once
writes succeed.

Group commit (`WriteLane`, on unless the URL says `?group_commit=off`): the
server runs its hot write RPCs (Ask, Tell, Report, Heartbeat,
SetTrialAttributes) on one writer thread per store instead of its handler
pool. That thread takes every request queued at the time (at most
`MAX_BATCH` of them, for at most `MAX_BATCH_SECONDS`) and runs them in one
write transaction, each `write()` of each request in a SAVEPOINT of its own:
a request that fails is rolled back to its savepoint alone and answered with
its error, the others go on. One COMMIT ends the batch, and only then is any
request of it answered: an answer always means "committed", exactly as with a
transaction per request. A failure that loses the whole transaction (a full
disk, an I/O error, a failed COMMIT) answers every request of the batch that
had already succeeded with the error (ABORTED for a lost transaction, which
clients retry); none of them is acknowledged. One thread means no waiting on
the write lock, one COMMIT (and one `fsync` with `?synchronous=full`) per
batch, and one wake-up of the event loop per batch instead of one per RPC.

A batch runs on the event loop's own thread instead when nothing stands in
its way (`WriteLane.submit_async`): the requests that reached the loop
together run two turns later in one transaction there, if the write lock is
free at once, no batch is queued for the writer thread, no other process
holds SQLite's lock (the loop's connection never waits for it) and no write
found the disk full since the last commit. Otherwise, and for what such a
batch leaves (requests past the time limit, a lost transaction's), the writer
thread runs them as above. Handing each batch to another thread and back cost
a third of the Ask+Tell throughput at 4 clients and a tenth at 16
(docs/benchmarks.md). The loop never checkpoints the log and never waits on a
busy database or a full disk: the writer thread checkpoints at most every
`CHECKPOINT_SECONDS` while the loop writes, and truncates the log when the
disk runs short.
"""

from __future__ import annotations

import asyncio
import collections
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asktell.server.errors import Aborted, AsktellError, Unavailable
from asktell.server.storage.schema import MIGRATIONS, apply_migrations
from asktell.server.storage.sql import SqlTx

BUSY_TIMEOUT_MS = 30_000
# SQLite's default: a checkpoint every 1000 pages (about 4 MiB) of log. Checkpointing
# every 128 pages cost 45% of a store's Ask+Tell throughput; on a nearly full disk the
# log is truncated sooner instead (`_keep_log_within_free_space`).
WAL_AUTOCHECKPOINT_PAGES = 1000
# A log that one large transaction grew is cut back to this after the next checkpoint.
JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024
# How long a truncating checkpoint waits for readers to let go of the log.
CHECKPOINT_BUSY_TIMEOUT_MS = 2_000

# Kept free next to the database (the file `<database>-reserve`), and given up when a
# restart finds the disk full: a reader needs 32 KiB for the index of the log.
RESERVE_BYTES = 64 * 1024

# Group commit: the most requests, and the longest time, one batch (one transaction) takes.
# Its first request waits for the last one's work before it is answered.
MAX_BATCH = 64
MAX_BATCH_SECONDS = 0.005
# While batches run on the event loop (which never checkpoints): how often, at most,
# the writer thread checkpoints the log for it. The default of 1000 pages came about
# once a second at 16 clients' Ask+Tell.
CHECKPOINT_SECONDS = 1.0

_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
# A full disk shows as SQLITE_FULL, or as an I/O error when the log's index cannot grow.
_DISK_CODES = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR})


def _primary_code(exc: sqlite3.Error) -> int | None:
    """SQLite's primary result code (SQLITE_FULL, ...) of a driver error, if it has one."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


class SqliteStore:
    """A `Store` on one SQLite file, shared safely by the server's threads and processes."""

    def __init__(
        self, path: str | Path, *, synchronous: str = "NORMAL", group_commit: bool = True
    ) -> None:
        self.path = str(path)
        self.group_commit = group_commit
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous.upper()
        if self._synchronous not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"synchronous must be off, normal, full or extra, not {synchronous}")
        self._local = threading.local()
        self._all_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        # Strings, not paths: both are checked after every commit.
        self._log_path = self.path + "-wal"
        self._log_dir = str(Path(self._log_path).parent)
        self._reserve = None if self.path == ":memory:" else Path(self.path + "-reserve")
        # Both cleared by the next commit. Set once a write failed for lack of space:
        self._disk_was_full = False
        # and once the log gave space back for it: a write that fails again needs more.
        self._log_reclaimed = False
        self._lane: WriteLane | None = None
        # The event loop's connection, once set never to wait and never to checkpoint.
        self._never_waiting: sqlite3.Connection | None = None
        # The batch running now, on the writer thread or the event loop's (under the write lock).
        self._batch: _Batch | None = None
        try:
            self._open()
        except sqlite3.Error as exc:
            self._discard_connection()
            raise self._domain_error(exc, writing=False) from exc
        self._keep_reserve()

    # ------------------------------------------------------------ connections
    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,  # transactions are begun explicitly below
                check_same_thread=False,
            )
            try:
                # None of these writes to the file once it is in WAL mode.
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(f"PRAGMA synchronous={self._synchronous}")
                connection.execute("PRAGMA foreign_keys=ON")
                connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                connection.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
                connection.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
            except BaseException:
                connection.close()
                raise
            self._local.connection = connection
            with self._lock:
                self._all_connections.append(connection)
        return connection

    def _discard_connection(self) -> None:
        """Closes this thread's connection; the next transaction opens a fresh one."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            return
        self._local.connection = None
        with self._lock:
            if connection in self._all_connections:
                self._all_connections.remove(connection)
        with suppress(sqlite3.Error):  # best effort: the connection is dropped either way
            connection.close()

    # ------------------------------------------------------------ opening
    def _open(self) -> None:
        """Checks the schema, migrating only if needed.

        The first reader of a file whose write-ahead log was removed at the last
        close needs 32 KiB for the log's index; on a disk filled meanwhile the
        reserve file gives it up, so that reads answer.
        """
        try:
            current = self._schema_is_current()
        except sqlite3.Error as exc:
            if _primary_code(exc) not in _DISK_CODES or not self._release_reserve():
                raise
            self._discard_connection()
            current = self._schema_is_current()
        if not current:
            self._migrate()

    def _keep_reserve(self) -> None:
        """Sets `RESERVE_BYTES` aside next to the database, if the disk has them."""
        if self._reserve is None or self._reserve.exists():
            return
        partial = self._reserve.with_name(self._reserve.name + ".partial")
        try:
            partial.write_bytes(bytes(RESERVE_BYTES))
            partial.replace(self._reserve)
        except OSError:
            partial.unlink(missing_ok=True)  # no room: try again when the disk has some

    def _release_reserve(self) -> bool:
        """Deletes the reserve file; whether there was one to give space back."""
        if self._reserve is None or not self._reserve.exists():
            return False
        self._reserve.unlink(missing_ok=True)
        return True

    def _schema_is_current(self) -> bool:
        """Whether every migration is applied, found out by reading only."""
        connection = self._connection()
        connection.execute("BEGIN")
        try:
            applied: set[int] = set()
            if connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
            ).fetchone():
                rows = connection.execute("SELECT version FROM schema_version").fetchall()
                applied = {int(version) for (version,) in rows}
        finally:
            self._roll_back(connection)
        return applied >= {version for version, _ in MIGRATIONS}

    def _migrate(self) -> None:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            apply_migrations(connection.execute)
            connection.execute("COMMIT")
        except BaseException:
            self._roll_back(connection)
            raise

    # ------------------------------------------------------------ transactions
    @contextmanager
    def _transaction(self, begin: str, *, writing: bool) -> Iterator[SqlTx]:
        try:
            connection = self._connection()
            connection.execute(begin)
        except sqlite3.Error as exc:
            self._after_failure(exc)
            raise self._domain_error(exc, writing) from exc
        try:
            yield SqlTx(connection)
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            self._after_failure(exc)
            raise self._domain_error(exc, writing) from exc
        except BaseException:
            self._roll_back(connection)
            raise

    def _roll_back(self, connection: sqlite3.Connection) -> None:
        """Ends a transaction the caller abandoned; a connection that cannot is dropped."""
        try:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
        except sqlite3.Error:
            self._discard_connection()

    def _after_failure(self, exc: sqlite3.Error) -> None:
        """Rolls back after a driver error and drops the connection unless it was only busy.

        After SQLITE_FULL or an I/O error SQLite may or may not have rolled back
        itself; a fresh connection starts clean either way.
        """
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            return
        self._roll_back(connection)
        if _primary_code(exc) not in _BUSY_CODES:
            self._discard_connection()

    def _domain_error(self, exc: sqlite3.Error, writing: bool) -> AsktellError:
        """Driver errors -> domain errors; nothing from sqlite3 leaves this module."""
        code = _primary_code(exc)
        if code in _BUSY_CODES:
            return Aborted(f"the database is busy, retry: {exc}")
        if code == sqlite3.SQLITE_FULL:
            self._disk_was_full = True
            if writing and not self._on_loop_batch() and self._reclaim_log_space():
                return Aborted(
                    "the disk holding the database was full; space was reclaimed from its "
                    "write-ahead log, retry"
                )
            return Unavailable(
                f"the disk holding the database is full ({exc}); writes fail until space "
                "is freed on it, reads still answer"
            )
        if isinstance(exc, sqlite3.IntegrityError):  # cannot happen under the write lock
            return Aborted(f"a concurrent write conflicted, retry: {exc}")
        if isinstance(exc, sqlite3.OperationalError):
            return Unavailable(f"the database cannot be used: {exc}")
        return Unavailable(f"database error: {exc}")

    def _reclaim_log_space(self) -> bool:
        """After a write failed for lack of space (under the write lock): whether
        truncating the log gave space back, so that the write is worth retrying."""
        if self._log_reclaimed:
            return False
        self._log_reclaimed = self._truncate_log()
        return self._log_reclaimed

    def _keep_log_within_free_space(self) -> None:
        """After a commit (under the write lock): truncates the log once it is half as
        large as the space left on the disk.

        Moving the log into the database file may need as much room again as the
        log takes, so a log let grow into the last free space could never be
        checkpointed. Two system calls a commit; nothing more while there is room.
        """
        if self._log_outgrows_free_space():
            self._truncate_log()

    def _log_outgrows_free_space(self) -> bool:
        try:
            log_bytes = os.stat(self._log_path).st_size
            volume = os.statvfs(self._log_dir)  # as shutil.disk_usage, without its overhead
            free_bytes = volume.f_bavail * volume.f_frsize
        except OSError:
            return False
        return log_bytes > 0 and 2 * log_bytes >= free_bytes

    def checkpoint(self) -> None:
        """Moves what the log holds into the database file (a passive checkpoint, under
        the write lock: the next write then starts the log from its beginning), and
        truncates the log if the disk runs short of space.

        For the writer thread while batches run on the event loop, whose connection
        never checkpoints. Writes wait meanwhile, as they wait for SQLite's automatic
        checkpoint in a COMMIT. Nothing here raises: a checkpoint not made is made the
        next time.
        """
        with self._write_lock:
            try:
                self._connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error:
                self._discard_connection()
            self._keep_log_within_free_space()

    def _truncate_log(self) -> bool:
        """Moves the whole log into the database file and truncates it to nothing.

        Returns whether that made the log smaller; False when readers held on past
        the short busy timeout or the disk had no room for the database to grow.
        """
        try:
            before = os.stat(self._log_path).st_size
        except OSError:
            return False  # no log to truncate
        try:
            connection = self._connection()
            connection.execute(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_TIMEOUT_MS}")
            try:
                (busy, _, _) = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except sqlite3.Error:
            self._discard_connection()
            return False
        after = os.stat(self._log_path).st_size if os.path.exists(self._log_path) else 0
        return not busy and after < before

    def read(self) -> AbstractContextManager[SqlTx]:
        batch = self._batch
        if batch is not None and batch.thread == threading.get_ident():
            return self._savepoint(batch, keep=False)
        return self._transaction("BEGIN", writing=False)

    def write(self, study_id: str | None = None) -> AbstractContextManager[SqlTx]:
        batch = self._batch
        if batch is not None and batch.thread == threading.get_ident():
            return self._savepoint(batch, keep=True)
        return self._write_alone()

    @contextmanager
    def _write_alone(self) -> Iterator[SqlTx]:
        # Threads of this process queue on a lock instead of SQLite's sleeping busy handler;
        # other processes on the same file still wait on the busy timeout.
        with self._write_lock:
            with self._transaction("BEGIN IMMEDIATE", writing=True) as tx:
                yield tx
            self._after_commit()

    def _after_commit(self) -> None:
        """Book-keeping after a commit (under the write lock)."""
        self._log_reclaimed = False
        if self._on_loop_batch():  # the truncating checkpoint may wait: the writer thread's
            lane = self._lane
            if lane is not None and self._log_outgrows_free_space():
                lane.request_checkpoint(now=True)
        else:
            self._keep_log_within_free_space()
        if self._disk_was_full:  # there is room again: set the reserve aside again
            self._disk_was_full = False
            self._keep_reserve()

    # ------------------------------------------------------------ group commit
    def write_lane(self) -> WriteLane | None:
        """The writer thread that runs requests in batches (started on first use);
        None when the store was opened with `group_commit=False` or is in memory."""
        if not self.group_commit or self.path == ":memory:":
            return None
        with self._lock:
            if self._lane is None:
                self._lane = WriteLane(self)
            return self._lane

    def _run_batch(self, jobs: list[_Job]) -> list[_Job]:
        """Runs `jobs` on this (the writer) thread in one transaction; returns those left
        for the next batch when the time ran out. Every job's outcome is set.

        Requests that failed only because their batch's transaction was lost or its
        COMMIT failed retryably (a full disk whose log gave space back) run once more
        in a batch of their own, as `retry_on_conflict` reruns a lone transaction.
        """
        with self._write_lock:
            left = self._run_jobs(jobs, MAX_BATCH_SECONDS)
            again = _run_again(jobs[: len(jobs) - len(left)])
            if again:
                self._run_jobs(again, None)
        return left

    def _run_batch_without_waiting(self, jobs: list[_Job]) -> list[_Job] | None:
        """`_run_batch` on the calling thread (the event loop's), if that needs no waiting:
        None, with nothing run, when another thread holds the write lock, another process
        holds the database's, or a write found the disk full and no commit since had room.

        Returns the jobs left for the writer thread: those past the time limit, and
        those a lost transaction took (run again there, as `_run_batch` runs them). Every
        other job's outcome is set.
        """
        if self._disk_was_full or not self._write_lock.acquire(blocking=False):
            return None
        try:
            try:
                connection = self._connection()
                if connection is not self._never_waiting:
                    # This thread must not wait: not on another process's lock, nor on a
                    # checkpoint (the writer thread makes those, see `checkpoint`).
                    connection.execute("PRAGMA busy_timeout=0")
                    connection.execute("PRAGMA wal_autocheckpoint=0")
                    self._never_waiting = connection
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._after_failure(exc)
                return None  # the writer thread meets the error, or waits it out
            left = self._run_jobs(jobs, MAX_BATCH_SECONDS, on_loop=True)
        finally:
            self._write_lock.release()
        # A disk found full here: the writer thread reclaims space and retries.
        again = _run_again(jobs[: len(jobs) - len(left)], every_failure=self._disk_was_full)
        return again + left

    def _on_loop_batch(self) -> bool:
        """Whether this thread is running a batch on the event loop (never waits)."""
        batch = self._batch
        return batch is not None and batch.on_loop and batch.thread == threading.get_ident()

    def _run_jobs(
        self, jobs: list[_Job], max_seconds: float | None, *, on_loop: bool = False
    ) -> list[_Job]:
        batch = _Batch(threading.get_ident(), on_loop=on_loop)
        started = time.monotonic()
        self._batch = batch
        try:
            for index, job in enumerate(jobs):
                if max_seconds is not None and index and time.monotonic() - started > max_seconds:
                    left = jobs[index:]
                    break
                if on_loop and (batch.lost or self._disk_was_full):
                    left = jobs[index:]  # a fresh transaction, or the disk, might wait
                    break
                batch.current = job
                try:
                    job.value, job.ok = job.fn(), True
                except BaseException as exc:  # answered to this request alone
                    job.value, job.ok = exc, False
                batch.current = None
                if job in batch.lost:
                    job.value, job.ok, job.retry = _lost(), False, True
                elif job.ok:
                    batch.done.append(job)
            else:
                left = []
            self._commit_batch(batch)
        finally:
            self._batch = None
        return left

    def _commit_batch(self, batch: _Batch) -> None:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None or not connection.in_transaction:
            return  # nothing was written (or what was is lost and answered so)
        try:
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            self._after_failure(exc)
            error = self._domain_error(exc, writing=True)
            for job in batch.done:
                job.value, job.ok, job.retry = error, False, isinstance(error, Aborted)
            return
        if self._lane is not None:
            self._lane.commits += 1
        self._after_commit()

    @contextmanager
    def _savepoint(self, batch: _Batch, *, keep: bool) -> Iterator[SqlTx]:
        """One `write()` (or `read()`) of a request inside the batch's transaction."""
        try:
            connection = self._connection()
            if not connection.in_transaction:  # the batch's first write (or after a loss)
                connection.execute("BEGIN IMMEDIATE")
            connection.execute("SAVEPOINT request")
        except sqlite3.Error as exc:
            self._lose_batch(batch)
            raise self._domain_error(exc, writing=True) from exc
        try:
            yield SqlTx(connection)
            if keep:
                connection.execute("RELEASE request")
            else:
                connection.execute("ROLLBACK TO request")
                connection.execute("RELEASE request")
        except sqlite3.Error as exc:
            if _primary_code(exc) in _DISK_CODES or not connection.in_transaction:
                self._lose_batch(batch)
            else:
                self._undo_savepoint(connection, batch)
            raise self._domain_error(exc, writing=True) from exc
        except BaseException:
            self._undo_savepoint(connection, batch)
            raise
        if keep and batch.current is not None:
            batch.wrote.add(batch.current)

    def _undo_savepoint(self, connection: sqlite3.Connection, batch: _Batch) -> None:
        """Rolls back one request's savepoint; the batch's other work stays."""
        try:
            connection.execute("ROLLBACK TO request")
            connection.execute("RELEASE request")
        except sqlite3.Error:
            self._lose_batch(batch)

    def _lose_batch(self, batch: _Batch) -> None:
        """The batch's transaction is gone (or must go): roll back what is left of it and
        answer every request whose work it held with ABORTED; later requests of the batch
        begin a fresh transaction."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None:
            self._roll_back(connection)
        self._discard_connection()
        for job in batch.done:
            if job in batch.wrote:
                job.value, job.ok, job.retry = _lost(), False, True
        batch.lost.update(batch.wrote)
        batch.done = [job for job in batch.done if job not in batch.wrote]
        batch.wrote.clear()

    def close(self) -> None:
        lane, self._lane = self._lane, None
        if lane is not None:
            lane.close()
        with self._lock:
            for connection in self._all_connections:
                connection.close()
            self._all_connections.clear()
        self._local = threading.local()


def _run_again(ran: list[_Job], *, every_failure: bool = False) -> list[_Job]:
    """The jobs of a batch that ran to run once more, their retry flag cleared: those a
    lost transaction took, or with `every_failure` every one that failed."""
    again = [job for job in ran if (not job.ok if every_failure else job.retry)]
    for job in again:
        job.retry = False
    return again


def _lost() -> Aborted:
    return Aborted(
        "the transaction this request was committed in together with others failed; "
        "nothing of it was stored, retry"
    )


@dataclass(eq=False, slots=True)
class _Job:
    """One request for the write lane: its work and, once run, its outcome."""

    fn: Callable[[], Any]
    future: futures.Future[Any] | asyncio.Future[Any]
    ok: bool = False
    value: Any = None
    retry: bool = False  # failed only with its batch: worth running again


@dataclass(eq=False, slots=True)
class _Batch:
    """A batch's open transaction (on the writer thread or the event loop's) and the
    requests it holds."""

    thread: int
    on_loop: bool = False  # run on the event loop's thread, which must never wait
    current: _Job | None = None
    done: list[_Job] = field(default_factory=list)  # succeeded: answered after the commit
    wrote: set[_Job] = field(default_factory=set)  # whose work the transaction holds
    lost: set[_Job] = field(default_factory=set)  # whose work a lost transaction took


class WriteLane:
    """One writer thread for a `SqliteStore`: requests in, batches of one transaction out.

    `submit_async` (on an event loop) and `submit` (from any thread) queue a
    function that does a request's work through the store; the thread runs
    what is queued in one batch (see the module docstring) and answers each
    request after the batch committed: an asyncio future's loop is woken once
    per batch, not once per request. What `submit_async` queues runs on the
    loop itself when that needs no waiting.
    """

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._jobs: collections.deque[_Job] = collections.deque()
        # Requests of each event loop waiting for its next turn.
        self._on_loops: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        self._ready = threading.Condition(threading.Lock())
        self._closed = False
        self._checkpoint_due = False
        self._last_checkpoint = time.monotonic()
        self.commits = 0  # batches committed (for tests and benchmarks)
        self.loop_batches = 0  # of them, run on an event loop (for tests and benchmarks)
        self._thread = threading.Thread(target=self._run, name="asktell-sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any]) -> futures.Future[Any]:
        """Queues `fn`; its future is done once the batch it ran in committed."""
        future: futures.Future[Any] = futures.Future()
        if not self._put([_Job(fn, future)]):
            raise Unavailable("the store is closing")
        return future

    def submit_async(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        """`submit` for the running event loop; the future is settled on that loop.

        The requests that reach the loop together run two turns later, on the loop's
        thread, when the store can take them without waiting; else on the writer thread.
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._ready:
            if self._closed:
                raise Unavailable("the store is closing")
            waiting = self._on_loops.setdefault(loop, [])
            waiting.append(_Job(fn, future))
            first = len(waiting) == 1
        if first:
            # Two turns on, not one: requests that reached the loop together then join
            # one batch (at 16 clients 824 Ask+Tell pairs/s against 792 after one turn).
            loop.call_soon(loop.call_soon, self._run_on_loop, loop)
        return future

    def _run_on_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._ready:
            jobs = self._on_loops.pop(loop, [])
            busy = bool(self._jobs) or self._closed  # keep the order: queue behind them
        if not jobs:
            return
        batch, rest = jobs[:MAX_BATCH], jobs[MAX_BATCH:]
        left = None if busy else self._store._run_batch_without_waiting(batch)
        if left is None:
            self._hand_to_writer(jobs)
            return
        self.loop_batches += 1
        handed_on = set(left)
        _settle_on_loop([job for job in batch if job not in handed_on])
        if left:
            self._hand_to_writer(left + rest)
        elif rest:
            with self._ready:  # the next turn takes them, before what arrives meanwhile
                self._on_loops.setdefault(loop, [])[:0] = rest
            loop.call_soon(self._run_on_loop, loop)
        self._note_loop_commit()

    def _hand_to_writer(self, jobs: list[_Job]) -> None:
        """Queues an event loop's jobs for the writer thread (on that loop); once the lane
        is closed they are answered UNAVAILABLE instead."""
        if not self._put(jobs):
            for job in jobs:
                job.value, job.ok = Unavailable("the store is closing"), False
            _settle_on_loop(jobs)

    def _note_loop_commit(self) -> None:
        """Asks the writer thread for a checkpoint once `CHECKPOINT_SECONDS` passed."""
        if time.monotonic() - self._last_checkpoint >= CHECKPOINT_SECONDS:
            self.request_checkpoint()

    def request_checkpoint(self, now: bool = False) -> None:
        """Has the writer thread checkpoint the log (`SqliteStore.checkpoint`) when it is
        free; `now` also when one was made less than `CHECKPOINT_SECONDS` ago."""
        with self._ready:
            if now or time.monotonic() - self._last_checkpoint >= CHECKPOINT_SECONDS:
                self._last_checkpoint = time.monotonic()
                self._checkpoint_due = True
                self._ready.notify()

    def _put(self, jobs: list[_Job]) -> bool:
        """Queues `jobs` for the writer thread; False (nothing queued) once closed."""
        with self._ready:
            if self._closed:
                return False
            self._jobs.extend(jobs)
            self._ready.notify()
        return True

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._jobs and not self._closed and not self._checkpoint_due:
                    self._ready.wait()
                checkpoint, self._checkpoint_due = self._checkpoint_due, False
                if not self._jobs and not checkpoint:
                    return  # closed, and every queued request answered
                jobs = [self._jobs.popleft() for _ in range(min(len(self._jobs), MAX_BATCH))]
            if checkpoint:
                self._store.checkpoint()
            if not jobs:
                continue
            left = self._store._run_batch(jobs)
            if left:
                with self._ready:
                    self._jobs.extendleft(reversed(left))
            ran = jobs[: len(jobs) - len(left)]
            _settle(ran)

    def close(self) -> None:
        """Runs what is queued, then stops the thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout=30)


def _settle(jobs: list[_Job]) -> None:
    """Hands each job's outcome to its future: asyncio ones in one call per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in jobs:
        if isinstance(job.future, asyncio.Future):
            by_loop.setdefault(job.future.get_loop(), []).append(job)
        elif job.ok:
            job.future.set_result(job.value)
        else:
            job.future.set_exception(job.value)
    for loop, waiting in by_loop.items():
        with suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(_settle_on_loop, waiting)


def _settle_on_loop(jobs: list[_Job]) -> None:
    for job in jobs:
        future = job.future
        assert isinstance(future, asyncio.Future)
        if future.done():  # the call was cancelled meanwhile
            continue
        if job.ok:
            future.set_result(job.value)
        else:
            future.set_exception(job.value)
