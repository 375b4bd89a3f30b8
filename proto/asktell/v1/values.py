"""Typed values <-> the contract's `ParameterValue`, for the client and the server alike.

A value is a bool, an int, a float or a str, and keeps that type on the wire:
bool -> `bool_value`, int -> `int_value`, float -> `number_value`, str ->
`string_value`. Parameter values and trial attributes use the same message.
"""

from __future__ import annotations

from typing import Any

from asktell.v1 import resources_pb2 as pb

Value = bool | int | float | str


class ValueTypeError(TypeError):
    """A value that no `ParameterValue` field holds (a list, None, an int beyond int64)."""


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def value_message(value: Any) -> pb.ParameterValue:
    """The `ParameterValue` of a bool, int, float or str (NumPy scalars too).

    Raises:
        ValueTypeError: any other type, or an int outside int64.
    """
    if hasattr(value, "item") and not isinstance(value, Value):  # NumPy scalars
        value = value.item()
    if isinstance(value, bool):
        return pb.ParameterValue(bool_value=value)
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueTypeError(f"{value} is outside the 64-bit integer range")
        return pb.ParameterValue(int_value=value)
    if isinstance(value, float):
        return pb.ParameterValue(number_value=value)
    if isinstance(value, str):
        return pb.ParameterValue(string_value=value)
    raise ValueTypeError(
        f"a value must be a string, a number or a boolean, got {type(value).__name__}"
    )


def value_of(message: pb.ParameterValue) -> Value | None:
    """The Python value a `ParameterValue` holds; None when no field is set."""
    kind = message.WhichOneof("kind")
    if kind is None:
        return None
    value: Value = getattr(message, kind)
    return value
