"""stack: put one object on top of another; the grasp plan of pick_place with an object as the drop spot."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import numpy as np

from vlaforge.sim.families.base import register_family
from vlaforge.sim.families.pick_place import PickPlace
from vlaforge.sim.language import describe
from vlaforge.sim.perturbations import free_spot, teleport
from vlaforge.sim.scene import HALF, N_OBJECTS

if TYPE_CHECKING:
    from vlaforge.sim.env import TabletopEnv


@register_family("stack")
class Stack(PickPlace):
    """Put one object on top of another."""

    templates = {
        "train": ["stack the {obj} on the {base}", "put the {obj} on top of the {base}", "place the {obj} on the {base}"],
        "heldout": ["set the {obj} down so it rests on the {base}", "build a tower: the {obj} goes above the {base}"],
        "val": ["rest the {obj} upon the {base}", "the {base} should end up under the {obj}"],
    }
    release_above = 0.012
    lower_phrase = "lower onto"

    def propose(self, rng: random.Random) -> dict[str, Any]:
        """Two different objects: the one to move and its base."""
        objs = self.objects(rng)
        i, j = rng.sample(range(N_OBJECTS), 2)
        return {"family": self.name, "objects": objs, "subject": [i], "target": {"kind": "object", "object": j, "color": objs[j]["color"]}}

    def fields(self, task: dict[str, Any]) -> dict[str, str]:
        """`obj` and `base` (the object it goes on)."""
        objs = task["objects"]
        return {"obj": describe(objs[task["subject"][0]]), "base": describe(objs[task["target"]["object"]])}

    def goal(self, env: TabletopEnv, target: dict[str, Any]) -> np.ndarray:
        """On top of the base object."""
        p = env.obj_pos(target["object"])
        return np.array([p[0], p[1], p[2] + 2 * HALF])

    def at_goal(self, env: TabletopEnv, i: int, target: dict[str, Any]) -> bool:
        """Object i sits on the base: within 2 cm of its axis, 1 cm of the stacked height."""
        p, g = env.obj_pos(i), self.goal(env, target)
        return np.linalg.norm(p[:2] - g[:2]) < 0.02 and abs(p[2] - g[2]) < 0.01

    def target_name(self, env: TabletopEnv, target: dict[str, Any]) -> str:
        """The base object ("the red block")."""
        return f"the {describe(env.task['objects'][target['object']])}"

    def drop_spot(self, env: TabletopEnv, i: int, target: dict[str, Any]) -> np.ndarray:
        """Right on top of the base."""
        return self.goal(env, target)

    def shift_goal(self, env: TabletopEnv, rng: random.Random) -> str:
        """Slide the base object about 5 cm to a free spot."""
        j = env.task["target"]["object"]
        p = env.obj_pos(j)
        xy = free_spot(env, rng, near=p, exclude=(j,), radius=(0.045, 0.055))
        if xy is None:
            return "no free spot; base left in place"
        teleport(env, j, xy)
        return f"base object {j} moved {np.linalg.norm(xy - p[:2]) * 100:.1f} cm"
