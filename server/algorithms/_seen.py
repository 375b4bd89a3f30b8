"""Which configurations a study has already tried or handed out, compared after decoding."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from asktell.server.algorithms.base import History
from asktell.server.domain import Params, ParamValue, SearchSpace, typed_key

# One (name, typed value) pair per parameter the configuration holds, in the space's order:
# typed, so that 1, 1.0, True and "1" are four configurations; by name, so that
# configurations of a conditional space (which hold only their active parameters) compare.
Key = tuple[tuple[str, tuple[str, ParamValue]], ...]


class Seen:
    """A set of configurations keyed by their typed values in the space's parameter order."""

    def __init__(self, space: SearchSpace, configs: Iterable[Params] = ()) -> None:
        self._names: Sequence[str] = space.names
        self._keys: set[Key] = set()
        for config in configs:
            self.add(config)

    @classmethod
    def of_history(cls, space: SearchSpace, history: History) -> Seen:
        """Every configuration of the history: completed, pruned, pending and failed."""
        configs: list[Params] = [o.params for o in history.completed]
        configs += [o.params for o in history.pruned]
        configs += list(history.pending) + list(history.failed)
        return cls(space, configs)

    def key(self, config: Params) -> Key:
        return tuple((name, typed_key(config[name])) for name in self._names if name in config)

    def add(self, config: Params) -> None:
        self._keys.add(self.key(config))

    def __contains__(self, config: Params) -> bool:
        return self.key(config) in self._keys
