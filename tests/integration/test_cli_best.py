"""`asktell study best`: the best trial as JSON or YAML for the next pipeline step."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from asktell.client._cli import main
from tests.conftest import LiveServer, simple_spec


def test_best_prints_the_best_trial_as_json_and_yaml(
    live_server: LiveServer, tmp_path: Path
) -> None:
    with live_server.client() as client:
        study = client.create_study(simple_spec("best-cli"))
        told: dict[int, tuple[float, dict[str, object]]] = {}
        for trial in study.ask_many(4):
            value = float(trial.params["x"]) ** 2
            trial.tell(value)
            told[trial.number] = (value, dict(trial.params))
    number = min(told, key=lambda n: told[n][0])  # the spec minimises
    expected = {
        "study": "best-cli",
        "trial": number,
        "value": told[number][0],
        "params": told[number][1],
        "attrs": {},
    }
    server = ["--server", live_server.address]
    runner = CliRunner()

    result = runner.invoke(main, ["study", "best", "best-cli", *server])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == expected

    result = runner.invoke(main, ["study", "best", "best-cli", "--format", "yaml", *server])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.output) == expected

    out = tmp_path / "results" / "best.json"
    out.parent.mkdir()
    result = runner.invoke(main, ["study", "best", "best-cli", "--out", str(out), *server])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert json.loads(out.read_text()) == expected
    assert [p.name for p in out.parent.iterdir()] == ["best.json"]


def test_best_without_a_complete_trial_fails_and_writes_nothing(
    live_server: LiveServer, tmp_path: Path
) -> None:
    with live_server.client() as client:
        client.create_study(simple_spec("nothing-yet")).ask()
    out = tmp_path / "best.json"
    result = CliRunner().invoke(
        main,
        ["study", "best", "nothing-yet", "--out", str(out), "--server", live_server.address],
    )
    assert result.exit_code == 1
    assert "study nothing-yet has no complete trial yet" in result.output
    assert not out.exists()

    result = CliRunner().invoke(main, ["study", "best", "absent", "--server", live_server.address])
    assert result.exit_code == 1
    assert "NOT_FOUND" in result.output and "Traceback" not in result.output
