"""Task families by name: validate, sample a structured task, list the moves it needs.

The families themselves live in `vlaforge.sim.families` (one module each, registered in `TASKS`);
this module is what the env, eval and the CLIs call with a family's name or a task dict.
"""

from __future__ import annotations

import functools
import random
from typing import Any

from vlaforge.errors import ConfigError
from vlaforge.sim.families import TASKS, TaskFamily
from vlaforge.sim.families.base import SPLITS, Move, check_split

__all__ = ["FAMILIES", "MAX_STEPS", "SPLITS", "TASKS", "check_family", "check_split", "get_family", "parse_families", "sample_task",
           "steps_of"]

FAMILIES = tuple(TASKS)
MAX_STEPS = {name: cls.max_steps for name, cls in TASKS.items()}


def check_family(family: str) -> str:
    """`family` if registered, else a ConfigError naming the valid ones."""
    if family not in TASKS:
        raise ConfigError(f"unknown task family {family!r}; choose from {list(TASKS)}")
    return family


@functools.cache
def get_family(family: str) -> TaskFamily:
    """The (stateless, shared) instance of the registered family `family`."""
    return TASKS[check_family(family)]()


def parse_families(value: str | list[str]) -> list[str]:
    """`all`, one family or a comma list → validated task families."""
    items = [s.strip() for s in (value.split(",") if isinstance(value, str) else value) if s.strip()]
    if not items:
        raise ConfigError(f"no task family given; choose from {list(TASKS)} or 'all'")
    return list(TASKS) if "all" in items else [check_family(f) for f in items]


def sample_task(family: str, split: str, rng: random.Random) -> dict[str, Any]:
    """A structured task of `family` for `split` (the wording splits sample seen combinations)."""
    split = "seen" if check_split(split) in ("heldout-wording", "val-wording") else split
    return get_family(family).sample(split, rng)


def steps_of(task: dict[str, Any]) -> list[Move]:
    """The task as a list of (object index, target) moves, in order."""
    return get_family(task["family"]).moves(task)


def current_move(env: Any) -> Move | None:
    """The move the scripted expert works on in `env`'s state: the first not done, in the family's order (None when all are)."""
    family = env.task_family
    todo = family.order_moves(env, [(i, t) for i, t in steps_of(env.task) if not family.move_done(env, i, t)])
    return todo[0] if todo else None
