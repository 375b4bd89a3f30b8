"""Worker metrics: what each event records."""

from __future__ import annotations

import time

from asktell.worker.metrics import WorkerMetrics


def _value(metrics: WorkerMetrics, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    assert value is not None, name
    return value


def test_a_trial_records_epochs_throughput_and_outcome() -> None:
    metrics = WorkerMetrics()
    metrics.trial_started(7, "cpu")
    assert _value(metrics, "asktell_worker_current_trial") == 7
    time.sleep(0.05)
    metrics.epoch_reported(1000.0, "cpu")
    rate = _value(metrics, "asktell_worker_samples_per_second")
    assert 1000 < rate < 1000 / 0.04
    metrics.epoch_reported(None, "cpu")  # a user task that reports no samples
    assert _value(metrics, "asktell_worker_samples_per_second") == rate
    metrics.trial_finished("PRUNED", 1.5)
    assert _value(metrics, "asktell_worker_epochs_total") == 2
    assert _value(metrics, "asktell_worker_trials_total", {"outcome": "PRUNED"}) == 1
    assert _value(metrics, "asktell_worker_training_seconds_sum") == 1.5
    assert _value(metrics, "asktell_worker_current_trial") == 0
