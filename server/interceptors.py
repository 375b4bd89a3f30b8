"""The one wrapper every RPC goes through: request id, metrics, auth, errors -> statuses.

The server is `grpc.aio`: a request is read on the event loop before any
thread is taken, so a call that opens a stream and never sends costs a
coroutine, not one of the handler threads. `RpcGuard` then, for each call and
in this order: binds the request id (the caller's `x-request-id` metadata, or
a fresh one), starts the metrics clock, rejects bytes that are not the method's
request message (INVALID_ARGUMENT), checks the bearer token (on the event loop,
so unauthenticated floods never reach a handler thread), runs the handler on
the handler thread pool, and answers `AsktellError` with its code and message,
anything else with INTERNAL + request id, never a stack trace. Every final code
is counted, whatever the path. When `max_waiting` calls already queue for or run
on handler threads, a new one is answered RESOURCE_EXHAUSTED at once (clients
retry with backoff) rather than growing the queue without bound.

With a SQLite store, the hot write methods (`lane_methods`) go to the store's
write lane instead (`storage.sqlite.WriteLane`: group commit, in batches run on
the event loop itself when the store can take them without waiting, else on
its writer thread). A handler there that has slow work left (an Ask whose
algorithm reads the history) returns `OnHandlerPool(rest)`, and the guard runs
`rest` on the handler pool, so neither the loop nor the writer thread waits for
an algorithm.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

import grpc

from asktell.server import logs
from asktell.server.auth import Authorizer, Metadata
from asktell.server.errors import AsktellError, InvalidArgument, Overloaded
from asktell.server.metrics import NoMetrics, ServerMetrics
from asktell.server.storage.sqlite import WriteLane

log = logging.getLogger("asktell.server")

# Status messages are cut to this many UTF-8 bytes: gRPC carries them percent-encoded
# (up to 3 characters a byte) in a trailer that clients refuse beyond 8 KiB, which
# would hide the real status.
MAX_STATUS_MESSAGE = 1024
MAX_REQUEST_ID_LENGTH = 128


def bounded_message(message: str) -> str:
    """`message` cut to what a status trailer can always carry (whole characters)."""
    encoded = message.encode()
    if len(encoded) <= MAX_STATUS_MESSAGE:
        return message
    return encoded[: MAX_STATUS_MESSAGE - 3].decode(errors="ignore") + "..."


def request_id(metadata: Metadata | None) -> str:
    """The caller's `x-request-id` (if printable and short), else a fresh id."""
    for key, value in metadata or ():
        if (
            key == "x-request-id"
            and isinstance(value, str)
            and 0 < len(value) <= MAX_REQUEST_ID_LENGTH
            and value.isprintable()
        ):
            return value
    return os.urandom(8).hex()


class CallContext:
    """What a handler may know of its call, safe to read from a handler thread."""

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self._context = context

    def time_remaining(self) -> float | None:
        """Seconds until the caller's deadline; None without a deadline."""
        left = self._context.time_remaining()
        return None if left is None else float(left)

    def is_active(self) -> bool:
        """False once the call ended: the caller cancelled, or its deadline passed."""
        return not self._context.done()

    def invocation_metadata(self) -> Metadata:
        return tuple(self._context.invocation_metadata() or ())


class OnHandlerPool:
    """A handler's answer meaning "finish me on the handler pool": returned by a handler
    running in the store's write lane that has slow work left; `finish()` gives the
    response. On the handler pool itself it is called at once."""

    __slots__ = ("finish",)

    def __init__(self, finish: Callable[[], Any]) -> None:
        self.finish = finish


def _finished(result: Any) -> Any:
    return result.finish() if isinstance(result, OnHandlerPool) else result


class _Malformed:
    """Stands for a request whose bytes did not parse as the method's message."""


MALFORMED = _Malformed()


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def deserialize(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception:  # any parse error: answered INVALID_ARGUMENT by the guard
            return MALFORMED

    return deserialize


class _RpcSeries:
    """The metric children of one method, resolved once: `labels()` costs a lock and a
    dict lookup per call, which showed in profiles of the hot path."""

    def __init__(self, metrics: ServerMetrics, labels: tuple[str, str, str]) -> None:
        self.labels = labels
        self.started = metrics.started.labels(*labels)
        self.seconds = metrics.handling_seconds.labels(*labels)
        self._handled = metrics.handled
        self._by_code: dict[grpc.StatusCode, Any] = {}

    def handled(self, code: grpc.StatusCode) -> Any:
        child = self._by_code.get(code)
        if child is None:
            child = self._by_code[code] = self._handled.labels(*self.labels, code.name)
        return child


Behavior = Callable[[Any, Any], Any]


class RpcGuard(grpc.aio.ServerInterceptor):
    """Wraps every unary RPC of the server (see the module docstring)."""

    def __init__(
        self,
        executor: Executor,
        metrics: ServerMetrics | None = None,
        authorizer: Authorizer | None = None,
        *,
        max_waiting: int = 1024,
        lane: WriteLane | None = None,
        lane_methods: frozenset[str] = frozenset(),
    ) -> None:
        self._executor = executor
        self._lane = lane
        self._lane_methods = lane_methods if lane is not None else frozenset()
        self._max_waiting = max_waiting
        self._in_handlers = 0  # calls queued for or running on a handler thread (loop only)
        self._metrics = None if metrics is None or isinstance(metrics, NoMetrics) else metrics
        self._authorizer = authorizer
        self._series: dict[str, _RpcSeries] = {}
        # Wrapped once per method: the server's handlers never change while it runs.
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def _series_of(self, full_method: str) -> _RpcSeries | None:
        if self._metrics is None:
            return None
        series = self._series.get(full_method)
        if series is None:
            service, _, method = full_method.lstrip("/").rpartition("/")
            series = self._series[full_method] = _RpcSeries(
                self._metrics, ("unary", service, method)
            )
        return series

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method: str = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler  # reflection's streams: no asktell method is streaming
        wrapped = grpc.unary_unary_rpc_method_handler(
            self._guard(method, handler.unary_unary),
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
        self._wrapped[method] = wrapped
        return wrapped

    def _guard(
        self, method: str, behavior: Behavior
    ) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
        series = self._series_of(method)
        is_async = inspect.iscoroutinefunction(behavior)
        authorizer = self._authorizer
        on_lane = method in self._lane_methods

        async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            metadata = context.invocation_metadata()
            bound = logs.request_id.set(request_id(metadata))
            started = time.perf_counter()
            if series is not None:
                series.started.inc()
            code = grpc.StatusCode.OK
            try:
                try:
                    if request is MALFORMED:
                        raise InvalidArgument(
                            f"the request bytes do not parse as the request message of {method}"
                        )
                    if authorizer is not None:
                        authorizer.check(method, metadata, request)
                    if is_async:
                        return await behavior(request, context)
                    if on_lane:
                        return await self._on_lane(behavior, request, context)
                    return await self._on_handler_thread(behavior, request, context)
                except AsktellError as exc:
                    code = exc.code
                    log.info("%s answered %s", method, code.name)  # no payload, no token
                    message = bounded_message(str(exc))
                except asyncio.CancelledError:
                    code = grpc.StatusCode.CANCELLED
                    raise
                except Exception:
                    code = grpc.StatusCode.INTERNAL
                    log.exception("unexpected error in %s", method)
                    message = f"internal error; request id {logs.request_id.get()}"
                await context.abort(code, message)
            finally:
                if series is not None:
                    series.seconds.observe(time.perf_counter() - started)
                    series.handled(code).inc()
                logs.request_id.reset(bound)

        return guarded

    def _admit(self) -> None:
        """Counts one more call in progress, or sheds it before the queue grows without
        bound (the caller retries with backoff); the caller must decrement it when done."""
        if self._in_handlers >= self._max_waiting:
            raise Overloaded(
                f"the server is busy ({self._in_handlers} calls in progress); retry with backoff"
            )
        self._in_handlers += 1

    async def _on_handler_thread(
        self, behavior: Behavior, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        self._admit()
        try:
            # The copied context carries the request id into the handler thread.
            run = contextvars.copy_context().run
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, run, _finish_here, behavior, request, CallContext(context)
            )
        finally:
            self._in_handlers -= 1

    async def _on_lane(
        self, behavior: Behavior, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        """Runs the handler in the store's write lane (a batch on this loop or on the
        writer thread), and what it leaves on the pool."""
        assert self._lane is not None
        self._admit()
        try:
            run = contextvars.copy_context().run
            call = CallContext(context)
            result = await self._lane.submit_async(lambda: run(behavior, request, call))
        finally:
            self._in_handlers -= 1
        if isinstance(result, OnHandlerPool):
            rest = result
            return await self._on_handler_thread(lambda _r, _c: rest.finish(), request, context)
        return result


def _finish_here(behavior: Behavior, request: Any, context: CallContext) -> Any:
    return _finished(behavior(request, context))
