"""The `asktell` command line against a live server."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from asktell.client._cli import main
from tests.conftest import LiveServer, simple_spec


def test_study_commands(live_server: LiveServer, tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(simple_spec("cli-study")))
    runner = CliRunner()
    server = ["--server", live_server.address]

    result = runner.invoke(main, ["study", "create", "-f", str(spec_file), *server])
    assert result.exit_code == 0, result.output
    assert "study cli-study: random, seed 1" in result.output

    with live_server.client() as client:
        study = client.get_study("cli-study")
        for trial in study.ask_many(3):
            trial.tell(float(trial.params["n"]))

    result = runner.invoke(main, ["study", "list", *server])
    assert result.exit_code == 0
    assert "cli-study" in result.output and "ACTIVE" in result.output

    result = runner.invoke(main, ["study", "show", "cli-study", *server])
    assert result.exit_code == 0, result.output
    assert "3 complete" in result.output
    assert "best: trial" in result.output

    assert runner.invoke(main, ["study", "stop", "cli-study", *server]).exit_code == 0
    result = runner.invoke(main, ["study", "show", "cli-study", *server])
    assert "(STOPPED)" in result.output
    assert runner.invoke(main, ["study", "resume", "cli-study", *server]).exit_code == 0

    result = runner.invoke(main, ["study", "delete", "cli-study", "--yes", *server])
    assert result.exit_code == 0
    result = runner.invoke(main, ["study", "show", "cli-study", *server])
    assert result.exit_code == 1
    assert 'NOT_FOUND: study "cli-study" does not exist' in result.output


def test_a_bad_spec_file_is_one_clear_line(live_server: LiveServer, tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec = simple_spec("bad")
    spec["parameters"] = {"lr": {"type": "float", "min": 0.1, "max": 0.01}}
    spec_file.write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(
        main, ["study", "create", "-f", str(spec_file), "--server", live_server.address]
    )
    assert result.exit_code == 1
    assert 'INVALID_ARGUMENT: parameter "lr": min 0.1 > max 0.01' in result.output
    assert "Traceback" not in result.output


def test_plot_writes_a_png_and_an_html_page(live_server: LiveServer, tmp_path: Path) -> None:
    with live_server.client() as client:
        study = client.create_study(simple_spec("plotted"))
        for trial in study.ask_many(12):
            for step in range(3):
                trial.report(step, float(trial.params["x"]) ** 2 / (step + 1))
            trial.tell(float(trial.params["x"]) ** 2)
    runner = CliRunner()
    for name in ("study.png", "study.html"):
        out = tmp_path / name
        result = runner.invoke(
            main, ["study", "plot", "plotted", "--out", str(out), "--server", live_server.address]
        )
        assert result.exit_code == 0, result.output
        assert "wrote" in result.output
    png = (tmp_path / "study.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    from PIL import Image

    with Image.open(tmp_path / "study.png") as image:
        image.verify()
        assert image.size[0] > 1000
    page = (tmp_path / "study.html").read_text()
    assert "<svg" in page and "Best trials" in page
