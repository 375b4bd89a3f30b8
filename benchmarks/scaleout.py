"""Ask+tell throughput on PostgreSQL with 1 and 3 replicas, one study and many; SQLite too.
Then what metrics cost: the same loop with metrics on and off.

Every server is a real `asktell serve` process; clients are processes too, and spread
over the replicas round robin (`ipv4:a,b,c`), as the Python client does in Kubernetes.
PostgreSQL is a throw-away cluster started from the machine's packages
(scripts/test-services.sh installs them).

    python benchmarks/scaleout.py            # ~3 minutes
    python benchmarks/scaleout.py --quick
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.services

from throughput import SPEC, asktell_loop, measure, start_asktell, versions

from asktell.client import Client
from tests.services import PostgresServer


def create(address: str, names: list[str]) -> None:
    with Client(address) as client:
        for name in names:
            client.create_study({**SPEC, "name": name})


def run_cell(
    url: str, replicas: int, clients: int, studies: int, seconds: float, extra: tuple[str, ...] = ()
) -> float:
    servers = [start_asktell(url, *extra) for _ in range(replicas)]
    try:
        target = "ipv4:" + ",".join(address for _, address in servers)
        names = [f"bench-{i}" for i in range(studies)]
        create(servers[0][1], names)
        return measure(asktell_loop, target, clients, seconds, names)
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="metrics on/off alternations")
    parser.add_argument(
        "--metrics-only", action="store_true", help="only the metrics on/off comparison"
    )
    args = parser.parse_args()
    seconds = 3.0 if args.quick else 6.0
    rows: list[tuple[str, int, int, float]] = []
    postgres = PostgresServer()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cells = () if args.metrics_only else ((1, 1), (3, 1), (1, 16), (3, 16))
            for replicas, studies in cells:
                url = postgres.new_database()
                rate = run_cell(url, replicas, args.clients, studies, seconds)
                rows.append(("PostgreSQL", replicas, studies, rate))
            for studies in () if args.metrics_only else (1, 16):
                url = f"sqlite:///{Path(tmp) / f'sqlite-{studies}.db'}"
                rows.append(
                    ("SQLite", 1, studies, run_cell(url, 1, args.clients, studies, seconds))
                )
            on: list[float] = []
            off: list[float] = []
            for repeat in range(args.repeats):  # alternate, so drifting load hits both
                for flag, results in (((), on), (("--no-metrics",), off)):
                    url = f"sqlite:///{Path(tmp) / f'metrics-{repeat}-{len(flag)}.db'}"
                    results.append(run_cell(url, 1, args.clients, 1, seconds, flag))
    finally:
        postgres.close()

    print(
        f"# ask+tell pairs/s, {args.clients} client processes, {seconds:.0f} s per cell; "
        f"{versions()}"
    )
    print(f"{'store':<12} {'replicas':>8} {'studies':>8} {'pairs/s':>9}")
    for store, replicas, studies, rate in rows:
        print(f"{store:<12} {replicas:>8} {studies:>8} {rate:>9.0f}")
    print(f"\n# metrics on vs off, SQLite, 1 replica, {args.repeats} alternating runs each")
    print(f"metrics on : {', '.join(f'{r:.0f}' for r in on)}  median {median(on):.0f}")
    print(f"metrics off: {', '.join(f'{r:.0f}' for r in off)}  median {median(off):.0f}")
    print(f"cost of metrics: {100 * (1 - median(on) / median(off)):.1f}% of throughput")


if __name__ == "__main__":
    main()
