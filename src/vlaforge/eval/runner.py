"""`evaluate`: run a suite's episodes in worker processes (1 torch thread each; local or on Ray, `vlaforge.jobs`) and write the results.

Every worker loads the policy once; the episode's seed seeds both the env and torch (flow-head
noise), so an episode's outcome does not depend on which worker ran it, how many there were, or on which backend.
Outputs in `out`: records.jsonl (one per episode), results.json (summary with intervals),
videos/*.mp4 (successes and failures per split) and a self-contained report.html.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from vlaforge.errors import ConfigError
from vlaforge.eval.records import EpisodeRecord
from vlaforge.eval.suite import EpisodeSpec
from vlaforge.eval.suites import get_suite
from vlaforge.jobs import LOCAL, Backend, run_jobs

_ACTOR: Any = None  # per worker process


def make_actor(source: dict[str, Any], fps: int | None = None) -> Any:
    """An actor from a picklable description.

    {"checkpoint": RUN} a local policy on CPU, or {"server": URL, "token": T} a `vlaforge serve` policy;
    optional "n_action_steps" (actions per chunk; default: the checkpoint's, for a server its spec's `action.execute`, else 8),
    "gripper_hysteresis" and "temporal_ensemble" (see PolicyConfig; checkpoints only), "executor" ("policy" | "async" | "naive") and
    "latency_ms" (simulated inference latency in milliseconds, turned into ceil(ms x fps / 1000) control steps of
    the env's clock by `vlaforge.serve.clocks.latency_steps`; needs an executor). `fps` is the env's control rate
    (default: the tabletop's).
    """
    import dataclasses

    from vlaforge.sim.env import FPS

    fps = fps or FPS

    executor = source.get("executor") or ("async" if "server" in source or source.get("latency_ms") else "policy")
    horizon = int(source.get("n_action_steps") or 0)
    if "checkpoint" in source:
        from vlaforge.control.queue import PolicyControl
        from vlaforge.models import load_policy

        policy = load_policy(source["checkpoint"], device="cpu")
        if horizon:  # re-plan more or less often than the checkpoint's default
            policy.cfg = dataclasses.replace(policy.cfg, n_action_steps=horizon)
        if source.get("gripper_hysteresis") is not None:
            if not 0 <= float(source["gripper_hysteresis"]) < 0.5:
                raise ConfigError(f"--gripper-hysteresis must be in [0, 0.5); got {source['gripper_hysteresis']}")
            policy.cfg = dataclasses.replace(policy.cfg, gripper_hysteresis=float(source["gripper_hysteresis"]))
        if source.get("temporal_ensemble") is not None:
            if float(source["temporal_ensemble"]) < 0 or executor != "policy":
                raise ConfigError(f"--temporal-ensemble must be >= 0 and runs with the policy's own executor; got {source['temporal_ensemble']} "
                                  f"with --executor {executor}")
            policy.cfg = dataclasses.replace(policy.cfg, temporal_ensemble=float(source["temporal_ensemble"]))
        if executor == "policy":
            if source.get("latency_ms"):
                raise ConfigError("--latency-ms needs --executor async or naive (a plain policy has no latency model)")
            return PolicyControl(policy)
        predict, horizon = policy.predict_chunk, policy.cfg.n_action_steps
    elif "server" in source:
        from vlaforge.serve.client import Client

        if executor == "policy" or source.get("temporal_ensemble") is not None:
            raise ConfigError("a served policy runs through an executor (--executor async or naive), without temporal ensembling")
        client = Client(source["server"], token=source.get("token"))
        # the policy's own execution horizon when its spec carries one (its n_action_steps), else 8
        predict, horizon = client.predict_chunk, horizon or int(client.spec["action"].get("execute") or 0) or 8
    else:
        raise ConfigError(f"unknown actor source {sorted(source)}; expected 'checkpoint' or 'server'")
    from vlaforge.control.executor import AsyncChunkExecutor, NaiveChunkExecutor

    if executor not in ("async", "naive"):
        raise ConfigError(f"unknown executor {executor!r}; choose from policy, async, naive")
    cls = AsyncChunkExecutor if executor == "async" else NaiveChunkExecutor
    return cls(predict, execute_horizon=horizon, latency_ms=float(source.get("latency_ms") or 0.0), fps=fps, clock="sim")


def _init_worker(source: dict[str, Any], fps: int | None = None) -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ["LP_NUM_THREADS"] = "1"  # one software-GL thread per worker
    import torch

    torch.set_num_threads(1)
    global _ACTOR
    try:
        _ACTOR = make_actor(source, fps)
    except Exception as e:  # noqa: BLE001 - an initializer that raises makes Pool respawn workers forever
        _ACTOR = e


def _work(job: tuple[str, EpisodeSpec, int, tuple[str, ...] | None]) -> tuple[EpisodeRecord, np.ndarray | None]:
    import torch

    suite, spec, image_size, cameras = job
    if isinstance(_ACTOR, Exception):
        raise _ACTOR
    torch.manual_seed(spec.seed)
    return run_one(_ACTOR, spec, image_size, suite, cameras)


def run_one(actor: Any, spec: EpisodeSpec, image_size: int = 96, suite: str = "tabletop",
            cameras: tuple[str, ...] | None = None) -> tuple[EpisodeRecord, np.ndarray]:
    """One episode with frames kept (stacked (T, H, n*W, 3) uint8: the cameras side by side, front | wrist)."""
    record, frames = get_suite(suite).run_episode(actor, spec, image_size, keep_frames=True, cameras=cameras)
    return record, np.stack(frames)


def policy_inputs(source: dict[str, Any]) -> tuple[int | None, tuple[str, ...] | None]:
    """(image size, camera names) the policy reads, from its checkpoint or its server's spec; None where unknown."""
    if "checkpoint" in source:
        from vlaforge.models import load_policy

        policy = load_policy(source["checkpoint"])
        keys, shapes = policy.cameras, [policy.dataset_info["features"][k]["shape"] for k in policy.cameras]
    elif "server" in source:
        from vlaforge.serve.client import Client

        obs = Client(source["server"], token=source.get("token")).health()["spec"]["observation"]
        keys = [k for k in obs if k.startswith("observation.images.")]
        shapes = [obs[k]["shape"] for k in keys]
    else:
        return None, None
    cams = tuple(k.removeprefix("observation.images.") for k in keys)
    return (int(shapes[0][0]) if shapes else None), (cams or None)


def check_policy_fits_env(source: dict[str, Any], image_size: int, suite: str = "tabletop", cameras: tuple[str, ...] | None = None) -> None:
    """Fail before any worker starts if the policy's inputs/outputs (or fps) differ from the suite env's."""
    from vlaforge.errors import CheckpointError

    s = get_suite(suite)
    make_actor(source, s.fps)  # a bad combination of options fails here, not in every worker
    features = s.features(image_size, cameras)
    if "checkpoint" in source:
        from vlaforge.models import load_policy

        load_policy(source["checkpoint"]).check_compatible(features, s.fps, what=s.what)
        return
    from vlaforge.serve.client import Client

    spec = Client(source["server"], token=source.get("token")).health()["spec"]
    want = {k: list(f.shape) for k, f in features.items() if k.startswith("observation.")}
    got = {k: v["shape"] for k, v in spec["observation"].items()}
    diffs = [f"{k}: server {got.get(k)}, env {v}" for k, v in want.items() if got.get(k) != v]
    diffs += [f"{k}: served policy wants it, the env has no such observation" for k in got if k not in want]
    if spec["action"]["dim"] != features["action"].shape[0]:
        diffs.append(f"action dim: server {spec['action']['dim']}, env {features['action'].shape[0]}")
    if diffs:
        raise CheckpointError(f"the policy at {source['server']} does not match the {s.what}: " + "; ".join(diffs))


def evaluate(source: dict[str, Any], out: str | Path, suite: str = "tabletop", tasks: str | list[str] | None = None,
             splits: str | list[str] = "all", episodes: int = 20, workers: int = 2, image_size: int | None = None,
             videos_per_outcome: int = 2, progress: bool = True, title: str = "", backend: Backend = LOCAL) -> dict[str, Any]:
    """Evaluate the actor described by `source` on the suite; write records, results, videos and report to `out`.

    `tasks` None means the suite's default (tabletop: pick_place; Meta-World: every task of the suite);
    `image_size` None means the suite's choice (tabletop: 96; Meta-World: the policy's own size). On `backend` ray, every
    node reads the checkpoint at the same path (a shared filesystem), or the policy is served (`source` "server").
    """
    from vlaforge.eval.records import save_records, summarize
    from vlaforge.eval.report import write_report
    from vlaforge.io import atomic_write_json, staging_dir

    s = get_suite(suite)
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1; got {workers}")
    families, split_list = s.tasks(tasks), s.parse_splits(splits)
    specs = s.specs(families, split_list, episodes)
    cameras = None
    if suite != "tabletop":  # render only what the policy reads, at its size
        policy_size, cameras = policy_inputs(source)
        image_size = image_size or s.image_size(policy_size)
    image_size = image_size or s.image_size(None)
    check_policy_fits_env(source, image_size, suite, cameras)
    t0 = time.perf_counter()
    records: list[EpisodeRecord] = []
    kept: dict[tuple[str, bool], list[tuple[EpisodeRecord, np.ndarray]]] = {}
    jobs = [(suite, spec, image_size, cameras) for spec in specs]
    # Workers get an absolute checkpoint path: a Ray worker does not start in this process's working directory.
    shipped = {**source, "checkpoint": Path(source["checkpoint"]).resolve()} if "checkpoint" in source else source
    with run_jobs(_work, jobs, workers, _init_worker, (shipped, s.fps), backend) as results:
        if progress:
            from rich.progress import track

            results = track(results, total=len(jobs), description=f"evaluating {len(jobs)} episodes ({workers} {backend.describe()} workers)")
        for record, frames in results:
            records.append(record)
            slot = kept.setdefault((record.split, record.success), [])
            if len(slot) < videos_per_outcome:
                slot.append((record, frames))
    seconds = time.perf_counter() - t0
    summary = summarize(records, groups=s.groups())
    meta = {"source": {k: str(v) for k, v in source.items() if k != "token"}, "suite": suite, "tasks": families, "splits": split_list,
            "image_size": image_size, "cameras": list(cameras) if cameras else None,
            "episodes_per_split_and_task": episodes, "workers": workers, "backend": backend.describe(), "seconds": round(seconds, 1),
            "title": title or f"evaluation of {next(iter(source.values()))}"}
    with staging_dir(Path(out)) as tmp:
        save_records(records, tmp / "records.jsonl")
        videos = _write_videos(tmp / "videos", [kv for split in split_list for ok in (True, False) for kv in kept.get((split, ok), [])])
        results_json = {"meta": meta, "summary": summary, "videos": [v["file"] for v in videos]}
        atomic_write_json(tmp / "results.json", results_json)
        write_report(tmp / "report.html", meta, summary, records, videos)
    return results_json


def _write_videos(folder: Path, chosen: list[tuple[EpisodeRecord, np.ndarray]]) -> list[dict[str, Any]]:
    """Captioned mp4 per chosen episode (instruction on top, perturbation events and the outcome at the bottom)."""
    from vlaforge.sim.render import caption, write_mp4

    out = []
    for rec, frames in chosen:
        big = frames.repeat(2, axis=1).repeat(2, axis=2)  # (T, 2H, 4W, 3): 96 px is too small to watch
        fired = {e["step"]: e["name"] for e in rec.events}
        shown, captioned = "", []
        for t, f in enumerate(big):
            if t in fired:
                shown = f"event: {fired[t]}"
            footer = shown if t < len(big) - 1 else ("SUCCESS" if rec.success else f"FAILED: {', '.join(rec.failures)}")
            captioned.append(caption(f, rec.instruction, "", footer))
        captioned += [captioned[-1]] * 10  # hold the outcome for a second
        name = f"{rec.split}_{rec.family}_{rec.seed}_{'success' if rec.success else 'failure'}.mp4"
        write_mp4(folder / name, captioned, 10)
        out.append({"file": f"videos/{name}", "record": rec})
    return out
