"""Re-running a use case whose transaction lost a write conflict.

A transaction aborted by a conflict (a deadlock, a serialisation failure, two
replicas creating the same study) rolled back completely, so running the whole
use case again is safe. After a few tries the conflict goes to the caller as
ABORTED, which clients retry too.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asktell.server.errors import Aborted

P = ParamSpec("P")
R = TypeVar("R")
ATTEMPTS = 5


def retry_on_conflict(function: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(ATTEMPTS):
            try:
                return function(*args, **kwargs)
            except Aborted:
                if attempt == ATTEMPTS - 1:
                    raise
                # Jitter keeps two replicas that collided from colliding again.
                time.sleep(random.uniform(0, 0.01 * 2**attempt))
        raise AssertionError("unreachable")

    return wrapper
