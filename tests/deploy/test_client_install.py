"""`pip install asktell` with no extras: a thin client that still does its whole job.

The package is built into a wheel from a copy of the sources and installed into a
fresh virtualenv, as a training job would install it. That virtualenv must hold
grpcio, protobuf, click and PyYAML and nothing of the server's or the worker's;
its `asktell study ...` commands must work against a real server, and the
commands of the parts left out must print the pip line that installs them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from asktell.server.app import create_server
from asktell.server.storage import open_store
from tests.conftest import REPO, simple_spec

# What the Dockerfile's builder stage copies: enough to build the wheel.
SOURCES = ("pyproject.toml", "MANIFEST.in", "README.md", "scripts", "proto")
SOURCES += ("server", "client", "worker", "dashboard")
HEAVY = ("numpy", "scipy", "sklearn", "psycopg", "psycopg_pool", "torch", "prometheus_client")
# A wheel built and installed into a fresh virtualenv: scheduled first under `make test`.
pytestmark = pytest.mark.slow


@dataclass
class ClientOnly:
    """A virtualenv with `pip install asktell` (no extras) and nothing else."""

    root: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.root / "bin" / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.root,
        )


@pytest.fixture(scope="module")
def client_only(tmp_path_factory: pytest.TempPathFactory) -> ClientOnly:
    tmp = tmp_path_factory.mktemp("client-only")
    source = tmp / "src"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    wheels = tmp / "wheels"
    subprocess.run(
        [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("asktell-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # This interpreter's pip installs into the new virtualenv: the same resolution as
    # `pip install asktell` there, without seconds spent bootstrapping a pip of its own.
    subprocess.run(
        [*pip, "--python", str(venv / "bin" / "python"), "install", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    return ClientOnly(venv)


@pytest.fixture
def server_address(tmp_path: Path) -> Iterator[str]:
    store = open_store(f"sqlite:///{tmp_path / 'asktell.db'}")
    server, port = create_server(store, "127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)
    store.close()


def test_it_holds_the_client_dependencies_only(client_only: ClientOnly) -> None:
    code = (
        "import importlib.util as u, sys; import asktell.client; "
        f"print([m for m in {HEAVY!r} if u.find_spec(m)]); "
        "parts = ('asktell.server', 'asktell.worker'); "
        "print(sorted(m for m in sys.modules if m.startswith(parts)))"
    )
    result = client_only.run("python", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[]", "[]"]
    listed = client_only.run(
        "python",
        "-c",
        "import importlib.metadata as m; print(' '.join(sorted("
        "d.metadata['Name'].lower() for d in m.distributions())))",
    )
    installed = set(listed.stdout.split())
    assert {"asktell", "grpcio", "protobuf", "click", "pyyaml"} <= installed
    assert installed <= {"asktell", "grpcio", "protobuf", "click", "pyyaml", "typing_extensions"}


def test_its_study_commands_work_against_a_real_server(
    client_only: ClientOnly, server_address: str
) -> None:
    spec = client_only.root / "spec.yaml"
    spec.write_text(yaml.safe_dump(simple_spec("thin-client")))
    server = ("--server", server_address)
    created = client_only.run("asktell", "study", "create", "-f", str(spec), *server)
    assert created.returncode == 0, created.stderr
    listed = client_only.run("asktell", "study", "list", *server)
    assert listed.returncode == 0, listed.stderr
    assert "thin-client" in listed.stdout and "ACTIVE" in listed.stdout
    shown = client_only.run("asktell", "study", "list", "--help")
    assert shown.returncode == 0 and "--server" in shown.stdout


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("serve",), "asktell serve needs the server extra: pip install 'asktell[server]'"),
        (
            ("serve", "--port", "0", "--help"),
            "asktell serve needs the server extra: pip install 'asktell[server]'",
        ),
        (
            ("worker", "--study", "s", "--task", "digits-mlp"),
            "asktell worker needs the worker extra: pip install 'asktell[worker]'",
        ),
        (
            ("demo",),
            "asktell demo needs the server and worker extras: pip install 'asktell[server,worker]'",
        ),
        (
            ("study", "plot", "s", "--out", "s.png"),
            "asktell study plot needs the plot extra: pip install 'asktell[plot]'",
        ),
    ],
)
def test_a_part_left_out_prints_the_line_that_installs_it(
    client_only: ClientOnly, args: tuple[str, ...], line: str
) -> None:
    result = client_only.run("asktell", *args)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"Error: {line}"]


def test_its_help_lists_what_is_missing(client_only: ClientOnly) -> None:
    result = client_only.run("asktell", "--help")
    assert result.returncode == 0, result.stderr
    # One line per command; the column width follows the longest name.
    lines = {" ".join(line.split()) for line in result.stdout.splitlines()}
    assert "serve Not installed: pip install 'asktell[server]'." in lines
    assert "worker Not installed: pip install 'asktell[worker]'." in lines
    assert any(line.startswith("study Create, inspect") for line in lines)
    assert any(line.startswith("dashboard ") and "Not installed" not in line for line in lines)
