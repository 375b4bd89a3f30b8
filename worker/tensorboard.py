"""TensorBoard event files per trial: `asktell worker --tensorboard DIR`.

Each trial a worker runs gets one TensorBoard run, `DIR/<study>/trial-<number>`:

- every metric a task reports (`reporter.report(step, **metrics)`: the built-in
  tasks send val_loss, val_accuracy or val_mae, samples and lr) as a scalar at its step;
- the metrics told with a COMPLETE trial as scalars `told/<metric>` at the last
  reported step;
- when the trial ends, its parameters in the HParams plugin with `trial/state`
  (COMPLETE, PRUNED, FAILED or LOST) and the session's status (success, or failure
  for FAILED and LOST). TensorBoard keeps the first HParams record of a run, so it
  is written once, with the state.

So `tensorboard --logdir DIR` draws the learning curves of every trial and compares
trials in its HParams tab (one column per parameter, the metrics' last values:
`told/<metric>` is the told value). A conditional parameter that is not active in a
trial has no value there.

The writer is `torch.utils.tensorboard.SummaryWriter` from the `tensorboard` package
(the `asktell[tensorboard]` extra); it is imported when the first run opens, so a
worker without the option never imports it. A run that cannot be written (a full
disk, no permission) logs a warning and stops writing; the trial goes on.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("asktell.worker")

EXTRA = "tensorboard"
STATE_HPARAM = "trial/state"
TOLD_PREFIX = "told/"


def missing() -> str | None:
    """Why `--tensorboard` cannot work here (the package is not installed), or None."""
    if importlib.util.find_spec("tensorboard") is None:
        return f"--tensorboard needs the tensorboard package: pip install 'asktell[worker,{EXTRA}]'"
    return None


def run_dir(root: str | Path, study: str, number: int) -> Path:
    """The run directory of trial `number` of `study` under `root`."""
    return Path(root) / study / f"trial-{number}"


def hparam_value(value: Any) -> bool | float | str:
    """A parameter value as the HParams plugin stores it (bool, number or string)."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    return str(value)


class TrialRun:
    """The event file of one trial: scalars as it reports, its hparams, its end."""

    def __init__(self, root: str | Path, study: str, number: int, params: Mapping[str, Any]):
        from torch.utils.tensorboard import SummaryWriter

        self.path = run_dir(root, study, number)
        self._writer: Any = SummaryWriter(log_dir=str(self.path))
        self._step = 0
        self._params = dict(params)

    def report(self, step: int, metrics: Mapping[str, float]) -> None:
        """Writes every finite metric reported at `step`, and flushes (live curves)."""

        def write() -> None:
            for name, value in metrics.items():
                if isinstance(value, int | float) and math.isfinite(value):
                    self._writer.add_scalar(name, float(value), step)
            self._writer.flush()

        self._step = max(self._step, step)
        self._guard(write)

    def end(self, state: str, values: Mapping[str, float]) -> None:
        """Writes the told metrics (`told/<metric>`) and ends the HParams session."""

        def write() -> None:
            from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

            for name, value in values.items():
                self._writer.add_scalar(TOLD_PREFIX + name, float(value), self._step)
            self._session(self._params | {STATE_HPARAM: state})
            failed = state in ("FAILED", "LOST")
            status = api_pb2.STATUS_FAILURE if failed else api_pb2.STATUS_SUCCESS
            self._summary(
                "session_end_info",
                plugin_data_pb2.HParamsPluginData(
                    session_end_info=plugin_data_pb2.SessionEndInfo(status=status)
                ),
            )
            self._writer.flush()

        self._guard(write)

    def close(self) -> None:
        """Flushes and closes the event file (safe to call twice)."""
        if self._writer is not None:
            try:
                self._writer.close()
            except OSError as exc:
                log.warning("tensorboard run %s: %s", self.path, exc)
            self._writer = None

    # ------------------------------------------------------------ HParams plugin
    def _session(self, params: Mapping[str, Any]) -> None:
        """The HParams session of this run, with `params`."""
        from tensorboard.plugins.hparams import plugin_data_pb2

        info = plugin_data_pb2.SessionStartInfo()
        for name, raw in params.items():
            value = hparam_value(raw)
            if isinstance(value, bool):
                info.hparams[name].bool_value = value
            elif isinstance(value, str):
                info.hparams[name].string_value = value
            else:
                info.hparams[name].number_value = value
        self._summary(
            "session_start_info", plugin_data_pb2.HParamsPluginData(session_start_info=info)
        )

    def _summary(self, kind: str, content: Any) -> None:
        from tensorboard.compat.proto import summary_pb2
        from tensorboard.plugins.hparams import metadata

        content.version = metadata.PLUGIN_DATA_VERSION
        tag = {
            "session_start_info": metadata.SESSION_START_INFO_TAG,
            "session_end_info": metadata.SESSION_END_INFO_TAG,
        }[kind]
        plugin = summary_pb2.SummaryMetadata.PluginData(
            plugin_name=metadata.PLUGIN_NAME, content=content.SerializeToString()
        )
        summary = summary_pb2.Summary(
            value=[
                summary_pb2.Summary.Value(
                    tag=tag, metadata=summary_pb2.SummaryMetadata(plugin_data=plugin)
                )
            ]
        )
        self._writer.file_writer.add_summary(summary)

    def _guard(self, write: Any) -> None:
        """Runs `write`; an I/O error logs a warning and ends this run's writing."""
        if self._writer is None:
            return
        try:
            write()
        except OSError as exc:
            log.warning("tensorboard run %s: %s; not written further", self.path, exc)
            self.close()
