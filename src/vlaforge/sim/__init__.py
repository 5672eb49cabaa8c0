"""Built-in MuJoCo tabletop suite: language tasks, scripted experts, perturbations, collection.

`make_env(family, seed=..., split=..., perturb=[...])` and the gymnasium id `vlaforge/Tabletop-v0`.
Heavy imports (mujoco) happen on first use, not at package import.
"""

from __future__ import annotations

from typing import Any


def make_env(task: str = "pick_place", seed: int | None = None, split: str = "seen", perturb: list[str] | None = None,
             image_size: int = 96, render: bool = True) -> Any:
    """A TabletopEnv for task family `task`, already reset with `seed` when one is given."""
    from vlaforge.sim.env import TabletopEnv

    env = TabletopEnv(family=task, split=split, image_size=image_size, perturb=perturb, render=render)
    if seed is not None:
        env.reset(seed=seed)
    return env


def _register() -> None:
    import gymnasium as gym

    if "vlaforge/Tabletop-v0" not in gym.registry:
        gym.register(id="vlaforge/Tabletop-v0", entry_point="vlaforge.sim.env:TabletopEnv")


try:  # registration is cheap (no mujoco import); gymnasium is a dependency
    _register()
except ImportError:  # pragma: no cover
    pass
