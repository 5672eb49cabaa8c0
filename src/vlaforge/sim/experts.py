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
BIN_SLOT = 0.03  # drop spots at the bin centre +- this along y
PUSH_BEHIND = 0.045  # pusher (closed pads) centre behind the object centre
PUSH_Z = 0.03  # pad centre height while pushing (pad bottom 5 mm above the table)
CLEAR_Z = 0.08  # pad centre height that clears every object on the table
PUSH_DONE = 0.012  # the expert pushes until the object is this close to the marker centre


def _target_name(env: TabletopEnv, target: dict[str, Any]) -> str:
    if target["kind"] == "bin":
        return f"the {target['color']} bin"
    if target["kind"] == "marker":
        return "the white target"
    return f"the {describe(env.task['objects'][target['object']])}"


class Expert:
    """`expert(env) -> action`; `expert.subtask` is the phrase for the step just planned."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """New episode."""
        self.subtask, self.grip_hold = "", 0
        self.move: tuple[int, dict[str, Any]] | None = None  # (object index, target) of the step just planned

    @staticmethod
    def _done(env: TabletopEnv, i: int, target: dict[str, Any]) -> bool:
        if target["kind"] == "marker":  # push a little past the success radius so it holds
            return float(np.linalg.norm(env.obj_pos(i)[:2] - env.place_goal(target)[:2])) < PUSH_DONE or (
                env.at_goal(i, target) and env.hand_pos()[2] > CLEAR_Z - 0.02)
        return env.at_goal(i, target) and not env.grasped(i)

    def _move(self, env: TabletopEnv, goal: np.ndarray, grip: float, gain: float = 1.0) -> np.ndarray:
        d = np.clip((goal - env.hand_pos()) * gain, -MAX_DELTA, MAX_DELTA)
        return np.array([*d, grip], np.float32)

    def __call__(self, env: TabletopEnv) -> np.ndarray:
        """The action for the current state; also labels the step (`env.subtask`)."""
        action = self._act(env)
        env.set_subtask(self.subtask)
        return action

    def _act(self, env: TabletopEnv) -> np.ndarray:
        todo = [(i, t) for i, t in tasks.steps_of(env.task) if not self._done(env, i, t)]
        if env.task["family"] == "put_all" and len(todo) > 1:
            # Any order is right: take the held object, else the nearest, so the choice can be seen in the frame
            # (an order by object index is invisible to a policy that imitates it).
            hand = env.hand_pos()
            held = [m for m in todo if env.grasped(m[0])]
            todo = held + sorted((m for m in todo if m not in held), key=lambda m: float(np.linalg.norm(env.obj_pos(m[0])[:2] - hand[:2])))
        self.move = todo[0] if todo else (self.move or tasks.steps_of(env.task)[-1])
        if not todo:
            hp = env.hand_pos()
            if env.grip_cmd > 0.5 and env.task["family"] != "push":  # placed but still holding: open in place
                self.subtask = "release"
                return self._move(env, hp, 0.0)
            self.subtask = "retreat"
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
            goal = self._drop_spot(env, i, target)
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

    @staticmethod
    def _drop_spot(env: TabletopEnv, i: int, target: dict[str, Any]) -> np.ndarray:
        """Where to put object i: bins hold two objects side by side (along y, clear of the fingers)."""
        goal = env.place_goal(target)
        if target["kind"] != "bin":
            return goal
        others = [env.obj_pos(k)[:2] for k in range(len(env.task["objects"])) if k != i]
        slots = [goal + np.array([0.0, dy, 0.0]) for dy in (-BIN_SLOT, BIN_SLOT)]
        return max(slots, key=lambda s: min((float(np.linalg.norm(s[:2] - o)) for o in others), default=1.0))

    def _push(self, env: TabletopEnv, i: int, target: dict[str, Any]) -> np.ndarray:
        name = describe(env.task["objects"][i])
        hand, obj, goal = env.hand_pos(), env.obj_pos(i), env.place_goal(target)
        d = goal[:2] - obj[:2]
        dist = float(np.linalg.norm(d))
        u = d / max(dist, 1e-6)
        behind = obj[:2] - u * PUSH_BEHIND
        rel = hand[:2] - obj[:2]
        along = float(rel @ u)
        lateral = float(np.linalg.norm(rel - along * u))
        in_line = -PUSH_BEHIND - 0.02 < along < -0.012 and lateral < 0.015
        low = hand[2] < CLEAR_Z - 0.01
        if in_line and hand[2] < PUSH_Z + 0.012:
            self.subtask = f"push the {name} to the white target"
            # Keep the pusher on the line through the object and the marker; slow down near the goal.
            want = obj[:2] + u * (along + min(0.012, 0.8 * dist))
            dxy = np.clip(want - hand[:2], -0.015, 0.015)
            return np.array([dxy[0], dxy[1], np.clip(PUSH_Z - hand[2], -MAX_DELTA, MAX_DELTA), 1.0], np.float32)
        self.subtask = f"move behind the {name}"
        off = float(np.linalg.norm(hand[:2] - behind))
        if low and off > 0.01 and np.linalg.norm(rel) < 0.06:
            # Back away from the object before lifting, so friction on the pads does not carry it up.
            away = rel / max(float(np.linalg.norm(rel)), 1e-6)
            xy = obj[:2] + away * 0.07
            return self._move(env, np.array([xy[0], xy[1], hand[2] + 0.004]), 1.0)
        if off > 0.01:
            # Travel above every object; go up first if low and not already right behind.
            if hand[2] < CLEAR_Z - 0.01:
                return self._move(env, np.array([hand[0], hand[1], CLEAR_Z + 0.01]), 1.0)
            return self._move(env, np.array([behind[0], behind[1], CLEAR_Z + 0.01]), 1.0, gain=1.5)
        return self._move(env, np.array([behind[0], behind[1], PUSH_Z]), 1.0)
