"""Meta-World expert demonstrations (metaworld.policies) in parallel worker processes, written as one LeRobot v3.0 dataset.

Same shape as the tabletop collector: spawned workers (mujoco + numpy, never torch), one env per
(task, split, size) per worker, one software-GL thread each; episodes come back in job order, so
the same arguments write the same dataset. Task strings are the published instructions, so a policy
trained here meets the wording of LeRobot's `lerobot/metaworld_mt50`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from vlaforge.errors import ConfigError
from vlaforge.jobs import LOCAL, Backend
from vlaforge.sim.env_cache import EnvCache

_ENVS = EnvCache()  # per process (MT50 has 50 tasks of ~150 MB each)


def _env(task: str, split: str, image_size: int, profile: str) -> Any:
    from vlaforge.sim.metaworld.env import MetaWorldEnv

    return _ENVS.get((task, split, image_size, profile), lambda: MetaWorldEnv(task, split=split, image_size=image_size, profile=profile))


def run_episode(task: str, seed: int, split: str = "seen", image_size: int = 96, profile: str = "fast") -> dict[str, Any]:
    """One scripted-expert rollout → arrays (T, ...) keyed by feature name, the instruction and flags."""
    from vlaforge.sim.metaworld.expert import MetaWorldExpert
    from vlaforge.sim.metaworld.tasks import difficulty

    env = _env(task, split, image_size, profile)
    obs, info = env.reset(seed=seed)
    expert = MetaWorldExpert(task)
    steps: dict[str, list[np.ndarray]] = {}
    actions = []
    for _ in range(env.max_steps):
        a = expert(env)
        for k, v in obs.items():
            steps.setdefault(k, []).append(v)
        actions.append(a)
        obs, _, terminated, truncated, info = env.step(a)
        if terminated or truncated:
            break
    data = {k: np.stack(v) for k, v in steps.items()}
    data["action"] = np.stack(actions).astype(np.float32)
    flags = {"success": bool(info["success"]), "family": task, "split": split, "seed": int(seed), "difficulty": difficulty(task),
             "perturbations": [], "events": [], "task": {"family": task, "suite": "metaworld"}}
    return {"data": data, "task": info["instruction"], "flags": flags}


def _work(job: tuple) -> dict[str, Any]:
    return run_episode(*job)


def collect(out: str | Path, tasks: list[str], episodes: int, workers: int = 2, split: str = "seen", image_size: int = 96,
            seed: int = 0, overwrite: bool = False, only_success: bool = True, progress: bool = True,
            profile: str = "fast", suite: str = "", backend: Backend = LOCAL) -> dict[str, Any]:
    """`episodes` per task (seeds seed, seed+1, ...) in `workers` processes (local or on Ray: `backend`), written atomically
    to `out`; returns a summary."""
    from vlaforge.data.writer import DatasetWriter
    from vlaforge.sim.collect import collect_summary, write_parallel
    from vlaforge.sim.metaworld import require_metaworld
    from vlaforge.sim.metaworld.env import FPS, ROBOT_TYPE, SPLITS, feature_spec
    from vlaforge.sim.metaworld.render import get_profile
    from vlaforge.sim.metaworld.tasks import check_task

    require_metaworld()  # fail here, with the pip command, not in every worker
    for t in tasks:
        check_task(t)
    if split not in SPLITS:
        raise ConfigError(f"unknown Meta-World split {split!r}; choose from {list(SPLITS)}")
    if episodes < 1 or workers < 1:
        raise ConfigError(f"--episodes and --workers must be >= 1; got {episodes} and {workers}")
    get_profile(profile)
    jobs = [(t, seed + k, split, image_size, profile) for t in tasks for k in range(episodes)]
    t0 = time.perf_counter()
    with DatasetWriter.create(out, fps=FPS, features=feature_spec(image_size), robot_type=ROBOT_TYPE, overwrite=overwrite) as w:
        w.set_lineage({"name": "sim collect", "suite": suite or "metaworld", "tasks": tasks, "episodes": episodes, "split": split,
                       "seed": seed, "image_size": image_size, "render_profile": profile, "expert": "metaworld.policies",
                       "metaworld": _version()}, parents=[])
        kept, ran = write_parallel(w, _work, jobs, workers, tasks, only_success, progress,
                                   f"collecting {len(jobs)} Meta-World expert episodes ({workers} {backend.describe()} workers)", backend)
        if kept == 0:
            raise ConfigError("no expert episode succeeded, so nothing would be written; rerun with --keep-failures to keep them")
    return collect_summary(out, kept, len(jobs), ran, time.perf_counter() - t0, backend)


def _version() -> str:
    import importlib.metadata as md

    return md.version("metaworld")
