"""`evaluate`: run the suite's episodes in spawned worker processes (1 torch thread each) and write the results.

Every worker loads the policy once; the episode's seed seeds both the env and torch (flow-head
noise), so an episode's outcome does not depend on which worker ran it or how many there were.
Outputs in `out`: records.jsonl (one per episode), results.json (summary with intervals),
videos/*.mp4 (successes and failures per split) and a self-contained report.html.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from vlaforge.errors import ConfigError
from vlaforge.eval.records import EpisodeRecord
from vlaforge.eval.suite import SUITES, EpisodeSpec, episode_specs, parse_families, parse_splits

_ACTOR: Any = None  # per worker process


def make_actor(source: dict[str, Any]) -> Any:
    """An actor from a picklable description.

    {"checkpoint": RUN} a local policy on CPU, or {"server": URL, "token": T} a `vlaforge serve` policy;
    optional "n_action_steps" (actions per chunk), "gripper_hysteresis" (see PolicyConfig), "executor" ("policy" | "async" | "naive") and
    "latency_ms" (simulated inference latency in milliseconds, turned into ceil(ms x fps / 1000) control steps of
    the env's clock by `vlaforge.serve.clocks.latency_steps`; needs an executor).
    """
    import dataclasses

    from vlaforge.sim.env import FPS

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
        if executor == "policy":
            if source.get("latency_ms"):
                raise ConfigError("--latency-ms needs --executor async or naive (a plain policy has no latency model)")
            return PolicyControl(policy)
        predict, horizon = policy.predict_chunk, policy.cfg.n_action_steps
    elif "server" in source:
        from vlaforge.serve.client import Client

        if executor == "policy":
            raise ConfigError("a served policy runs through an executor: --executor async or naive")
        predict, horizon = Client(source["server"], token=source.get("token")).predict_chunk, horizon or 8
    else:
        raise ConfigError(f"unknown actor source {sorted(source)}; expected 'checkpoint' or 'server'")
    from vlaforge.control.executor import AsyncChunkExecutor, NaiveChunkExecutor

    if executor not in ("async", "naive"):
        raise ConfigError(f"unknown executor {executor!r}; choose from policy, async, naive")
    cls = AsyncChunkExecutor if executor == "async" else NaiveChunkExecutor
    return cls(predict, execute_horizon=horizon, latency_ms=float(source.get("latency_ms") or 0.0), fps=FPS, clock="sim")


def _init_worker(source: dict[str, Any]) -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ["LP_NUM_THREADS"] = "1"  # one software-GL thread per worker
    import torch

    torch.set_num_threads(1)
    global _ACTOR
    try:
        _ACTOR = make_actor(source)
    except Exception as e:  # noqa: BLE001 - an initializer that raises makes Pool respawn workers forever
        _ACTOR = e


def _work(job: tuple[EpisodeSpec, int]) -> tuple[EpisodeRecord, np.ndarray | None]:
    import torch

    spec, image_size = job
    if isinstance(_ACTOR, Exception):
        raise _ACTOR
    torch.manual_seed(spec.seed)
    record, frames = run_one(_ACTOR, spec, image_size)
    return record, frames


def run_one(actor: Any, spec: EpisodeSpec, image_size: int = 96) -> tuple[EpisodeRecord, np.ndarray]:
    """One episode with frames kept (stacked (T, H, 2W, 3) uint8: front | wrist)."""
    from vlaforge.eval.rollout import run_episode

    record, frames = run_episode(actor, spec, image_size, keep_frames=True)
    return record, np.stack(frames)


def check_policy_fits_env(source: dict[str, Any], image_size: int) -> None:
    """Fail before any worker starts if the policy's inputs/outputs (or fps) differ from the tabletop env's."""
    from vlaforge.errors import CheckpointError
    from vlaforge.sim.env import FPS, feature_spec

    make_actor(source)  # a bad combination of options fails here, not in every worker
    features = feature_spec(image_size)
    if "checkpoint" in source:
        from vlaforge.models import load_policy

        load_policy(source["checkpoint"]).check_compatible(features, FPS, what="tabletop env")
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
        raise CheckpointError(f"the policy at {source['server']} does not match the tabletop env: " + "; ".join(diffs))


def evaluate(source: dict[str, Any], out: str | Path, suite: str = "tabletop", tasks: str | list[str] = "pick_place",
             splits: str | list[str] = "all", episodes: int = 20, workers: int = 2, image_size: int = 96,
             videos_per_outcome: int = 2, progress: bool = True, title: str = "") -> dict[str, Any]:
    """Evaluate the actor described by `source` on the suite; write records, results, videos and report to `out`."""
    from vlaforge.eval.records import save_records, summarize
    from vlaforge.eval.report import write_report
    from vlaforge.io import atomic_write_json, staging_dir

    if suite not in SUITES:
        raise ConfigError(f"unknown suite {suite!r}; available: {list(SUITES)}")
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1; got {workers}")
    families, split_list = parse_families(tasks), parse_splits(splits)
    specs = episode_specs(families, split_list, episodes)
    check_policy_fits_env(source, image_size)
    t0 = time.perf_counter()
    records: list[EpisodeRecord] = []
    kept: dict[tuple[str, bool], list[tuple[EpisodeRecord, np.ndarray]]] = {}
    jobs = [(s, image_size) for s in specs]
    with mp.get_context("spawn").Pool(min(workers, len(jobs)), initializer=_init_worker, initargs=(source,)) as pool:
        results = pool.imap(_work, jobs)
        if progress:
            from rich.progress import track

            results = track(results, total=len(jobs), description=f"evaluating {len(jobs)} episodes ({workers} workers)")
        for record, frames in results:
            records.append(record)
            slot = kept.setdefault((record.split, record.success), [])
            if len(slot) < videos_per_outcome:
                slot.append((record, frames))
    seconds = time.perf_counter() - t0
    summary = summarize(records)
    meta = {"source": {k: str(v) for k, v in source.items() if k != "token"}, "suite": suite, "tasks": families, "splits": split_list,
            "episodes_per_split_and_task": episodes, "workers": workers, "seconds": round(seconds, 1),
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
