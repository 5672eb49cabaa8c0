"""Expert planner: the scripted expert's next H actions, planned in a private copy of the live env.

`ExpertPlanner(env, horizon=16)(obs, instruction) -> (H, 4)` copies the live env's state
(`TabletopEnv.get_state`) into a render-free twin, lets a fresh `Expert` drive the twin for H
steps and returns the actions it took. That makes it an open-loop chunk policy which succeeds,
so chunk executors can be judged under latency without training a model. The live env is only
read, never stepped. The twin starts without perturbations: the oracle does not foresee them.
Given `prefix=` (actions that will run while the chunk is computed) it simulates them first and
plans from where they lead, which is the frozen prefix of real-time chunking.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from vlaforge.errors import VlaforgeError
from vlaforge.sim.env import TabletopEnv
from vlaforge.sim.experts import Expert


class ExpertPlanner:
    """`predict(obs, instruction) -> (H, A)` from the live env's current state (see module doc)."""

    def __init__(self, env: TabletopEnv, horizon: int = 16):
        if not isinstance(horizon, int) or horizon < 1:
            raise VlaforgeError(f"horizon must be a positive integer; got {horizon!r}")
        self.env, self.horizon = env, horizon
        self.twin = TabletopEnv(family=env.family, split=env.split, image_size=env.image_size, render=False)
        self.inference_ms: list[float] = []

    def __call__(self, obs: dict[str, np.ndarray], instruction: str, prefix: np.ndarray | None = None) -> np.ndarray:
        """The expert's next `horizon` actions (H, A) from the live env's state, which must be the state `obs` shows.

        `prefix` (k, A): actions that will run first (while this chunk is being computed); they are
        simulated, the expert plans from where they lead, and the chunk starts with them."""
        t0 = time.perf_counter()
        live = self.env
        state = np.array([*live.hand_pos(), live.opening()], np.float32)  # (4,)
        if not np.array_equal(state, np.asarray(obs["observation.state"], np.float32)):
            raise VlaforgeError("ExpertPlanner plans from the live env's current state, but obs['observation.state'] "
                                f"is {np.asarray(obs['observation.state']).tolist()} and the env is at {state.tolist()}: "
                                "query it right after env.step/reset, from the env loop's thread (simulated clock)")
        self.twin.set_state(live.get_state())
        actions = [np.asarray(a, np.float32) for a in (prefix if prefix is not None else [])][: self.horizon]
        for a in actions:
            self.twin.step(a)
        expert = Expert()
        for _ in range(self.horizon - len(actions)):
            a = expert(self.twin)  # (A,)
            actions.append(a)
            self.twin.step(a)
        self.inference_ms.append((time.perf_counter() - t0) * 1000)
        return np.stack(actions).astype(np.float32)  # (H, A)

    def reset(self) -> None:
        """Forget the per-call timings (new episode)."""
        self.inference_ms = []


def roll_out(env: TabletopEnv, actor: Any, seed: int) -> tuple[bool, np.ndarray]:
    """Reset `env` at `seed`, then `actor.reset()`; step `actor(obs, instruction)` to the episode's end → (success, actions (T, A))."""
    obs, info = env.reset(seed=seed)
    actor.reset()
    actions = []
    for _ in range(env.max_steps):
        a = actor(obs, info["instruction"])
        actions.append(a)
        obs, _, terminated, truncated, info = env.step(a)
        if terminated or truncated:
            break
    return bool(info["success"]), np.stack(actions)
