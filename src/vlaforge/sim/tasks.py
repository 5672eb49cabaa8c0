"""Task families: sample a structured task for a scene, split seen / held-out combinations, check success."""

from __future__ import annotations

import random
from typing import Any

from vlaforge.sim.scene import BIN_COLORS, COLORS, N_OBJECTS, SHAPES

FAMILIES = ("pick_place", "push", "stack", "put_all", "sequence")
SPLITS = ("seen", "heldout-wording", "heldout-combos")
# (object color, target color) pairs never shown in training data; evaluated as "heldout-combos".
HELDOUT_COMBOS = {("green", "yellow"), ("red", "blue")}
MAX_STEPS = {"pick_place": 80, "push": 80, "stack": 80, "put_all": 160, "sequence": 160}


def sample_objects(rng: random.Random, family: str) -> list[dict[str, str]]:
    """Colors and shapes of the scene's objects (put_all gets exactly two of one color)."""
    colors = list(COLORS)
    if family == "put_all":
        c = rng.choice(colors)
        others = [x for x in colors if x != c]
        cols = [c, c] + rng.sample(others, N_OBJECTS - 2)
    else:
        cols = rng.sample(colors, N_OBJECTS)
    return [{"color": col, "shape": rng.choice(SHAPES)} for col in cols]


def _combo_ok(obj_color: str, tgt_color: str, split: str) -> bool:
    held = (obj_color, tgt_color) in HELDOUT_COMBOS
    return held if split == "heldout-combos" else not held


def sample_task(family: str, split: str, rng: random.Random) -> dict[str, Any]:
    """A structured task {family, objects, subject, target(s), color}; any caller can phrase it."""
    if family not in FAMILIES:
        from vlaforge.errors import ConfigError

        raise ConfigError(f"unknown task family {family!r}; choose from {list(FAMILIES)}")
    for _ in range(1000):
        objs = sample_objects(rng, family)
        order = list(range(N_OBJECTS))
        rng.shuffle(order)
        if family == "pick_place":
            i, b = order[0], rng.choice(BIN_COLORS)
            if _combo_ok(objs[i]["color"], b, split):
                return {"family": family, "objects": objs, "subject": [i], "target": {"kind": "bin", "color": b}}
        elif family == "push":
            i = order[0]
            if _combo_ok(objs[i]["color"], "white", split):
                return {"family": family, "objects": objs, "subject": [i], "target": {"kind": "marker", "color": "white"}}
        elif family == "stack":
            i, j = order[0], order[1]
            if _combo_ok(objs[i]["color"], objs[j]["color"], split):
                return {"family": family, "objects": objs, "subject": [i], "target": {"kind": "object", "object": j}}
        elif family == "put_all":
            c, b = objs[0]["color"], rng.choice(BIN_COLORS)
            if _combo_ok(c, b, split):
                idx = [k for k, o in enumerate(objs) if o["color"] == c]
                return {"family": family, "objects": objs, "subject": idx, "color": c, "target": {"kind": "bin", "color": b}}
        else:
            i, j = order[0], order[1]
            b1, b2 = rng.choice(BIN_COLORS), rng.choice(BIN_COLORS)
            if _combo_ok(objs[i]["color"], b1, split) and _combo_ok(objs[j]["color"], b2, split):
                return {"family": family, "objects": objs, "subject": [i, j], "target": {"kind": "bin", "color": b1},
                        "targets": [{"kind": "bin", "color": b1}, {"kind": "bin", "color": b2}]}
    raise RuntimeError(f"could not sample a {family} task for split {split}")


def steps_of(task: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """The task as a list of (object index, target) moves, in order."""
    if task["family"] == "sequence":
        return list(zip(task["subject"], task["targets"]))
    return [(i, task["target"]) for i in task["subject"]]
