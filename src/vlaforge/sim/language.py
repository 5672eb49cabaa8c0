"""Instruction templates per task family: a train set and a disjoint held-out set of paraphrases."""

from __future__ import annotations

import random
from typing import Any

TEMPLATES: dict[str, dict[str, list[str]]] = {
    "pick_place": {
        "train": ["put the {obj} in the {bin} bin", "pick up the {obj} and drop it in the {bin} bin", "move the {obj} into the {bin} bin"],
        "heldout": ["place the {obj} inside the {bin} container", "the {obj} belongs in the {bin} bin, put it there"],
    },
    "push": {
        "train": ["push the {obj} to the white target", "slide the {obj} onto the white circle"],
        "heldout": ["nudge the {obj} until it sits on the white marker"],
    },
    "stack": {
        "train": ["stack the {obj} on the {base}", "put the {obj} on top of the {base}"],
        "heldout": ["place the {obj} so it rests on the {base}"],
    },
    "put_all": {
        "train": ["put all the {color} objects in the {bin} bin", "move every {color} object into the {bin} bin"],
        "heldout": ["gather each {color} item into the {bin} container"],
    },
    "sequence": {
        "train": ["put the {obj} in the {bin} bin, then the {obj2} in the {bin2} bin"],
        "heldout": ["first place the {obj} inside the {bin} container and after that the {obj2} inside the {bin2} container"],
    },
}


def describe(o: dict[str, str]) -> str:
    """'red block', 'green cylinder'."""
    return f"{o['color']} {o['shape']}"


def instruction(task: dict[str, Any], wording: str, rng: random.Random) -> str:
    """Phrase a structured task with a train or held-out template."""
    objs = task["objects"]
    fields = {"obj": describe(objs[task["subject"][0]]), "bin": task["target"].get("color", ""),
              "base": describe(objs[task["target"]["object"]]) if "object" in task["target"] else "",
              "color": task.get("color", "")}
    if task["family"] == "sequence":
        fields.update(obj2=describe(objs[task["subject"][1]]), bin=task["targets"][0]["color"], bin2=task["targets"][1]["color"])
    return rng.choice(TEMPLATES[task["family"]][wording]).format(**fields)
