"""Instruction templates per task family: a train set and two disjoint sets of unseen paraphrases.

`instruction(task, wording, rng)` phrases a structured task (see `tasks.py`); wording "train" is
used for the seen and heldout-combos splits, "heldout" for the heldout-wording test split, and "val"
for the val-wording split, on which design choices (e.g. text augmentations) are made so the test
wording stays unseen by people as well as by models.
"""

from __future__ import annotations

import random
from typing import Any

TEMPLATES: dict[str, dict[str, list[str]]] = {
    "pick_place": {
        "train": ["put the {obj} in the {bin} bin", "pick up the {obj} and drop it in the {bin} bin",
                  "move the {obj} into the {bin} bin", "place the {obj} in the {bin} bin"],
        "heldout": ["the {obj} belongs in the {bin} container, put it there", "grab the {obj} and leave it inside the {bin} box"],
        "val": ["get the {obj} into the {bin} receptacle", "the {bin} pail is where the {obj} should go"],
    },
    "push": {
        "train": ["push the {obj} to the white target", "slide the {obj} onto the white circle",
                  "push the {obj} onto the white marker"],
        "heldout": ["nudge the {obj} until it sits on the white spot", "shove the {obj} over to the white disc"],
        "val": ["get the {obj} so it covers the white dot", "the white patch is where the {obj} should end up"],
    },
    "stack": {
        "train": ["stack the {obj} on the {base}", "put the {obj} on top of the {base}", "place the {obj} on the {base}"],
        "heldout": ["set the {obj} down so it rests on the {base}", "build a tower: the {obj} goes above the {base}"],
        "val": ["rest the {obj} upon the {base}", "the {base} should end up under the {obj}"],
    },
    "put_all": {
        "train": ["put all the {color} objects in the {bin} bin", "move every {color} object into the {bin} bin",
                  "put the {color} things in the {bin} bin"],
        "heldout": ["gather each {color} item into the {bin} container", "clear the {color} pieces off the table into the {bin} box"],
        "val": ["collect all {color} stuff in the {bin} receptacle", "sweep the {color} ones into the {bin} pail"],
    },
    "sequence": {
        "train": ["put the {obj} in the {bin} bin, then the {obj2} in the {bin2} bin",
                  "first move the {obj} into the {bin} bin, then move the {obj2} into the {bin2} bin"],
        "heldout": ["start with the {obj} into the {bin} container and after that the {obj2} into the {bin2} container",
                    "the {obj} goes in the {bin} box first; once done, the {obj2} goes in the {bin2} box"],
        "val": ["get the {obj} into the {bin} receptacle, and next the {obj2} into the {bin2} receptacle",
                "the {obj} to the {bin} pail, afterwards the {obj2} to the {bin2} pail"],
    },
}
# The env split that uses each wording other than "train".
WORDING_OF_SPLIT = {"heldout-wording": "heldout", "val-wording": "val"}


def describe(o: dict[str, str]) -> str:
    """'red block', 'green cylinder'."""
    return f"{o['color']} {o['shape']}"


def fields(task: dict[str, Any]) -> dict[str, str]:
    """Template fields of a structured task (obj, bin, base, color, obj2, bin2)."""
    objs, target = task["objects"], task["target"]
    out = {"obj": describe(objs[task["subject"][0]]), "bin": target.get("color", ""), "color": task.get("color", ""),
           "base": describe(objs[target["object"]]) if "object" in target else ""}
    if task["family"] == "sequence":
        out.update(obj2=describe(objs[task["subject"][1]]), bin=task["targets"][0]["color"], bin2=task["targets"][1]["color"])
    return out


def instruction(task: dict[str, Any], wording: str, rng: random.Random) -> str:
    """Phrase a structured task with a train or held-out template."""
    return rng.choice(TEMPLATES[task["family"]][wording]).format(**fields(task))
