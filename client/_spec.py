"""The client's face of the spec file form (`asktell.v1.spec`): its errors as client errors.

The dict <-> StudySpec conversion itself is shared with the server; see
`asktell.v1.spec` for the spec file's syntax.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from asktell.client._errors import InvalidArgumentError
from asktell.v1 import resources_pb2 as pb
from asktell.v1 import spec as shared
from asktell.v1.spec import spec_from_proto

__all__ = ["load_spec_file", "spec_from_proto", "spec_to_proto"]


def spec_to_proto(spec: Mapping[str, Any]) -> tuple[str, pb.StudySpec]:
    """(study id, StudySpec) from a spec dict.

    Raises:
        InvalidArgumentError: a missing or unknown key, or a value of the wrong type
            or out of the range its field can hold.
    """
    try:
        return shared.spec_to_proto(spec)
    except shared.SpecError as exc:
        raise InvalidArgumentError(f"INVALID_ARGUMENT: spec: {exc}") from None


def load_spec_file(path: str | Path) -> Any:
    """A YAML spec file as a dict; `1e-4` reads as the number, as in YAML 1.2.

    Raises:
        InvalidArgumentError: the file is not valid YAML (one line: `FILE:LINE:COLUMN:
            not valid YAML: ...`) or not UTF-8 text.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgumentError(
            f"INVALID_ARGUMENT: {path}: not UTF-8 text (byte {exc.start})"
        ) from None
    try:
        return shared.load_yaml(text, str(path))
    except shared.SpecError as exc:
        raise InvalidArgumentError(f"INVALID_ARGUMENT: {exc}") from None
