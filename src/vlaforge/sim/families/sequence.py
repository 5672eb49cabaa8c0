"""sequence: two pick-and-place steps in order, the first object into one bin, then the second into another."""

from __future__ import annotations

import random
from typing import Any

from vlaforge.sim.families.base import Move, register_family
from vlaforge.sim.families.pick_place import PickPlace, bin_target
from vlaforge.sim.language import describe
from vlaforge.sim.scene import BIN_COLORS, N_OBJECTS


@register_family("sequence")
class Sequence(PickPlace):
    """Two pick-and-place steps in order: the first object into one bin, then the second into another."""

    max_steps = 200
    templates = {
        "train": ["put the {obj} in the {bin} bin, then the {obj2} in the {bin2} bin",
                  "first move the {obj} into the {bin} bin, then move the {obj2} into the {bin2} bin"],
        "heldout": ["start with the {obj} into the {bin} container and after that the {obj2} into the {bin2} container",
                    "the {obj} goes in the {bin} box first; once done, the {obj2} goes in the {bin2} box"],
        "val": ["get the {obj} into the {bin} receptacle, and next the {obj2} into the {bin2} receptacle",
                "the {obj} to the {bin} pail, afterwards the {obj2} to the {bin2} pail"],
    }

    def propose(self, rng: random.Random) -> dict[str, Any]:
        """Two different objects and a bin for each (`target` is the first step's)."""
        objs = self.objects(rng)
        i, j = rng.sample(range(N_OBJECTS), 2)
        b1, b2 = rng.choice(BIN_COLORS), rng.choice(BIN_COLORS)
        return {"family": self.name, "objects": objs, "subject": [i, j], "target": bin_target(b1), "targets": [bin_target(b1), bin_target(b2)]}

    def moves(self, task: dict[str, Any]) -> list[Move]:
        """Each object with its own bin, in order."""
        return list(zip(task["subject"], task["targets"]))

    def fields(self, task: dict[str, Any]) -> dict[str, str]:
        """`obj`, `bin`, `obj2`, `bin2`: the two steps."""
        objs = task["objects"]
        return {"obj": describe(objs[task["subject"][0]]), "bin": task["targets"][0]["color"],
                "obj2": describe(objs[task["subject"][1]]), "bin2": task["targets"][1]["color"]}
