"""Bearer-token authentication and role-based authorisation of RPCs.

`asktell serve --auth-file tokens.yaml` turns it on. The file maps each token
to a role (mount it from a Kubernetes Secret):

```yaml
tokens:
  9b1c...e7: admin        # create, stop, resume, delete studies; add and enqueue trials
  3f0a...51: worker       # ask, tell, report, heartbeat
  77d2...0c: viewer       # read only
```
Roles nest: admin can do what a worker can, a worker what a viewer can.
Callers send `authorization: Bearer <token>` metadata. A missing or unknown
token is UNAUTHENTICATED, a role too weak PERMISSION_DENIED. Tokens are
compared in constant time and never logged; health checks and reflection stay open.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import grpc
import yaml

from asktell.server.interceptors import with_behavior

SERVICE_PREFIX = "/asktell.v1.AsktellService/"
MIN_TOKEN_LENGTH = 16


class Role(enum.IntEnum):
    VIEWER = 1
    WORKER = 2
    ADMIN = 3


# The weakest role allowed to call each method; anything not listed needs admin.
REQUIRED_ROLE: dict[str, Role] = {
    "GetStudy": Role.VIEWER,
    "ListStudies": Role.VIEWER,
    "GetTrial": Role.VIEWER,
    "ListTrials": Role.VIEWER,
    "GetBestTrials": Role.VIEWER,
    "Ask": Role.WORKER,
    "Tell": Role.WORKER,
    "Report": Role.WORKER,
    "Heartbeat": Role.WORKER,
}


class AuthConfigError(ValueError):
    """The auth file is missing, malformed or holds a weak token."""


def load_tokens(path: str | Path) -> dict[bytes, Role]:
    """SHA-256 of each token -> its role, from an auth file.

    Only digests are kept in memory, so comparing them leaks nothing about the
    tokens themselves.

    Raises:
        AuthConfigError: with a message naming the problem (never the token).
    """
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise AuthConfigError(f"auth file {path}: cannot read it: {exc}") from None
    tokens = data.get("tokens") if isinstance(data, Mapping) else None
    if not isinstance(tokens, Mapping) or not tokens:
        raise AuthConfigError(f"auth file {path}: expected a 'tokens:' mapping of token to role")
    roles: dict[bytes, Role] = {}
    for index, (token, role) in enumerate(tokens.items(), start=1):
        if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
            raise AuthConfigError(
                f"auth file {path}: token #{index} is shorter than {MIN_TOKEN_LENGTH} characters"
            )
        if not isinstance(role, str) or role.upper() not in Role.__members__:
            raise AuthConfigError(
                f"auth file {path}: token #{index} has role {role!r}; use admin, worker or viewer"
            )
        roles[_digest(token)] = Role[role.upper()]
    return roles


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _bearer_token(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


class AuthInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Rejects asktell RPCs without a valid bearer token of a strong enough role."""

    def __init__(self, roles: dict[bytes, Role]) -> None:
        self._roles = roles

    def _role(self, token: str) -> Role | None:
        digest = _digest(token)
        found = None
        for known, role in self._roles.items():  # no early exit: constant time
            if hmac.compare_digest(known, digest):
                found = role
        return found

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        full_method: str = handler_call_details.method
        if handler is None or not full_method.startswith(SERVICE_PREFIX):
            return handler  # health checking and reflection stay open
        method = full_method.removeprefix(SERVICE_PREFIX)
        needed = REQUIRED_ROLE.get(method, Role.ADMIN)
        behavior = handler.unary_unary

        def guarded(request: Any, context: grpc.ServicerContext) -> Any:
            token = _bearer_token(context)
            if not token:
                context.abort(
                    grpc.StatusCode.UNAUTHENTICATED,
                    "missing credentials: send 'authorization: Bearer <token>' metadata",
                )
            role = self._role(token)  # type: ignore[arg-type]
            if role is None:
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid token")
            if role < needed:  # type: ignore[operator]
                context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"role {role.name.lower()} cannot call {method}: "  # type: ignore[union-attr]
                    f"it needs {needed.name.lower()}",
                )
            return behavior(request, context)

        return with_behavior(handler, guarded)
