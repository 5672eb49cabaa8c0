"""A per-process cache of simulator envs, bounded: building an env costs 50-300 ms, but keeping one per task
forever does not fit in memory once there are many tasks (Meta-World MT50: ~150 MB each, 50 per worker).

Collectors and evaluators visit jobs task by task, so a handful of recent envs is all the reuse there is; the
least recently used one is closed (its GL context freed) when a new one would exceed `max_size`.
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Hashable

MAX_ENVS = 8  # per process


class EnvCache:
    """At most `max_size` envs by key; `get` builds a missing one and closes the oldest beyond the bound."""

    def __init__(self, max_size: int = MAX_ENVS):
        self.max_size = max_size
        self._envs: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The env for `key` (now the newest), built with `build()` if it is not cached."""
        if key in self._envs:
            self._envs.move_to_end(key)
            return self._envs[key]
        env = self._envs[key] = build()
        while len(self._envs) > self.max_size:
            self._envs.popitem(last=False)[1].close()
        return env

    def items(self) -> list[tuple[Hashable, Any]]:
        """(key, env) pairs, oldest first."""
        return list(self._envs.items())

    def __len__(self) -> int:
        return len(self._envs)
