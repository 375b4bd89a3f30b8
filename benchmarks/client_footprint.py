"""Client footprint: what `pip install asktell` (no extras) costs a training job.

    python benchmarks/client_footprint.py              # about a minute
    python benchmarks/client_footprint.py --runs 15 --no-server

Builds the package from a copy of this checkout's sources, then for each
install (`asktell` alone, and `asktell[server]` for comparison) makes a fresh
virtualenv with `python -m venv`, runs `pip install` there, and measures:

- size: every file under the virtualenv, and the part over an empty virtualenv
  (pip and setuptools come with any virtualenv);
- `python -c "import asktell.client"`: the whole process's wall time, and the
  import alone as `-X importtime` reports it (cumulative, asktell.client);
  median of --runs runs after one warm-up, next to `python -c pass`.

Goals: under 60 MB and under 0.3 s for the client-only virtualenv.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "MANIFEST.in", "README.md", "scripts", "proto")
SOURCES += ("server", "client", "worker")
MB = 1e6
HEAVY = ("numpy", "scipy", "sklearn", "psycopg", "torch", "prometheus_client", "matplotlib")


def tree_bytes(root: Path) -> int:
    """Bytes of every file under `root` (links not followed)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            total += os.lstat(os.path.join(folder, name)).st_size
    return total


def copy_sources(destination: Path) -> Path:
    """The files the package is built from (as the Dockerfile's builder copies them)."""
    destination.mkdir(parents=True)
    for name in SOURCES:
        if (REPO / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(REPO / name, destination / name, ignore=ignore)
        else:
            shutil.copy2(REPO / name, destination / name)
    return destination


def make_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path / "bin" / "python"


def wall_seconds(python: Path, code: str) -> float:
    started = time.perf_counter()
    subprocess.run([str(python), "-c", code], check=True, capture_output=True)
    return time.perf_counter() - started


def import_seconds(python: Path, module: str) -> float:
    """Cumulative import time of `module` from `-X importtime`."""
    result = subprocess.run(
        [str(python), "-X", "importtime", "-c", f"import {module}"],
        check=True,
        capture_output=True,
        text=True,
    )
    for line in result.stderr.splitlines():
        _, _, rest = line.partition(":")
        fields = [f.strip() for f in rest.split("|")]
        if len(fields) == 3 and fields[2] == module:
            return int(fields[1]) / 1e6
    raise RuntimeError(f"-X importtime printed no line for {module}")


def median_of(runs: int, measure: Callable[[], float]) -> float:
    measure()  # warm-up: the first run fills the page cache and writes .pyc files
    return statistics.median(measure() for _ in range(runs))


def measure(label: str, source: Path, extras: str, base: int, runs: int, tmp: Path) -> list[str]:
    python = make_venv(tmp / label)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "-q", f"{source}{extras}"], check=True)
    size = tree_bytes(tmp / label)
    found = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util as u; "
            f"print(' '.join(m for m in {HEAVY!r} if u.find_spec(m)) or '-')",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    process = median_of(runs, lambda: wall_seconds(python, "import asktell.client"))
    alone = median_of(runs, lambda: import_seconds(python, "asktell.client"))
    bare = median_of(runs, lambda: wall_seconds(python, "pass"))
    return [
        f"`pip install asktell{extras}`",
        f"{size / MB:.1f}",
        f"{(size - base) / MB:.1f}",
        f"{process:.3f}",
        f"{alone:.3f}",
        f"{bare:.3f}",
        found,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs per number (median)")
    parser.add_argument(
        "--no-server", action="store_true", help="skip the asktell[server] comparison"
    )
    args = parser.parse_args()
    print(f"date: {time.strftime('%a %b %d %H:%M UTC %Y', time.gmtime())}")
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="asktell-footprint-") as name:
        tmp = Path(name)
        source = copy_sources(tmp / "src")
        make_venv(tmp / "empty")
        base = tree_bytes(tmp / "empty")
        rows = [measure("client", source, "", base, args.runs, tmp)]
        if not args.no_server:
            rows.append(measure("server", source, "[server]", base, args.runs, tmp))
    print(f"empty virtualenv (pip, setuptools): {base / MB:.1f} MB")
    print()
    header = [
        "install",
        "venv MB",
        "over empty venv MB",
        "`python -c 'import asktell.client'` s",
        "import alone s",
        "`python -c pass` s",
        "heavy modules importable",
    ]
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join("---" for _ in header) + " |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
