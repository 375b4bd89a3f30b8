"""What the server's metrics cost per ask+tell pair, measured directly in process.

End-to-end throughput with metrics on and off (`benchmarks/scaleout.py`) varies by
more than the cost itself on a shared 2-core machine, so this times exactly the code
metrics add to one Ask and one Tell: the RPC guard's counters (start, latency, code), the
store timing wrapper around one write transaction each, and the ask/tell counters,
and compares it with the server CPU a pair costs.

    python benchmarks/metrics_cost.py
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import grpc

from asktell.server.domain import Trial, TrialState
from asktell.server.interceptors import RpcGuard
from asktell.server.metrics import InstrumentedStore, ServerMetrics
from asktell.server.usecases.ask import AskResult, AskStatus

N = int(os.environ.get("ASKTELL_BENCH_PAIRS", "20000"))


class _Details:
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


class _Context:
    def invocation_metadata(self) -> tuple[()]:
        return ()


class _NoStore:
    """A store whose transactions do nothing: only the wrapper's cost is timed."""

    @contextmanager
    def _nothing(self) -> Iterator[None]:
        yield None

    def read(self) -> Any:
        return self._nothing()

    def write(self, study_id: str | None = None) -> Any:
        return self._nothing()

    def close(self) -> None:
        pass


async def _echo(request: Any, context: Any) -> Any:
    return request


async def _guarded(guard: RpcGuard, method: str) -> Any:
    async def handler(details: Any) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(_echo)

    wrapped = await guard.intercept_service(handler, _Details(method))
    return wrapped.unary_unary


def per_pair(with_metrics: bool) -> float:
    """Seconds per ask+tell pair of the code that metrics add (or its absence)."""
    metrics = ServerMetrics()
    store: Any = InstrumentedStore(_NoStore(), metrics) if with_metrics else _NoStore()
    executor = ThreadPoolExecutor(1)
    guard = RpcGuard(executor, metrics if with_metrics else None)
    trial = Trial("s", 1, TrialState.RUNNING, {"x": 1.0}, suggested_by="random")
    result = AskResult([trial], AskStatus.OK, (trial,), "random", 0.0001)
    context = _Context()

    async def run() -> float:
        behaviours = [
            await _guarded(guard, f"/asktell.v1.AsktellService/{method}")
            for method in ("Ask", "Tell")
        ]
        start = time.perf_counter()
        for _ in range(N):
            for behaviour in behaviours:
                with store.write("s"):
                    await behaviour(None, context)
            if with_metrics:
                metrics.record_ask(result)
                metrics.record_tell("COMPLETE")
        return (time.perf_counter() - start) / N

    try:
        return asyncio.run(run())
    finally:
        executor.shutdown()


def main() -> None:
    on = min(per_pair(True) for _ in range(3))
    off = min(per_pair(False) for _ in range(3))
    print(
        f"code metrics add per ask+tell pair: {(on - off) * 1e6:.1f} us "
        f"(with {on * 1e6:.1f} us, without {off * 1e6:.1f} us; best of 3 x {N} pairs)"
    )
    print("compare: ~2,400 us of server CPU per pair under a 16-client load (docs/benchmarks.md)")


if __name__ == "__main__":
    main()
