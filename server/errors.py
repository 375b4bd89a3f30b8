"""Domain errors of the server, each carrying the gRPC status it is answered with.

```
AsktellError (INTERNAL)
├─ InvalidArgument (INVALID_ARGUMENT)      the request is malformed; fix it, do not retry
├─ NotFound (NOT_FOUND)                    no such study or trial
├─ AlreadyExists (ALREADY_EXISTS)          the study id is taken by a different spec
├─ FailedPrecondition (FAILED_PRECONDITION) the request contradicts the current state
├─ Unauthenticated (UNAUTHENTICATED)       no valid bearer token
├─ PermissionDenied (PERMISSION_DENIED)    the token may not do this
├─ Aborted (ABORTED)                       a write conflict; retrying helps
├─ Cancelled (CANCELLED)                   the caller gave up; nothing was written
├─ Overloaded (RESOURCE_EXHAUSTED)         too many calls wait for a handler; retry with backoff
└─ Unavailable (UNAVAILABLE)               the store cannot be reached; retry with backoff
```
`interceptors.RpcGuard` turns these into statuses in one place.
"""

from __future__ import annotations

import grpc


class AsktellError(Exception):
    """Base of all domain errors; unexpected ones are answered INTERNAL."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidArgument(AsktellError):
    """The request is malformed (INVALID_ARGUMENT); a retry will fail the same way."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(AsktellError):
    """The study or trial does not exist (NOT_FOUND)."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(AsktellError):
    """A study with this id exists with a different spec (ALREADY_EXISTS)."""

    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(AsktellError):
    """The request contradicts the study's or trial's state (FAILED_PRECONDITION)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Unauthenticated(AsktellError):
    """The call carries no valid bearer token (UNAUTHENTICATED)."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(AsktellError):
    """The caller's token does not allow this call (PERMISSION_DENIED)."""

    code = grpc.StatusCode.PERMISSION_DENIED


class Aborted(AsktellError):
    """A concurrent write conflicted (ABORTED); retrying the request helps."""

    code = grpc.StatusCode.ABORTED


class Unavailable(AsktellError):
    """The store cannot be reached (UNAVAILABLE); retry with backoff."""

    code = grpc.StatusCode.UNAVAILABLE


class Cancelled(AsktellError):
    """The caller cancelled or ran out of time before the answer was written (CANCELLED)."""

    code = grpc.StatusCode.CANCELLED


class Overloaded(AsktellError):
    """Too many calls already wait for a handler thread (RESOURCE_EXHAUSTED); retry later."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
