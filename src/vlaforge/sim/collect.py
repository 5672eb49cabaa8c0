"""Expert demonstrations in parallel worker processes, written as one LeRobot v3.0 dataset."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

import numpy as np

from vlaforge.sim.tasks import FAMILIES


def run_episode(family: str, seed: int, split: str = "seen", perturb: list[str] | None = None, image_size: int = 96) -> dict[str, Any]:
    """One expert rollout → arrays (T, ...), instruction, subtask segments and flags."""
    from vlaforge.sim import make_env
    from vlaforge.sim.experts import Expert

    env = make_env(family, split=split, perturb=perturb, image_size=image_size)
    obs, info = env.reset(seed=seed)
    ex = Expert()
    frames: dict[str, list[np.ndarray]] = {k: [] for k in obs}
    actions, labels = [], []
    for _ in range(env.max_steps):
        a = ex(env)
        for k, v in obs.items():
            frames[k].append(v)
        actions.append(a)
        labels.append(ex.subtask)
        obs, _, term, trunc, info = env.step(a)
        if term or trunc:
            break
    env.close()
    segments, start = [], 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[start]:
            if labels[start]:
                segments.append({"start": start, "end": t, "text": labels[start]})
            start = t
    data = {k: np.stack(v) for k, v in frames.items()}
    data["action"] = np.stack(actions).astype(np.float32)
    flags = {"success": bool(info["success"]), "family": family, "split": split, "seed": seed,
             "perturbations": [e["name"] for e in info["events"]], "task": info["task"]}
    return {"data": data, "task": info["instruction"], "flags": flags, "subtasks": segments}


def _work(args: tuple) -> dict[str, Any]:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    return run_episode(*args)


def collect(out: str | Path, families: list[str], episodes: int, workers: int = 2, split: str = "seen",
            perturb: list[str] | None = None, image_size: int = 96, seed: int = 0, overwrite: bool = False,
            only_success: bool = True, progress: bool = True) -> Path:
    """`episodes` per family, rollouts in `workers` processes, written atomically to `out`."""
    from vlaforge.data.writer import DatasetWriter
    from vlaforge.sim.env import TabletopEnv

    bad = [f for f in families if f not in FAMILIES]
    if bad:
        from vlaforge.errors import ConfigError

        raise ConfigError(f"unknown task families {bad}; choose from {list(FAMILIES)} or 'all'")
    jobs = [(f, seed + k, split, perturb, image_size) for f in families for k in range(episodes)]
    feats = TabletopEnv.__new__(TabletopEnv)
    feats.image_size = image_size
    features = TabletopEnv.features(feats)
    kept = 0
    with DatasetWriter.create(out, fps=10, features=features, robot_type="vlaforge_tabletop", overwrite=overwrite) as w:
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers) as pool:
            it = pool.imap(_work, jobs)
            if progress:
                from rich.progress import track

                it = track(it, total=len(jobs), description=f"collecting {len(jobs)} expert episodes")
            for ep in it:
                if only_success and not ep["flags"]["success"]:
                    continue
                w.add_episode(ep["data"], ep["task"], flags=ep["flags"], subtasks=ep["subtasks"])
                kept += 1
    print(f"kept {kept}/{len(jobs)} successful episodes")
    return Path(out)
