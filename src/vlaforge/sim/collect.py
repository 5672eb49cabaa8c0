"""Expert demonstrations in parallel worker processes, written as one LeRobot v3.0 dataset.

Workers are spawned processes (or Ray actors, `vlaforge.jobs`) that import mujoco and numpy only (never
torch); each keeps one env per (family, split, perturbations, size) and renders with one software-GL
thread, so K workers use K cores. Episodes come back in job order, so the same arguments write the same
dataset on either backend.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vlaforge.errors import ConfigError
from vlaforge.jobs import LOCAL, Backend, run_jobs
from vlaforge.sim.env_cache import EnvCache
from vlaforge.sim.scene import MAX_DELTA
from vlaforge.sim.tasks import TASKS, check_family, check_split

NOISE_STREAM = 0xDA127  # `--action-noise` draws from rng([NOISE_STREAM, episode seed]): the same seed, the same noise

_ENVS = EnvCache()  # per process


def _env(family: str, split: str, perturb: tuple[str, ...], image_size: int) -> Any:
    from vlaforge.sim.env import TabletopEnv

    return _ENVS.get((family, split, perturb, image_size),
                     lambda: TabletopEnv(family=family, split=split, image_size=image_size, perturb=list(perturb)))


def segments(labels: list[str]) -> list[dict[str, Any]]:
    """Per-step labels → [{start, end (exclusive), text}] runs of equal, non-empty labels."""
    out, start = [], 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[start]:
            if labels[start]:
                out.append({"start": start, "end": t, "text": labels[start]})
            start = t
    return out


def run_episode(family: str, seed: int, split: str = "seen", perturb: list[str] | tuple[str, ...] = (), image_size: int = 96,
                render: bool = True, action_noise: float = 0.0) -> dict[str, Any]:
    """One expert rollout → arrays (T, ...) keyed by feature name (`label.*`: training-only scene labels),
    instruction, subtask segments, flags. `action_noise` > 0: see `expert_rollout` (seeded by the episode's seed)."""
    env = _env(family, split, tuple(perturb), image_size)
    env.render_images = render
    obs, _ = env.reset(seed=seed)
    data, labels, info = expert_rollout(env, obs, action_noise, np.random.default_rng([NOISE_STREAM, int(seed)]))
    flags = {"success": bool(info["success"]), "family": family, "split": split, "seed": int(seed),
             "perturbations": [e["name"] for e in info["events"]], "events": info["events"], "task": info["task"],
             **({"action_noise": action_noise} if action_noise else {})}
    return {"data": data, "task": info["instruction"], "flags": flags, "subtasks": segments(labels)}


def expert_rollout(env: Any, obs: dict[str, np.ndarray], action_noise: float = 0.0,
                   rng: np.random.Generator | None = None) -> tuple[dict[str, np.ndarray], list[str], dict[str, Any]]:
    """A fresh scripted expert drives `env` from its current state (`obs`) until success or the step limit →
    (arrays (T, ...) keyed by feature name incl. `label.*` and action, per-step subtask phrases, the last info).

    `action_noise` > 0 (metres, DART-style): the env executes the expert's arm action plus Gaussian noise of that
    std per axis, while the recorded action stays the expert's own. The expert is closed-loop, so the data shows
    states a little off its path and the moves that bring the hand back; the gripper is never noised."""
    from vlaforge.sim.experts import Expert
    from vlaforge.sim.labels import scene_labels

    expert = Expert()
    steps: dict[str, list[np.ndarray]] = {}
    actions, labels = [], []
    info: dict[str, Any] = {}
    for _ in range(max(0, env.max_steps - env.t)):
        a = expert(env)
        for k, v in {**obs, **scene_labels(env, expert.move)}.items():
            steps.setdefault(k, []).append(v)
        actions.append(a)
        labels.append(expert.subtask)
        if action_noise > 0:
            a = a.copy()
            a[:3] += (rng or np.random.default_rng()).normal(0.0, action_noise, 3)
        obs, _, terminated, truncated, info = env.step(a)
        if terminated or truncated:
            break
    data = {k: np.stack(v) for k, v in steps.items()}
    data["action"] = np.stack(actions).astype(np.float32)
    return data, labels, info


def _init_worker() -> None:
    # Before mujoco loads: headless GL, and one llvmpipe thread so K workers use K cores.
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ["LP_NUM_THREADS"] = "1"
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _work(job: tuple) -> dict[str, Any]:
    return run_episode(*job)


def write_parallel(w: Any, work: Callable[[tuple], dict[str, Any]], jobs: list[tuple], workers: int, names: list[str],
                   only_success: bool, progress: bool, description: str, backend: Backend = LOCAL) -> tuple[int, dict[str, list[int]]]:
    """Run `work(job)` (a module-level function returning an episode) over `jobs` in `workers` processes of `backend`, one
    core each, and add every kept episode to writer `w` in job order → (episodes kept, {family or task: [successes, ran]})."""
    kept, ran = 0, {n: [0, 0] for n in names}
    with run_jobs(work, jobs, workers, _init_worker, backend=backend) as results:
        if progress:
            from rich.progress import track

            results = track(results, total=len(jobs), description=description)
        for ep in results:
            counts = ran[ep["flags"]["family"]]
            counts[1] += 1
            counts[0] += ep["flags"]["success"]
            if only_success and not ep["flags"]["success"]:
                continue
            w.add_episode(ep["data"], ep["task"], flags=ep["flags"], subtasks=ep.get("subtasks"))
            kept += 1
    return kept, ran


def collect(out: str | Path, families: list[str], episodes: int, workers: int = 2, split: str = "seen",
            perturb: list[str] | None = None, image_size: int = 96, seed: int = 0, overwrite: bool = False,
            only_success: bool = True, progress: bool = True, one_each: bool = False, perturb_fraction: float = 1.0,
            backend: Backend = LOCAL, action_noise: float = 0.0) -> dict[str, Any]:
    """`episodes` per family (seeds seed, seed+1, ...), rolled out in `workers` processes (local or on Ray: `backend`),
    written atomically to `out`.

    `perturb_fraction` of the episodes (evenly spread) get the perturbations, the rest run clean; with
    `one_each`, the j-th perturbed episode gets only the (j mod n)-th of the n perturbations. `action_noise` (m) noises
    the executed arm actions, not the recorded ones (`expert_rollout`).

    Returns a summary: episodes kept / run, per-family success, seconds, episodes per minute.
    """
    from vlaforge.data.writer import DatasetWriter
    from vlaforge.sim.env import FPS, feature_spec
    from vlaforge.sim.labels import label_spec
    from vlaforge.sim.perturbations import parse_specs

    for f in families:
        check_family(f)
    check_split(split)
    if episodes < 1 or workers < 1:
        raise ConfigError(f"--episodes and --workers must be >= 1; got {episodes} and {workers}")
    specs = tuple(parse_specs(perturb))
    if not 0.0 <= perturb_fraction <= 1.0:
        raise ConfigError(f"perturb_fraction must be in [0, 1]; got {perturb_fraction}")
    if not (np.isfinite(action_noise) and 0.0 <= action_noise <= MAX_DELTA):
        raise ConfigError(f"--action-noise must be in [0, {MAX_DELTA}] m (the largest move one step may ask for); got {action_noise}")

    def pick(k: int) -> tuple[str, ...]:
        j = int((k + 1) * perturb_fraction) - 1  # index among perturbed episodes
        if not specs or int((k + 1) * perturb_fraction) == int(k * perturb_fraction):
            return ()
        return (specs[j % len(specs)],) if one_each else specs

    jobs = [(f, seed + k, split, pick(k), image_size, True, action_noise) for f in families for k in range(episodes)]
    t0 = time.perf_counter()
    with DatasetWriter.create(out, fps=FPS, features={**feature_spec(image_size), **label_spec()}, robot_type="vlaforge_tabletop", overwrite=overwrite) as w:
        w.set_lineage({"name": "sim collect", "families": families, "episodes": episodes, "split": split,
                       "perturb": list(specs), "one_each": one_each, "perturb_fraction": perturb_fraction, "seed": seed, "image_size": image_size,
                       **({"action_noise": action_noise} if action_noise else {})}, parents=[])
        kept, ran = write_parallel(w, _work, jobs, workers, families, only_success, progress,
                                   f"collecting {len(jobs)} expert episodes ({workers} {backend.describe()} workers)", backend)
        if kept == 0:
            raise ConfigError("no episode succeeded, so nothing would be written; rerun with --keep-failures to keep them")
    return collect_summary(out, kept, len(jobs), ran, time.perf_counter() - t0, backend)


def collect_summary(out: str | Path, kept: int, jobs: int, ran: dict[str, list[int]], secs: float, backend: Backend) -> dict[str, Any]:
    """What a collect command reports: where, episodes kept and run, successes per family or task, speed, backend."""
    return {"out": str(out), "kept": kept, "ran": jobs, "success": {f: f"{s}/{n}" for f, (s, n) in ran.items()},
            "seconds": round(secs, 2), "episodes_per_minute": round(60 * jobs / secs, 1), "backend": backend.describe()}


def all_families() -> list[str]:
    """Every registered task family."""
    return list(TASKS)
