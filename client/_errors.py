"""Errors raised by the client, one per gRPC status a caller can act on.

```
AsktellError
├─ InvalidArgumentError      the request is malformed; fix it (also bad spec dicts)
├─ NotFoundError             no such study or trial
├─ AlreadyExistsError        the study id is taken by a different spec
├─ FailedPreconditionError   the request contradicts the state (finished trial, lost lease)
├─ UnauthenticatedError      missing or wrong credentials
├─ PermissionDeniedError     the credentials lack the role
└─ RetryableError            worth retrying with backoff
   ├─ AbortedError           a write conflict
   ├─ UnavailableError       the server or its store is unreachable
   ├─ DeadlineExceededError  the call did not finish in time
   └─ CancelledError         the server dropped a call whose deadline had passed
```
"""

from __future__ import annotations

import grpc


class AsktellError(Exception):
    """Any error from the asktell server or client; `code` is the gRPC status."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN


class InvalidArgumentError(AsktellError, ValueError):
    """The request or spec is malformed; the message names the field."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFoundError(AsktellError, LookupError):
    """The study or trial does not exist."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(AsktellError):
    """A study with this id exists with a different spec."""

    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPreconditionError(AsktellError):
    """The request contradicts the current state, e.g. a trial that already finished."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class UnauthenticatedError(AsktellError):
    """Missing or invalid credentials."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(AsktellError):
    """The credentials are valid but not allowed to do this."""

    code = grpc.StatusCode.PERMISSION_DENIED


class RetryableError(AsktellError):
    """A transient failure: the same request may succeed later."""


class AbortedError(RetryableError):
    """A concurrent write conflicted."""

    code = grpc.StatusCode.ABORTED


class UnavailableError(RetryableError):
    """The server or its store cannot be reached right now."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceededError(RetryableError):
    """The call did not finish within its timeout."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class CancelledError(RetryableError):
    """The server gave up on a call whose deadline had passed; it wrote nothing."""

    code = grpc.StatusCode.CANCELLED


_CODE_TO_ERROR: dict[grpc.StatusCode, type[AsktellError]] = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        AlreadyExistsError,
        FailedPreconditionError,
        UnauthenticatedError,
        PermissionDeniedError,
        AbortedError,
        UnavailableError,
        DeadlineExceededError,
        CancelledError,
    )
}
_CODE_TO_ERROR[grpc.StatusCode.OUT_OF_RANGE] = InvalidArgumentError
_CODE_TO_ERROR[grpc.StatusCode.RESOURCE_EXHAUSTED] = UnavailableError


def from_rpc_error(error: grpc.RpcError) -> AsktellError:
    """The client error for a failed call, with the server's message."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    cls = _CODE_TO_ERROR.get(code, AsktellError)
    exc = cls(f"{code.name}: {details}")
    exc.code = code
    return exc
