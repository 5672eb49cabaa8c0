"""Built-in MuJoCo tabletop suite: language tasks, scripted experts, perturbations, collection.

`make_env(task, seed=..., split=..., perturb=[...])` and the gymnasium id `vlaforge/Tabletop-v0`.
Public names resolve lazily, so `import vlaforge.sim` imports neither mujoco nor torch.
"""

from __future__ import annotations

from typing import Any

from vlaforge.lazy import lazy_getattr

_EXPORTS = {
    "TabletopEnv": "vlaforge.sim.env",
    "feature_spec": "vlaforge.sim.env",
    "Expert": "vlaforge.sim.experts",
    "TASKS": "vlaforge.sim.tasks",
    "SPLITS": "vlaforge.sim.tasks",
    "PERTURBATIONS": "vlaforge.sim.perturbations",
    "collect": "vlaforge.sim.collect",
    "play": "vlaforge.sim.play",
}

__all__ = sorted([*_EXPORTS, "make_env"])
ENV_ID = "vlaforge/Tabletop-v0"


def make_env(task: str = "pick_place", seed: int | None = None, split: str = "seen", perturb: list[str] | str | None = None,
             image_size: int = 96, render: bool = True, max_steps: int | None = None) -> Any:
    """A TabletopEnv for task family `task`, already reset with `seed` when one is given."""
    from vlaforge.sim.env import TabletopEnv

    env = TabletopEnv(family=task, split=split, image_size=image_size, perturb=perturb, render=render, max_steps=max_steps)
    if seed is not None:
        env.reset(seed=seed)
    return env


__getattr__ = lazy_getattr(__name__, _EXPORTS)


def _register() -> None:
    import gymnasium as gym

    if ENV_ID not in gym.registry:
        # kwargs of TabletopEnv: family, split, image_size, perturb, render, max_steps
        gym.register(id=ENV_ID, entry_point="vlaforge.sim.env:TabletopEnv")


try:  # registration is cheap (no mujoco import); gymnasium is a dependency
    _register()
except ImportError:  # pragma: no cover
    pass
