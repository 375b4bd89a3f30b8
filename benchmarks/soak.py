"""A bounded soak: many client processes ask and tell for minutes against one server process.

The server runs `asktell serve` on an embedded SQLite file on a loopback port.
N client processes (16 by default) loop Ask -> Tell until the time is up; each
appends every acknowledged Tell (trial number, value, time) to its own log.
Meanwhile the server's resident memory (VmRSS from /proc) is sampled every
few seconds. At the end the table shows, per window (30 s by default), the
ask+tell pairs per second and the server's memory, and the acknowledged log is
compared with the store: every acknowledged Tell must be there, COMPLETE with
its value, and the trial numbers dense.

    python benchmarks/soak.py                 # 10 minutes, 16 clients
    python benchmarks/soak.py --minutes 1     # a short run
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = {
    "name": "soak",
    "objective": {"metric": "loss", "goal": "minimize"},
    "algorithm": {"name": "random", "seed": 0},
    "parameters": {
        "x": {"type": "float", "min": -5.0, "max": 5.0},
        "n": {"type": "int", "min": 1, "max": 100},
        "c": {"type": "categorical", "values": ["a", "b", "c"]},
    },
}


def start_server(db: Path, log: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asktell.client._cli",
            "serve",
            "--db",
            f"sqlite:///{db}",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    match = re.search(r"serving on (\S+:\d+)", process.stdout.readline())
    assert match, f"server did not start; see {log}"
    return process, match.group(1)


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def client_loop(address: str, deadline: float, log_path: str, worker: int) -> None:
    """Ask -> Tell until the deadline; one line per acknowledged Tell."""
    from asktell.client import AsktellError, Client

    with Client(address, timeout=30, retry_seconds=30) as client, open(log_path, "w") as log:
        study = client.get_study("soak")
        while time.time() < deadline:
            try:
                trial = study.ask(worker_id=f"soak-{worker}")
                if trial is None:
                    return
                value = float(trial.params["x"]) ** 2 + int(trial.params["n"])  # type: ignore[arg-type]
                trial.tell(value)
            except AsktellError as exc:
                print(f"client {worker}: {exc}", file=sys.stderr)
                continue
            log.write(f"{trial.number} {value!r} {time.time():.3f}\n")
            log.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--window", type=float, default=30.0, help="seconds per table row")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    from asktell.client import Client

    workdir = Path(tempfile.mkdtemp(prefix="asktell-soak-"))
    db = workdir / "soak.db"
    server, address = start_server(db, workdir / "server.log")
    try:
        with Client(address) as client:
            client.create_study(SPEC)
        started = time.time()
        deadline = started + args.minutes * 60
        logs = [workdir / f"client-{i}.log" for i in range(args.clients)]
        context = mp.get_context("spawn")
        clients = [
            context.Process(target=client_loop, args=(address, deadline, str(log), i))
            for i, log in enumerate(logs)
        ]
        for process in clients:
            process.start()
        memory: list[tuple[float, float]] = []
        while any(p.is_alive() for p in clients) and time.time() < deadline + 120:
            memory.append((time.time() - started, rss_mib(server.pid)))
            time.sleep(5)
        for process in clients:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        memory.append((time.time() - started, rss_mib(server.pid)))
    finally:
        server.terminate()
        server.wait(timeout=60)

    acknowledged: dict[int, float] = {}
    times: list[float] = []
    for log in logs:
        for line in log.read_text().splitlines():
            number, value, at = line.split()
            acknowledged[int(number)] = float(value)
            times.append(float(at) - started)
    connection = sqlite3.connect(db)
    rows = connection.execute(
        "SELECT number, state, value FROM trials WHERE study = 'soak' ORDER BY number"
    ).fetchall()
    connection.close()
    stored = {number: (state, value) for number, state, value in rows}
    lost = [n for n, v in acknowledged.items() if stored.get(n) != ("COMPLETE", v)]
    dense = [r[0] for r in rows] == list(range(1, len(rows) + 1))

    windows = max(1, int(-(-args.minutes * 60 // args.window)))
    table = []
    print(f"soak: {args.clients} client processes, {args.minutes:g} min, SQLite, {address}")
    print(f"{'window':>13} | {'pairs/s':>8} | {'server RSS MiB (min-max)':>24}")
    print(f"{'-' * 13}-+-{'-' * 8}-+-{'-' * 24}")
    for w in range(windows):
        lo, hi = w * args.window, (w + 1) * args.window
        pairs = sum(1 for t in times if lo <= t < hi)
        rss = [m for t, m in memory if lo <= t < hi] or [memory[-1][1]]
        row = {
            "from_s": lo,
            "to_s": hi,
            "pairs_per_s": pairs / args.window,
            "rss_min_mib": min(rss),
            "rss_max_mib": max(rss),
        }
        table.append(row)
        print(
            f"{lo:5.0f}-{hi:5.0f} s | {row['pairs_per_s']:8.1f} | "
            f"{row['rss_min_mib']:10.1f} - {row['rss_max_mib']:10.1f}"
        )
    summary = {
        "clients": args.clients,
        "minutes": args.minutes,
        "acknowledged_tells": len(acknowledged),
        "stored_trials": len(rows),
        "lost_tells": len(lost),
        "numbers_dense": dense,
        "rss_first_mib": memory[0][1],
        "rss_last_mib": memory[-1][1],
        "rss_max_mib": max(m for _, m in memory),
        "windows": table,
    }
    print(
        f"acknowledged tells {len(acknowledged)}, trials stored {len(rows)}, "
        f"lost tells {len(lost)}, numbers dense: {dense}; server RSS "
        f"{memory[0][1]:.1f} MiB at start, {memory[-1][1]:.1f} MiB at the end, "
        f"{summary['rss_max_mib']:.1f} MiB at most"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2))
    if lost or not dense:
        sys.exit(f"LOST acknowledged tells: {lost[:20]}; numbers dense: {dense}")


if __name__ == "__main__":
    main()
