"""The Dockerfile: hadolint-clean, pinned, non-root, and its install steps really work.

No image can be built here (no engine), so the slow tests replay each target's steps: the
builder's `pip wheel`, then each final stage's `python -m venv` and `pip install` line
as written (with /wheels pointing at the wheel just built, the stages' ENV, and a
virtualenv seeded with this environment's copies of the dependencies, as a build cache's
layer would, and kept while they stay the same: `install`, `seed_dependencies`),
then start the server image's server and ask and tell through it, and run a trial with
the worker image's worker.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
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


def stage_env(target: str) -> dict[str, str]:
    """The ENV of a final stage and the stages below it, but PATH (`_run` sets it) and
    PYTHONDONTWRITEBYTECODE: the image's pip compiled every module at build, the replay's
    does not (`install`), and its programs write the .pyc files of what they import into
    the kept virtualenv instead of compiling torch's modules again at every start."""
    variables: dict[str, str] = {}
    for stage in reversed(base_chain(STAGES[target])):
        for line in stage.all("ENV"):
            for pair in line.split():
                name, _, value = pair.partition("=")
                if name not in ("PATH", "PYTHONDONTWRITEBYTECODE"):
                    variables[name] = value
    return variables


def _environ() -> dict[str, str]:
    """This process's environment without PYTHONDONTWRITEBYTECODE (`stage_env` says why)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(
    command: str, bin_dir: Path, cwd: Path, wheels: Path, log: Path, env: dict[str, str]
) -> subprocess.Popen[str]:
    """A Dockerfile RUN line in bash, with `bin_dir` first on PATH as in the image."""
    command = command.replace("/wheels", str(wheels))
    with log.open("w") as out:
        return subprocess.Popen(
            ["bash", "-c", f"set -eu; {command}"],
            cwd=cwd,
            env={**_environ(), **env, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _finish(process: subprocess.Popen[str], log: Path) -> None:
    process.wait(timeout=300)
    assert process.returncode == 0, f"{log.stem} failed:\n{log.read_text()[-4000:]}"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The builder stage's wheel folder, built once per run: under `make test` the two
    image replays run in two processes, and the first to get here builds it for both."""
    shared = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        shared = shared.parent  # this run's folder, above each xdist process's own
    folder = shared / "wheels"
    with (shared / "builder.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not folder.is_dir():  # moved there once built: a failed build leaves nothing
            build_wheel(tmp_path_factory.mktemp("builder")).rename(folder)
    return folder


def build_wheel(tmp_path: Path) -> Path:
    """The builder stage: the sources its COPY lines take, then its RUN line (`pip wheel`),
    with this interpreter's pip as the python image's own; the folder of the wheel."""
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
    folder = tmp_path / "wheels"
    (builder_run,) = STAGES["builder"].all("RUN")
    log = tmp_path / "builder.log"
    bin_dir = Path(sys.executable).parent
    _finish(_run(builder_run, bin_dir, source, folder, log, stage_env("builder")), log)
    assert [w.name for w in folder.iterdir()] == ["asktell-0.1.0-py3-none-any.whl"]
    return folder


@pytest.fixture(scope="module")
def image_venvs(pytestconfig: pytest.Config) -> Path:
    """Where the image replays keep their virtualenvs from one run to the next."""
    return pytestconfig.cache.mkdir("image-virtualenvs")


def dependencies_key(target: str) -> str:
    """What decides a final stage's dependencies: its `pip install` line, the project's
    declared requirements (pyproject.toml's dependencies and extras, the wheel's
    Requires-Dist) and the Python."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = json.dumps(
        [project["dependencies"], project["optional-dependencies"]], sort_keys=True
    )
    text = "\n".join([pip_install(target), sys.version, declared])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def install(target: str, build: Callable[[], Path], image_venvs: Path, tmp_path: Path) -> Path:
    """A final stage's steps: the runtime's `python -m venv`, then its `pip install` line
    as written (with /wheels the builder's output) and `--no-compile`; the virtualenv.

    The virtualenv is kept (pytest's cache folder) under a key of what decides its
    dependencies (`dependencies_key`). With the same key, the next run uninstalls asktell
    from it and runs the same line again: pip installs the new wheel and finds every
    dependency it declares already there, as a fresh install of the same key put them.
    A changed requirement, extra, install line or Python makes a new key and a fresh
    virtualenv; the previous one is removed. `--no-compile` skips pip's byte-compiling,
    which cannot fail an install (pip installs a module that does not compile all the
    same) and was two thirds of a fresh install's CPU (worker: 65 s, 21 s without).
    A fresh virtualenv is made while `build` gives the builder's wheel folder (it builds
    it, or waits for the other image's process to), as the two stages run in a build.
    """
    key = dependencies_key(target)
    venv = image_venvs / f"{target}-{key}"
    complete = venv / "installed"  # written once the fresh install succeeded
    python = venv / "bin" / "python"
    seeded: list[str] = []
    if complete.exists():
        subprocess.run([python, "-m", "pip", "uninstall", "-q", "-y", "asktell"], check=True)
        wheels = build()
    else:
        for previous in image_venvs.glob(f"{target}-*"):
            shutil.rmtree(previous)
        making = subprocess.Popen([sys.executable, "-m", "venv", str(venv)])
        wheels = build()
        assert making.wait(timeout=300) == 0, f"python -m venv {venv} failed"
        seeded = seed_dependencies(target, wheels, venv)
    log = tmp_path / f"{target}-install.log"
    command = f"{pip_install(target)} --no-compile"
    _finish(_run(command, venv / "bin", tmp_path, wheels, log, stage_env(target)), log)
    if target == "worker" and "torch" in seeded:  # pip took the seeded torch for the pin
        assert "Requirement already satisfied: torch==" in log.read_text(), log.read_text()
    complete.touch()
    # Each image carries its own part's dependencies and not the other's.
    absent = {"server": "torch", "worker": "psycopg"}[target]
    found = subprocess.run([str(python), "-c", f"import {absent}"])
    assert found.returncode != 0, f"the {target} image must not carry {absent}"
    shown = subprocess.run([str(python), "-m", "pip", "show", "asktell"], capture_output=True)
    assert f"Location: {venv}".encode() in shown.stdout, shown  # the wheel, not the tree
    return venv


def seed_dependencies(target: str, wheels: Path, venv: Path) -> list[str]:
    """Puts into a fresh virtualenv the distributions a final stage's install needs that
    this environment already holds at a version the requirement admits (hard links, a
    copy across file systems), as an image build's cache of the dependency layer would;
    the names seeded, sorted.

    The needs are the wheel's requirements for the stage's extra and those on its
    `pip install` line (the worker's torch pin), with their own requirements. This
    environment was installed from the same registry with the same requirements moments
    before (`make test`), so unpacking the same wheels again (torch's 750 MB, SciPy,
    scikit-learn) tested pip rather than asktell, and was nine tenths of a fresh
    replay's time (40 s of 45 for the worker). pip still resolves the line as written
    against what is there, installs the wheel and anything missing, and each image
    still lacks the other's part (`install`).
    """
    from packaging.requirements import Requirement

    (wheel,) = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    wanted = [
        Requirement(line.split(":", 1)[1].strip())
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    # Each final stage installs the extra of its name.
    wanted = [r for r in wanted if r.marker is None or r.marker.evaluate({"extra": target})]
    pinned = re.findall(r'"([A-Za-z][\w.-]*==[^"]+)"', pip_install(target))  # the torch pin
    wanted += [Requirement(r) for r in pinned]
    (site,) = (venv / "lib").glob("python*/site-packages")
    seeded: set[str] = set()
    while wanted:
        requirement = wanted.pop()
        try:
            found = importlib.metadata.distribution(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            continue  # pip installs it
        name = found.metadata["Name"].lower()
        version = found.version.split("+")[0]  # torch's "+cpu" local label
        if name in seeded or not requirement.specifier.contains(version, prereleases=True):
            continue
        seeded.add(name)
        for file in found.files or []:
            source, destination = Path(str(found.locate_file(file))), site / file
            if file.parts[0] == ".." or not source.is_file():
                continue  # console scripts outside site-packages; a .pyc listed but gone
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, destination)
            except OSError:
                shutil.copy2(source, destination)
        for line in found.requires or []:
            nested = Requirement(line)
            if nested.marker is None or nested.marker.evaluate({"extra": ""}):
                wanted.append(nested)
    return sorted(seeded)


@pytest.fixture(scope="class")
def image_venv(
    request: pytest.FixtureRequest, image_venvs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The final stage its test class names (`target`) installed (`install`), once."""
    target: str = request.cls.target
    build = functools.partial(request.getfixturevalue, "wheels")
    return install(target, build, image_venvs, tmp_path_factory.mktemp(f"{target}-image"))


# The two images in two classes: `make test` (--dist loadscope) replays them in two
# processes at once, with the one wheel the first of them built.
class TestServerImage:
    target = "server"

    @pytest.mark.slow
    @pytest.mark.timeout(600)  # the install about 10 s on an idle 2-core machine, then this
    def test_installs_and_serves_ask_and_tell(self, image_venv: Path, tmp_path: Path) -> None:
        venv = image_venv
        # The server, as its ENTRYPOINT starts it, on a loopback port and a temporary store.
        server_env = {
            **{k: v for k, v in _environ().items() if not k.startswith("ASKTELL_")},
            **stage_env("server"),
            "ASKTELL_HOST": "127.0.0.1",
            "ASKTELL_PORT": "0",
            "ASKTELL_DB": f"sqlite:///{tmp_path / 'asktell.db'}",
        }
        program, *args = FINAL_TARGETS["server"]
        server = subprocess.Popen(
            [str(venv / "bin" / program), *args],
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
                _check(address, "asktell.v1.AsktellService")
                == health_pb2.HealthCheckResponse.SERVING
            )
            from asktell.client import Client

            with Client(address) as client:
                study = client.create_study(IMAGE_SPEC)
                trial = study.ask()
                assert trial is not None
                trial.tell(0.5)
                assert [(t.state, t.value) for t in study.trials()] == [("COMPLETE", 0.5)]
        finally:
            server.terminate()
            server.wait(timeout=30)


class TestWorkerImage:
    target = "worker"

    @pytest.mark.slow
    @pytest.mark.timeout(600)  # the install about 10 s on an idle 2-core machine, then this
    def test_installs_and_runs_a_trial(self, image_venv: Path, tmp_path: Path) -> None:
        venv = image_venv
        worker = [str(venv / "bin" / "asktell"), "worker"]
        shown = subprocess.run([*worker, "--help"], capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and "--study" in shown.stdout, shown.stderr

        from asktell.client import Client
        from asktell.server.app import create_server
        from asktell.server.storage import open_store

        store = open_store(f"sqlite:///{tmp_path / 'asktell.db'}")
        grpc_server, port = create_server(store, "127.0.0.1:0")
        grpc_server.start()
        address = f"127.0.0.1:{port}"
        try:
            with Client(address) as client:
                study = client.create_study(IMAGE_SPEC)
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
                    env={**_environ(), **stage_env("worker"), "OMP_NUM_THREADS": "1"},
                    cwd=tmp_path,
                )
                assert ran.returncode == 0, ran.stdout + ran.stderr
                trials = study.trials()
        finally:
            grpc_server.stop(None)
            store.close()
        assert [t.state for t in trials] == ["COMPLETE"], (ran.stderr, time.monotonic() - started)
        assert trials[0].value is not None and 0.0 <= trials[0].value <= 1.0


IMAGE_SPEC = {
    "name": "image-check",
    "objective": {"metric": "val_accuracy", "goal": "maximize"},
    "algorithm": {"name": "random", "seed": 3},
    "max_trials": 1,
    "parameters": {
        "lr": {"type": "float", "min": 1e-3, "max": 1e-2, "scale": "log"},
        "epochs": {"type": "discrete", "values": [1]},
    },
}


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
