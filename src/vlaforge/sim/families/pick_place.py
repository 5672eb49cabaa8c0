"""pick_place: put one object into a bin; its grasp plan is the one every grasping family follows.

Expert plan: reach above the object → descend → grasp → lift → move over the target → lower →
release. Every decision is re-made from the current state, so the expert recovers from moved
objects, moved bins and slipped grasps.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import numpy as np

from vlaforge.sim.families.base import SAFE_Z, Step, TaskFamily, register_family, toward
from vlaforge.sim.language import describe
from vlaforge.sim.scene import BIN_COLORS, BIN_HALF, HALF, MAX_DELTA, N_OBJECTS

if TYPE_CHECKING:
    from vlaforge.sim.env import TabletopEnv
    from vlaforge.sim.experts import Expert

PAD_MIN_Z = 0.03  # the pads touch the table below this
BIN_SLOT = 0.03  # drop spots at the bin centre +- this along y


def bin_target(color: str) -> dict[str, str]:
    """The target dict of the `color` bin."""
    return {"kind": "bin", "color": color}


@register_family("pick_place")
class PickPlace(TaskFamily):
    """Put one object into a bin."""

    templates = {
        "train": ["put the {obj} in the {bin} bin", "pick up the {obj} and drop it in the {bin} bin",
                  "move the {obj} into the {bin} bin", "place the {obj} in the {bin} bin"],
        "heldout": ["the {obj} belongs in the {bin} container, put it there", "grab the {obj} and leave it inside the {bin} box"],
        "val": ["get the {obj} into the {bin} receptacle", "the {bin} pail is where the {obj} should go"],
    }
    release_above = 0.03  # the gripper opens this far above the drop spot
    lower_phrase = "move over"  # subtask while lowering onto the drop spot

    def propose(self, rng: random.Random) -> dict[str, Any]:
        """A random object and a random bin."""
        objs = self.objects(rng)
        return {"family": self.name, "objects": objs, "subject": [rng.randrange(N_OBJECTS)], "target": bin_target(rng.choice(BIN_COLORS))}

    def fields(self, task: dict[str, Any]) -> dict[str, str]:
        """`obj` and `bin` (its color)."""
        return {**super().fields(task), "bin": task["target"]["color"]}

    def goal(self, env: TabletopEnv, target: dict[str, Any]) -> np.ndarray:
        """The bin's centre, resting on its floor."""
        p = env.bin_pos(target["color"])
        return np.array([p[0], p[1], HALF + 0.002])

    def at_goal(self, env: TabletopEnv, i: int, target: dict[str, Any]) -> bool:
        """Object i lies inside the bin, 1 cm clear of its walls."""
        p, g = env.obj_pos(i), self.goal(env, target)
        return abs(p[0] - g[0]) < BIN_HALF - 0.01 and abs(p[1] - g[1]) < BIN_HALF - 0.01 and p[2] < 0.05

    def target_name(self, env: TabletopEnv, target: dict[str, Any]) -> str:
        """How subtask phrases name the target ("the blue bin")."""
        return f"the {target['color']} bin"

    def drop_spot(self, env: TabletopEnv, i: int, target: dict[str, Any]) -> np.ndarray:
        """Where to put object i: a bin holds two objects side by side (along y, clear of the fingers)."""
        goal = self.goal(env, target)
        others = [env.obj_pos(k)[:2] for k in range(len(env.task["objects"])) if k != i]
        slots = [goal + np.array([0.0, dy, 0.0]) for dy in (-BIN_SLOT, BIN_SLOT)]
        return max(slots, key=lambda s: min((float(np.linalg.norm(s[:2] - o)) for o in others), default=1.0))

    def plan(self, expert: Expert, env: TabletopEnv, i: int, target: dict[str, Any]) -> Step:
        """Grasp plan: carry the held object over its drop spot and release it, else open, reach and grasp it."""
        name = describe(env.task["objects"][i])
        hand, obj = env.hand_pos(), env.obj_pos(i)
        held = env.grasped(i) and obj[2] > HALF + 0.004 or (env.grasped(i) and env.grip_cmd > 0.5 and expert.grip_hold >= 3)
        if env.grasped(i) and env.grip_cmd > 0.5:
            expert.grip_hold += 1
        if held:
            goal = self.drop_spot(env, i, target)
            release_z = goal[2] + self.release_above
            over = np.linalg.norm(hand[:2] - goal[:2])
            if hand[2] < 0.09 and over > 0.02 and obj[2] < 0.07 and over > 0.05:
                return "lift", toward(env, np.array([hand[0], hand[1], SAFE_Z]), 1.0)
            if over > 0.01:
                z = SAFE_Z if over > 0.03 else max(release_z, hand[2] - MAX_DELTA)
                return f"move over {self.target_name(env, target)}", toward(env, np.array([goal[0], goal[1], z]), 1.0, gain=1.5)
            if hand[2] > release_z + 0.006:
                return f"{self.lower_phrase} {self.target_name(env, target)}", toward(env, np.array([goal[0], goal[1], release_z]), 1.0)
            expert.grip_hold = 0
            return "release", toward(env, np.array([goal[0], goal[1], hand[2]]), 0.0)
        expert.grip_hold = 0 if not env.grasped(i) else expert.grip_hold
        # Not holding it: open if the gripper is closed on nothing, then reach, descend, grasp.
        xy_err = np.linalg.norm(hand[:2] - obj[:2])
        if env.grip_cmd > 0.5 and not env.grasped(i):
            if env.opening() < 0.045 and hand[2] < max(obj[2], PAD_MIN_Z) + 0.02 and xy_err < 0.012:
                # fingers still closing on it
                return f"grasp the {name}", toward(env, np.array([obj[0], obj[1], max(obj[2], PAD_MIN_Z)]), 1.0)
            return "release", toward(env, np.array([hand[0], hand[1], hand[2] + 0.01]), 0.0)
        if xy_err > 0.012:
            z = SAFE_Z if xy_err > 0.04 else max(obj[2] + 0.04, hand[2] - 0.005)
            xyz = np.array([obj[0], obj[1], max(z, obj[2] + 0.04) if xy_err > 0.02 else z])
            return f"reach the {name}", toward(env, xyz, 0.0, gain=1.5)
        grasp_z = max(obj[2], PAD_MIN_Z)
        if hand[2] > grasp_z + 0.005:
            return f"reach the {name}", toward(env, np.array([obj[0], obj[1], grasp_z]), 0.0)
        return f"grasp the {name}", toward(env, np.array([obj[0], obj[1], grasp_z]), 1.0)

    def shift_goal(self, env: TabletopEnv, rng: random.Random) -> str:
        """Slide the task's bin 5 cm in a random direction, staying on the table and clear of the other bin."""
        c = env.task["target"]["color"]
        k = env._mocap[f"bin_{c}"]
        other = [env.bin_pos(b)[:2] for b in env.bin_colors if b != c]
        for _ in range(100):
            ang = rng.uniform(0, 2 * np.pi)
            new = env.data.mocap_pos[k][:2] + 0.05 * np.array([np.cos(ang), np.sin(ang)])
            if -0.22 < new[0] < 0.22 and 0.075 < new[1] < 0.17 and all(np.abs(new - o).max() > 0.15 for o in other):
                env.data.mocap_pos[k][:2] = new
                return f"{c} bin moved to ({new[0]:.2f}, {new[1]:.2f})"
        return "no free spot; bin left in place"
