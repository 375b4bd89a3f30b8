"""The trials table: a trial as a JSON row, the filter language, sorting, pages, CSV and JSON.

The filter is a line of space-separated terms, all of which a trial must match:

- `lr>0.01`, `depth=2`, `optimizer!=sgd`: a parameter (a trial without it, where a
  conditional parameter is inactive, does not match); `params.lr<1e-3` names it in full
  (for a parameter named like a field);
- `value<0.5`, `number>=100`, `duration>30`: the objective value, the trial number, the
  seconds from start to end (to now while running);
- `state=FAILED`, `worker~gpu`, `reason~CUDA`, `suggested_by=enqueued`: the trial's fields;
- `attrs.model~resnet`, `attrs.epochs>=10`: an attribute;
- `values.latency_ms<20`: a metric told with a COMPLETE trial (each objective's and
  constraint's, in a study with several);
- a bare word (`oom`): contained in the reason, the worker id, a parameter or an attribute.

Operators: `=`, `!=`, `<`, `<=`, `>`, `>=`, `~`. A number compares as a number, anything
else as text; `true`/`false` match booleans. A term that cannot be read is a `FilterError`
naming it (the API answers 400).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from asktell.client import Trial

FIELDS = ("number", "state", "value", "worker", "duration", "reason", "suggested_by", "retry_of")
STATES = ("RUNNING", "COMPLETE", "FAILED", "PRUNED")
MAX_PAGE_SIZE = 500
_TERM = re.compile(r"^([A-Za-z_][\w.\-]*)\s*(!=|<=|>=|=|<|>|~)\s*(.*)$")
Json = dict[str, Any]


class FilterError(ValueError):
    """A filter or sort term that cannot be read; the message names it."""


def _epoch(moment: dt.datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def duration(trial: Trial, now: float) -> float | None:
    """Seconds from the trial's start to its end, or to `now` while it runs."""
    start = _epoch(trial.create_time)
    if start is None:
        return None
    end = _epoch(trial.end_time)
    return (end if end is not None else now) - start


def _number(value: float | None) -> float | None:
    """A float for JSON: None for NaN and the infinities (which JSON cannot hold)."""
    return value if value is not None and math.isfinite(value) else None


def row(trial: Trial, now: float) -> Json:
    """A trial as the browser gets it (times in epoch seconds)."""
    return {
        "number": trial.number,
        "state": trial.state,
        "value": _number(trial.value),
        "params": dict(trial.params),
        "attrs": {k: _number(v) if isinstance(v, float) else v for k, v in trial.attrs.items()},
        "worker": trial.worker_id,
        "create_time": _epoch(trial.create_time),
        "end_time": _epoch(trial.end_time),
        "lease_deadline": _epoch(trial.lease_deadline),
        "duration": duration(trial, now),
        "reason": trial.reason,
        "suggested_by": trial.suggested_by,
        "retry_of": trial.retry_of,
        "steps": len(trial.measurements),
        "values": {k: v for k, v in trial.values.items() if math.isfinite(v)},
    }


# ------------------------------------------------------------------ filtering
def _field(trial: Trial, name: str, now: float) -> Any:
    """The value a filter or sort term names, or None when the trial has none."""
    if name.startswith("params."):
        return trial.params.get(name.removeprefix("params."))
    if name.startswith("attrs."):
        return trial.attrs.get(name.removeprefix("attrs."))
    if name.startswith("values."):
        return _number(trial.values.get(name.removeprefix("values.")))
    if name == "number":
        return trial.number
    if name == "state":
        return trial.state
    if name == "value":
        return trial.value
    if name == "worker":
        return trial.worker_id
    if name == "duration":
        return duration(trial, now)
    if name == "reason":
        return trial.reason
    if name == "suggested_by":
        return trial.suggested_by
    if name == "retry_of":
        return trial.retry_of
    if name in ("create_time", "end_time"):
        return _epoch(getattr(trial, name))
    return trial.params.get(name)


def _literal(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _compare(actual: Any, op: str, wanted: Any) -> bool:
    if actual is None:
        return op == "!="
    if op == "~":
        return str(wanted).lower() in str(actual).lower()
    if isinstance(actual, bool) or isinstance(wanted, bool):
        same = isinstance(actual, bool) and isinstance(wanted, bool) and actual == wanted
        if op in ("=", "!="):
            return same == (op == "=")
        return False
    if isinstance(actual, int | float) and isinstance(wanted, int | float):
        a, b = float(actual), float(wanted)
    else:
        a, b = str(actual).lower(), str(wanted).lower()  # type: ignore[assignment]
    return {
        "=": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]


def _free_text(trial: Trial, word: str) -> bool:
    word = word.lower()
    texts: Iterable[Any] = (
        trial.reason,
        trial.worker_id,
        *trial.params.values(),
        *trial.attrs.values(),
    )
    return any(word in str(text).lower() for text in texts)


def _free_text_test(trial: Trial, now: float, *, word: str) -> bool:
    return _free_text(trial, word)


def _term_test(trial: Trial, now: float, *, name: str, op: str, wanted: Any) -> bool:
    return _compare(_field(trial, name, now), op, wanted)


def parse_filter(text: str) -> Callable[[Trial, float], bool]:
    """The filter line as a predicate on (trial, now); see the module docstring."""
    tests: list[Callable[[Trial, float], bool]] = []
    for term in text.split():
        match = _TERM.match(term)
        if match is None:
            if any(op in term for op in "<>=~!"):
                raise FilterError(f"filter: cannot read {term!r}; write it as name<op>value")
            tests.append(functools.partial(_free_text_test, word=term))
            continue
        name, op, raw = match.groups()
        if not raw:
            raise FilterError(f"filter: {term!r} has no value after {op!r}")
        if raw[0] in "<>=~!":
            raise FilterError(f"filter: cannot read {term!r}; write it as name<op>value")
        if name == "state" and raw.upper() not in STATES and op in ("=", "!="):
            raise FilterError(f"filter: state must be one of {', '.join(STATES)}, got {raw!r}")
        wanted = raw.upper() if name == "state" else _literal(raw)
        tests.append(functools.partial(_term_test, name=name, op=op, wanted=wanted))
    return lambda trial, now: all(test(trial, now) for test in tests)


# ------------------------------------------------------------------ sorting and pages
def _sort_key(name: str, now: float) -> Callable[[Trial], tuple[int, Any]]:
    def key(trial: Trial) -> tuple[int, Any]:
        value = _field(trial, name, now)
        if value is None:
            return (2, 0)  # missing values last, whichever the direction
        if isinstance(value, bool | int | float):
            return (0, float(value))
        return (1, str(value).lower())

    return key


def sort_trials(trials: list[Trial], sort: str, now: float) -> list[Trial]:
    """Sorted by `sort` ("value", "-duration", "params.lr"; "-" is descending), missing last."""
    name = sort.removeprefix("-") or "number"
    descending = sort.startswith("-")
    if not re.fullmatch(r"[A-Za-z_][\w.\-]*", name):
        raise FilterError(f"sort: cannot sort by {sort!r}")
    key = _sort_key(name, now)
    present = [t for t in trials if key(t)[0] != 2]
    missing = [t for t in trials if key(t)[0] == 2]
    present.sort(key=key, reverse=descending)
    return present + missing


@dataclass(frozen=True)
class Query:
    """What the browser asks of the trials table."""

    states: tuple[str, ...] = ()
    filter: str = ""
    sort: str = "number"
    page: int = 1
    page_size: int = 50

    @staticmethod
    def parse(args: Mapping[str, str]) -> Query:
        """From the query string; raises FilterError naming a bad argument."""
        states = tuple(s for s in args.get("state", "").upper().split(",") if s)
        bad = [s for s in states if s not in STATES]
        if bad:
            raise FilterError(f"state: {bad[0]!r} is not one of {', '.join(STATES)}")
        try:
            page = int(args.get("page", "1"))
            size = int(args.get("page_size", "50"))
        except ValueError:
            raise FilterError("page and page_size must be integers") from None
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            raise FilterError(f"page must be >= 1 and page_size 1 to {MAX_PAGE_SIZE}")
        return Query(states, args.get("filter", ""), args.get("sort", "number"), page, size)

    def select(self, trials: Sequence[Trial], now: float) -> list[Trial]:
        """The trials that match, in the order asked for (every page)."""
        predicate = parse_filter(self.filter)
        matched = [
            t for t in trials if (not self.states or t.state in self.states) and predicate(t, now)
        ]
        return sort_trials(matched, self.sort, now)

    def answer(self, trials: Sequence[Trial], now: float) -> Json:
        """One page of the table, with the counts the pager shows."""
        selected = self.select(trials, now)
        pages = max(1, math.ceil(len(selected) / self.page_size))
        page = min(self.page, pages)
        start = (page - 1) * self.page_size
        return {
            "total": len(trials),
            "matched": len(selected),
            "page": page,
            "pages": pages,
            "page_size": self.page_size,
            "rows": [row(t, now) for t in selected[start : start + self.page_size]],
        }


# ------------------------------------------------------------------ downloads
def _iso(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


def to_json(trials: Sequence[Trial], now: float) -> str:
    """The trials as a JSON array (times as ISO 8601, measurements as [step, value])."""
    items = []
    for trial in trials:
        item = row(trial, now)
        for name in ("create_time", "end_time", "lease_deadline"):
            item[name] = _iso(item[name]) or None
        item["measurements"] = [[step, _number(value)] for step, value in trial.measurements]
        del item["steps"]
        items.append(item)
    return json.dumps(items, indent=1)


def to_csv(trials: Sequence[Trial], parameters: Sequence[str], now: float) -> str:
    """The trials as CSV: a column per field, parameter (`params.X`), attribute (`attrs.X`)
    and, when any trial has them, metric told (`values.X`)."""
    attributes = sorted({name for trial in trials for name in trial.attrs})
    metrics = sorted({name for trial in trials for name in trial.values})
    out = io.StringIO()
    writer = csv.writer(out)
    fields = ["number", "state", "value", "worker", "create_time", "end_time", "duration"]
    fields += ["reason", "suggested_by", "retry_of"]
    writer.writerow(
        [
            *fields,
            *(f"params.{p}" for p in parameters),
            *(f"attrs.{a}" for a in attributes),
            *(f"values.{m}" for m in metrics),
        ]
    )
    for trial in trials:
        item = row(trial, now)
        item["create_time"] = _iso(item["create_time"])
        item["end_time"] = _iso(item["end_time"])
        cells = [("" if item[f] is None else item[f]) for f in fields]
        values = [trial.params.get(p, "") for p in parameters]
        values += [trial.attrs.get(a, "") for a in attributes]
        values += ["" if _number(trial.values.get(m)) is None else trial.values[m] for m in metrics]
        writer.writerow([*cells, *(str(v).lower() if isinstance(v, bool) else v for v in values)])
    return out.getvalue()
