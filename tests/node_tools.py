"""Node.js tools for the tests: node, npm and the packages of examples/node.

The packages (the gRPC client libraries and `@bufbuild/buf`) are pinned in
examples/node/package-lock.json and installed with `npm ci` the first time a test
needs them. Without node or npm a test is skipped on a developer's machine, and
fails in CI (tests/ci.py): there, a skipped check would hide a broken contract or
client.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest

from tests import ci

REPO = Path(__file__).resolve().parent.parent
NODE_DIR = REPO / "examples" / "node"
NODE_MODULES = NODE_DIR / "node_modules"


def missing(what: str) -> NoReturn:
    """Skips the calling test, or fails it in CI."""
    ci.missing(what, "install Node.js 18+ with npm to run this test")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(f"`{name}` is not on PATH")
    return path


def _installed() -> bool:
    marker = NODE_MODULES / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    return marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime


@functools.cache
def _npm_ci() -> str:
    """Runs `npm ci` once per session unless node_modules matches the lock file.

    A lock file outside the tree keeps two test runs in one checkout from
    installing at the same time.
    """
    key = hashlib.sha256(str(NODE_DIR).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"asktell-npm-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed():
            return ""
        result = subprocess.run(
            [tool("npm"), "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
    if result.returncode != 0:
        return f"npm ci failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return ""


def node_modules() -> Path:
    """examples/node/node_modules, installed from the lock file if it is not there yet."""
    tool("node")
    tool("npm")
    error = _npm_ci()
    if error:
        pytest.fail(error)
    return NODE_MODULES


def buf() -> str:
    """The buf binary from the `@bufbuild/buf` npm package."""
    path = node_modules() / ".bin" / "buf"
    assert path.exists(), f"{path} missing after npm ci"
    return str(path)
