"""Trial attributes' checks (`domain.check_attrs`) and the export's pure parts."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from asktell.client import InvalidArgumentError, StudyInfo, Trial, TrialCounts
from asktell.client import _export as export
from asktell.server.domain import MAX_ATTRS, check_attrs
from asktell.server.errors import InvalidArgument

REPO = Path(__file__).resolve().parents[2]


def test_check_attrs_merges_and_keeps_types() -> None:
    held = {"a": 1, "b": "x"}
    merged = check_attrs("attrs", {"b": True, "c": 2.5, "d": -(2**63)}, held)
    assert merged == {"a": 1, "b": True, "c": 2.5, "d": -(2**63)}
    assert type(merged["b"]) is bool
    assert held == {"a": 1, "b": "x"}  # the trial's own mapping is left alone
    assert check_attrs("attrs", {}) == {}


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"a b": 1}, "attrs: invalid key 'a b'"),
        ({"9": 1}, "attrs: invalid key '9'"),
        ({"k" * 65: 1}, "invalid key"),
        ({"a": None}, 'attrs: "a" has no value'),
        ({"a": float("nan")}, 'attrs: "a" must be a finite number'),
        ({"a": 2**63}, 'attrs: "a" is outside the 64-bit integer range'),
        ({"a": "x" * 4097}, 'attrs: "a" must be at most 4096 characters'),
        ({"a": "\x00"}, "must not contain NUL"),
        ({"a": [1]}, 'attrs: "a" must be a string, a number or a boolean, got list'),
        ({f"k{i}": i for i in range(MAX_ATTRS + 1)}, "at most 64 attributes per trial, got 65"),
    ],
)
def test_check_attrs_refuses(attrs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        check_attrs("attrs", attrs)
    assert message in str(raised.value)


def test_the_limits_count_what_the_trial_holds() -> None:
    held = {f"k{i}": i for i in range(MAX_ATTRS)}
    check_attrs("attrs", {"k0": "replaced"}, held)  # still 64
    with pytest.raises(InvalidArgument, match="got 65 with the 64 it has"):
        check_attrs("attrs", {"new": 1}, held)
    with pytest.raises(InvalidArgument, match="bytes encoded; at most 65536"):
        check_attrs("attrs", {f"s{i}": "x" * 4096 for i in range(16)})
    check_attrs("attrs", {f"s{i}": "x" * 4096 for i in range(15)})


def _info() -> StudyInfo:
    spec = {
        "name": "s",
        "objective": {"metric": "loss", "goal": "minimize"},
        "parameters": {"x": {"type": "float"}, "c": {"type": "categorical"}},
    }
    return StudyInfo("s", spec, "ACTIVE", 1, None, TrialCounts())


def _trials() -> list[Trial]:
    start = dt.datetime(2026, 1, 5, 10, 0, 0, 250000, tzinfo=dt.UTC)
    return [
        Trial(
            "s",
            1,
            {"x": 0.5, "c": 1},
            "COMPLETE",
            0.25,
            create_time=start,
            end_time=start + dt.timedelta(seconds=2),
            attrs={"uri": "/m/1", "n": 3},
        ),
        Trial("s", 2, {"x": 1.5, "c": "auto"}, "FAILED", reason="oom", create_time=start),
        Trial("s", 3, {"x": 2.0, "c": True}, "RUNNING", create_time=start, attrs={"n": 4}),
    ]


def test_rows_csv_and_json_forms() -> None:
    names = export.columns(_info(), _trials())
    assert names == [
        "number",
        "state",
        "value",
        "params.x",
        "params.c",
        "attrs.n",
        "attrs.uri",
        "create_time",
        "end_time",
        "worker_id",
        "reason",
        "suggested_by",
        "retry_of",
    ]
    out = io.StringIO()
    export.write_csv(_info(), _trials(), out)
    lines = out.getvalue().splitlines()
    assert lines[1] == (
        "1,COMPLETE,0.25,0.5,1,3,/m/1,2026-01-05T10:00:00.250000Z,2026-01-05T10:00:02.250000Z,,,,"
    )
    assert lines[2].startswith("2,FAILED,,1.5,auto,,,2026-01-05T10:00:00.250000Z,,,oom,")
    document = export.export_document(_info(), _trials())
    assert json.loads(json.dumps(document)) == document
    assert document["trials"][2]["params"] == {"x": 2.0, "c": True}
    spec, items, skipped = export.import_plan(document, "copy")
    assert spec["name"] == "copy" and skipped == 1
    assert [i["state"] for i in items] == ["COMPLETE", "FAILED"]
    assert items[0]["attrs"] == {"uri": "/m/1", "n": 3}
    assert items[0]["end_time"] == "2026-01-05T10:00:02.250000Z"


def test_parse_time() -> None:
    moment = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
    assert export.parse_time("2026-01-05T10:00:00Z", "t") == moment
    assert export.parse_time("2026-01-05T10:00:00", "t") == moment  # naive: UTC
    assert export.parse_time(moment.timestamp(), "t") == moment
    assert export.parse_time(None, "t") is None
    with pytest.raises(InvalidArgumentError) as raised:
        export.parse_time("yesterday", "trials[0].end_time")
    assert "trials[0].end_time: expected an ISO 8601 time, got 'yesterday'" in str(raised.value)


def test_a_mixed_column_round_trips_through_parquet(tmp_path: Path) -> None:
    frame = export.to_dataframe(_info(), _trials())
    assert frame["params.c"].tolist() == [1, "auto", True]
    path = tmp_path / "t.parquet"
    export.write_parquet(frame, path)
    back = export.read_parquet(path)
    assert back["params.c"].tolist() == [1, "auto", True]
    assert [type(v) for v in back["params.c"]] == [int, str, bool]
    assert back["attrs.n"].tolist()[0] == 3 and str(back["attrs.n"].dtype) == "Int64"


def test_without_pandas_the_dataframe_names_the_extra() -> None:
    probe = (
        "import sys\n"
        "sys.modules['pandas'] = None\n"
        "from asktell.client import _export\n"
        "from tests.unit.test_attrs_and_export import _info, _trials\n"
        "try:\n"
        "    _export.to_dataframe(_info(), _trials())\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert result.stdout.strip() == "a DataFrame needs pandas: pip install 'asktell[export]'"
