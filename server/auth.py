"""Bearer-token authentication and role-based authorisation of RPCs.

`asktell serve --auth-file tokens.yaml` turns it on. The file maps each token
to a role (mount it from a Kubernetes Secret), and may bind a worker token to
the worker ids it may act as:

```yaml
tokens:
  9b1c...e7: admin        # create, update, stop, resume, delete studies; add and enqueue trials
  77d2...0c: viewer       # read only
  3f0a...51: worker       # ask, tell, report, heartbeat, set attributes as any worker id
  c4e8...9a:              # a worker token bound to its worker ids
    role: worker
    worker_ids: [gpu-node-1, "gpu-node-2/*"]   # exact ids, or a prefix ending in '*'
```
Roles nest: admin can do what a worker can, a worker what a viewer can. GetCaller
(open to every role) tells a caller its token's role, read from `caller_role`.
Callers send `authorization: Bearer <token>` metadata. A missing or unknown
token is UNAUTHENTICATED, a role too weak PERMISSION_DENIED, and so is a bound
token whose Ask, Tell, Report, Heartbeat or SetTrialAttributes names a worker id
outside its list (or none): it cannot take or finish another worker's trials. Unbound tokens keep
the open mode, where `worker_id` is whatever the caller says. Tokens are compared
in constant time and never logged; health checks and reflection stay open.

The server refuses to start with a token that looks like a placeholder (`token_problem`:
shorter than 16 characters, fewer than 5 different characters, or "change-me",
"replace-me", "example"... in it) and with a PostgreSQL password that is one
(`password_problem`), so manifests cannot deploy with the values they were shipped with.
"""

from __future__ import annotations

import contextvars
import enum
import hashlib
import hmac
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from asktell.server.errors import PermissionDenied, Unauthenticated

SERVICE_PREFIX = "/asktell.v1.AsktellService/"
MIN_TOKEN_LENGTH = 16
MIN_DISTINCT_CHARACTERS = 5
MAX_WORKER_IDS = 1024
# Words that mark a secret as a placeholder wherever they appear in it, compared without
# case and without separators ("Change_Me", "<replace me>"): no random secret holds them.
PLACEHOLDER_MARKERS = (
    "changeme",
    "replaceme",
    "placeholder",
    "example",
    "yourtoken",
    "yoursecret",
    "yourpassword",
)
# Whole passwords (compared the same way) that installations and tutorials use as defaults.
DEFAULT_PASSWORDS = frozenset(
    {
        "admin",
        "asktell",
        "changeit",
        "default",
        "letmein",
        "pass",
        "passwd",
        "password",
        "postgres",
        "postgresql",
        "qwerty",
        "root",
        "secret",
        "test",
        "123456",
        "12345678",
    }
)

# A call's metadata as (key, value) pairs: a tuple from the server, grpc.aio.Metadata in its
# type stubs; read more than once (request id, then token).
Metadata = Collection[tuple[str, str | bytes]]


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
    "GetCaller": Role.VIEWER,
    "Ask": Role.WORKER,
    "Tell": Role.WORKER,
    "Report": Role.WORKER,
    "Heartbeat": Role.WORKER,
    "SetTrialAttributes": Role.WORKER,
}

# The role of the token of the call being handled, set by `Authorizer.check` (the call's
# task context is copied into its handler thread); None when the server checks no tokens.
caller_role: contextvars.ContextVar[Role | None] = contextvars.ContextVar(
    "caller_role", default=None
)

# The methods whose request names the worker acting (its `worker_id` field).
WORKER_METHODS = frozenset({"Ask", "Tell", "Report", "Heartbeat", "SetTrialAttributes"})


class AuthConfigError(ValueError):
    """The auth file is missing, malformed or holds a weak token."""


class PlaceholderSecretError(AuthConfigError):
    """A token or database password is a placeholder or a well-known default."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What one token may do: its role and, if bound, the worker ids it may act as."""

    role: Role
    worker_ids: tuple[str, ...] = ()  # empty: any worker id

    def allows_worker(self, worker_id: str) -> bool:
        if not self.worker_ids:
            return True
        return any(
            worker_id.startswith(pattern[:-1]) if pattern.endswith("*") else worker_id == pattern
            for pattern in self.worker_ids
        )


def load_tokens(path: str | Path) -> dict[bytes, Grant]:
    """SHA-256 of each token -> its grant, from an auth file.

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
    grants: dict[bytes, Grant] = {}
    for index, (token, entry) in enumerate(tokens.items(), start=1):
        where = f"auth file {path}: token #{index}"
        if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
            raise AuthConfigError(f"{where} is shorter than {MIN_TOKEN_LENGTH} characters")
        problem = token_problem(token)
        if problem:
            raise PlaceholderSecretError(
                f"{where} {problem}: put a random one in its place (openssl rand -hex 32)"
            )
        grants[_digest(token)] = _grant(where, entry)
    return grants


def _grant(where: str, entry: object) -> Grant:
    role, worker_ids = (
        (entry.get("role"), entry.get("worker_ids", ()))
        if isinstance(entry, Mapping)
        else (entry, ())
    )
    if not isinstance(role, str) or role.upper() not in Role.__members__:
        raise AuthConfigError(f"{where} has role {role!r}; use admin, worker or viewer")
    if isinstance(worker_ids, str) or not isinstance(worker_ids, Sequence):
        raise AuthConfigError(f"{where}: worker_ids must be a list of worker ids")
    if len(worker_ids) > MAX_WORKER_IDS or not all(
        isinstance(w, str) and w and w != "*" for w in worker_ids
    ):
        raise AuthConfigError(
            f"{where}: worker_ids must hold 1 to {MAX_WORKER_IDS} non-empty ids "
            "(a bare '*' would allow every worker: leave worker_ids out instead)"
        )
    return Grant(Role[role.upper()], tuple(worker_ids))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def bearer_token(metadata: Metadata | None) -> str | None:
    """The token of the call's `authorization: Bearer <token>` metadata, if any."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


class Authorizer:
    """Decides whether a call of an asktell method may go ahead."""

    def __init__(self, grants: Mapping[bytes, Grant]) -> None:
        self._grants = dict(grants)

    def _grant(self, token: str) -> Grant | None:
        digest = _digest(token)
        found = None
        for known, grant in self._grants.items():  # no early exit: constant time
            if hmac.compare_digest(known, digest):
                found = grant
        return found

    def check(
        self,
        full_method: str,
        metadata: Metadata | None,
        request: object,
    ) -> None:
        """Returns if the call may go ahead, with the token's role set in `caller_role`.

        Raises:
            Unauthenticated: no token, or an unknown one.
            PermissionDenied: the token's role is too weak, or it is bound to other worker ids.
        """
        if not full_method.startswith(SERVICE_PREFIX):
            return  # health checking and reflection stay open
        method = full_method.removeprefix(SERVICE_PREFIX)
        token = bearer_token(metadata)
        if not token:
            raise Unauthenticated(
                "missing credentials: send 'authorization: Bearer <token>' metadata"
            )
        grant = self._grant(token)
        if grant is None:
            raise Unauthenticated("invalid token")
        caller_role.set(grant.role)
        needed = REQUIRED_ROLE.get(method, Role.ADMIN)
        if grant.role < needed:
            raise PermissionDenied(
                f"role {grant.role.name.lower()} cannot call {method}: "
                f"it needs {needed.name.lower()}"
            )
        if method in WORKER_METHODS:
            worker_id = getattr(request, "worker_id", "")
            if not grant.allows_worker(worker_id):
                shown = repr(worker_id[:64]) if worker_id else "no worker_id"
                raise PermissionDenied(
                    f"this token may act only as its own worker ids, not {shown}"
                )


def _normalised(secret: str) -> str:
    return "".join(c for c in secret.lower() if c.isalnum())


def _marker(secret: str) -> str | None:
    normalised = _normalised(secret)
    return next((m for m in PLACEHOLDER_MARKERS if m in normalised), None)


def token_problem(token: str) -> str | None:
    """Why `token` cannot be a real token, or None when it may be one.

    The rule (also in docs/deployment.md): at least 16 characters, at least 5 different
    characters, and none of the placeholder words of `PLACEHOLDER_MARKERS` ("change-me",
    "replace-me", "example", ...) anywhere in it, ignoring case and separators. The
    message never quotes the token.
    """
    if len(token) < MIN_TOKEN_LENGTH:
        return f"is shorter than {MIN_TOKEN_LENGTH} characters"
    if len(set(token)) < MIN_DISTINCT_CHARACTERS:
        return f"has fewer than {MIN_DISTINCT_CHARACTERS} different characters"
    marker = _marker(token)
    if marker:
        return f"is a placeholder (it contains {marker!r})"
    return None


def password_problem(password: str, user: str | None = None) -> str | None:
    """Why `password` is a placeholder or default rather than a real password, or None.

    Refused: an empty password, a well-known default (`DEFAULT_PASSWORDS`: "postgres",
    "password", "secret", ...), the user name itself, or any placeholder word of
    `PLACEHOLDER_MARKERS` in it; all compared ignoring case and separators. Strength
    beyond that is the database's business. The message never quotes the password.
    """
    if not password:
        return "is empty"
    normalised = _normalised(password)
    if normalised in DEFAULT_PASSWORDS:
        return "is a well-known default password"
    if user is not None and normalised == _normalised(user):
        return "is the user name"
    marker = _marker(password)
    if marker:
        return f"is a placeholder (it contains {marker!r})"
    return None
