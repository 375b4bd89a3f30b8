"""The dashboard's copy of what it shows, kept fresh by polling the gRPC API.

`StudyTrials` holds one study's trials. A refresh costs, at most once per
`min_interval` and only while a page asks for it:

- one GetStudy (spec, state, counts);
- when the counts moved or trials are running: one ListTrials from the last full
  page it read (`page_token` kept from earlier answers), so only the newest trials
  (at most one page of `TAIL_PAGE`) are read again, and one ListTrials of the
  RUNNING trials (their measurements, leases and attributes);
- a GetTrial for each trial that was running and is no longer (its final state).

So a study nobody looks at costs nothing, and an open page of a quiet study costs
one GetStudy a second, whatever its size. `Studies` keeps the list of studies and
each one's best trial (read again only when its count of COMPLETE trials moves).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from asktell.client import Client, NotFoundError, StudyInfo, Trial

FIRST_PAGE = 1000  # the first read of a study: few, large pages
TAIL_PAGE = 100  # later reads start after the last full page: at most this many again
IDLE_SECONDS = 600.0  # a study's cache nobody asked for in this long is dropped


class StudyTrials:
    """One study's info and trials as last read, with a version that moves when they change."""

    def __init__(
        self,
        client: Client,
        study_id: str,
        *,
        min_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.study_id = study_id
        self.min_interval = min_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._trials: dict[int, Trial] = {}
        self._frontier = ""  # token after the last full page read
        self._refreshed = -float("inf")
        self.info: StudyInfo | None = None
        self.version = 0
        self.used = clock()

    def refresh(self, *, force: bool = False) -> StudyInfo:
        """Reads what changed since the last refresh (unless that was under `min_interval` ago).

        Raises:
            NotFoundError: the study does not exist (any more).
            AsktellError: the server refused or could not be reached; the cache keeps
                what it had.
        """
        with self._lock:
            now = self._clock()
            self.used = now
            if self.info is not None and not force and now - self._refreshed < self.min_interval:
                return self.info
            info = self.client.get_study_info(self.study_id)
            changed = self.info is None or info != self.info
            running = [n for n, t in self._trials.items() if t.state == "RUNNING"]
            if changed or running:
                changed |= self._read_new()
                changed |= self._read_unfinished(running)
            self.info = info
            self._refreshed = now
            if changed:
                self.version += 1
            return info

    def trials(self) -> list[Trial]:
        """Every trial read so far, by number."""
        with self._lock:
            return [self._trials[n] for n in sorted(self._trials)]

    def _store(self, trial: Trial) -> bool:
        if self._trials.get(trial.number) == trial:
            return False
        self._trials[trial.number] = trial
        return True

    def _read_new(self) -> bool:
        changed = False
        token = self._frontier
        size = TAIL_PAGE if self._trials else FIRST_PAGE
        while True:
            page, next_token = self.client.list_trials_page(
                self.study_id, page_size=size, page_token=token
            )
            for trial in page:
                changed |= self._store(trial)
            if not next_token:
                return changed
            token = self._frontier = next_token

    def _read_unfinished(self, running: list[int]) -> bool:
        if not running:
            return False
        changed = False
        still: set[int] = set()
        token = ""
        while True:
            page, token = self.client.list_trials_page(
                self.study_id, ["RUNNING"], page_size=FIRST_PAGE, page_token=token
            )
            for trial in page:
                still.add(trial.number)
                changed |= self._store(trial)
            if not token:
                break
        for number in running:
            if number not in still:
                changed |= self._store(self.client.get_trial(self.study_id, number))
        return changed


@dataclass
class _Best:
    complete: int
    trial: Trial | None


@dataclass
class Studies:
    """Every study of the server, each one's best trial, and the open studies' caches."""

    client: Client
    min_interval: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _open: dict[str, StudyTrials] = field(default_factory=dict)
    _best: dict[str, _Best] = field(default_factory=dict)
    _list: list[StudyInfo] = field(default_factory=list)
    _listed: float = -float("inf")

    def study(self, study_id: str) -> StudyTrials:
        """The cache of one study (created on first use; dropped when idle or deleted)."""
        with self._lock:
            now = self.clock()
            for name, cache in list(self._open.items()):
                if now - cache.used > IDLE_SECONDS:
                    del self._open[name]
            found = self._open.get(study_id)
            if found is None:
                found = self._open[study_id] = StudyTrials(
                    self.client, study_id, min_interval=self.min_interval, clock=self.clock
                )
            return found

    def refreshed(self, study_id: str) -> StudyTrials:
        """The study's cache, refreshed; a deleted study's cache is dropped (NotFoundError)."""
        cache = self.study(study_id)
        try:
            cache.refresh()
        except NotFoundError:
            with self._lock:
                self._open.pop(study_id, None)
            raise
        return cache

    def list(self) -> list[tuple[StudyInfo, Trial | None]]:
        """Every study with its best trial, read again at most once per `min_interval`."""
        with self._lock:
            now = self.clock()
            if now - self._listed >= self.min_interval:
                self._list = self.client.list_studies()
                self._listed = now
            studies = list(self._list)
        return [(info, self._best_of(info)) for info in studies]

    def _best_of(self, info: StudyInfo) -> Trial | None:
        known = self._best.get(info.id)
        if known is not None and known.complete == info.counts.complete:
            return known.trial
        if info.counts.complete == 0:
            best = None
        else:
            try:
                found = self.client.get_best_trials(info.id, 1)
            except NotFoundError:  # deleted since it was listed
                return None
            best = found[0] if found else None
        self._best[info.id] = _Best(info.counts.complete, best)
        return best
