"""Prometheus metrics of one worker process, served on `asktell worker --metrics-port`.

With several processes, process k serves on port + k (port 0: each picks a free
one, logged at start). Names match the alert rules and the Grafana dashboard in
deploy/.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger("asktell.worker")

TRAINING_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)


class WorkerMetrics:
    """Trials by outcome, training time, epochs, throughput, current trial, GPU memory."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.trials = Counter(
            "asktell_worker_trials",
            "Trials this worker finished, by outcome (COMPLETE, FAILED, PRUNED, LOST).",
            ("outcome",),
            registry=self.registry,
        )
        self.training_seconds = Histogram(
            "asktell_worker_training_seconds",
            "Time spent in the task (training) per trial.",
            buckets=TRAINING_BUCKETS,
            registry=self.registry,
        )
        self.epochs = Counter(
            "asktell_worker_epochs", "Intermediate reports (epochs) sent.", registry=self.registry
        )
        self.samples_per_second = Gauge(
            "asktell_worker_samples_per_second",
            "Training samples per second over the last reported epoch.",
            registry=self.registry,
        )
        self.current_trial = Gauge(
            "asktell_worker_current_trial",
            "Number of the trial being trained; 0 when idle.",
            registry=self.registry,
        )
        self.gpu_memory = Gauge(
            "asktell_worker_gpu_memory_bytes",
            "GPU memory held by PyTorch tensors: in_use now, peak since the trial began.",
            ("kind",),
            registry=self.registry,
        )
        self._last_report = time.monotonic()

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Starts the /metrics endpoint; returns the port it listens on."""
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        actual = int(server.server_port)
        log.info("worker metrics on http://%s:%d/metrics", host, actual)
        return actual

    def trial_started(self, number: int, device: str) -> None:
        self.current_trial.set(number)
        self._last_report = time.monotonic()
        if device.startswith("cuda"):
            import torch  # only on GPU workers, where the task already imported it

            torch.cuda.reset_peak_memory_stats()

    def epoch_reported(self, samples: float | None, device: str) -> None:
        now = time.monotonic()
        self.epochs.inc()
        if samples and now > self._last_report:
            self.samples_per_second.set(samples / (now - self._last_report))
        self._last_report = now
        if device.startswith("cuda"):
            import torch

            self.gpu_memory.labels("in_use").set(torch.cuda.memory_allocated())
            self.gpu_memory.labels("peak").set(torch.cuda.max_memory_allocated())

    def trial_finished(self, outcome: str, task_seconds: float) -> None:
        self.current_trial.set(0)
        self.trials.labels(outcome).inc()
        self.training_seconds.observe(task_seconds)
