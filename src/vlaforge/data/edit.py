"""Dataset edits. Each writes a new dataset version atomically, with its lineage in meta/vlaforge.json.

Edits that keep an episode's frames (filter, split, merge, relabel) reference the source video
files as they are (no re-encoding); edits that change frames (trim, subsample) re-encode them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from vlaforge.data import format as fmt
from vlaforge.data import stats as st
from vlaforge.data.features import camera_keys, describe_mismatch, user_features
from vlaforge.data.lineage import read_lineage, write_lineage
from vlaforge.data.reader import LeRobotDataset, open_dataset
from vlaforge.data.writer import DatasetWriter, VideoRef, _link_or_copy, _video_config_from
from vlaforge.errors import DatasetError, FeatureMismatch
from vlaforge.io import atomic_write_json, staging_dir

# An episode on its way to the writer: arrays, camera frames (None = reuse the source video), task, notes.
Episode = dict[str, Any]
EpisodeMap = Callable[[LeRobotDataset, int, Episode], Episode | None]


def _parent(ds: LeRobotDataset) -> dict[str, Any]:
    return {"fingerprint": ds.lineage.get("fingerprint"), "path": str(ds.root)}


def load_episode(ds: LeRobotDataset, ep: int) -> Episode:
    """An episode's tabular arrays, task and notes; frames stay in the source video until needed."""
    arrays = ds.episode(ep, cameras=False)
    data = {k: arrays[k] for k, f in user_features(ds.features).items() if not f.is_visual}
    note = ds.lineage.get("episodes", {}).get(str(ep), {})
    return {"data": data, "frames": None, "task": arrays["task"][0], "flags": note.get("flags"), "subtasks": note.get("subtasks"),
            "suggestions": note.get("suggestions")}


def frames_of(ds: LeRobotDataset, ep: int, e: Episode) -> dict[str, np.ndarray]:
    """Decoded camera frames of the episode (decoding them the first time they are needed)."""
    if e["frames"] is None:
        e["frames"] = {cam: ds.episode_frames(ep, cam) for cam in ds.camera_keys}
    return e["frames"]


def linked_videos(ds: LeRobotDataset, ep: int, T: int) -> dict[str, VideoRef]:
    """Episode `ep`'s first T frames in every camera, as references to the source videos (no decoding, no re-encoding).

    The source's recorded image stats come along when they describe exactly these frames (T is the whole episode)."""
    a, b = ds.episode_range(ep)
    stats = ds.episode_stats(ep) if b - a == T else {}
    return {c: VideoRef(ds.video_path(ep, c), ds.video_from(ep, c), ds.video_from(ep, c) + T / ds.fps, stats.get(c)) for c in ds.camera_keys}


def rewrite(
    sources: Sequence[LeRobotDataset],
    out: str | Path,
    operation: dict[str, Any],
    select: Callable[[LeRobotDataset], Sequence[int]] | None = None,
    transform: EpisodeMap | None = None,
    fps: int | None = None,
    overwrite: bool = False,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write selected (and optionally transformed) episodes of `sources` as a new dataset at `out`.

    `extra(staging_dir)` may add files of its own (e.g. meta/review_queue.json) before the new version is
    fingerprinted and swapped in, so they are part of it, atomically."""
    first = sources[0]
    feats = user_features(first.features)
    for ds in sources[1:]:
        diffs = describe_mismatch(feats, user_features(ds.features), str(first.root), str(ds.root))
        if diffs or ds.fps != first.fps:
            if ds.fps != first.fps:
                diffs.append(f"fps: {first.fps} vs {ds.fps}")
            raise FeatureMismatch("datasets are not compatible: " + "; ".join(diffs))
    out = Path(out)
    in_place = any(Path(ds.root).resolve() == out.resolve() for ds in sources)
    w = DatasetWriter.create(
        out, fps=fps or first.fps, features=feats, robot_type=first.info.get("robot_type"),
        video=_video_config_from(first.features), overwrite=overwrite or in_place,
    )
    version = 1 + max(int(ds.lineage.get("version", 0)) for ds in sources)
    w.set_lineage(operation, [_parent(ds) for ds in sources], version)
    with w:
        for ds in sources:
            eps = list(select(ds)) if select else [int(e["episode_index"]) for e in ds.episode_meta]
            for ep in eps:
                e = load_episode(ds, ep)
                if transform is not None:
                    e = transform(ds, ep, e)
                    if e is None:
                        continue
                T = len(e["data"]["action"]) if "action" in e["data"] else len(next(iter(e["data"].values())))
                videos = None
                if e["frames"] is None:
                    videos = linked_videos(ds, ep, T)
                data = {**e["data"], **(e["frames"] or {})}
                w.add_episode(data, e["task"], flags=e["flags"], subtasks=e["subtasks"], videos=videos, suggestions=e.get("suggestions"))
        if not w.episodes:
            raise DatasetError("the edit selected no episodes; nothing written (check your filter)")
        if extra is not None:
            extra(w.staging)
    return out


# ---------------------------------------------------------------------------- the edits
def filter_episodes(
    src: str | Path,
    out: str | Path,
    tasks: Sequence[str] | None = None,
    drop_tasks: Sequence[str] | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    success: bool | None = None,
    flag: dict[str, Any] | None = None,
    episodes: Sequence[int] | None = None,
    drop_episodes: Sequence[int] | None = None,
    overwrite: bool = False,
) -> Path:
    """Keep the episodes that pass every given condition."""
    ds = open_dataset(src)
    params = {k: v for k, v in dict(tasks=tasks, drop_tasks=drop_tasks, min_length=min_length, max_length=max_length,
                                     success=success, flag=flag, episodes=episodes, drop_episodes=drop_episodes).items() if v is not None}

    def keep(e: dict[str, Any]) -> bool:
        i, task, n = int(e["episode_index"]), e["tasks"][0] if e.get("tasks") else "", int(e["length"])
        fl = ds.flags(i)
        return all([
            tasks is None or task in tasks,
            drop_tasks is None or task not in drop_tasks,
            min_length is None or n >= min_length,
            max_length is None or n <= max_length,
            success is None or bool(fl.get("success")) == success,
            flag is None or all(fl.get(k) == v for k, v in flag.items()),
            episodes is None or i in episodes,
            drop_episodes is None or i not in drop_episodes,
        ])

    return rewrite([ds], out, {"name": "filter", **params}, select=lambda d: [int(e["episode_index"]) for e in d.episode_meta if keep(e)], overwrite=overwrite)


def split_dataset(src: str | Path, out_dir: str | Path, val_fraction: float = 0.1, seed: int = 0, overwrite: bool = False) -> tuple[Path, Path]:
    """Episode-aware split into OUT/train and OUT/val."""
    from vlaforge.data.loader import split_episodes

    ds = open_dataset(src)
    train, val = split_episodes([int(e["episode_index"]) for e in ds.episode_meta], val_fraction, seed)
    if not val:
        raise DatasetError(f"{src} has {ds.num_episodes} episode(s); a split needs at least 2")
    out_dir = Path(out_dir)
    op = {"name": "split", "val_fraction": val_fraction, "seed": seed}
    a = rewrite([ds], out_dir / "train", {**op, "part": "train"}, select=lambda _: train, overwrite=overwrite)
    b = rewrite([ds], out_dir / "val", {**op, "part": "val"}, select=lambda _: val, overwrite=overwrite)
    return a, b


def merge_datasets(srcs: Sequence[str | Path], out: str | Path, overwrite: bool = False) -> Path:
    """Concatenate datasets with identical features and fps; stats aggregated from the sources' per-episode stats."""
    if len(srcs) < 2:
        raise DatasetError("merge needs at least two datasets")
    return rewrite([open_dataset(s) for s in srcs], out, {"name": "merge", "sources": [str(s) for s in srcs]}, overwrite=overwrite)


def relabel_tasks(src: str | Path, out: str | Path, mapping: dict[str, str], regex: bool = False, overwrite: bool = False) -> Path:
    """Rename tasks: exact `old -> new` pairs, or regular-expression substitutions when `regex`."""
    ds = open_dataset(src)
    if not regex:
        unknown = sorted(set(mapping) - set(ds.tasks))
        if unknown:
            raise DatasetError(f"tasks {unknown} are not in {src}; its tasks are {ds.tasks}")

    def rename(_: LeRobotDataset, __: int, e: Episode) -> Episode:
        t = e["task"]
        if regex:
            for pat, rep in mapping.items():
                t = re.sub(pat, rep, t)
        else:
            t = mapping.get(t, t)
        return {**e, "task": t}

    return rewrite([ds], out, {"name": "relabel", "mapping": mapping, "regex": regex}, transform=rename, overwrite=overwrite)


def idle_mask(action: np.ndarray, state: np.ndarray | None, action_eps: float = 1e-3, state_eps: float = 1e-4, ignore: Sequence[int] = ()) -> np.ndarray:
    """(T,) True where the robot is idle: motion actions ~0 and the state does not change."""
    dims = [i for i in range(action.shape[1]) if i not in ignore]
    idle = np.abs(action[:, dims]).max(axis=1) < action_eps  # (T,)
    if state is not None:
        ds_ = np.abs(np.diff(state, axis=0, prepend=state[:1])).max(axis=1)  # (T,)
        idle &= ds_ < state_eps
    return idle


def _gripper_dims(names: Sequence[str] | None) -> list[int]:
    return [i for i, n in enumerate(names or ()) if "grip" in n.lower()]


def trim_idle(src: str | Path, out: str | Path, action_eps: float = 1e-3, state_eps: float = 1e-4, min_keep: int = 2, overwrite: bool = False) -> Path:
    """Cut idle frames at the start and end of every episode (re-encodes the kept frames)."""
    ds = open_dataset(src)
    grip = _gripper_dims(ds.features["action"].names)

    def trim(d: LeRobotDataset, ep: int, e: Episode) -> Episode:
        idle = idle_mask(e["data"]["action"], e["data"].get("observation.state"), action_eps, state_eps, grip)
        active = np.flatnonzero(~idle)
        if len(active) == 0:
            return e  # all idle: leave for `filter`, never produce an empty episode
        a, b = int(active[0]), int(active[-1]) + 1
        if b - a < min_keep or (a == 0 and b == len(idle)):
            return e
        frames = frames_of(d, ep, e)
        return _slice(e, a, b, frames)

    return rewrite([ds], out, {"name": "trim-idle", "action_eps": action_eps, "state_eps": state_eps}, transform=trim, overwrite=overwrite)


def _slice(e: Episode, a: int, b: int, frames: dict[str, np.ndarray], step: int = 1) -> Episode:
    subs = None
    if e.get("subtasks"):
        subs = []
        for s in e["subtasks"]:
            lo, hi = max(s["start"], a), min(s["end"], b)
            lo_n, hi_n = -(-(lo - a) // step), -(-(hi - a) // step)
            if hi_n > lo_n:
                subs.append({"start": lo_n, "end": hi_n, "text": s["text"]})
    return {
        "data": {k: v[a:b:step] for k, v in e["data"].items()},
        "frames": {c: f[a:b:step] for c, f in frames.items()},
        "task": e["task"],
        "flags": e["flags"],
        "subtasks": subs or None,
        # no "suggestions": they point at the old frame indices; annotate the edited dataset again
    }


def subsample(src: str | Path, out: str | Path, factor: int, action_mode: str = "auto", overwrite: bool = False) -> Path:
    """Keep every `factor`-th frame (fps / factor). Delta actions are summed over each window ("sum"),
    absolute ones kept ("keep"); "auto" sums when every non-gripper action name starts with 'd'."""
    ds = open_dataset(src)
    if factor < 2 or ds.fps % factor:
        raise DatasetError(f"factor must be >= 2 and divide fps {ds.fps}; got {factor}")
    names = list(ds.features["action"].names or [])
    grip = _gripper_dims(names)
    if action_mode == "auto":
        motion = [n for i, n in enumerate(names) if i not in grip]
        action_mode = "sum" if motion and all(n.lower().startswith("d") for n in motion) else "keep"
    if action_mode not in ("sum", "keep"):
        raise DatasetError(f"action_mode must be auto, sum or keep; got {action_mode!r}")

    def sub(d: LeRobotDataset, ep: int, e: Episode) -> Episode:
        frames = frames_of(d, ep, e)
        T = len(e["data"]["action"])
        new = _slice(e, 0, T, frames, step=factor)
        if action_mode == "sum":
            act = e["data"]["action"]
            summed = np.add.reduceat(act, np.arange(0, T, factor), axis=0).astype(act.dtype)  # (T', A)
            ends = np.minimum(np.arange(0, T, factor) + factor - 1, T - 1)
            summed[:, grip] = act[ends][:, grip]  # gripper: the command at the end of the window
            new["data"]["action"] = summed
        return new

    return rewrite([ds], out, {"name": "subsample", "factor": factor, "action_mode": action_mode}, transform=sub, fps=ds.fps // factor, overwrite=overwrite)


def recompute_stats(root: str | Path) -> None:
    """Recompute per-episode stats and meta/stats.json from the data (images re-decoded), in place, atomically."""
    root = Path(root)
    ds = open_dataset(root)
    lineage = read_lineage(root)
    episodes = []
    for e in ds.episode_meta:
        i = int(e["episode_index"])
        arrays = ds.episode(i, cameras=True)
        ep_stats = {k: st.feature_stats(arrays[k]) for k, f in ds.features.items() if not f.is_visual}
        for cam in camera_keys(ds.features):
            frames = arrays[cam]
            step = max(1, -(-len(frames) // 32))
            ep_stats[cam] = st.feature_stats(frames[::step], is_image=True)
        episodes.append({**{k: v for k, v in e.items() if not k.startswith("meta/episodes/")}, "stats": ep_stats})
    with staging_dir(root) as tmp:
        for p in root.rglob("*"):
            if p.is_file():
                _link_or_copy(p, tmp / p.relative_to(root))
        fmt.write_episodes(tmp, episodes)
        atomic_write_json(tmp / fmt.STATS_PATH, st.to_json(st.aggregate([e["stats"] for e in episodes])))
        parents = [{"fingerprint": lineage["fingerprint"], "path": str(root)}] if lineage.get("fingerprint") else []
        notes = {int(k): v for k, v in lineage.get("episodes", {}).items()}
        write_lineage(tmp, notes, parents, {"name": "restats"}, int(lineage.get("version", 0)) + 1)
