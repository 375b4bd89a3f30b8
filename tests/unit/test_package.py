"""The generated stubs are current, the public client surface is stable."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import asktell.client

REPO = Path(__file__).resolve().parents[2]


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
