"""The TensorBoard run of one trial (asktell.worker.tensorboard), read back with
tensorboard's EventAccumulator: scalars per step, typed hparams, the end of each state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import ci

ci.require_module("torch", "worker")
ci.require_module("tensorboard", "tensorboard")

from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)
from tensorboard.plugins.hparams import api_pb2, metadata  # noqa: E402

from asktell.worker.tensorboard import TrialRun, run_dir  # noqa: E402


def read(path: Path) -> tuple[dict[str, list[tuple[int, float]]], dict[str, Any], int]:
    events = EventAccumulator(str(path))
    events.Reload()
    scalars = {t: [(e.step, e.value) for e in events.Scalars(t)] for t in events.Tags()["scalars"]}
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    hparams = {k: getattr(v, v.WhichOneof("kind")) for k, v in start.hparams.items()}
    return scalars, hparams, end.status


PARAMS = {"optimizer": "sgd", "momentum": 0.5, "depth": 3, "augment": True}


@pytest.mark.parametrize(
    ("state", "told", "status"),
    [
        ("COMPLETE", {"acc": 0.75, "latency_ms": 12.5}, api_pb2.STATUS_SUCCESS),
        ("PRUNED", {}, api_pb2.STATUS_SUCCESS),
        ("FAILED", {}, api_pb2.STATUS_FAILURE),
        ("LOST", {}, api_pb2.STATUS_FAILURE),
    ],
)
def test_a_run_holds_its_curves_told_metrics_typed_hparams_and_state(
    tmp_path: Path, state: str, told: dict[str, float], status: int
) -> None:
    run = TrialRun(tmp_path, "cnn", 7, PARAMS)
    assert run.path == run_dir(tmp_path, "cnn", 7) == tmp_path / "cnn" / "trial-7"
    run.report(1, {"acc": 0.5, "lr": 0.1, "bad": float("nan")})
    run.report(2, {"acc": 0.75, "lr": 0.05})
    run.end(state, told)
    run.close()
    run.close()  # twice is fine
    scalars, hparams, end = read(run.path)
    assert scalars.pop("acc") == [(1, 0.5), (2, 0.75)]
    assert scalars.pop("lr") == [(1, pytest.approx(0.1)), (2, pytest.approx(0.05))]
    # The told metrics at the last step; a NaN is not written.
    assert scalars == {f"told/{k}": [(2, v)] for k, v in told.items()}
    # bool stays bool, numbers are numbers, strings strings; the state is a column.
    assert hparams == {
        "optimizer": "sgd",
        "momentum": 0.5,
        "depth": 3.0,
        "augment": True,
        "trial/state": state,
    }
    assert type(hparams["augment"]) is bool
    assert end == status
