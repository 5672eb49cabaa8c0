"""Helpers for the tabletop suite tests: expert rollouts on a shared env per configuration."""

import pytest


def rollout(env, seed, options=None):
    """Run the scripted expert for one episode; return (final info, per-step observations)."""
    from vlaforge.sim.experts import Expert

    obs, info = env.reset(seed=seed, options=options)
    expert, steps = Expert(), [obs]
    for _ in range(env.max_steps):
        obs, _, terminated, truncated, info = env.step(expert(env))
        steps.append(obs)
        if terminated or truncated:
            break
    return info, steps


@pytest.fixture(scope="module")
def envs():
    """make_env(...) cached per argument set for the module; closed at the end."""
    from vlaforge.sim import make_env

    cache = {}

    def get(family="pick_place", **kw):
        key = (family, tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in kw.items())))
        if key not in cache:
            cache[key] = make_env(family, **kw)
        return cache[key]

    yield get
    for env in cache.values():
        env.close()
