"""push: push one object onto the white marker, without grasping it.

The layout keeps the push corridor (from behind the object to just past the marker) clear of the
other objects, and the perturbations keep it clear too. Expert plan: go behind the object
(opposite the marker) above every object, lower, push through along the object–marker line.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import numpy as np

from vlaforge.sim.families.base import Step, TaskFamily, register_family, table_spot, toward
from vlaforge.sim.language import describe
from vlaforge.sim.scene import HALF, MAX_DELTA, N_OBJECTS

if TYPE_CHECKING:
    from vlaforge.sim.env import TabletopEnv
    from vlaforge.sim.experts import Expert

# push has one target (the white marker), so its held-out combinations are (color, shape).
HELDOUT_SHAPES = {("yellow", "cylinder"), ("blue", "block")}
PUSH_BEHIND = 0.045  # pusher (closed pads) centre behind the object centre
PUSH_Z = 0.03  # pad centre height while pushing (pad bottom 5 mm above the table)
CLEAR_Z = 0.08  # pad centre height that clears every object on the table
PUSH_DONE = 0.012  # the expert pushes until the object is this close to the marker centre


def corridor(obj_xy: np.ndarray, marker_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segment swept by a push: from 7 cm behind the object to 2 cm past the marker."""
    u = (marker_xy - obj_xy) / max(float(np.linalg.norm(marker_xy - obj_xy)), 1e-6)
    return obj_xy - 0.07 * u, marker_xy + 0.02 * u


def seg_dist(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Distance from point p to segment a-b (2D)."""
    ab = b - a
    t = float(np.clip((p - a) @ ab / max(float(ab @ ab), 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))


def layout_ok(env: TabletopEnv, obj_xy: np.ndarray, marker_xy: np.ndarray, exclude: tuple[int, ...] = (),
              others: list[np.ndarray] | None = None, extra: list[np.ndarray] = ()) -> bool:
    """A push from obj_xy to marker_xy can start behind the object (on the table, clear of the bins) and its
    corridor is clear of the objects other than the subject (all but `exclude`, or `others`) and of `extra`."""
    start, end = corridor(obj_xy, marker_xy)
    if not (abs(start[0]) < 0.25 and -0.22 < start[1] < -0.03):
        return False
    if others is None:
        subj = set(env.task["subject"])
        others = [env.obj_pos(k)[:2] for k in range(N_OBJECTS) if k not in exclude and k not in subj]
    return all(seg_dist(q, start, end) > 0.07 for q in [*others, *extra])


def place_marker(env: TabletopEnv, rng: random.Random, obj_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Put the push marker 8-15 cm from the object; return the push corridor (start, end)."""
    for _ in range(500):
        xy = np.array([rng.uniform(-0.18, 0.18), rng.uniform(-0.15, -0.02)])
        if 0.08 < np.linalg.norm(xy - obj_xy) < 0.15 and layout_ok(env, obj_xy, xy, others=[]):
            break
    env.data.mocap_pos[env._mocap["target"]] = [xy[0], xy[1], 0.0]
    return corridor(obj_xy, xy)


@register_family("push")
class Push(TaskFamily):
    """Push one object onto the white marker (no grasp)."""

    grasps = False
    templates = {
        "train": ["push the {obj} to the white target", "slide the {obj} onto the white circle",
                  "push the {obj} onto the white marker"],
        "heldout": ["nudge the {obj} until it sits on the white spot", "shove the {obj} over to the white disc"],
        "val": ["get the {obj} so it covers the white dot", "the white patch is where the {obj} should end up"],
    }

    def propose(self, rng: random.Random) -> dict[str, Any]:
        """A random object and the white marker."""
        objs = self.objects(rng)
        return {"family": self.name, "objects": objs, "subject": [rng.randrange(N_OBJECTS)], "target": {"kind": "marker", "color": "white"}}

    def combos(self, task: dict[str, Any]) -> list[tuple[str, str]]:
        """The pushed object's (color, shape)."""
        o = task["objects"][task["subject"][0]]
        return [(o["color"], o["shape"])]

    def is_heldout(self, task: dict[str, Any]) -> bool:
        """True when the pushed object's (color, shape) is held out."""
        return any(c in HELDOUT_SHAPES for c in self.combos(task))

    def place_objects(self, env: TabletopEnv, rng: random.Random) -> dict[int, np.ndarray]:
        """The subject first, then the marker 8-15 cm away, then the other objects clear of the push corridor."""
        s = env.task["subject"][0]
        placed = {s: table_spot(rng, {})}
        start, end = place_marker(env, rng, placed[s])
        for k in range(N_OBJECTS):
            if k != s:
                placed[k] = table_spot(rng, placed, ok=lambda xy: seg_dist(xy, start, end) > 0.07)
        return placed

    def goal(self, env: TabletopEnv, target: dict[str, Any]) -> np.ndarray:
        """The marker's centre, at object height."""
        p = env.target_pos()
        return np.array([p[0], p[1], HALF])

    def at_goal(self, env: TabletopEnv, i: int, target: dict[str, Any]) -> bool:
        """Object i's centre is within 3.5 cm of the marker's, on the table."""
        p, g = env.obj_pos(i), self.goal(env, target)
        return np.linalg.norm(p[:2] - g[:2]) < 0.035 and p[2] < HALF + 0.01

    def move_done(self, env: TabletopEnv, i: int, target: dict[str, Any]) -> bool:
        """Pushed a little past the success radius so it holds, or on the marker with the pusher lifted."""
        return float(np.linalg.norm(env.obj_pos(i)[:2] - self.goal(env, target)[:2])) < PUSH_DONE or (
            self.at_goal(env, i, target) and env.hand_pos()[2] > CLEAR_Z - 0.02)

    def plan(self, expert: Expert, env: TabletopEnv, i: int, target: dict[str, Any]) -> Step:
        """Push plan: get behind the object in line with the marker, low, then push along the line."""
        name = describe(env.task["objects"][i])
        hand, obj, goal = env.hand_pos(), env.obj_pos(i), self.goal(env, target)
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
            # Keep the pusher on the line through the object and the marker; slow down near the goal.
            want = obj[:2] + u * (along + min(0.012, 0.8 * dist))
            dxy = np.clip(want - hand[:2], -0.015, 0.015)
            action = np.array([dxy[0], dxy[1], np.clip(PUSH_Z - hand[2], -MAX_DELTA, MAX_DELTA), 1.0], np.float32)
            return f"push the {name} to the white target", action
        behind_phrase = f"move behind the {name}"
        off = float(np.linalg.norm(hand[:2] - behind))
        if low and off > 0.01 and np.linalg.norm(rel) < 0.06:
            # Back away from the object before lifting, so friction on the pads does not carry it up.
            away = rel / max(float(np.linalg.norm(rel)), 1e-6)
            xy = obj[:2] + away * 0.07
            return behind_phrase, toward(env, np.array([xy[0], xy[1], hand[2] + 0.004]), 1.0)
        if off > 0.01:
            # Travel above every object; go up first if low and not already right behind.
            if hand[2] < CLEAR_Z - 0.01:
                return behind_phrase, toward(env, np.array([hand[0], hand[1], CLEAR_Z + 0.01]), 1.0)
            return behind_phrase, toward(env, np.array([behind[0], behind[1], CLEAR_Z + 0.01]), 1.0, gain=1.5)
        return behind_phrase, toward(env, np.array([behind[0], behind[1], PUSH_Z]), 1.0)

    def subject_spot_ok(self, env: TabletopEnv, i: int, xy: np.ndarray) -> bool:
        """The object can still be pushed from `xy` to the marker along a clear corridor."""
        return layout_ok(env, xy, env.target_pos()[:2], exclude=(i,))

    def distractor_spot_ok(self, env: TabletopEnv, xy: np.ndarray) -> bool:
        """A distractor at `xy` stays out of the push corridor."""
        return layout_ok(env, env.obj_pos(env.task["subject"][0])[:2], env.target_pos()[:2], extra=[xy])

    def shift_goal(self, env: TabletopEnv, rng: random.Random) -> str:
        """Slide the marker 5 cm in a random direction, keeping the push feasible and its corridor clear."""
        k = env._mocap["target"]
        i = env.task["subject"][0]
        obj = env.obj_pos(i)[:2]
        for _ in range(100):
            ang = rng.uniform(0, 2 * np.pi)
            new = env.data.mocap_pos[k][:2] + 0.05 * np.array([np.cos(ang), np.sin(ang)])
            if -0.2 < new[0] < 0.2 and -0.17 < new[1] < -0.02 and np.linalg.norm(new - obj) > 0.05 and layout_ok(env, obj, new, exclude=(i,)):
                env.data.mocap_pos[k][:2] = new
                return f"push marker moved to ({new[0]:.2f}, {new[1]:.2f})"
        return "no free spot; marker left in place"
