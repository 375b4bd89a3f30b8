"""Client values <-> protobuf messages: trial states, parameter values, timestamps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from asktell.client._errors import InvalidArgumentError
from asktell.client._models import ParamValue
from asktell.v1 import resources_pb2 as rpb
from asktell.v1.values import ValueTypeError, value_message, value_of

STATE_PB = {
    "RUNNING": rpb.TRIAL_STATE_RUNNING,
    "COMPLETE": rpb.TRIAL_STATE_COMPLETE,
    "FAILED": rpb.TRIAL_STATE_FAILED,
    "PRUNED": rpb.TRIAL_STATE_PRUNED,
}
STATE_NAME = {number: name for name, number in STATE_PB.items()}


def to_datetime(stamp: Any, present: bool) -> dt.datetime | None:
    return stamp.ToDatetime(tzinfo=dt.UTC) if present else None


def param_value(value: rpb.ParameterValue) -> ParamValue:
    """A parameter's value with its type (bool, int, float or str)."""
    typed = value_of(value)
    return 0.0 if typed is None else typed


def param_message(name: str, value: Any) -> rpb.ParameterValue:
    try:
        return value_message(value)
    except ValueTypeError as exc:
        raise InvalidArgumentError(f'INVALID_ARGUMENT: params: "{name}": {exc}') from None


def params_to_proto(params: Mapping[str, Any]) -> dict[str, rpb.ParameterValue]:
    return {name: param_message(name, value) for name, value in params.items()}
