"""Every Prometheus metric of the server, defined once.

Two kinds:
- **process metrics** counted by this replica as it serves: RPCs by method and
  code (named like the usual gRPC Prometheus conventions), suggestion time by
  algorithm, asks, tells and reports by outcome, store transaction time;
- **study metrics** read from the store at scrape time (`StudyStatsCollector`),
  so every replica exports the same truth: trials by study and state, best
  value, queued trials, running trials whose lease has run out, leases expired.

Label cardinality is bounded: at most `max_studies` studies are exported (the
most recently created), and `asktell_studies` says how many exist in all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from asktell.server.errors import AsktellError
from asktell.server.storage import Store, Tx
from asktell.server.usecases.ask import AskResult

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
SUGGEST_BUCKETS = (0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
DEFAULT_MAX_STUDIES = 100
DEFAULT_CACHE_SECONDS = 5.0


class _Children:
    """The children of one labelled metric by their label values, each looked up once:
    `labels()` takes a lock and builds its key on every call, several times an Ask+Tell."""

    def __init__(self, metric: Counter | Histogram) -> None:
        self._metric = metric
        self._by_values: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._by_values.get(values)
        if child is None:
            child = self._by_values[values] = self._metric.labels(*values)
        return child


class ServerMetrics:
    """The process metrics of one server, on their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        rpc = ("grpc_type", "grpc_service", "grpc_method")
        self.started = Counter(
            "grpc_server_started", "RPCs started on the server.", rpc, registry=self.registry
        )
        self.handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, by status code.",
            (*rpc, "grpc_code"),
            registry=self.registry,
        )
        self.handling_seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time to handle an RPC, until its response or error.",
            rpc,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.suggestion_seconds = Histogram(
            "asktell_suggestion_seconds",
            "Time an algorithm took to compute the suggestions of one Ask.",
            ("algorithm",),
            buckets=SUGGEST_BUCKETS,
            registry=self.registry,
        )
        self.asks = Counter(
            "asktell_asks",
            "Ask calls answered, by status (OK, EXHAUSTED, STOPPED).",
            ("status",),
            registry=self.registry,
        )
        self.trials_created = Counter(
            "asktell_trials_created",
            "Trials handed out for the first time, by source (an algorithm, enqueued, retry).",
            ("source",),
            registry=self.registry,
        )
        self.tells = Counter(
            "asktell_tells",
            "Trials finished through Tell, by final state.",
            ("state",),
            registry=self.registry,
        )
        self.reports = Counter(
            "asktell_reports",
            "Intermediate reports, by whether the trial was told to stop.",
            ("should_stop",),
            registry=self.registry,
        )
        self.store_seconds = Histogram(
            "asktell_store_transaction_seconds",
            "Time store transactions were open, by kind (read, write).",
            ("kind",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.store_errors = Counter(
            "asktell_store_errors",
            "Store transactions that failed, by error (Unavailable, Aborted...).",
            ("error",),
            registry=self.registry,
        )
        # Children by label values, looked up once (see `_Children`).
        self._asks = _Children(self.asks)
        self._trials_created = _Children(self.trials_created)
        self._suggestion_seconds = _Children(self.suggestion_seconds)
        self._tells = _Children(self.tells)
        self._reports = _Children(self.reports)

    def record_ask(self, result: AskResult) -> None:
        self._asks(str(result.status)).inc()
        for trial in result.created:
            self._trials_created(trial.suggested_by.split(" ")[0]).inc()
        if result.suggest_seconds is not None:
            self._suggestion_seconds(result.algorithm).observe(result.suggest_seconds)

    def record_tell(self, state: str) -> None:
        self._tells(state).inc()

    def record_report(self, should_stop: bool) -> None:
        self._reports(str(should_stop).lower()).inc()


class NoMetrics(ServerMetrics):
    """Records nothing: for `asktell serve --no-metrics` and measuring what metrics cost."""

    def record_ask(self, result: AskResult) -> None:
        pass

    def record_tell(self, state: str) -> None:
        pass

    def record_report(self, should_stop: bool) -> None:
        pass


class InstrumentedStore:
    """A Store that times its transactions into `ServerMetrics`."""

    def __init__(self, store: Store, metrics: ServerMetrics) -> None:
        self.inner = store
        self._metrics = metrics
        self._read_seconds = metrics.store_seconds.labels("read")
        self._write_seconds = metrics.store_seconds.labels("write")

    def read(self) -> AbstractContextManager[Tx]:
        return _Timed(self._metrics, self._read_seconds, self.inner.read())

    def write(self, study_id: str | None = None) -> AbstractContextManager[Tx]:
        return _Timed(self._metrics, self._write_seconds, self.inner.write(study_id))

    def close(self) -> None:
        self.inner.close()


class _Timed:
    """A store transaction timed into `seconds`, its domain errors counted. A class, not
    a generator: two of these wrap every Ask+Tell."""

    __slots__ = ("_metrics", "_seconds", "_started", "_transaction")

    def __init__(
        self, metrics: ServerMetrics, seconds: Any, transaction: AbstractContextManager[Tx]
    ) -> None:
        self._metrics = metrics
        self._seconds = seconds
        self._transaction = transaction
        self._started = 0.0

    def __enter__(self) -> Tx:
        self._started = time.perf_counter()
        try:
            return self._transaction.__enter__()
        except BaseException as exc:
            self._finished(exc)
            raise

    def __exit__(self, kind: Any, exc: BaseException | None, traceback: Any) -> bool | None:
        try:
            suppressed = self._transaction.__exit__(kind, exc, traceback)
        except BaseException as raised:
            self._finished(raised)
            raise
        self._finished(None if suppressed else exc)
        return suppressed

    def _finished(self, exc: BaseException | None) -> None:
        """Counts `exc` if it is a domain error, and observes the time."""
        if isinstance(exc, AsktellError):
            self._metrics.store_errors.labels(type(exc).__name__).inc()
        self._seconds.observe(time.perf_counter() - self._started)


class StudyStatsCollector(Collector):
    """Study metrics read from the store at scrape time, cached for `cache_seconds`."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        max_studies: int = DEFAULT_MAX_STUDIES,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
    ) -> None:
        self._store = store
        self._clock = clock
        self._max_studies = max_studies
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self._cache_seconds:
                self._cached = (now, self._read())
            return list(self._cached[1])

    def _read(self) -> list[Metric]:
        up = GaugeMetricFamily("asktell_store_up", "1 if the last scrape could read the store.")
        try:
            with self._store.read() as tx:
                stats = tx.study_stats(self._clock(), self._max_studies)
        except AsktellError:
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        studies = GaugeMetricFamily("asktell_studies", "Studies in the store.")
        studies.add_metric([], stats.n_studies)
        trials = GaugeMetricFamily(
            "asktell_study_trials", "Trials by study and state.", labels=["study", "state"]
        )
        best = GaugeMetricFamily(
            "asktell_study_best_value",
            "Best objective value of the study (with several objectives or constraints: the "
            "first objective's best among the feasible trials).",
            labels=["study"],
        )
        queued = GaugeMetricFamily(
            "asktell_study_queued_trials",
            "Enqueued configurations and retries waiting to be handed out.",
            labels=["study"],
        )
        overdue = GaugeMetricFamily(
            "asktell_study_overdue_trials",
            "RUNNING trials whose lease has run out (failed at the next request on the study).",
            labels=["study"],
        )
        expired = GaugeMetricFamily(
            "asktell_study_expired_leases",
            "Trials failed because their worker stopped renewing the lease.",
            labels=["study"],
        )
        front = GaugeMetricFamily(
            "asktell_study_pareto_front_size",
            "Trials on the Pareto front of the feasible COMPLETE trials (studies with several "
            "objectives or with constraints).",
            labels=["study"],
        )
        objective_best = GaugeMetricFamily(
            "asktell_study_best_feasible_value",
            "Best value of each objective among the feasible COMPLETE trials (studies with "
            "several objectives or with constraints), in the objective's own direction.",
            labels=["study", "metric"],
        )
        for study in stats.studies:
            if study.front_size is not None:
                front.add_metric([study.study_id], study.front_size)
            for metric, value in study.objective_bests.items():
                objective_best.add_metric([study.study_id, metric], value)
            for state, count in study.trials_by_state.items():
                trials.add_metric([study.study_id, state], count)
            if study.best_value is not None:
                best.add_metric([study.study_id], study.best_value)
            queued.add_metric([study.study_id], study.queued)
            overdue.add_metric([study.study_id], study.overdue)
            expired.add_metric([study.study_id], study.expired_leases)
        return [up, studies, trials, best, queued, overdue, expired, front, objective_best]
