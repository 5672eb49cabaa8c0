"""`TaskFamily`: what one task family of the tabletop suite owns, and the `TASKS` registry that finds them.

A task is a plain dict any caller can phrase: `{"family", "objects": [{"color", "shape"}, ...],
"subject": [object indices], "target": {...}}` (sequence adds `"targets"`, put_all adds `"color"`).
A family samples it, phrases it, lays out its scene, says when it is done and plans the scripted
expert's next step; the env, the expert and the perturbations ask the family rather than test
its name. Families are stateless: one instance serves every env.
"""

from __future__ import annotations

import pkgutil
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np

from vlaforge.errors import ConfigError
from vlaforge.registry import Registry
from vlaforge.sim.language import describe
from vlaforge.sim.scene import COLORS, MAX_DELTA, N_OBJECTS, SHAPES

if TYPE_CHECKING:
    from vlaforge.sim.env import TabletopEnv
    from vlaforge.sim.experts import Expert

SPLITS = ("seen", "heldout-wording", "heldout-combos", "val-wording")  # val-wording: for design choices, never for results
# (object color, target color) pairs never shown in training data; evaluated as "heldout-combos".
HELDOUT_PAIRS = {("green", "yellow"), ("red", "blue")}
SAFE_Z = 0.12  # pad centre height the grasping expert travels and retreats at
Move = tuple[int, dict[str, Any]]  # (object index, target): one step of a task
Step = tuple[str, np.ndarray]  # (subtask phrase, action (4,)): one planned control step of the expert


def _family_modules() -> list[str]:
    # Registration order is the order "all" expands to (collection jobs, eval tables, seeds per job), so the
    # five original families keep theirs; any other module of this package follows, by name.
    first = ["pick_place", "push", "stack", "put_all", "sequence"]
    found = {m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name != "base" and not m.name.startswith("_")}
    return [f"vlaforge.sim.families.{n}" for n in [n for n in first if n in found] + sorted(found - set(first))]


TASKS = Registry("task family", _family_modules())


def register_family(name: str) -> Callable[[type], type]:
    """Class decorator: make a task family available by name (`--tasks name`, `make_env(name)`)."""
    return TASKS.register(name)


def check_split(split: str) -> str:
    """`split` if valid, else a ConfigError naming the valid ones."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose from {list(SPLITS)}")
    return split


def toward(env: TabletopEnv, goal: np.ndarray, grip: float, gain: float = 1.0) -> np.ndarray:
    """The action (4,) that moves the pad centre toward `goal` (3,) by at most MAX_DELTA per axis, gripper `grip`."""
    d = np.clip((goal - env.hand_pos()) * gain, -MAX_DELTA, MAX_DELTA)
    return np.array([*d, grip], np.float32)


def table_spot(rng: random.Random, placed: dict[int, np.ndarray], ok: Callable[[np.ndarray], bool] | None = None) -> np.ndarray:
    """A spot (2,) on the table's object area >= 7.5 cm from the `placed` ones (the last draw if 500 tries fail)."""
    for _ in range(500):
        xy = np.array([rng.uniform(-0.2, 0.2), rng.uniform(-0.17, -0.03)])
        if all(np.linalg.norm(xy - q) > 0.075 for q in placed.values()) and (ok is None or ok(xy)):
            break
    return xy


class TaskFamily:
    """One family: its tasks, wording, layout, goal test, expert plan and perturbation targets (see module doc)."""

    name = "base"
    max_steps = 100  # control steps (10 s); an unperturbed expert needs about half
    grasps = True  # the expert picks objects up (False: pushing), so grasp-triggered perturbations apply
    # Instruction templates per wording: "train" (seen and heldout-combos splits), "heldout" (heldout-wording),
    # "val" (val-wording); the three sets are disjoint.
    templates: ClassVar[dict[str, list[str]]] = {}

    # ------------------------------------------------------------------ tasks and held-out combinations
    @staticmethod
    def objects(rng: random.Random) -> list[dict[str, str]]:
        """Colors (all different) and shapes of the scene's objects."""
        return [{"color": c, "shape": rng.choice(SHAPES)} for c in rng.sample(list(COLORS), N_OBJECTS)]

    def propose(self, rng: random.Random) -> dict[str, Any]:
        """A random task of this family (split not yet checked)."""
        raise NotImplementedError

    def moves(self, task: dict[str, Any]) -> list[Move]:
        """The task as a list of (object index, target) moves, in order."""
        return [(i, task["target"]) for i in task["subject"]]

    def combos(self, task: dict[str, Any]) -> list[tuple[str, str]]:
        """The (object, target) combinations the task shows, as compared against the held-out sets."""
        return [(task["objects"][i]["color"], t.get("color", "")) for i, t in self.moves(task)]

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

    # ------------------------------------------------------------------ wording
    def fields(self, task: dict[str, Any]) -> dict[str, str]:
        """Values of the template placeholders for `task` (the subject object as `obj`)."""
        return {"obj": describe(task["objects"][task["subject"][0]])}

    def instruction(self, task: dict[str, Any], wording: str, rng: random.Random) -> str:
        """Phrase `task` with a random template of `wording` ("train", "heldout" or "val")."""
        return rng.choice(self.templates[wording]).format(**self.fields(task))

    # ------------------------------------------------------------------ scene and goal
    def place_objects(self, env: TabletopEnv, rng: random.Random) -> dict[int, np.ndarray]:
        """Table spots (2,) of the task's objects, by index, >= 7.5 cm apart."""
        placed: dict[int, np.ndarray] = {}
        for i in range(N_OBJECTS):
            placed[i] = table_spot(rng, placed)
        return placed

    def goal(self, env: TabletopEnv, target: dict[str, Any]) -> np.ndarray:
        """Where an object must end up for `target` (centre position (3,))."""
        raise NotImplementedError

    def at_goal(self, env: TabletopEnv, i: int, target: dict[str, Any]) -> bool:
        """Object i rests where `target` wants it (not counting release)."""
        raise NotImplementedError

    def success(self, env: TabletopEnv) -> bool:
        """Every move of the task done, objects resting and released."""
        return all(self.at_goal(env, i, t) and env.settled(i) and not env.grasped(i) for i, t in self.moves(env.task))

    # ------------------------------------------------------------------ scripted expert
    def move_done(self, env: TabletopEnv, i: int, target: dict[str, Any]) -> bool:
        """The expert counts move (i, target) as done and goes on to the next one."""
        return self.at_goal(env, i, target) and not env.grasped(i)

    def order_moves(self, env: TabletopEnv, todo: list[Move]) -> list[Move]:
        """The moves still to do, the one to work on now first (default: the task's order)."""
        return todo

    def plan(self, expert: Expert, env: TabletopEnv, i: int, target: dict[str, Any]) -> Step:
        """The expert's next step toward putting object i at `target`, re-planned from the current state."""
        raise NotImplementedError

    # ------------------------------------------------------------------ perturbation targets
    def subject_spot_ok(self, env: TabletopEnv, i: int, xy: np.ndarray) -> bool:
        """Whether `move_object` may put subject object i at table spot `xy` (besides being free)."""
        return True

    def distractor_spot_ok(self, env: TabletopEnv, xy: np.ndarray) -> bool:
        """Whether a distractor may appear at table spot `xy` (besides being free)."""
        return True

    def shift_goal(self, env: TabletopEnv, rng: random.Random) -> str:
        """Move the task's goal region by about 5 cm (`move_bin`); return what moved, for the event."""
        raise NotImplementedError
