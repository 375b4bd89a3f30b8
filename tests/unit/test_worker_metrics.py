"""Worker metrics: what each event records."""

from __future__ import annotations

import types

import pytest

from asktell.worker import metrics as metrics_module
from asktell.worker.metrics import WorkerMetrics
from tests.conftest import ManualClock


def _value(metrics: WorkerMetrics, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    assert value is not None, name
    return value


def test_a_trial_records_epochs_throughput_and_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    # The rate is samples over the seconds between reports: a clock the test moves makes
    # it exact, where real time would only bound it.
    clock = ManualClock()
    monkeypatch.setattr(metrics_module, "time", types.SimpleNamespace(monotonic=clock))
    metrics = WorkerMetrics()
    metrics.trial_started(7, "cpu")
    assert _value(metrics, "asktell_worker_current_trial") == 7
    clock.advance(0.5)
    metrics.epoch_reported(1000.0, "cpu")
    assert _value(metrics, "asktell_worker_samples_per_second") == 2000.0
    clock.advance(0.25)
    metrics.epoch_reported(None, "cpu")  # a user task that reports no samples
    assert _value(metrics, "asktell_worker_samples_per_second") == 2000.0
    metrics.trial_finished("PRUNED", 1.5)
    assert _value(metrics, "asktell_worker_epochs_total") == 2
    assert _value(metrics, "asktell_worker_trials_total", {"outcome": "PRUNED"}) == 1
    assert _value(metrics, "asktell_worker_training_seconds_sum") == 1.5
    assert _value(metrics, "asktell_worker_current_trial") == 0
