"""The Dockerfile: hadolint-clean, pinned, non-root, and its install steps really work.

No image can be built here (no engine), so the slow test replays each target's steps in
fresh virtualenvs: the builder's `pip wheel`, then each final stage's `pip install` line
exactly as written (with /wheels pointing at the wheel just built), then starts the
server and a worker from those virtualenvs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.kube import REPO, tool

DOCKERFILE = REPO / "Dockerfile"
FINAL_TARGETS = {"server": ["asktell", "serve"], "worker": ["asktell", "worker"]}


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for k, args in self.instructions if k == keyword]


def parse(text: str) -> dict[str, Stage]:
    """Stages by name, each with its (KEYWORD, arguments) instructions in order."""
    joined = re.sub(r"\\\n", " ", text)
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+) AS (\S+)", args.strip(), re.I)
            assert match, f"name every stage: FROM {args}"
            current = stages[match.group(2)] = Stage(match.group(2), match.group(1))
        else:
            assert current is not None, line
            current.instructions.append((keyword, " ".join(args.split())))
    return stages


STAGES = parse(DOCKERFILE.read_text())


def base_chain(stage: Stage) -> list[Stage]:
    """The stage and the stages it is built FROM, nearest first."""
    chain = [stage]
    while chain[-1].base in STAGES:
        chain.append(STAGES[chain[-1].base])
    return chain


def pip_install(target: str) -> str:
    """The one `pip install` command of a final stage (after any --mount flags)."""
    runs = [r for r in STAGES[target].all("RUN") if "pip install" in r]
    assert len(runs) == 1, f"{target}: keep one pip install line"
    return re.sub(r"^(--mount=\S+ )+", "", runs[0])


def test_hadolint_is_clean() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_images_are_pinned_to_exact_versions() -> None:
    for stage in STAGES.values():
        if stage.base in STAGES:
            continue
        _, _, tag = stage.base.partition(":")
        assert tag and tag != "latest", f"{stage.name}: {stage.base} has no version tag"
        assert re.fullmatch(r"\d+\.\d+\.\d+[-\w.]*", tag), f"{stage.base}: pin the patch version"


def test_final_stages_run_as_a_numeric_non_root_user() -> None:
    for target, entrypoint in FINAL_TARGETS.items():
        users = STAGES[target].all("USER")
        assert users, f"{target}: no USER"
        user = users[-1].split(":")[0]
        assert user.isdigit() and int(user) != 0, f"{target}: USER {users[-1]}"
        assert json.loads(STAGES[target].all("ENTRYPOINT")[-1]) == entrypoint


def test_each_image_installs_its_own_extra_and_only_the_worker_gets_torch() -> None:
    server, worker = pip_install("server"), pip_install("worker")
    assert "--no-cache-dir" in server and "--no-cache-dir" in worker
    assert "[server]" in server and "torch" not in server
    assert "[worker]" in worker and '"torch==2.13.0"' in worker and "server" not in worker
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["optional-dependencies"]["worker"]
    assert not any(d.startswith("torch") for d in project["dependencies"])
    assert not any(d.startswith("torch") for d in project["optional-dependencies"]["server"])


def test_final_stages_carry_no_build_tools() -> None:
    for target in FINAL_TARGETS:
        for stage in base_chain(STAGES[target]):
            for run in stage.all("RUN"):
                assert not re.search(r"apt-get|apk |gcc|build-essential|pip wheel", run), run
            assert not stage.all("COPY") or stage.name == "builder", f"{stage.name} copies source"


def test_server_listens_on_all_interfaces() -> None:
    envs = " ".join(STAGES["server"].all("ENV"))
    assert "ASKTELL_HOST=0.0.0.0" in envs


def test_dockerignore_lets_the_builder_copy_its_sources() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for copy in STAGES["builder"].all("COPY"):
        for source in copy.split()[:-1]:
            assert source.rstrip("/") in allowed, f"{source} is ignored by .dockerignore"


def _run(command: str, venv: Path, cwd: Path, wheels: Path, log: Path) -> subprocess.Popen[str]:
    """A Dockerfile RUN line in bash, with the virtualenv first on PATH as in the image."""
    command = command.replace("/wheels", str(wheels))
    with log.open("w") as out:
        return subprocess.Popen(
            ["bash", "-c", f"set -eu; {command}"],
            cwd=cwd,
            env={**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"},
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _finish(process: subprocess.Popen[str], log: Path) -> None:
    process.wait(timeout=300)
    assert process.returncode == 0, f"{log.stem} failed:\n{log.read_text()[-4000:]}"


@pytest.mark.slow
@pytest.mark.timeout(900)  # about 90 s on an idle 2-core machine; pip is slow under load
def test_the_images_install_steps_start_a_server_and_a_worker(tmp_path: Path) -> None:
    # builder: the sources its COPY lines take, then its RUN line.
    source = tmp_path / "src"
    for copy in STAGES["builder"].all("COPY"):
        *sources, destination = copy.split()
        for item in sources:
            target = source / destination / Path(item).name
            if (REPO / item).is_dir():
                shutil.copytree(
                    REPO / item, source / item, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / item, target)
    wheels = tmp_path / "wheels"
    venvs = {name: tmp_path / name for name in ("builder", *FINAL_TARGETS)}
    for venv in venvs.values():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (builder_run,) = STAGES["builder"].all("RUN")
    log = tmp_path / "builder.log"
    _finish(_run(builder_run, venvs["builder"], source, wheels, log), log)
    assert [w.name for w in wheels.iterdir()] == ["asktell-0.1.0-py3-none-any.whl"]

    logs = {t: tmp_path / f"{t}-install.log" for t in FINAL_TARGETS}
    installs = {t: _run(pip_install(t), venvs[t], tmp_path, wheels, logs[t]) for t in FINAL_TARGETS}
    for target, process in installs.items():
        _finish(process, logs[target])
    # Each image carries its own part's dependencies and not the other's.
    for target, absent in (("server", "torch"), ("worker", "psycopg")):
        python = venvs[target] / "bin" / "python"
        found = subprocess.run([str(python), "-c", f"import {absent}"], capture_output=True)
        assert found.returncode != 0, f"the {target} image must not carry {absent}"

    # The server, as its ENTRYPOINT starts it, on a loopback port and a temporary store.
    server_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ASKTELL_")},
        "ASKTELL_HOST": "127.0.0.1",
        "ASKTELL_PORT": "0",
        "ASKTELL_DB": f"sqlite:///{tmp_path / 'asktell.db'}",
        "PYTHONUNBUFFERED": "1",
    }
    server = subprocess.Popen(
        [str(venvs["server"] / "bin" / FINAL_TARGETS["server"][0]), *FINAL_TARGETS["server"][1:]],
        env=server_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        match = re.search(r"serving on (\S+:\d+)", line)
        if match is None:
            rest = server.stdout.read()  # it exited: the rest of its traceback
            pytest.fail(f"the server did not start: {line}{rest}")
        address = match.group(1)
        from grpc_health.v1 import health_pb2

        from tests.deploy.test_probes import _check

        assert (
            _check(address, "asktell.v1.AsktellService") == health_pb2.HealthCheckResponse.SERVING
        )

        worker = [str(venvs["worker"] / "bin" / "asktell"), "worker"]
        shown = subprocess.run([*worker, "--help"], capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and "--study" in shown.stdout, shown.stderr

        from asktell.client import Client

        spec = {
            "name": "image-check",
            "objective": {"metric": "val_accuracy", "goal": "maximize"},
            "algorithm": {"name": "random", "seed": 3},
            "max_trials": 1,
            "parameters": {
                "lr": {"type": "float", "min": 1e-3, "max": 1e-2, "scale": "log"},
                "epochs": {"type": "discrete", "values": [1]},
            },
        }
        with Client(address) as client:
            study = client.create_study(spec)
            started = time.monotonic()
            ran = subprocess.run(
                [
                    *worker,
                    *("--server", address, "--study", "image-check", "--task", "digits-mlp"),
                    *("--device", "cpu", "--max-trials", "1"),
                ],
                capture_output=True,
                text=True,
                timeout=180,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
                cwd=tmp_path,
            )
            assert ran.returncode == 0, ran.stdout + ran.stderr
            trials = study.trials()
        assert [t.state for t in trials] == ["COMPLETE"], (ran.stderr, time.monotonic() - started)
        assert trials[0].value is not None and 0.0 <= trials[0].value <= 1.0
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_wheel_lists_every_subpackage() -> None:
    """The images install a built wheel, not an editable tree: a package left out of
    pyproject.toml imports in development and fails in the image."""
    import tomllib

    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {folder: name for name, folder in setuptools["package-dir"].items()}
    found = set()
    for folder, name in folders.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder)
            if "__pycache__" not in relative.parts:
                found.add(".".join((name, *relative.parts)))
    assert found == set(setuptools["packages"])
