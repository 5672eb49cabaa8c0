"""Scripted experts: closed-loop (re-planned from the current state every step), with subtask phrases.

Pick-style moves: reach above the object → descend → grasp → lift → move over the target →
lower → release → retreat. Push: go behind the object (opposite the marker), lower, push through.
Because every decision is re-made from the current state, the expert recovers from moved objects,
moved bins and slipped grasps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vlaforge.sim import tasks
from vlaforge.sim.env import MAX_DELTA, TabletopEnv
from vlaforge.sim.language import describe
from vlaforge.sim.scene import HALF

SAFE_Z = 0.12
PAD_MIN_Z = 0.03  # the pads touch the table below this


def _target_name(env: TabletopEnv, target: dict[str, Any]) -> str:
    if target["kind"] == "bin":
        return f"the {target['color']} bin"
    if target["kind"] == "marker":
        return "the white target"
    return f"the {describe(env.task['objects'][target['object']])}"


class Expert:
    """`expert(env) -> action`; `expert.subtask` is the phrase for the step just planned."""

    def __init__(self) -> None:
        self.subtask = ""
        self.grip_hold = 0

    def reset(self) -> None:
        """New episode."""
        self.subtask, self.grip_hold = "", 0

    def _move(self, env: TabletopEnv, goal: np.ndarray, grip: float, gain: float = 1.0) -> np.ndarray:
        d = np.clip((goal - env.hand_pos()) * gain, -MAX_DELTA, MAX_DELTA)
        return np.array([*d, grip], np.float32)

    def __call__(self, env: TabletopEnv) -> np.ndarray:
        """The action for the current state."""
        todo = [(i, t) for i, t in tasks.steps_of(env.task) if not (env.at_goal(i, t) and not env.grasped(i))]
        if not todo:
            self.subtask = "done"
            hp = env.hand_pos()
            return self._move(env, np.array([hp[0], hp[1], SAFE_Z]), 0.0)
        i, target = todo[0]
        if target["kind"] == "marker":
            return self._push(env, i, target)
        return self._pick_place(env, i, target)

    def _pick_place(self, env: TabletopEnv, i: int, target: dict[str, Any]) -> np.ndarray:
        name = describe(env.task["objects"][i])
        hand, obj = env.hand_pos(), env.obj_pos(i)
        held = env.grasped(i) and obj[2] > HALF + 0.004 or (env.grasped(i) and env.grip_cmd > 0.5 and self.grip_hold >= 3)
        if env.grasped(i) and env.grip_cmd > 0.5:
            self.grip_hold += 1
        if held:
            goal = env.place_goal(target)
            release_z = goal[2] + 0.012 if target["kind"] == "object" else goal[2] + 0.03
            over = np.linalg.norm(hand[:2] - goal[:2])
            if hand[2] < 0.09 and over > 0.02 and obj[2] < 0.07 and over > 0.05:
                self.subtask = "lift"
                return self._move(env, np.array([hand[0], hand[1], SAFE_Z]), 1.0)
            if over > 0.01:
                self.subtask = f"move over {_target_name(env, target)}"
                z = SAFE_Z if over > 0.03 else max(release_z, hand[2] - MAX_DELTA)
                return self._move(env, np.array([goal[0], goal[1], z]), 1.0, gain=1.5)
            if hand[2] > release_z + 0.006:
                self.subtask = f"lower onto {_target_name(env, target)}" if target["kind"] == "object" else f"move over {_target_name(env, target)}"
                return self._move(env, np.array([goal[0], goal[1], release_z]), 1.0)
            self.subtask = "release"
            self.grip_hold = 0
            return self._move(env, np.array([goal[0], goal[1], hand[2]]), 0.0)
        self.grip_hold = 0 if not env.grasped(i) else self.grip_hold
        # Not holding it: open if the gripper is closed on nothing, then reach, descend, grasp.
        xy_err = np.linalg.norm(hand[:2] - obj[:2])
        if env.grip_cmd > 0.5 and not env.grasped(i):
            if env.opening() < 0.045 and hand[2] < max(obj[2], PAD_MIN_Z) + 0.02 and xy_err < 0.012:
                self.subtask = f"grasp the {name}"  # fingers still closing on it
                return self._move(env, np.array([obj[0], obj[1], max(obj[2], PAD_MIN_Z)]), 1.0)
            self.subtask = "release"
            return self._move(env, np.array([hand[0], hand[1], hand[2] + 0.01]), 0.0)
        if xy_err > 0.012:
            self.subtask = f"reach the {name}"
            z = SAFE_Z if xy_err > 0.04 else max(obj[2] + 0.04, hand[2] - 0.005)
            return self._move(env, np.array([obj[0], obj[1], max(z, obj[2] + 0.04) if xy_err > 0.02 else z]), 0.0, gain=1.5)
        grasp_z = max(obj[2], PAD_MIN_Z)
        if hand[2] > grasp_z + 0.005:
            self.subtask = f"reach the {name}"
            return self._move(env, np.array([obj[0], obj[1], grasp_z]), 0.0)
        self.subtask = f"grasp the {name}"
        return self._move(env, np.array([obj[0], obj[1], grasp_z]), 1.0)

    def _push(self, env: TabletopEnv, i: int, target: dict[str, Any]) -> np.ndarray:
        name = describe(env.task["objects"][i])
        hand, obj, goal = env.hand_pos(), env.obj_pos(i), env.place_goal(target)
        d = goal[:2] - obj[:2]
        dist = np.linalg.norm(d)
        u = d / max(dist, 1e-6)
        behind = obj[:2] - u * (HALF + 0.035)
        low = HALF
        # Distance of the hand from the push line (behind → object).
        rel = hand[:2] - obj[:2]
        along = float(rel @ u)
        lateral = float(np.linalg.norm(rel - along * u))
        if along < -0.02 and lateral < 0.012 and hand[2] < low + 0.02:
            self.subtask = f"push the {name} to the white target"
            tgt = goal[:2] - u * (HALF + 0.02)
            step = np.clip(tgt - hand[:2], -0.012, 0.012)
            return np.array([step[0], step[1], np.clip(low - hand[2], -MAX_DELTA, MAX_DELTA), 1.0], np.float32)
        self.subtask = f"move behind the {name}"
        if np.linalg.norm(hand[:2] - behind) > 0.01:
            z = SAFE_Z * 0.6 if np.linalg.norm(hand[:2] - obj[:2]) < 0.07 or hand[2] > low + 0.03 else hand[2]
            return self._move(env, np.array([behind[0], behind[1], max(z, low + 0.04)]), 1.0, gain=1.5)
        return self._move(env, np.array([behind[0], behind[1], low]), 1.0)
