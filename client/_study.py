"""`Study`: a handle on one study of a server, with the ask/tell loop."""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from asktell.client._errors import InvalidArgumentError
from asktell.client._models import TRIAL_STATES, StudyInfo, Trial
from asktell.client._protos import STATE_PB, params_to_proto
from asktell.v1 import service_pb2 as pb

if TYPE_CHECKING:
    from asktell.client._client import Client

log = logging.getLogger("asktell.client")


def default_worker_id() -> str:
    """host-pid, unique enough to tell workers apart in a trial's lease."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Study:
    """A handle on one study of a server; cheap to create, holds no state of its own."""

    def __init__(self, client: Client, study_id: str) -> None:
        self.client = client
        self.id = study_id

    @property
    def name(self) -> str:
        """The resource name, "studies/{id}"."""
        return f"studies/{self.id}"

    def __repr__(self) -> str:
        return f"Study({self.id!r} on {self.client.target})"

    def info(self) -> StudyInfo:
        """The study's spec, state and trial counts, read now."""
        response = self.client._call(
            "GetStudy", pb.GetStudyRequest(name=self.name), idempotent=True
        )
        return self.client._study_info(response.study)

    # ------------------------------------------------------------ ask
    def ask_many(
        self, count: int, *, worker_id: str | None = None, resume: bool = False
    ) -> list[Trial]:
        """Up to `count` RUNNING trials leased to `worker_id`; [] when nothing more will come.

        Args:
            count: 1 to 100.
            worker_id: who runs the trials; defaults to host-pid.
            resume: first return the RUNNING trials this worker_id already holds
                (a restarted worker picks its work back up).

        The call is retried safely: a request id makes a repeated Ask return
        the same trials.
        """
        request = pb.AskRequest(
            study=self.name,
            count=count,
            worker_id=worker_id if worker_id is not None else default_worker_id(),
            request_id=uuid.uuid4().hex,
            resume=resume,
        )
        response = self.client._call("Ask", request, idempotent=True)
        return [self.client._trial(t) for t in response.trials]

    def ask(self, *, worker_id: str | None = None, resume: bool = False) -> Trial | None:
        """One RUNNING trial, or None when the study is exhausted or stopped."""
        trials = self.ask_many(1, worker_id=worker_id, resume=resume)
        return trials[0] if trials else None

    # ------------------------------------------------------------ reads
    def trial(self, number: int) -> Trial:
        """One trial by number."""
        request = pb.GetTrialRequest(name=f"{self.name}/trials/{number}")
        return self.client._trial(self.client._call("GetTrial", request, idempotent=True).trial)

    def trials(self, states: Sequence[str] = (), *, page_size: int = 1000) -> list[Trial]:
        """Every trial by number, optionally only those in `states` (e.g. ["COMPLETE"])."""
        unknown = [s for s in states if s not in TRIAL_STATES]
        if unknown:
            raise InvalidArgumentError(
                f"INVALID_ARGUMENT: states: {unknown[0]!r} is not one of {', '.join(TRIAL_STATES)}"
            )
        return list(self._iter_trials(states, page_size))

    def _iter_trials(self, states: Sequence[str], page_size: int) -> Iterator[Trial]:
        token = ""
        while True:
            request = pb.ListTrialsRequest(
                study=self.name,
                states=[STATE_PB[s] for s in states],
                page_size=page_size,
                page_token=token,
            )
            response = self.client._call("ListTrials", request, idempotent=True)
            yield from (self.client._trial(t) for t in response.trials)
            token = response.next_page_token
            if not token:
                return

    def best_trials(self, count: int = 1) -> list[Trial]:
        """The best COMPLETE trials, best first."""
        request = pb.GetBestTrialsRequest(study=self.name, count=count)
        response = self.client._call("GetBestTrials", request, idempotent=True)
        return [self.client._trial(t) for t in response.trials]

    @property
    def best_trial(self) -> Trial | None:
        """The best COMPLETE trial, or None while there is none."""
        best = self.best_trials(1)
        return best[0] if best else None

    # ------------------------------------------------------------ writes
    def add_trials(self, trials: Sequence[Mapping[str, Any]]) -> list[Trial]:
        """Records configurations evaluated elsewhere, e.g. last week's study.

        Each item is {"params": {...}, "value": 0.93} (COMPLETE) or
        {"params": {...}, "state": "FAILED"}. They teach the algorithm and use
        no suggestion budget. Not retried automatically (a retry would add twice).
        """
        items = []
        for i, item in enumerate(trials):
            state = item.get("state", "COMPLETE")
            if state not in STATE_PB or state == "RUNNING":
                raise InvalidArgumentError(
                    f"INVALID_ARGUMENT: trials[{i}].state must be COMPLETE, FAILED or PRUNED"
                )
            message = pb.EvaluatedTrial(
                params=params_to_proto(item.get("params", {})), state=STATE_PB[state]
            )
            if item.get("value") is not None:
                message.value = float(item["value"])
            items.append(message)
        request = pb.AddTrialsRequest(study=self.name, trials=items)
        response = self.client._call("AddTrials", request, idempotent=False)
        return [self.client._trial(t) for t in response.trials]

    def enqueue(self, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> int:
        """Queues one configuration (or a list) to be handed out before the algorithm's own.

        Returns:
            How many configurations are now waiting in the queue.
        """
        configs = [params] if isinstance(params, Mapping) else list(params)
        request = pb.EnqueueTrialsRequest(
            study=self.name, trials=[pb.TrialParams(params=params_to_proto(c)) for c in configs]
        )
        return int(self.client._call("EnqueueTrials", request, idempotent=False).queued)

    def stop(self) -> None:
        """Stops handing out suggestions (running trials may still be told)."""
        self.client._call("StopStudy", pb.StopStudyRequest(name=self.name), idempotent=True)

    def resume(self) -> None:
        """Resumes a stopped study."""
        self.client._call("ResumeStudy", pb.ResumeStudyRequest(name=self.name), idempotent=True)

    def delete(self) -> None:
        """Deletes the study and all its trials."""
        self.client.delete_study(self.id)

    # ------------------------------------------------------------ loop
    def optimize(
        self,
        objective: Callable[[Trial], float],
        n_trials: int | None = None,
        n_jobs: int = 1,
        *,
        worker_id: str | None = None,
        on_trial: Callable[[Trial], None] | None = None,
    ) -> None:
        """Runs `objective` on suggested trials until `n_trials` are done or the study ends.

        Args:
            objective: takes a RUNNING trial (read `trial.params`, optionally
                `trial.report(step, value)`) and returns the objective value.
                An exception marks the trial FAILED with the exception as the
                reason, and the loop goes on.
            n_trials: trials to run in all; None runs until the study is exhausted.
            n_jobs: threads asking and evaluating in parallel.
            worker_id: lease holder name; defaults to host-pid plus the thread.
            on_trial: called with each finished trial (progress display).
        """
        if n_jobs < 1:
            raise ValueError("n_jobs must be >= 1")
        budget = _Budget(n_trials)
        base = worker_id or default_worker_id()

        def run(job: int) -> None:
            while budget.take():
                trial = self.ask(worker_id=f"{base}-{job}" if n_jobs > 1 else base)
                if trial is None:
                    budget.close()
                    return
                try:
                    value = objective(trial)
                except Exception as exc:  # the trial fails, the loop goes on
                    log.warning("trial %d failed: %s", trial.number, exc)
                    trial.fail(f"{type(exc).__name__}: {exc}".splitlines()[0][:1000])
                else:
                    if trial.state == "RUNNING":
                        _finish(trial, value)
                if on_trial is not None:
                    on_trial(trial)

        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            for future in [pool.submit(run, job) for job in range(n_jobs)]:
                future.result()


def _finish(trial: Trial, value: Any) -> None:
    """Tells the objective's value; a value that is not a finite number fails the trial."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if math.isfinite(number):
        trial.tell(number)
    else:
        trial.fail(f"the objective returned {value!r}, not a finite number")


class _Budget:
    """A thread-safe countdown of trials left to start (None: unlimited)."""

    def __init__(self, n: int | None) -> None:
        self._left = n
        self._closed = False
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._closed:
                return False
            if self._left is None:
                return True
            if self._left <= 0:
                return False
            self._left -= 1
            return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
