"""Corrections in sim, DAgger-style: restore a state the policy visited and let the scripted expert finish from it.

The expert is closed-loop (it re-plans from the current state every step), so it can take over from
any state a policy reaches: a half-done grasp, a dropped object, a stuck hand. Each correction is a
new expert episode whose first frame is the restored state; it gets a fresh time limit (the task's
usual one) counted from the moment it takes over. `fresh_episodes` is the baseline: the same kind of
expert episodes from new random scenes.

`dagger_from` adds DAgger's relabelling: each episode also holds the `PREFIX_STEPS` states the policy visited
before the moment, restored one by one and labelled with the expert's action for each (the policy's own path,
with what it should have done there), followed by the expert's correction from the moment on.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from vlaforge.engine.active.mine import Moment, Visit
from vlaforge.errors import DatasetError

PREFIX_STEPS = 30  # dagger: visited states relabelled before each moment
RANDOM_SEED_BASE = 700_000  # fresh baseline episodes: away from demo, mining and evaluation seeds
SEEDS_PER_ROUND = 10_000


def correct_from(env: Any, state: dict[str, Any]) -> dict[str, Any]:
    """Restore `state` in `env` and let a fresh expert finish → {data, task, subtasks, success, start_obs, prefix (0)}."""
    return dagger_from(env, [state], 0, prefix=0)


def relabel(env: Any, states: Sequence[dict[str, Any]], observations: Sequence[dict[str, np.ndarray]] = ()) -> tuple[dict[str, np.ndarray], list[str]]:
    """Restore each visited state in order and label it with one expert's action → (arrays (T, ...) incl. `label.*` and
    action, per-step subtask phrases). The expert is kept across the states, so its grasp timer counts as it would.

    `observations` are what the policy saw at those states; without them each restored state is rendered again, which
    differs slightly: a live step renders the kinematics of its last physics substep's start (10 ms earlier), a restored
    state its own."""
    from vlaforge.sim.experts import Expert
    from vlaforge.sim.labels import scene_labels

    expert = Expert()
    steps: dict[str, list[np.ndarray]] = {}
    labels = []
    for t, state in enumerate(states):
        env.set_state(state)
        obs = observations[t] if observations else env.observation()
        a = expert(env)
        for k, v in {**obs, **scene_labels(env, expert.move), "action": a.astype(np.float32)}.items():
            steps.setdefault(k, []).append(v)
        labels.append(expert.subtask)
    return {k: np.stack(v) for k, v in steps.items()}, labels


def dagger_from(env: Any, states: Sequence[dict[str, Any]], step: int, prefix: int = PREFIX_STEPS,
                observations: Sequence[dict[str, np.ndarray]] = ()) -> dict[str, Any]:
    """The `prefix` visited states before `step` (with the `observations` the policy saw there, if kept) relabelled by the
    expert, then the expert's correction from `step` → {data, task, subtasks, success, start_obs, prefix}."""
    from vlaforge.sim import tasks
    from vlaforge.sim.collect import expert_rollout, segments

    first = max(0, step - prefix)
    pre, pre_labels = relabel(env, states[first:step], observations[first:step]) if step > first else ({}, [])
    env.set_state(states[step])
    env.max_steps = env.t + tasks.MAX_STEPS[env.family]  # the expert gets the task's full time from here
    obs = env.observation()
    data, labels, info = expert_rollout(env, obs)
    if pre:
        data = {k: np.concatenate([pre[k], v]) for k, v in data.items()}
    return {"data": data, "task": env.instruction, "subtasks": segments(pre_labels + labels), "success": bool(info.get("success")),
            "start_obs": obs, "prefix": step - first}


def corrections(visits: Sequence[Visit], moments: Sequence[Moment], budget: int, image_size: int, round_: int,
                on_episode: Callable[[dict[str, Any]], None] | None = None,
                prefix: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Correct moments in order until `budget` labelled steps are spent (the last episode is cut to fit); `prefix` > 0
    also relabels that many visited states before each moment (DAgger, `dagger_from`).

    Returns (episodes ready for the writer, one queue item per moment tried). Corrections where the expert
    does not succeed either are not kept (their item says so)."""
    from vlaforge.eval.rollout import env_for
    from vlaforge.eval.suite import EpisodeSpec

    episodes, items, spent = [], [], 0
    for m in moments:
        if spent >= budget:
            break
        v = visits[m.rollout]
        env = env_for(EpisodeSpec(v.family, v.split, v.seed), image_size)
        c = dagger_from(env, v.states, m.step, prefix, v.observations)
        item = {"kind": m.kind, "score": None if np.isnan(m.score) else round(float(m.score), 6), "tier": m.tier, "detail": m.detail,
                "family": v.family, "split": v.split, "seed": v.seed, "instruction": v.instruction, "step": m.step,
                "rollout_success": v.success, "expert_success": c["success"], "episode": None, "labelled_steps": 0}
        items.append(item)
        if not c["success"]:
            continue
        ep = _episode(c["data"], c["task"], c["subtasks"], budget - spent, {
            "success": True, "family": v.family, "split": v.split, "seed": v.seed, "perturbations": [], "events": [],
            "source": "active-learning", "round": round_, "start_step": m.step - c["prefix"], "moment": m.kind,
            "relabelled_steps": c["prefix"]})
        item["labelled_steps"] = len(ep["data"]["action"])
        item["episode"] = len(episodes)  # index among this round's new episodes; the writer makes it a dataset index
        spent += item["labelled_steps"]
        episodes.append(ep)
        if on_episode:
            on_episode(ep)
    return episodes, items


def fresh_episodes(family: str, budget: int, image_size: int, round_: int, split: str = "seen",
                   on_episode: Callable[[dict[str, Any]], None] | None = None, source: str = "random-baseline") -> list[dict[str, Any]]:
    """The random baseline: expert episodes from new scenes until `budget` labelled steps are spent (flagged `source`)."""
    from vlaforge.sim.collect import run_episode

    out, spent, k = [], 0, 0
    while spent < budget:
        if k >= SEEDS_PER_ROUND:
            raise DatasetError(f"{k} fresh scenes gave no usable expert episode; is the {family!r} expert broken?")
        seed = RANDOM_SEED_BASE + SEEDS_PER_ROUND * round_ + k
        k += 1
        ep = run_episode(family, seed, split, (), image_size)
        if not ep["flags"]["success"]:
            continue
        flags = {**ep["flags"], "source": source, "round": round_, "start_step": 0}
        e = _episode(ep["data"], ep["task"], ep["subtasks"], budget - spent, flags)
        spent += len(e["data"]["action"])
        out.append(e)
        if on_episode:
            on_episode(e)
    return out


def _episode(data: dict[str, np.ndarray], task: str, subtasks: list[dict[str, Any]], room: int, flags: dict[str, Any]) -> dict[str, Any]:
    """An episode for the writer, cut to `room` steps when longer (then flagged `cut_at`)."""
    T = len(data["action"])
    if T > room:
        data = {k: v[:room] for k, v in data.items()}
        subtasks = [{**s, "end": min(s["end"], room)} for s in subtasks if s["start"] < room]
        flags = {**flags, "success": False, "cut_at": room, "full_length": T}
    return {"data": data, "task": task, "subtasks": subtasks, "flags": flags}
