"""Rendering the kustomizations offline and reading the objects they make."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests import ci

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUSTOMIZATIONS = {
    "base": DEPLOY / "base",
    "dev": DEPLOY / "overlays" / "dev",
    "production": DEPLOY / "overlays" / "production",
    "retraining": DEPLOY / "examples" / "retraining",
}
Obj = dict[str, Any]


def tool(name: str) -> str:
    """A command-line tool from this virtualenv (the dev extra installs it), else from PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        ci.missing(f"`{name}` is not installed", "pip install -e '.[dev]'")
    return str(found)


SECRETS = DEPLOY / "overlays" / "production" / "secrets"
SECRET_FILES = ("db.env", "postgres.env", "tokens.yaml", "client-tokens.env")


def copy_deploy(directory: Path) -> Path:
    """A copy of deploy/ in `directory` without any secret file a checkout may hold
    (only what the repository has: README, generate.sh, the examples); returns its root."""
    root = directory / "deploy"
    shutil.copytree(DEPLOY, root)
    for name in SECRET_FILES:
        (root / SECRETS.relative_to(DEPLOY) / name).unlink(missing_ok=True)
    return root


def kustomize(path: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("kubectl"), "kustomize", str(path)], capture_output=True, text=True, timeout=60
    )


@functools.cache
def _production_with_secrets() -> Path:
    """The production overlay in a copy of deploy/, with its secret files written by
    secrets/generate.sh as docs/deployment.md says (removed when the tests end)."""
    import atexit
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="asktell-deploy-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    root = copy_deploy(directory)
    secrets = root / SECRETS.relative_to(DEPLOY)
    subprocess.run(["sh", str(secrets / "generate.sh")], check=True, capture_output=True)
    return secrets.parent


@functools.cache
def _render(path: str) -> tuple[Obj, ...]:
    result = kustomize(path)
    assert result.returncode == 0, f"kubectl kustomize {path}: {result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def render(name: str) -> list[Obj]:
    """The objects `kubectl kustomize` makes of one kustomization (a fresh copy); the
    production overlay with freshly generated secret files."""
    import copy

    path = _production_with_secrets() if name == "production" else KUSTOMIZATIONS[name]
    return copy.deepcopy(list(_render(str(path))))


def find(objects: list[Obj], kind: str, name: str) -> Obj:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def pod_spec(obj: Obj) -> Obj:
    """The pod template's spec of a Deployment, StatefulSet or Job."""
    return dict(obj["spec"]["template"]["spec"])


def container(obj: Obj, name: str) -> Obj:
    matches = [c for c in pod_spec(obj)["containers"] if c["name"] == name]
    assert len(matches) == 1, f"container {name} in {obj['metadata']['name']}"
    return dict(matches[0])


def env(container_spec: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container_spec.get("env", [])}


def port(container_spec: Obj, name: str) -> int:
    ports = {p["name"]: p["containerPort"] for p in container_spec.get("ports", [])}
    assert name in ports, f"no port named {name} in {container_spec['name']}"
    return int(ports[name])


def arg(args: list[str], option: str) -> str:
    """The value following `option` in a container's args."""
    assert option in args, f"{option} not in {args}"
    return args[args.index(option) + 1]
