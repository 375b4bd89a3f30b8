"""A study's trials as rows (CSV, a pandas DataFrame, parquet) or as a JSON document, and back.

One row per trial, with these columns in this order:

    number, state, value, params.NAME..., attrs.KEY..., create_time, end_time,
    worker_id, reason, suggested_by, retry_of

`params.NAME` follows the spec's order, `attrs.KEY` is sorted by key.
Values keep their types (an int parameter gives ints, a bool attribute bools); a
trial without a parameter (inactive) or an attribute has an empty cell. Times are
ISO 8601 in UTC (`2026-01-05T10:00:00.250000Z`) in CSV and JSON, tz-aware
timestamps in a DataFrame.

The JSON document, which `Client.import_study` reads back, is
`{"format": "asktell.study/1", "study": <spec dict>, "trials": [<trial>...]}` with
each trial `{"number", "state", "value", "params": {...}, "attrs": {...},
"measurements": [[step, value]...], "create_time", "end_time", "worker_id",
"reason", "suggested_by", "retry_of"}`.

pandas and pyarrow (the `export` extra) are imported only by the DataFrame and
parquet functions, never by `import asktell.client`.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from asktell.client._errors import InvalidArgumentError
from asktell.client._models import StudyInfo, Trial
from asktell.v1.spec import objectives_of

if TYPE_CHECKING:
    import pandas

FORMAT = "asktell.study/1"
FINISHED = ("COMPLETE", "FAILED", "PRUNED")
# The parquet file's metadata key listing the columns stored as JSON text (see write_parquet).
JSON_COLUMNS_KEY = b"asktell.json_columns"
_EXPORT_EXTRA = "pip install 'asktell[export]'"


def iso(moment: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, or None."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: Any, where: str) -> dt.datetime | None:
    """A time given as a datetime, an ISO 8601 string or seconds since the epoch; None stays."""
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    raise InvalidArgumentError(
        f"INVALID_ARGUMENT: {where}: expected an ISO 8601 time, got {str(value)[:80]!r}"
    )


# ------------------------------------------------------------------ JSON
def trial_record(trial: Trial) -> dict[str, Any]:
    """One trial as the JSON export holds it."""
    return {
        "number": trial.number,
        "state": trial.state,
        "value": trial.value,
        "values": dict(trial.values),
        "params": dict(trial.params),
        "attrs": dict(trial.attrs),
        "measurements": [[step, value] for step, value in trial.measurements],
        "create_time": iso(trial.create_time),
        "end_time": iso(trial.end_time),
        "worker_id": trial.worker_id,
        "reason": trial.reason,
        "suggested_by": trial.suggested_by,
        "retry_of": trial.retry_of,
    }


def export_document(info: StudyInfo, trials: Iterable[Trial]) -> dict[str, Any]:
    """The JSON export of a study: its spec dict and every trial."""
    return {
        "format": FORMAT,
        "study": info.spec,
        "trials": [trial_record(t) for t in trials],
    }


# ------------------------------------------------------------------ rows
def columns(info: StudyInfo, trials: Sequence[Trial]) -> list[str]:
    params = [f"params.{name}" for name in info.spec.get("parameters", {})]
    keys: set[str] = set()
    for trial in trials:
        for name in trial.params:
            if f"params.{name}" not in params:
                params.append(f"params.{name}")
        keys.update(trial.attrs)
    attrs = [f"attrs.{key}" for key in sorted(keys)]
    # Told metrics besides the first objective's (which is `value`): the other objectives,
    # the constraints and any other metric told.
    has_objective = "objective" in info.spec or "objectives" in info.spec
    primary = objectives_of(info.spec)[0]["metric"] if has_objective else ""
    told = sorted({m for t in trials for m in t.values} - {primary})
    head = ["number", "state", "value", *(f"values.{m}" for m in told)]
    tail = ["create_time", "end_time", "worker_id", "reason", "suggested_by", "retry_of"]
    return [*head, *params, *attrs, *tail]


def _row(trial: Trial, times: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"number": trial.number, "state": trial.state, "value": trial.value}
    row.update({f"values.{k}": v for k, v in trial.values.items()})
    row.update({f"params.{k}": v for k, v in trial.params.items()})
    row.update({f"attrs.{k}": v for k, v in trial.attrs.items()})
    row.update(
        create_time=times(trial.create_time),
        end_time=times(trial.end_time),
        worker_id=trial.worker_id,
        reason=trial.reason,
        suggested_by=trial.suggested_by,
        retry_of=trial.retry_of,
    )
    return row


def write_csv(info: StudyInfo, trials: Sequence[Trial], out: IO[str]) -> None:
    """The trials as CSV with a header row; empty cells for what a trial has not."""
    names = columns(info, trials)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for trial in trials:
        row = _row(trial, iso)
        writer.writerow(["" if row.get(n) is None else row[n] for n in names])


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError(f"a DataFrame needs pandas: {_EXPORT_EXTRA}") from None
    return pandas


def _column_dtype(values: Sequence[Any]) -> str | None:
    """The pandas dtype that keeps a column's values and types; None: leave them as objects."""
    kinds = {type(v) for v in values if v is not None}
    if kinds == {bool}:
        return "boolean"
    if kinds == {int}:
        return "Int64"
    if kinds == {float}:
        return "float64"
    if kinds == {str}:
        return "object"
    return None


def to_dataframe(info: StudyInfo, trials: Sequence[Trial]) -> pandas.DataFrame:
    """The trials as a DataFrame with `columns(info, trials)`.

    A params/attrs column of one type gets that type (nullable `Int64` and
    `boolean` where a trial lacks the value); one of mixed types (a categorical
    of [1, "auto", true]) holds the Python values themselves (dtype object).

    Raises:
        ImportError: pandas is not installed (the `export` extra).
    """
    pd = _pandas()
    names = columns(info, trials)
    rows = [_row(t, lambda m: m) for t in trials]
    data: dict[str, Any] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        if name == "number":
            data[name] = pd.Series(values, dtype="int64")
        elif name == "retry_of":
            data[name] = pd.Series(values, dtype="Int64")
        elif name == "value" or name.startswith("values."):
            data[name] = pd.Series(values, dtype="float64")
        elif name in ("create_time", "end_time"):
            data[name] = pd.to_datetime(pd.Series(values, dtype="object"), utc=True)
        elif name.startswith(("params.", "attrs.")):
            dtype = _column_dtype(values)
            data[name] = pd.Series(values, dtype=dtype if dtype is not None else "object")
        else:
            data[name] = pd.Series(values, dtype="object")
    return pd.DataFrame(data, columns=names)


def write_parquet(frame: pandas.DataFrame, path: Path) -> None:
    """The DataFrame as parquet (pyarrow); a column of mixed types is stored as JSON text.

    Parquet columns have one type, so a params/attrs column mixing types (say 1,
    "auto" and true) is written as the JSON text of each value ("1", "\\"auto\\"",
    "true") and named in the file's metadata; `read_parquet` turns it back.
    """
    _pandas()
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(f"parquet needs pyarrow: {_EXPORT_EXTRA}") from None
    frame = frame.copy()
    as_json = []
    for name in frame.columns:
        if frame[name].dtype == object and _column_dtype(list(_present(frame[name]))) is None:
            frame[name] = [None if v is None else json.dumps(v) for v in _cells(frame[name])]
            as_json.append(name)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[JSON_COLUMNS_KEY] = json.dumps(as_json).encode()
    pq.write_table(table.replace_schema_metadata(metadata), path)


def read_parquet(path: str | Path) -> pandas.DataFrame:
    """A parquet export as the DataFrame `to_dataframe` gave, mixed-type columns decoded."""
    pd = _pandas()
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(f"parquet needs pyarrow: {_EXPORT_EXTRA}") from None
    table = pq.read_table(path)
    frame = table.to_pandas()
    listed = (table.schema.metadata or {}).get(JSON_COLUMNS_KEY)
    for name in json.loads(listed) if listed else []:
        frame[name] = pd.Series(
            [None if v is None else json.loads(v) for v in _cells(frame[name])], dtype="object"
        )
    return frame


def _cells(series: Any) -> list[Any]:
    """A column's cells as Python values, None for missing ones."""
    return [None if _missing(v) else v for v in series.tolist()]


def _present(series: Any) -> list[Any]:
    return [v for v in _cells(series) if v is not None]


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pandas.NA and NaT
    except TypeError:  # pandas.NA refuses bool()
        return True


# ------------------------------------------------------------------ import
def import_plan(
    data: Mapping[str, Any], name: str
) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """(the spec under `name`, the finished trials as `add_trials` items, RUNNING ones skipped).

    Raises:
        InvalidArgumentError: `data` is not an asktell JSON export.
    """
    spec = data.get("study") if isinstance(data, Mapping) else None
    trials = data.get("trials") if isinstance(data, Mapping) else None
    if not isinstance(spec, Mapping) or not isinstance(trials, list):
        raise InvalidArgumentError(
            'INVALID_ARGUMENT: not an asktell study export: expected {"study": {...}, '
            '"trials": [...]} (asktell study export NAME --format json)'
        )
    items = []
    skipped = 0
    for i, trial in enumerate(trials):
        if not isinstance(trial, Mapping):
            raise InvalidArgumentError(f"INVALID_ARGUMENT: trials[{i}]: expected an object")
        state = trial.get("state", "COMPLETE")
        if state == "RUNNING":
            skipped += 1
            continue
        if state not in FINISHED:
            raise InvalidArgumentError(
                f"INVALID_ARGUMENT: trials[{i}].state: {str(state)[:40]!r} is not a trial state"
            )
        items.append(
            {
                "params": trial.get("params") or {},
                "state": state,
                "value": trial.get("value"),
                "values": trial.get("values") or {},
                "reason": trial.get("reason") or "",
                "attrs": trial.get("attrs") or {},
                "end_time": trial.get("end_time"),
                "create_time": trial.get("create_time"),
                "measurements": trial.get("measurements") or [],
            }
        )
    return {**spec, "name": name}, items, skipped
