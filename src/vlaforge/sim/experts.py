"""Scripted experts: closed-loop (re-planned from the current state every step), with subtask phrases.

The expert works through the task's moves; the task's family says when a move is done, which move
comes next and plans each step (grasping families: reach → descend → grasp → lift → move over the
target → lower → release; push: get behind the object, lower, push through; see
`vlaforge.sim.families`). When every move is done it releases and retreats. Because every decision
is re-made from the current state, the expert recovers from moved objects, moved bins and slipped grasps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vlaforge.sim.env import TabletopEnv
from vlaforge.sim.families.base import SAFE_Z, toward
from vlaforge.sim.tasks import current_move


class Expert:
    """`expert(env) -> action`; `expert.subtask` is the phrase for the step just planned."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """New episode."""
        self.subtask = ""
        self.grip_hold = 0  # control steps the gripper has been closed on the object (the grasp plan reads it)
        self.move: tuple[int, dict[str, Any]] | None = None  # (object index, target) of the step just planned

    def __call__(self, env: TabletopEnv) -> np.ndarray:
        """The action for the current state; also labels the step (`env.subtask`)."""
        self.subtask, action = self._act(env)
        env.set_subtask(self.subtask)
        return action

    def _act(self, env: TabletopEnv) -> tuple[str, np.ndarray]:
        family = env.task_family
        move = current_move(env)
        self.move = move or self.move or family.moves(env.task)[-1]
        if move:
            return family.plan(self, env, *move)
        hp = env.hand_pos()
        if env.grip_cmd > 0.5 and family.grasps:  # placed but still holding: open in place
            return "release", toward(env, hp, 0.0)
        return "retreat", toward(env, np.array([hp[0], hp[1], SAFE_Z]), 0.0)
