"""The base layer's bounded LRU: what it evicts, in which order, and which sizes it refuses."""

import pytest

from vlaforge.errors import ConfigError
from vlaforge.lru import LRU


def test_oldest_goes_first_and_reads_refresh():
    cache: LRU[str, int] = LRU(2)
    assert cache.put("a", 1) == [] and cache.put("b", 2) == []
    assert cache.get("a") == 1  # "a" is now the newest
    assert cache.put("c", 3) == [("b", 2)]
    assert cache.items() == [("a", 1), ("c", 3)] and "b" not in cache and len(cache) == 2
    assert cache.get("b") is None


def test_rewriting_a_key_evicts_nothing():
    cache: LRU[str, int] = LRU(1)
    cache.put("a", 1)
    assert cache.put("a", 2) == [] and cache.items() == [("a", 2)]


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "8"])
def test_bad_sizes_are_refused(size):
    with pytest.raises(ConfigError, match="integer >= 1"):
        LRU(size)
