"""Task families: sample a structured task, split seen / held-out combinations, list the moves it needs.

A task is a plain dict any caller can phrase: `{"family", "objects": [{"color", "shape"}, ...],
"subject": [object indices], "target": {...}}` (sequence adds `"targets"`, put_all adds `"color"`).
Families are registered by name in `TASKS` (one small class each), so tests and the CLI see new
ones without edits.
"""

from __future__ import annotations

import random
from typing import Any

from vlaforge.errors import ConfigError
from vlaforge.registry import Registry
from vlaforge.sim.scene import BIN_COLORS, COLORS, N_OBJECTS, SHAPES

SPLITS = ("seen", "heldout-wording", "heldout-combos", "val-wording")  # val-wording: for design choices, never for results
# (object color, target color) pairs never shown in training data; evaluated as "heldout-combos".
HELDOUT_PAIRS = {("green", "yellow"), ("red", "blue")}
# push has one target (the white marker), so its held-out combinations are (color, shape).
HELDOUT_SHAPES = {("yellow", "cylinder"), ("blue", "block")}

TASKS = Registry("task family")  # the families are defined below, so nothing to import on lookup


def register_task(name: str) -> Any:
    """Class decorator: make a task family available by name."""
    return TASKS.register(name)


def check_family(family: str) -> str:
    """`family` if registered, else a ConfigError naming the valid ones."""
    if family not in TASKS:
        raise ConfigError(f"unknown task family {family!r}; choose from {list(TASKS)}")
    return family


def check_split(split: str) -> str:
    """`split` if valid, else a ConfigError naming the valid ones."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose from {list(SPLITS)}")
    return split


class TaskFamily:
    """One family: how to sample its task and which (thing, target) combinations it shows."""

    name = "base"
    max_steps = 100  # control steps (10 s); an unperturbed expert needs about half

    @staticmethod
    def objects(rng: random.Random) -> list[dict[str, str]]:
        """Colors (all different) and shapes of the scene's objects."""
        return [{"color": c, "shape": rng.choice(SHAPES)} for c in rng.sample(list(COLORS), N_OBJECTS)]

    def propose(self, rng: random.Random) -> dict[str, Any]:
        """A random task of this family (split not yet checked)."""
        raise NotImplementedError

    def combos(self, task: dict[str, Any]) -> list[tuple[str, str]]:
        """The (object, target) combinations the task shows, as compared against the held-out sets."""
        return [(task["objects"][i]["color"], t.get("color", "")) for i, t in steps_of(task)]

    def is_heldout(self, task: dict[str, Any]) -> bool:
        """True when any combination of the task is held out."""
        return any(c in HELDOUT_PAIRS for c in self.combos(task))

    def sample(self, split: str, rng: random.Random) -> dict[str, Any]:
        """A task for `split`: held-out combinations only in "heldout-combos", never elsewhere."""
        want = check_split(split) == "heldout-combos"
        for _ in range(1000):
            task = self.propose(rng)
            if self.is_heldout(task) == want:
                return task
        raise RuntimeError(f"could not sample a {self.name} task for split {split}")  # pragma: no cover


def _bin(color: str) -> dict[str, str]:
    return {"kind": "bin", "color": color}


@register_task("pick_place")
class PickPlace(TaskFamily):
    """Put one object into a bin."""

    def propose(self, rng: random.Random) -> dict[str, Any]:
        objs = self.objects(rng)
        return {"family": self.name, "objects": objs, "subject": [rng.randrange(N_OBJECTS)], "target": _bin(rng.choice(BIN_COLORS))}


@register_task("push")
class Push(TaskFamily):
    """Push one object onto the white marker (no grasp)."""

    def propose(self, rng: random.Random) -> dict[str, Any]:
        objs = self.objects(rng)
        return {"family": self.name, "objects": objs, "subject": [rng.randrange(N_OBJECTS)], "target": {"kind": "marker", "color": "white"}}

    def combos(self, task: dict[str, Any]) -> list[tuple[str, str]]:
        o = task["objects"][task["subject"][0]]
        return [(o["color"], o["shape"])]

    def is_heldout(self, task: dict[str, Any]) -> bool:
        return any(c in HELDOUT_SHAPES for c in self.combos(task))


@register_task("stack")
class Stack(TaskFamily):
    """Put one object on top of another."""

    def propose(self, rng: random.Random) -> dict[str, Any]:
        objs = self.objects(rng)
        i, j = rng.sample(range(N_OBJECTS), 2)
        return {"family": self.name, "objects": objs, "subject": [i], "target": {"kind": "object", "object": j, "color": objs[j]["color"]}}


@register_task("put_all")
class PutAll(TaskFamily):
    """Put every object of one color (two of them) into a bin."""

    max_steps = 200

    def propose(self, rng: random.Random) -> dict[str, Any]:
        c = rng.choice(list(COLORS))
        cols = [c, c] + rng.sample([x for x in COLORS if x != c], N_OBJECTS - 2)
        rng.shuffle(cols)
        objs = [{"color": col, "shape": rng.choice(SHAPES)} for col in cols]
        idx = [k for k, o in enumerate(objs) if o["color"] == c]
        return {"family": self.name, "objects": objs, "subject": idx, "color": c, "target": _bin(rng.choice(BIN_COLORS))}


@register_task("sequence")
class Sequence(TaskFamily):
    """Two pick-and-place steps in order: the first object into one bin, then the second into another."""

    max_steps = 200

    def propose(self, rng: random.Random) -> dict[str, Any]:
        objs = self.objects(rng)
        i, j = rng.sample(range(N_OBJECTS), 2)
        b1, b2 = rng.choice(BIN_COLORS), rng.choice(BIN_COLORS)
        return {"family": self.name, "objects": objs, "subject": [i, j], "target": _bin(b1), "targets": [_bin(b1), _bin(b2)]}


FAMILIES = tuple(TASKS)
MAX_STEPS = {name: cls.max_steps for name, cls in TASKS.items()}


def parse_families(value: str | list[str]) -> list[str]:
    """`all`, one family or a comma list → validated task families."""
    items = [s.strip() for s in (value.split(",") if isinstance(value, str) else value) if s.strip()]
    if not items:
        raise ConfigError(f"no task family given; choose from {list(TASKS)} or 'all'")
    return list(TASKS) if "all" in items else [check_family(f) for f in items]


def sample_task(family: str, split: str, rng: random.Random) -> dict[str, Any]:
    """A structured task of `family` for `split` (the wording splits sample seen combinations)."""
    split = "seen" if check_split(split) in ("heldout-wording", "val-wording") else split
    return TASKS[check_family(family)]().sample(split, rng)


def steps_of(task: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """The task as a list of (object index, target) moves, in order."""
    if task["family"] == "sequence":
        return list(zip(task["subject"], task["targets"]))
    return [(i, task["target"]) for i in task["subject"]]
