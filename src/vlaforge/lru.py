"""A bounded least-recently-used map: the server's per-instruction language cache and the simulators' env cache cannot grow without end.

Clients choose instruction strings, so a cache keyed by them is a memory leak a client controls.
`functools.lru_cache` caches a function, not a table we also prefill and evict from by hand, so this
is a dozen lines on `collections.OrderedDict`.
"""

from __future__ import annotations

import collections
from typing import Generic, Hashable, TypeVar

from vlaforge.errors import ConfigError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_SIZE = 4096  # instructions kept; each is a few KB of float32 language features


class LRU(Generic[K, V]):
    """At most `max_size` entries; reading or writing a key makes it the newest, the oldest goes first."""

    def __init__(self, max_size: int = DEFAULT_SIZE):
        if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 1:
            raise ConfigError(f"a cache size must be an integer >= 1 (e.g. `vlaforge serve --instruction-cache N`); got {max_size!r}")
        self.max_size = max_size
        self._items: collections.OrderedDict[K, V] = collections.OrderedDict()

    def get(self, key: K) -> V | None:
        """The value (now the newest entry), or None."""
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: K, value: V) -> list[tuple[K, V]]:
        """Store `key` as the newest entry; return the (key, value) pairs evicted to make room."""
        self._items[key] = value
        self._items.move_to_end(key)
        evicted = []
        while len(self._items) > self.max_size:
            evicted.append(self._items.popitem(last=False))
        return evicted

    def items(self) -> list[tuple[K, V]]:
        """(key, value) pairs, oldest first."""
        return list(self._items.items())

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
