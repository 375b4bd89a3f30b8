"""`asktell study export` (csv, json, parquet), `Study.to_dataframe()` and `asktell study
import`, on a live server and both stores: an export imported again gives the same trials."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from asktell.client import AlreadyExistsError, Client, Study, Trial, read_parquet
from asktell.client import _client as client_module
from asktell.client._cli import main
from tests.conftest import LiveServer

SPEC: dict[str, Any] = {
    "name": "exported",
    "objective": {"metric": "loss", "goal": "minimize"},
    "algorithm": {"name": "random", "seed": 3},
    "parameters": {
        "x": {"type": "float", "min": -5.0, "max": 5.0},
        "n": {"type": "int", "min": 1, "max": 10},
        "act": {"type": "categorical", "values": ["relu", "tanh"]},
        "bs": {"type": "discrete", "values": [16, 32]},
        "flag": {"type": "categorical", "values": [True, False]},
        "mom": {"type": "float", "min": 0.5, "max": 0.9, "when": {"act": ["tanh"]}},
    },
}
BASE = [
    "number",
    "state",
    "value",
    "params.x",
    "params.n",
    "params.act",
    "params.bs",
    "params.flag",
    "params.mom",
]
TAIL = ["create_time", "end_time", "worker_id", "reason", "suggested_by", "retry_of"]


def _populate(client: Client) -> Study:
    """Trials 1-3 COMPLETE (attrs of every type; "tag" an int in one, a str in another;
    1 with measurements), 4 FAILED with a reason, 5 PRUNED after a report, 6 RUNNING."""
    study = client.create_study(SPEC)
    trials = study.ask_many(6, worker_id="exporter")
    for step, value in ((0, 0.9), (1, 0.7), (3, 0.55)):
        trials[0].report(step, value)
    trials[4].report(0, 2.5)
    trials[0].tell(0.5, attrs={"model_uri": "s3://m/1", "epochs": 10, "ok": True, "tag": 7})
    trials[1].tell(0.25, attrs={"model_uri": "s3://m/2", "epochs": 12, "ok": False, "loss": 0.1})
    trials[2].tell(1.5, attrs={"tag": "baseline"})
    trials[3].fail("CUDA out of memory", attrs={"peak_mb": 81920.5})
    trials[4].prune("stopped early at step 2")
    trials[5].set_attrs({"stage": "training"})
    return study


def _same_trials(imported: list[Trial], original: list[Trial]) -> None:
    assert len(imported) == len(original)
    for new, old in zip(imported, original, strict=True):
        assert (new.state, new.value, new.reason) == (old.state, old.value, old.reason)
        assert new.params == old.params
        assert {k: type(v) for k, v in new.params.items()} == {
            k: type(v) for k, v in old.params.items()
        }
        assert new.attrs == old.attrs
        assert {k: type(v) for k, v in new.attrs.items()} == {
            k: type(v) for k, v in old.attrs.items()
        }
        assert new.end_time is not None and old.end_time is not None
        assert abs(new.end_time - old.end_time) <= dt.timedelta(microseconds=1)
        assert new.create_time is not None and old.create_time is not None
        assert abs(new.create_time - old.create_time) <= dt.timedelta(microseconds=1)
        assert new.measurements == old.measurements
        assert new.suggested_by == "added"


def test_export_json_and_import_round_trip_through_the_cli(
    live_server: LiveServer, tmp_path: Path
) -> None:
    server = ["--server", live_server.address]
    runner = CliRunner()
    with live_server.client() as client:
        study = _populate(client)
        original = study.trials()
        spec = study.info().spec

        out = tmp_path / "exported.json"
        result = runner.invoke(
            main, ["study", "export", "exported", "--format", "json", "--out", str(out), *server]
        )
        assert result.exit_code == 0, result.output
        document = json.loads(out.read_text())
        assert document["study"] == spec
        assert [t["number"] for t in document["trials"]] == [1, 2, 3, 4, 5, 6]
        first = document["trials"][0]
        assert type(first["params"]["n"]) is int and type(first["params"]["x"]) is float
        assert type(first["params"]["bs"]) is int and type(first["params"]["flag"]) is bool
        for item in document["trials"]:
            assert ("mom" in item["params"]) == (item["params"]["act"] == "tanh")
        assert first["attrs"] == {"model_uri": "s3://m/1", "epochs": 10, "ok": True, "tag": 7}
        assert first["end_time"].endswith("Z") and first["worker_id"] == "exporter"
        assert document["trials"][3]["reason"] == "CUDA out of memory"

        # Printed without --out, the same document.
        printed = runner.invoke(main, ["study", "export", "exported", "--format", "json", *server])
        assert printed.exit_code == 0 and json.loads(printed.output) == document

        result = runner.invoke(main, ["study", "import", str(out), "--name", "copy", *server])
        assert result.exit_code == 0, result.output
        assert result.output == "study copy: imported 5 trials, 1 RUNNING skipped\n"
        copy = client.get_study("copy")
        assert copy.info().spec == {**spec, "name": "copy"}
        _same_trials(copy.trials(), original[:5])
        assert copy.trial(1).measurements == [(0, 0.9), (1, 0.7), (3, 0.55)]
        assert copy.best_trial is not None and copy.best_trial.attrs["epochs"] == 12

        # Again into the same name: refused, one line, nothing added.
        result = runner.invoke(main, ["study", "import", str(out), "--name", "copy", *server])
        assert result.exit_code == 1
        assert "ALREADY_EXISTS" in result.output and "Traceback" not in result.output
        assert len(copy.trials()) == 5


def test_import_study_in_batches_and_twice_into_one_name(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = _populate(client)
    document = study.export()
    monkeypatch.setattr(client_module, "MAX_ADDED_PER_CALL", 2)
    result = client.import_study(document, "batched")
    assert (result.imported, result.skipped_running) == (5, 0 + 1)
    _same_trials(result.study.trials(), study.trials()[:5])
    assert [t.number for t in result.study.trials()] == [1, 2, 3, 4, 5]
    with pytest.raises(AlreadyExistsError, match="already exists"):
        client.import_study(document, "batched")
    # A document that is not an export.
    with pytest.raises(client_module.InvalidArgumentError, match="not an asktell study export"):
        client.import_study({"trials": []}, "never")


def test_export_csv_has_one_row_per_trial(live_server: LiveServer, tmp_path: Path) -> None:
    with live_server.client() as client:
        _populate(client)
    result = CliRunner().invoke(
        main, ["study", "export", "exported", "--server", live_server.address]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    header = next(csv.reader(io.StringIO(result.output)))
    attrs = ["epochs", "loss", "model_uri", "ok", "peak_mb", "stage", "tag"]
    assert header == [*BASE, *(f"attrs.{key}" for key in attrs), *TAIL]
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3 + ["FAILED", "PRUNED", "RUNNING"]
    assert rows[0]["attrs.epochs"] == "10" and rows[0]["attrs.ok"] == "True"
    assert rows[2]["attrs.tag"] == "baseline" and rows[2]["attrs.epochs"] == ""
    assert rows[3]["reason"] == "CUDA out of memory" and rows[3]["value"] == ""
    assert rows[5]["attrs.stage"] == "training" and rows[5]["end_time"] == ""
    moment = dt.datetime.fromisoformat(rows[0]["create_time"])
    assert moment.utcoffset() == dt.timedelta(0)
    out = tmp_path / "trials.csv"
    result = CliRunner().invoke(
        main, ["study", "export", "exported", "--out", str(out), "--server", live_server.address]
    )
    assert (
        result.exit_code == 0
        and out.read_text()
        == CliRunner()
        .invoke(main, ["study", "export", "exported", "--server", live_server.address])
        .output
    )


def test_dataframe_and_parquet_keep_the_types(live_server: LiveServer, tmp_path: Path) -> None:
    with live_server.client() as client:
        study = _populate(client)
        frame = study.to_dataframe()
    assert list(frame.columns[: len(BASE)]) == BASE and list(frame.columns[-6:]) == TAIL
    assert str(frame["params.bs"].dtype) == "Int64" and str(frame["params.flag"].dtype) == "boolean"
    # An inactive conditional parameter is missing from its row.
    assert (frame["params.mom"].isna() == (frame["params.act"] != "tanh")).all()
    assert len(frame) == 6
    assert str(frame["params.n"].dtype) == "Int64" and str(frame["attrs.epochs"].dtype) == "Int64"
    assert str(frame["attrs.ok"].dtype) == "boolean"
    assert frame["params.x"].dtype == "float64"
    assert str(frame["create_time"].dtype).startswith("datetime64") and frame["create_time"].dt.tz
    assert frame["attrs.tag"].tolist()[:3] == [7, None, "baseline"]  # mixed: the values
    assert pd.isna(frame["value"][3]) and frame["reason"][3] == "CUDA out of memory"

    out = tmp_path / "trials.parquet"
    result = CliRunner().invoke(
        main,
        [
            "study",
            "export",
            "exported",
            "--format",
            "parquet",
            "--out",
            str(out),
            "--server",
            live_server.address,
        ],
    )
    assert result.exit_code == 0, result.output
    back = read_parquet(out)
    assert list(back.columns) == list(frame.columns)
    assert back["attrs.tag"].tolist()[:3] == [7, None, "baseline"]
    assert [type(v) for v in back["attrs.tag"].tolist()[:3]] == [int, type(None), str]
    assert back["params.n"].tolist() == frame["params.n"].tolist()
    assert str(back["params.n"].dtype) == "Int64"
    assert back["attrs.ok"].tolist()[:2] == [True, False]
    assert back["params.flag"].tolist() == frame["params.flag"].tolist()
    assert (back["create_time"] == frame["create_time"]).all()

    result = CliRunner().invoke(
        main,
        ["study", "export", "exported", "--format", "parquet", "--server", live_server.address],
    )
    assert result.exit_code == 2 and "--format parquet needs --out FILE" in result.output


def test_show_and_best_carry_attrs_and_reasons(live_server: LiveServer, tmp_path: Path) -> None:
    with live_server.client() as client:
        _populate(client)
    server = ["--server", live_server.address]
    runner = CliRunner()
    result = runner.invoke(main, ["study", "show", "exported", *server])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if line.startswith("#"))
    assert header.split() == [
        "#",
        "STATE",
        "VALUE",
        "x",
        "n",
        "act",
        "bs",
        "flag",
        "mom",
        "BY",
        "NOTES",
    ]
    row = {line.split()[0]: line for line in lines if line[:1].isdigit()}
    assert "epochs=12 loss=0.1 model_uri=s3://m/2 ok=false" in row["2"]
    assert row["4"].rstrip().endswith("CUDA out of memory peak_mb=81920.5")
    assert "stopped early at step 2" in row["5"]

    limited = runner.invoke(main, ["study", "show", "exported", "--limit", "2", *server])
    assert [line.split()[0] for line in limited.output.splitlines() if line[:1].isdigit()] == [
        "5",
        "6",
    ]

    out = tmp_path / "best.json"
    result = runner.invoke(main, ["study", "best", "exported", "--out", str(out), *server])
    assert result.exit_code == 0, result.output
    best = json.loads(out.read_text())
    assert best["trial"] == 2 and best["value"] == 0.25
    assert best["attrs"] == {"model_uri": "s3://m/2", "epochs": 12, "ok": False, "loss": 0.1}
    assert type(best["params"]["n"]) is int and type(best["attrs"]["epochs"]) is int
