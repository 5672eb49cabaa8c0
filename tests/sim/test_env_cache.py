"""The per-process env cache stays bounded and frees what it drops (real tabletop envs, real GL contexts)."""

from vlaforge.sim.env import TabletopEnv
from vlaforge.sim.env_cache import EnvCache


def _build(family):
    return lambda: TabletopEnv(family=family, image_size=32)


def test_the_least_recently_used_env_is_closed_once_the_cache_is_full():
    cache = EnvCache(max_size=2)
    pp = cache.get("pick_place", _build("pick_place"))
    push = cache.get("push", _build("push"))
    assert cache.get("pick_place", _build("pick_place")) is pp  # a hit reuses the env and makes it the newest
    stack = cache.get("stack", _build("stack"))
    assert [k for k, _ in cache.items()] == ["pick_place", "stack"] and len(cache) == 2
    assert push.renderer is None  # evicted: its GL context is freed
    assert pp.renderer is not None and stack.renderer is not None
    obs, _ = pp.reset(seed=0)  # what stays is usable
    assert obs["observation.images.front"].shape == (32, 32, 3)
    for _, env in cache.items():
        env.close()
