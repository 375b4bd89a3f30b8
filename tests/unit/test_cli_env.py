"""Every option of `asktell serve`, `worker`, `dashboard` and `demo` reads an ASKTELL_*
variable, says so in its help, and the variable really sets it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest

from asktell.client._cli import study_connection_options
from asktell.dashboard.cli import dashboard_command
from asktell.server.cli import serve_command
from asktell.worker.cli import worker_command
from asktell.worker.demo import demo_command

COMMANDS = {
    "serve": serve_command,
    "worker": worker_command,
    "dashboard": dashboard_command,
    "demo": demo_command,
}


def _options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and p.name != "help"]


def _sample(option: click.Option, tmp_path: Path) -> tuple[str, Any]:
    """A value for the option's variable, and what the command then receives."""
    kind = option.type
    if option.is_flag:
        return "1", True
    if option.multiple:  # a space-separated list
        return "a=1 b=2", ("a=1", "b=2")
    if isinstance(kind, click.Choice):
        choice = kind.choices[-1]
        return str(choice), choice
    if isinstance(kind, click.Path):
        path = tmp_path / f"{option.name}.file"
        path.write_text("x")
        return str(path), path if kind.type is Path else str(path)
    if isinstance(kind, click.types.IntParamType):
        return "7", 7
    if isinstance(kind, click.types.FloatParamType):
        return "7.5", 7.5
    return "from-env", "from-env"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_reads_its_asktell_variable(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    command = COMMANDS[name]
    expected: dict[str, Any] = {}
    seen: set[str] = set()
    for option in _options(command):
        where = f"asktell {name} {option.opts[0]}"
        envvar = option.envvar
        assert isinstance(envvar, str) and envvar.startswith("ASKTELL_"), where
        assert envvar not in seen, f"{where}: {envvar} is used twice"
        seen.add(envvar)
        assert f"[env {envvar}]" in (option.help or ""), f"{where}: say [env {envvar}]"
        text, value = _sample(option, tmp_path)
        monkeypatch.setenv(envvar, text)
        assert option.name is not None
        expected[option.name] = value
    context = command.make_context(f"asktell {name}", [])
    for key, value in expected.items():
        assert context.params[key] == value, f"asktell {name}: {key}"


def test_the_study_commands_read_their_retry_window(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    @click.command()
    @study_connection_options
    def probe(connection: Any) -> None:
        seen["retry"] = connection.retry_seconds

    monkeypatch.setenv("ASKTELL_RETRY_SECONDS", "0.5")
    probe.main([], standalone_mode=False)
    assert seen["retry"] == 0.5
    monkeypatch.delenv("ASKTELL_RETRY_SECONDS")
    probe.main([], standalone_mode=False)
    assert seen["retry"] == 5.0
