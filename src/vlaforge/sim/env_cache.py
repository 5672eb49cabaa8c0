"""A per-process cache of simulator envs, bounded: building an env costs 50-300 ms, but keeping one per task
forever does not fit in memory once there are many tasks (Meta-World MT50: ~150 MB each, 50 per worker).

Collectors and evaluators visit jobs task by task, so a handful of recent envs is all the reuse there is; the
least recently used one is closed (its GL context freed) when a new one would exceed `max_size`. The bound is
the base layer's LRU (`vlaforge.lru`, also the server's instruction cache), so the project has one eviction rule.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable

from vlaforge.lru import LRU

MAX_ENVS = 8  # per process


class EnvCache:
    """At most `max_size` envs by key; `get` builds a missing one and closes the oldest beyond the bound."""

    def __init__(self, max_size: int = MAX_ENVS):
        self._envs: LRU[Hashable, Any] = LRU(max_size)

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """The env for `key` (now the newest), built with `build()` if it is not cached."""
        env = self._envs.get(key)
        if env is None:
            env = build()
            for _, old in self._envs.put(key, env):
                old.close()
        return env

    def items(self) -> list[tuple[Hashable, Any]]:
        """(key, env) pairs, oldest first."""
        return self._envs.items()

    def __len__(self) -> int:
        return len(self._envs)
