"""The package's shape: current stubs, a stable client surface, imports in one direction.

The parts depend on each other one way only: the client on the contract
(asktell.v1), the server on the contract, the worker on the client's public names
and the contract. The `asktell` command line is composed from entry points, so
importing or running the client never loads the server, the worker or their
dependencies.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import PathDistribution, entry_points
from pathlib import Path

import click
import pytest

import asktell.client
from asktell.client._cli import install_hint, missing_extras

REPO = Path(__file__).resolve().parents[2]
PARTS = {
    "asktell.server": "server",
    "asktell.client": "client",
    "asktell.worker": "worker",
    "asktell.dashboard": "dashboard",
}
# What each part may import of asktell: itself and the contract, and for the
# worker the client's public names (asktell.client, asktell.client.cli_options).
ALLOWED = {
    "asktell.server": ("asktell.server", "asktell.v1"),
    "asktell.client": ("asktell.client", "asktell.v1"),
    "asktell.worker": ("asktell.worker", "asktell.v1", "asktell.client"),
    "asktell.dashboard": ("asktell.dashboard", "asktell.v1", "asktell.client"),
}
# Dependencies of the server and worker extras that the client must never load.
HEAVY = (
    "numpy",
    "scipy",
    "sklearn",
    "psycopg",
    "psycopg_pool",
    "torch",
    "matplotlib",
    "pandas",
    "pyarrow",
)


def test_stubs_are_generated_from_the_protos(tmp_path: Path) -> None:
    copy = tmp_path / "proto"
    shutil.copytree(REPO / "proto", copy)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            str(copy),
            f"--python_out={copy}",
            f"--grpc_python_out={copy}",
            f"--pyi_out={copy}",
            *map(str, sorted((copy / "asktell" / "v1").glob("*.proto"))),
        ],
        check=True,
    )
    for generated in sorted((REPO / "proto" / "asktell" / "v1").glob("*_pb2*.py*")):
        fresh = copy / "asktell" / "v1" / generated.name
        assert fresh.read_text() == generated.read_text(), (
            f"{generated.name} is stale: run scripts/gen_stubs.sh"
        )


def test_client_exports() -> None:
    for name in asktell.client.__all__:
        assert hasattr(asktell.client, name), name
    assert "Client" in asktell.client.__all__ and "Trial" in asktell.client.__all__


def test_no_bare_top_level_imports() -> None:
    offenders = []
    for path in [
        *REPO.glob("server/**/*.py"),
        *REPO.glob("client/**/*.py"),
        *REPO.glob("worker/**/*.py"),
        *REPO.glob("dashboard/**/*.py"),
    ]:
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(
                (
                    "from server",
                    "from client",
                    "from worker",
                    "import server",
                    "import client",
                    "import worker",
                )
            ):
                offenders.append(f"{path}: {stripped}")
    assert offenders == []


def _modules() -> dict[str, Path]:
    """Every module of the three parts, by its import name."""
    found = {}
    for package, folder in PARTS.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            found[".".join([package, *(p for p in parts if p != "__init__")])] = path
    return found


def _imports(path: Path) -> Iterator[str]:
    """Every module named by an import in the file (at the top, in functions, under
    TYPE_CHECKING alike), plus `module.name` for each `from module import name`."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: import absolutely (asktell....)"
            yield node.module or ""
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {m for m in _imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }


def test_each_part_imports_only_what_its_layer_allows() -> None:
    modules = _modules()
    offenders = []
    for name, path in modules.items():
        part = next(p for p in PARTS if name == p or name.startswith(p + "."))
        for imported in _imports(path):
            if not imported.startswith("asktell.") or imported.startswith(ALLOWED[part]):
                if part in ("asktell.worker", "asktell.dashboard") and imported.startswith(
                    "asktell.client._"
                ):
                    offenders.append(f"{name} imports a private client module: {imported}")
                continue
            offenders.append(f"{name} imports {imported}")
    assert offenders == []


def test_there_is_no_import_cycle() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            pytest.fail("import cycle: " + " -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_the_graph_sees_the_imports_it_checks() -> None:
    # The checks above would pass on an empty graph: make sure it holds real edges.
    graph = _graph()
    assert "asktell.client._models" in graph["asktell.client._client"]
    assert "asktell.client.cli_options" in graph["asktell.worker.cli"]
    assert "asktell.server.app" in graph["asktell.server.cli"]  # imported inside a function


def _loaded_after(code: str) -> dict[str, list[str]]:
    """Runs `code` in a fresh interpreter; the asktell and heavy modules it loaded."""
    probe = (
        f"{code}\n"
        "import json, sys\n"
        "names = sorted(sys.modules)\n"
        f"heavy = [n for n in names if n.split('.')[0] in {HEAVY!r}]\n"
        "parts = [n for n in names if n.startswith(('asktell.server', 'asktell.worker'))]\n"
        "print(json.dumps({'heavy': heavy, 'parts': parts}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True
    )
    loaded: dict[str, list[str]] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_the_client_and_its_commands_load_neither_the_server_nor_the_worker() -> None:
    # Here every extra is installed, so nothing is left out for lack of it.
    loaded = _loaded_after(
        "import asktell.client, asktell.client.cli_options\n"
        "from asktell.client._cli import main\n"
        "for args in (['study', '--help'], ['study', 'list', '--help'],\n"
        "             ['study', 'best', '--help']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0, (args, exit.code)\n"
    )
    assert loaded == {"heavy": [], "parts": []}


def test_asktell_help_lists_every_part_without_loading_their_dependencies() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "asktell.client._cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("study", "serve", "worker", "demo", "dashboard"):
        assert f"  {command} " in result.stdout, result.stdout
    assert "Not installed" not in result.stdout
    loaded = _loaded_after(
        "from asktell.client._cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
    )
    assert loaded["heavy"] == []
    assert "asktell.server.cli" in loaded["parts"] and "asktell.server.app" not in loaded["parts"]


def test_the_entry_points_name_real_commands_and_real_extras() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = project["entry-points"]["asktell.commands"]
    installed = {p.name: p for p in entry_points(group="asktell.commands")}
    assert {n: p.value for n, p in installed.items()} == declared, (
        "the installed entry points are stale: reinstall (make's stamp does it)"
    )
    assert set(declared) == {"serve", "worker", "demo", "dashboard"}
    for name, point in installed.items():
        command = point.load()
        assert isinstance(command, click.Command) and command.name == name
        if name != "dashboard":  # the dashboard needs nothing beyond the client
            assert point.extras and set(point.extras) <= set(project["optional-dependencies"])
    assert installed["dashboard"].extras == []
    assert installed["serve"].extras == ["server"]
    assert installed["worker"].extras == ["worker"]
    assert sorted(installed["demo"].extras) == ["server", "worker"]


def test_the_client_needs_only_grpc_protobuf_click_and_yaml() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {d.split("=")[0].split(">")[0].split("<")[0].lower() for d in project["dependencies"]}
    assert names == {"grpcio", "protobuf", "click", "pyyaml"}
    assert any(d.startswith("torch==2.13.0") for d in project["optional-dependencies"]["worker"])


def test_missing_extras_reads_the_distributions_metadata(tmp_path: Path) -> None:
    info = tmp_path / "example-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: example\nVersion: 1.0\n"
        "Requires-Dist: click>=8\n"
        'Requires-Dist: click>=8; extra == "here"\n'
        'Requires-Dist: no-such-distribution-3f9a[x]>=1; extra == "gone"\n'
        "Requires-Dist: no-such-distribution-3f9a; extra == 'gone-too'\n"
    )
    distribution = PathDistribution(info)
    assert missing_extras(["here", "gone", "gone-too", "empty"], distribution) == [
        "gone",
        "gone-too",
    ]
    assert missing_extras(["server", "worker", "plot"]) == []  # this checkout has them all


def test_install_hints_are_one_pip_line() -> None:
    assert install_hint("asktell serve", ["server"]) == (
        "asktell serve needs the server extra: pip install 'asktell[server]'"
    )
    assert install_hint("asktell demo", ["server", "worker"]) == (
        "asktell demo needs the server and worker extras: pip install 'asktell[server,worker]'"
    )


def test_the_dashboard_loads_neither_the_server_nor_the_heavy_libraries() -> None:
    loaded = _loaded_after("import asktell.dashboard.app, asktell.dashboard.cli\n")
    assert loaded == {"heavy": [], "parts": []}


def test_the_dashboard_ships_its_assets() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = project["package-data"]["asktell.dashboard"]
    static = REPO / "dashboard" / "static"
    for asset in static.rglob("*"):
        if asset.is_file():
            relative = asset.relative_to(REPO / "dashboard")
            assert any(relative.match(p) for p in patterns), relative
    assert (static / "vendor" / "echarts.LICENSE").read_text().lstrip().startswith("Apache License")
