"""put_all: put every object of one color (two of them) into a bin, in whatever order is nearest."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import numpy as np

from vlaforge.sim.families.base import Move, register_family
from vlaforge.sim.families.pick_place import PickPlace, bin_target
from vlaforge.sim.scene import BIN_COLORS, COLORS, N_OBJECTS, SHAPES

if TYPE_CHECKING:
    from vlaforge.sim.env import TabletopEnv


@register_family("put_all")
class PutAll(PickPlace):
    """Put every object of one color (two of them) into a bin."""

    max_steps = 200
    templates = {
        "train": ["put all the {color} objects in the {bin} bin", "move every {color} object into the {bin} bin",
                  "put the {color} things in the {bin} bin"],
        "heldout": ["gather each {color} item into the {bin} container", "clear the {color} pieces off the table into the {bin} box"],
        "val": ["collect all {color} stuff in the {bin} receptacle", "sweep the {color} ones into the {bin} pail"],
    }

    def propose(self, rng: random.Random) -> dict[str, Any]:
        """Two objects of one color, two of other colors, and a bin."""
        c = rng.choice(list(COLORS))
        cols = [c, c] + rng.sample([x for x in COLORS if x != c], N_OBJECTS - 2)
        rng.shuffle(cols)
        objs = [{"color": col, "shape": rng.choice(SHAPES)} for col in cols]
        idx = [k for k, o in enumerate(objs) if o["color"] == c]
        return {"family": self.name, "objects": objs, "subject": idx, "color": c, "target": bin_target(rng.choice(BIN_COLORS))}

    def fields(self, task: dict[str, Any]) -> dict[str, str]:
        """`color` (of the objects to move) and `bin`."""
        return {"color": task["color"], "bin": task["target"]["color"]}

    def order_moves(self, env: TabletopEnv, todo: list[Move]) -> list[Move]:
        """The held object first, else the nearest to the hand."""
        if len(todo) < 2:
            return todo
        # Any order is right; nearest-first makes the choice visible in the frame (an order by object
        # index is invisible to a policy that imitates it).
        hand = env.hand_pos()
        held = [m for m in todo if env.grasped(m[0])]
        return held + sorted((m for m in todo if m not in held), key=lambda m: float(np.linalg.norm(env.obj_pos(m[0])[:2] - hand[:2])))
