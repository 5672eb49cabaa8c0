"""Meta-World's own scripted policies (`metaworld.policies`) as vlaforge experts."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


class MetaWorldExpert:
    """`expert(env) -> action (4,)` for a MetaWorldEnv, from the task's Sawyer*V3Policy reading the full 39-d state."""

    def __init__(self, task: str):
        from vlaforge.sim.metaworld import require_metaworld

        require_metaworld()
        from metaworld.policies import ENV_POLICY_MAP

        self.task = task
        self.policy = ENV_POLICY_MAP[task]()
        self.subtask = ""

    def __call__(self, env: Any) -> np.ndarray:
        """The next action, clipped to the env's [-1, 1] so a dataset records what was executed."""
        with warnings.catch_warnings():  # the policies warn about gains above 1 on most steps; the env clips anyway
            warnings.simplefilter("ignore", UserWarning)
            return np.clip(self.policy.get_action(env.raw), -1.0, 1.0).astype(np.float32)
