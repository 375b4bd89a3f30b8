"""Ask+tell pairs per second over gRPC: asktell vs Optuna's gRPC storage proxy vs a no-op call.

Each system runs in its own server process on a loopback port with a SQLite
file; N client processes (1, 4, 16) loop ask -> tell for a fixed time. The
no-op ceiling is two `grpc.health.v1` Check calls per pair on the asktell
server stack. Then asktell (and optionally Optuna) is measured again with
2,000 and 20,000 trials already in the study.

    python benchmarks/throughput.py            # full table (~3 minutes)
    python benchmarks/throughput.py --quick    # shorter runs
    python benchmarks/throughput.py --group-commit-ab --repeats 5 --server-cpus 0
        # no-op, group commit on and off in turn, 16 clients: medians and ratios

`--server-cpus` pins the server processes (`taskset -c`); the clients run
wherever the system puts them. "server ms/pair" is the server process's CPU
time (user + system) per ask+tell pair over the measured window.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

SPEC = {
    "name": "bench",
    "objective": {"metric": "loss", "goal": "minimize"},
    "algorithm": {"name": "random", "seed": 0},
    "parameters": {"x": {"type": "float", "min": -5.0, "max": 5.0}},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# CPUs to pin server processes to (`taskset -c`), set by --server-cpus.
SERVER_CPUS: str | None = None


def start_asktell(db: Path | str, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """`asktell serve` on a free port with a SQLite file (a Path) or a store URL."""
    url = f"sqlite:///{db}" if isinstance(db, Path) else db
    pin = ["taskset", "-c", SERVER_CPUS] if SERVER_CPUS else []
    process = subprocess.Popen(
        [
            *pin,
            *[sys.executable, "-m", "asktell.client._cli", "serve", "--db", url, "--port", "0"],
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    match = re.search(r"serving on (\S+:\d+)", process.stdout.readline())
    assert match, "asktell server did not start"
    return process, match.group(1)


def start_optuna_proxy(db: Path) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    code = (
        "import optuna, logging; optuna.logging.set_verbosity(optuna.logging.WARNING);"
        "from optuna.storages import run_grpc_proxy_server, RDBStorage;"
        f"run_grpc_proxy_server(RDBStorage('sqlite:///{db}'), host='127.0.0.1', port={port})"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL, text=True)
    _wait_for_port(port)
    return process, f"127.0.0.1:{port}"


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


# ---------------------------------------------------------------- client loops
def square_of_x(params: Mapping[str, Any]) -> float:
    """The objective of SPEC's study."""
    return float(params["x"]) ** 2


def asktell_loop(
    address: str,
    start: float,
    stop: float,
    study_id: str = "bench",
    objective: Callable[[Mapping[str, Any]], float] = square_of_x,
    timeout: float | None = None,
) -> int:
    """Ask -> tell on `study_id` from `start` until `stop`; returns the pairs done.

    `objective` must be a module-level function: client processes are spawned.
    """
    from asktell.client import Client

    options = {} if timeout is None else {"timeout": timeout}
    with Client(address, **options) as client:
        study = client.get_study(study_id)
        done = 0
        while time.time() < start:
            time.sleep(0.001)
        while time.time() < stop:
            trial = study.ask()
            assert trial is not None
            trial.tell(objective(trial.params))
            done += 1
    return done


def noop_loop(address: str, start: float, stop: float) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    channel = grpc.insecure_channel(address)
    stub = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest()
    done = 0
    while time.time() < start:
        time.sleep(0.001)
    while time.time() < stop:
        stub.Check(request)
        stub.Check(request)
        done += 1
    channel.close()
    return done


def optuna_loop(address: str, start: float, stop: float) -> int:
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    host, port = address.split(":")
    storage = optuna.storages.GrpcStorageProxy(host=host, port=int(port))
    study = optuna.load_study(study_name="bench", storage=storage)
    done = 0
    while time.time() < start:
        time.sleep(0.001)
    while time.time() < stop:
        trial = study.ask()
        study.tell(trial, trial.suggest_float("x", -5.0, 5.0) ** 2)
        done += 1
    return done


def measure(
    loop: Callable[..., int],
    address: str,
    clients: int,
    seconds: float,
    studies: list[str] | None = None,
) -> float:
    """Pairs per second with `clients` processes looping for `seconds`.

    With `studies`, client i works on studies[i % len(studies)]. The clock starts
    once every client process is up (on a busy machine spawning 16 takes long).
    """
    context = mp.get_context("spawn")
    with context.Manager() as manager, context.Pool(clients) as pool:
        barrier = manager.Barrier(clients)
        pool.map(_client_ready, [barrier] * clients, chunksize=1)  # one per process
        start = time.time() + 1.0
        args = [(address, start, start + seconds) for _ in range(clients)]
        if studies:
            args = [(*a, studies[i % len(studies)]) for i, a in enumerate(args)]
        counts = pool.starmap(loop, args)
    return sum(counts) / seconds


def _client_ready(barrier: Any) -> None:
    """Runs once in each client process: imports what the loops need, waits for the rest."""
    import grpc  # noqa: F401

    import asktell.client  # noqa: F401

    barrier.wait()


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_with_cpu(
    loop: Callable[..., int], address: str, clients: int, seconds: float, pid: int
) -> tuple[float, float]:
    """(pairs/s, server CPU ms per pair)."""
    before = server_cpu_seconds(pid)
    rate = measure(loop, address, clients, seconds)
    used = server_cpu_seconds(pid) - before
    return rate, 1000 * used / max(1.0, rate * seconds)


def group_commit_ab(clients: int, seconds: float, repeats: int, query: str = "") -> None:
    """No-op, asktell with group commit and without, in turn, `repeats` times.

    `query` is added to both stores' URLs (e.g. "synchronous=full").
    """
    from statistics import median

    from asktell.client import Client

    results: dict[str, list[tuple[float, float]]] = {"noop": [], "on": [], "off": []}
    with tempfile.TemporaryDirectory() as tmp:
        servers = {}
        try:
            for mode in ("on", "off"):
                url = f"sqlite:///{tmp}/asktell-{mode}.db?group_commit={mode}"
                url += f"&{query}" if query else ""
                servers[mode] = start_asktell(url)
                with Client(servers[mode][1]) as client:
                    client.create_study(SPEC)
            for _ in range(repeats):
                process, address = servers["on"]
                results["noop"].append(
                    measure_with_cpu(noop_loop, address, clients, seconds, process.pid)
                )
                for mode in ("on", "off"):
                    process, address = servers[mode]
                    results[mode].append(
                        measure_with_cpu(asktell_loop, address, clients, seconds, process.pid)
                    )
                cells = [f"{k} {v[-1][0]:.0f}/s {v[-1][1]:.2f} ms" for k, v in results.items()]
                print("  round: " + ", ".join(cells), flush=True)
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait()
    print(f"# {clients} clients, {seconds:.0f} s per cell, {repeats} rounds; {versions()}")
    if query:
        print(f"# SQLite URL options: {query}")
    print(f"{'system':<40} {'pairs/s (median)':>16} {'server ms/pair':>14} {'/ no-op':>8}")
    noop = median(r for r, _ in results["noop"])
    names = {
        "noop": "no-op gRPC (2 health checks)",
        "on": "asktell random, SQLite, group commit",
        "off": "asktell random, SQLite, a commit per RPC",
    }
    for key, name in names.items():
        rate = median(r for r, _ in results[key])
        cpu = median(c for _, c in results[key])
        print(f"{name:<40} {rate:>16.0f} {cpu:>14.2f} {rate / noop:>8.2f}")
    pairs = zip(results["on"], results["noop"], strict=True)
    ratios = [on / noop_ for (on, _), (noop_, _) in pairs]
    print("asktell (group commit) / no-op per round: " + ", ".join(f"{r:.2f}" for r in ratios))
    # The ratio within a round is the figure to quote on a shared machine: both cells of
    # a round see about the same load.
    print(f"asktell (group commit) / no-op, median of the rounds: {median(ratios):.2f}")


# ---------------------------------------------------------------- prefill
def prefill_asktell(address: str, n: int) -> None:
    from asktell.client import Client

    with Client(address) as client:
        study = client.get_study("bench")
        for offset in range(0, n, 10_000):
            size = min(10_000, n - offset)
            study.add_trials(
                [{"params": {"x": (i % 100) / 10 - 5}, "value": float(i)} for i in range(size)]
            )


def prefill_optuna(address: str, n: int) -> None:
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    host, port = address.split(":")
    storage = optuna.storages.GrpcStorageProxy(host=host, port=int(port))
    study = optuna.load_study(study_name="bench", storage=storage)
    dist = {"x": optuna.distributions.FloatDistribution(-5.0, 5.0)}
    study.add_trials(
        [
            optuna.trial.create_trial(params={"x": 0.0}, distributions=dist, value=float(i))
            for i in range(n)
        ]
    )


def versions() -> str:
    import grpc
    import optuna

    return (
        f"Python {platform.python_version()}, grpcio {grpc.__version__}, "
        f"optuna {optuna.__version__}, {platform.machine()} x {os.cpu_count()} cores"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s per cell instead of 6")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument(
        "--no-optuna-large", action="store_true", help="skip Optuna at 2,000 trials"
    )
    parser.add_argument("--server-cpus", help="pin the servers to these CPUs (taskset -c)")
    parser.add_argument(
        "--group-commit-ab",
        action="store_true",
        help="only the no-op and asktell with and without group commit, in turn",
    )
    parser.add_argument("--repeats", type=int, default=3, help="rounds of --group-commit-ab")
    parser.add_argument(
        "--store-options", default="", help="--group-commit-ab: e.g. synchronous=full"
    )
    args = parser.parse_args()
    global SERVER_CPUS
    SERVER_CPUS = args.server_cpus
    seconds = 2.0 if args.quick else 6.0
    if args.group_commit_ab:
        clients = int(args.clients.split(",")[-1])
        group_commit_ab(clients, seconds, args.repeats, args.store_options)
        return
    client_counts = [int(c) for c in args.clients.split(",")]
    rows: list[tuple[str, int, int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)

        server, address = start_asktell(tmp_path / "asktell.db")
        try:
            from asktell.client import Client

            with Client(address) as client:
                client.create_study(SPEC)
            for clients in client_counts:
                rows.append(
                    (
                        "no-op gRPC (2 health checks)",
                        clients,
                        0,
                        measure(noop_loop, address, clients, seconds),
                    )
                )
                rows.append(
                    (
                        "asktell random, SQLite",
                        clients,
                        0,
                        measure(asktell_loop, address, clients, seconds),
                    )
                )
        finally:
            server.terminate()
            server.wait()

        for existing in (2_000, 20_000):
            server, address = start_asktell(tmp_path / f"asktell-{existing}.db")
            try:
                with Client(address) as client:
                    client.create_study(SPEC)
                prefill_asktell(address, existing)
                rows.append(
                    (
                        "asktell random, SQLite",
                        16,
                        existing,
                        measure(asktell_loop, address, 16, seconds),
                    )
                )
            finally:
                server.terminate()
                server.wait()

        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sizes = [0] if args.no_optuna_large else [0, 2_000]
        for existing in sizes:
            db = tmp_path / f"optuna-{existing}.db"
            optuna.create_study(study_name="bench", storage=f"sqlite:///{db}")
            server, address = start_optuna_proxy(db)
            try:
                if existing:
                    prefill_optuna(address, existing)
                for clients in client_counts if not existing else [1]:
                    rows.append(
                        (
                            "Optuna gRPC proxy, SQLite",
                            clients,
                            existing,
                            measure(optuna_loop, address, clients, seconds),
                        )
                    )
            finally:
                server.terminate()
                server.wait()

    print(f"# ask+tell pairs per second, {seconds:.0f} s per cell; {versions()}")
    print(f"{'system':<32} {'clients':>7} {'trials before':>13} {'pairs/s':>9}")
    for system, clients, existing, rate in rows:
        print(f"{system:<32} {clients:>7} {existing:>13} {rate:>9.0f}")
    noop16 = [r for s, c, e, r in rows if s.startswith("no-op") and c == max(client_counts)]
    ours16 = [
        r for s, c, e, r in rows if s.startswith("asktell") and c == max(client_counts) and e == 0
    ]
    theirs16 = [r for s, c, e, r in rows if s.startswith("Optuna") and c == max(client_counts)]
    if noop16 and ours16:
        print(f"asktell / no-op at {max(client_counts)} clients: {ours16[0] / noop16[0]:.2f}")
    if theirs16 and ours16:
        print(
            f"asktell / Optuna proxy at {max(client_counts)} clients: "
            f"{ours16[0] / theirs16[0]:.1f}x"
        )


if __name__ == "__main__":
    main()
