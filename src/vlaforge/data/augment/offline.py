"""Offline augmentation: write a new dataset version with augmented copies of every episode, lineage in meta/vlaforge.json.

Each copy draws its parameters once for the whole episode (seeded by seed, episode and copy), so
every frame and camera of it is augmented the same way. Original episodes are linked in without
re-encoding; augmented ones are encoded like the source. The write is staged and swapped in
atomically by the dataset writer: a crash leaves the previous `out` (or nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from vlaforge.data.edit import frames_of, linked_videos, load_episode
from vlaforge.data.features import user_features
from vlaforge.data.reader import LeRobotDataset, open_dataset
from vlaforge.data.writer import DatasetWriter, _video_config_from
from vlaforge.data.augment.base import ACTION, STATE
from vlaforge.data.augment.language import swap_left_right
from vlaforge.data.augment.pipeline import Pipeline, Recipe, build_pipeline
from vlaforge.errors import ConfigError, DatasetError


def episode_seed(seed: int, ep: int, copy: int) -> int:
    """The generator seed of one augmented copy of one episode."""
    return int(np.random.SeedSequence([seed, ep, copy]).generate_state(1, np.uint64)[0] >> 1)


def augment_episode(pipe: Pipeline, ds: LeRobotDataset, ep: int, e: dict[str, Any], seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """One augmented copy of a loaded episode `e` → (episode for the writer, what was applied)."""
    frames = frames_of(ds, ep, e)
    batch: dict[str, Any] = {cam: torch.from_numpy(np.ascontiguousarray(f.transpose(0, 3, 1, 2)))[None] for cam, f in frames.items()}  # (1, T, 3, H, W)
    for key in (STATE, ACTION):
        if key in e["data"]:
            batch[key] = torch.from_numpy(np.asarray(e["data"][key], np.float32))[None]  # (1, T, D)
    batch["task"] = [e["task"]]
    ab = pipe.run(batch, torch.Generator().manual_seed(seed))
    out = ab.result()
    applied = ab.applied[0] if ab.applied else {}
    data = dict(e["data"])
    for key in (STATE, ACTION):
        if key in out:
            data[key] = out[key][0].numpy().astype(e["data"][key].dtype)
    new_frames = {cam: out[cam][0].permute(0, 2, 3, 1).contiguous().numpy() for cam in frames}  # (T, H, W, 3)
    subtasks = e.get("subtasks")
    if subtasks and "flip" in applied:  # a mirrored world mirrors the subtask phrases too
        subtasks = [{**s, "text": swap_left_right(s["text"])} for s in subtasks]
    return {"data": data, "frames": new_frames, "task": out["task"][0], "flags": e.get("flags"), "subtasks": subtasks}, applied


def augment_dataset(
    src: str | Path,
    out: str | Path,
    recipe: str | Path | dict[str, Any] | Recipe = "default",
    copies: int = 1,
    keep_original: bool = True,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
    on_episode: Callable[[int], None] | None = None,
) -> Path:
    """Write `out`: the source episodes (unless `keep_original` is False) plus `copies` augmented copies of each."""
    if copies < 1 and not keep_original:
        raise ConfigError("copies = 0 without the originals would write an empty dataset; use copies >= 1")
    if copies < 0:
        raise ConfigError(f"copies must be >= 0, got {copies}")
    ds = open_dataset(src)
    pipe = build_pipeline(recipe, ds, record=True)
    out = Path(out)
    in_place = Path(ds.root).resolve() == out.resolve()
    if in_place and not overwrite:
        raise DatasetError(f"--out {out} is the source dataset; write a new version elsewhere, or pass --overwrite to replace it")
    w = DatasetWriter.create(out, fps=ds.fps, features=user_features(ds.features), robot_type=ds.info.get("robot_type"),
                             video=_video_config_from(ds.features), overwrite=overwrite or in_place)
    op = {"name": "augment", "recipe": pipe.recipe.to_dict(), "copies": copies, "keep_original": keep_original, "seed": seed}
    w.set_lineage(op, [{"fingerprint": ds.lineage.get("fingerprint"), "path": str(ds.root)}], 1 + int(ds.lineage.get("version", 0)))
    episodes = [int(e["episode_index"]) for e in ds.episode_meta]
    bar, task = _progress(progress, len(episodes) * (copies + int(keep_original)))
    try:
        with w:
            for ep in episodes:
                e = load_episode(ds, ep)
                T = len(e["data"][ACTION]) if ACTION in e["data"] else len(next(iter(e["data"].values())))
                if keep_original:
                    w.add_episode(e["data"], e["task"], flags=e["flags"], subtasks=e["subtasks"], videos=linked_videos(ds, ep, T))
                    _advance(bar, task)
                for c in range(copies):
                    s = episode_seed(seed, ep, c)
                    new, applied = augment_episode(pipe, ds, ep, e, s)
                    flags = {**(new["flags"] or {}), "augmented": {"source_episode": ep, "copy": c, "seed": s, "applied": applied}}
                    w.add_episode({**new["data"], **new["frames"]}, new["task"], flags=flags, subtasks=new["subtasks"])
                    _advance(bar, task)
                if on_episode:
                    on_episode(ep)
    finally:
        if bar is not None:
            bar.stop()
    return out


def _progress(on: bool, total: int) -> tuple[Any, Any]:
    if not on:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("augment"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    bar.start()
    return bar, bar.add_task("augment", total=total)


def _advance(bar: Any, task: Any) -> None:
    if bar is not None:
        bar.advance(task)
