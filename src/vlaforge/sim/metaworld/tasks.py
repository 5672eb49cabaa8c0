"""Meta-World task names, benchmark sets (MT10, MT50), difficulty groups and suite names; no metaworld import.

Suite names: `metaworld-mt10`, `metaworld-mt50`, or `metaworld:TASK[,TASK...]` (e.g. `metaworld:reach-v3`).
Difficulty groups follow the split LeRobot and SmolVLA report MT50 results by (easy 28, medium 11,
hard 6, very hard 5 tasks).
"""

from __future__ import annotations

from vlaforge.errors import ConfigError

# Meta-World 3.1.1 metaworld.env_dict.MT10_V3 / MT50_V3 (ALL_V3_ENVIRONMENTS), in its order; a test checks they still agree.
MT10 = ("reach-v3", "push-v3", "pick-place-v3", "door-open-v3", "drawer-open-v3", "drawer-close-v3",
        "button-press-topdown-v3", "peg-insert-side-v3", "window-open-v3", "window-close-v3")
MT50 = ("assembly-v3", "basketball-v3", "bin-picking-v3", "box-close-v3", "button-press-topdown-v3",
        "button-press-topdown-wall-v3", "button-press-v3", "button-press-wall-v3", "coffee-button-v3", "coffee-pull-v3",
        "coffee-push-v3", "dial-turn-v3", "disassemble-v3", "door-close-v3", "door-lock-v3", "door-open-v3",
        "door-unlock-v3", "hand-insert-v3", "drawer-close-v3", "drawer-open-v3", "faucet-open-v3", "faucet-close-v3",
        "hammer-v3", "handle-press-side-v3", "handle-press-v3", "handle-pull-side-v3", "handle-pull-v3", "lever-pull-v3",
        "pick-place-wall-v3", "pick-out-of-hole-v3", "pick-place-v3", "plate-slide-v3", "plate-slide-side-v3",
        "plate-slide-back-v3", "plate-slide-back-side-v3", "peg-insert-side-v3", "peg-unplug-side-v3", "soccer-v3",
        "stick-push-v3", "stick-pull-v3", "push-v3", "push-wall-v3", "push-back-v3", "reach-v3", "reach-wall-v3",
        "shelf-place-v3", "sweep-into-v3", "sweep-v3", "window-open-v3", "window-close-v3")
BENCHMARKS = {"mt10": MT10, "mt50": MT50}
DIFFICULTY = {
    "medium": ("basketball-v3", "bin-picking-v3", "box-close-v3", "coffee-pull-v3", "coffee-push-v3", "hammer-v3",
               "peg-insert-side-v3", "push-wall-v3", "soccer-v3", "sweep-v3", "sweep-into-v3"),
    "hard": ("assembly-v3", "hand-insert-v3", "pick-out-of-hole-v3", "pick-place-v3", "push-v3", "push-back-v3"),
    "very_hard": ("shelf-place-v3", "disassemble-v3", "stick-pull-v3", "stick-push-v3", "pick-place-wall-v3"),
}
DIFFICULTY = {"easy": tuple(t for t in MT50 if not any(t in g for g in DIFFICULTY.values())), **DIFFICULTY}
SUITE_PREFIX = "metaworld"


def difficulty(task: str) -> str:
    """easy | medium | hard | very_hard."""
    return next(g for g, tasks in DIFFICULTY.items() if task in tasks)


def check_task(task: str) -> str:
    """`task` if it is a Meta-World v3 task, else a ConfigError naming how to list them."""
    if task not in MT50:
        close = [t for t in MT50 if task.replace("-v3", "") in t]
        raise ConfigError(f"unknown Meta-World task {task!r}" + (f"; did you mean {close[:3]}?" if close else "")
                          + f"; the {len(MT50)} tasks are listed in docs/metaworld.md (e.g. reach-v3, push-v3)")
    return task


def is_metaworld_suite(name: str) -> bool:
    """True for `metaworld-...` and `metaworld:...` names."""
    return name == SUITE_PREFIX or name.startswith((f"{SUITE_PREFIX}-", f"{SUITE_PREFIX}:"))


def suite_tasks(suite: str) -> list[str]:
    """The tasks of a suite name: metaworld-mt10, metaworld-mt50 or metaworld:TASK[,TASK...]."""
    if suite.startswith(f"{SUITE_PREFIX}:"):
        names = [t.strip() for t in suite.split(":", 1)[1].split(",") if t.strip()]
        if not names:
            raise ConfigError(f"suite {suite!r} names no task; e.g. metaworld:reach-v3")
        return [check_task(t) for t in names]
    bench = suite[len(SUITE_PREFIX) + 1 :] if suite.startswith(f"{SUITE_PREFIX}-") else ""
    if bench not in BENCHMARKS:
        raise ConfigError(f"unknown Meta-World suite {suite!r}; choose from metaworld-mt10, metaworld-mt50 or metaworld:TASK")
    return list(BENCHMARKS[bench])


def select_tasks(suite: str, tasks: str | list[str] | None) -> list[str]:
    """The suite's tasks (in its order) filtered by `tasks`: None/'all', difficulty groups and/or task names (comma list)."""
    pool = suite_tasks(suite)
    items = [s.strip() for s in (tasks.split(",") if isinstance(tasks, str) else tasks or []) if s.strip()]
    if not items or "all" in items:
        return pool
    chosen: list[str] = []
    for item in items:
        group = DIFFICULTY.get(item.replace("-", "_"))
        for t in group if group is not None else (check_task(item),):
            if t in pool and t not in chosen:
                chosen.append(t)
            elif group is None and t not in pool:
                raise ConfigError(f"task {t!r} is not in suite {suite}; use --suite metaworld-mt50 or metaworld:{t}")
    if not chosen:
        raise ConfigError(f"--tasks {tasks!r} selects no task of suite {suite}")
    return [t for t in pool if t in chosen]  # the suite's order, whatever order --tasks named them in
