"""A background thread that renews the leases of the trials a worker holds.

Training may stay silent for longer than the lease (a 2-hour epoch), so the
worker does not rely on Report alone: every `interval` seconds (a fraction of
the lease) it sends a Heartbeat for each held trial, the one training and a
prefetched one alike.

Thread safety: the gRPC channel under `Client` is safe to share between
threads, and `Trial.heartbeat` only assigns `lease_deadline`, which the training
thread also assigns; whichever write lands last is a deadline the server gave.
"""

from __future__ import annotations

import logging
import threading

from asktell.client import AsktellError, FailedPreconditionError, NotFoundError, Trial

log = logging.getLogger("asktell.worker")


class LeaseKeeper:
    """Heartbeats held trials every `interval` seconds and notes the ones it lost."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._held: dict[int, Trial] = {}
        self._lost: dict[int, str] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="asktell-leases", daemon=True)

    def start(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def hold(self, trial: Trial) -> None:
        """Renews `trial`'s lease from now on."""
        with self._lock:
            self._held[trial.number] = trial

    def release(self, trial: Trial) -> None:
        """Stops renewing `trial` (before telling it, so no heartbeat races the tell)."""
        with self._lock:
            self._held.pop(trial.number, None)

    def lost(self, trial: Trial) -> str | None:
        """Why the server no longer leases `trial` to this worker, or None."""
        with self._lock:
            return self._lost.get(trial.number)

    def close(self) -> None:
        self._closed.set()
        # Daemon thread: a heartbeat stuck retrying an unreachable server must not
        # hold up the worker's exit.
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        while not self._closed.wait(self.interval):
            with self._lock:
                trials = list(self._held.values())
            for trial in trials:
                self._renew(trial)

    def _renew(self, trial: Trial) -> None:
        try:
            trial.heartbeat()
        except (FailedPreconditionError, NotFoundError) as exc:
            with self._lock:
                if trial.number in self._held:  # not a race with our own tell
                    self._lost[trial.number] = str(exc)
                    del self._held[trial.number]
                    log.warning("trial %d: lease lost: %s", trial.number, exc)
        except AsktellError as exc:  # transient; the next round tries again
            log.warning("trial %d: heartbeat failed: %s", trial.number, exc)
