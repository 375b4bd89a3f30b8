"""Random Ask+Tell latency on one study while other clients hammer a GP study.

One `asktell serve` process per case, on a SQLite file or a PostgreSQL database.
A GP study is pre-filled with completed trials (AddTrials); N client processes
loop GP ask -> tell on it while one probe process loops random ask -> tell on
another study and times every pair. The first row of each store is the probe
alone, for reference.

    python benchmarks/contention.py                          # 8 GP clients, 20 s per case
    python benchmarks/contention.py --clients 0 8 --seconds 10 --stores sqlite
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.services

from throughput import SPEC, asktell_loop, start_asktell, versions

from asktell.client import Client
from tests.services import PostgresServer

GP_DIMS = 5
GP_SPEC = {
    "name": "gp",
    "objective": {"metric": "loss", "goal": "minimize"},
    "algorithm": {"name": "gp", "seed": 0},
    "parameters": {f"x{i}": {"type": "float", "min": 0.0, "max": 1.0} for i in range(GP_DIMS)},
}


def _gp_objective(params: dict[str, float]) -> float:
    return sum(math.sin(3.0 * v) * (v - 0.3) ** 2 for v in params.values())


def prefill_gp(address: str, n: int) -> None:
    """Creates the GP and probe studies; the GP one with `n` completed trials."""
    import numpy as np

    points = np.random.default_rng(0).random((n, GP_DIMS))
    with Client(address) as client:
        client.create_study({**SPEC, "name": "probe"})
        study = client.create_study(GP_SPEC)
        results = []
        for point in points:
            params = {f"x{i}": float(v) for i, v in enumerate(point)}
            results.append({"params": params, "value": _gp_objective(params)})
        study.add_trials(results)


def _gp_objective_of(params: Mapping[str, Any]) -> float:
    return _gp_objective({k: float(v) for k, v in params.items()})


def gp_loop(address: str, start: float, stop: float) -> int:
    """GP ask -> tell until `stop`; returns the pairs done."""
    return asktell_loop(address, start, stop, "gp", _gp_objective_of, timeout=120.0)


def probe_loop(address: str, start: float, stop: float) -> list[float]:
    """Random ask -> tell until `stop`; returns the seconds each pair took."""
    with Client(address, timeout=120.0) as client:
        study = client.get_study("probe")
        seconds = []
        while time.time() < start:
            time.sleep(0.001)
        while time.time() < stop:
            began = time.perf_counter()
            trial = study.ask()
            assert trial is not None
            trial.tell(float(trial.params["x"]) ** 2)
            seconds.append(time.perf_counter() - began)
    return seconds


@dataclass(frozen=True)
class Row:
    store: str
    gp_clients: int
    probe_pairs: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    gp_pairs_per_s: float


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def run_case(store: str, url: str, gp_clients: int, trials: int, seconds: float) -> Row:
    server, address = start_asktell(url)
    try:
        prefill_gp(address, trials)
        start = time.time() + 2.0 + 0.2 * gp_clients  # let every process connect first
        stop = start + seconds
        context = mp.get_context("spawn")
        with context.Pool(gp_clients + 1) as pool:
            probe = pool.apply_async(probe_loop, (address, start, stop))
            hammers = [pool.apply_async(gp_loop, (address, start, stop)) for _ in range(gp_clients)]
            latencies = sorted(probe.get())
            gp_pairs = sum(h.get() for h in hammers)
    finally:
        server.terminate()
        server.wait()
    return Row(
        store,
        gp_clients,
        len(latencies),
        1000 * _percentile(latencies, 0.50),
        1000 * _percentile(latencies, 0.99),
        1000 * latencies[-1],
        gp_pairs / seconds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per case")
    parser.add_argument("--trials", type=int, default=500, help="completed GP trials before")
    parser.add_argument("--clients", type=int, nargs="+", default=[0, 8], help="GP clients")
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    rows: list[Row] = []
    postgres = PostgresServer() if "postgres" in args.stores else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for store in args.stores:
                for clients in args.clients:
                    if store == "sqlite":
                        url = f"sqlite:///{Path(tmp) / f'contention-{clients}.db'}"
                    else:
                        assert postgres is not None
                        url = postgres.new_database()
                    rows.append(run_case(store, url, clients, args.trials, args.seconds))
    finally:
        if postgres is not None:
            postgres.close()

    print(
        f"# random ask+tell latency while GP clients ask+tell on a {args.trials}-trial, "
        f"{GP_DIMS}-dim GP study; {args.seconds:.0f} s per case; {versions()}"
    )
    print(
        f"{'store':<9} {'GP clients':>10} {'probe pairs':>11} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'GP pairs/s':>10}"
    )
    for r in rows:
        print(
            f"{r.store:<9} {r.gp_clients:>10} {r.probe_pairs:>11} {r.p50_ms:>8.1f} "
            f"{r.p99_ms:>8.1f} {r.max_ms:>8.1f} {r.gp_pairs_per_s:>10.2f}"
        )


if __name__ == "__main__":
    main()
