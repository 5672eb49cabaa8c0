"""LeRobot v2.1 datasets (one parquet and one mp4 per episode): read them, convert them to v3.0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vlaforge.data.features import user_features
from vlaforge.errors import DatasetError

V21_DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
V21_VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise DatasetError(f"{path} is missing (a v2.1 dataset needs meta/episodes.jsonl and meta/tasks.jsonl)")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DatasetError(f"{path}:{n} is not valid JSON ({e})") from None
    return rows


def load_v21_layout(root: Path, info: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]], list[Path]]:
    """v2.1 metadata → (tasks, episode rows shaped like v3.0's, data files)."""
    task_rows = _jsonl(root / "meta/tasks.jsonl")
    tasks = [""] * len(task_rows)
    for r in task_rows:
        tasks[int(r["task_index"])] = r["task"]
    chunks = int(info.get("chunks_size", 1000))
    data_tpl = info.get("data_path", V21_DATA_PATH)
    video_tpl = info.get("video_path") or V21_VIDEO_PATH
    cams = [k for k, f in info["features"].items() if f.get("dtype") == "video"]
    episodes, files = [], []
    stats_rows = {}
    if (root / "meta/episodes_stats.jsonl").exists():
        stats_rows = {int(r["episode_index"]): r.get("stats", {}) for r in _jsonl(root / "meta/episodes_stats.jsonl")}
    for r in sorted(_jsonl(root / "meta/episodes.jsonl"), key=lambda r: r["episode_index"]):
        i = int(r["episode_index"])
        data_file = root / data_tpl.format(episode_chunk=i // chunks, episode_index=i)
        files.append(data_file)
        episodes.append({
            "episode_index": i,
            "tasks": r.get("tasks", []),
            "length": int(r["length"]),
            "video_file": {c: video_tpl.format(episode_chunk=i // chunks, video_key=c, episode_index=i) for c in cams},
            "stats": stats_rows.get(i, {}),
        })
    return tasks, episodes, files


def convert_v21_to_v30(src: str | Path, out: str | Path, overwrite: bool = False) -> Path:
    """Write a v3.0 copy of a v2.1 dataset; videos are copied as they are (one file per episode), never re-encoded."""
    from vlaforge.data.reader import open_dataset
    from vlaforge.data.video import VideoConfig
    from vlaforge.data.writer import DatasetWriter, VideoRef

    ds = open_dataset(src)
    if ds.layout != "v2.1":
        raise DatasetError(f"{src} is already {ds.layout}; nothing to convert")
    feats = user_features({k: f for k, f in ds.features.items()})
    w = DatasetWriter.create(out, fps=ds.fps, features=feats, robot_type=ds.info.get("robot_type"), video=VideoConfig(), overwrite=overwrite)
    w.set_lineage({"name": "convert", "from": "v2.1", "source": str(src)}, parents=[])
    with w:
        for e in ds.episode_meta:
            i = int(e["episode_index"])
            arrays = ds.episode(i, cameras=False)
            data = {k: arrays[k] for k, f in feats.items() if not f.is_visual}
            T = len(arrays["index"])
            refs = {c: VideoRef(ds.video_path(i, c), 0.0, T / ds.fps) for c in ds.camera_keys}
            tasks = sorted(set(arrays["task"]))
            w.add_episode(data, tasks[0], videos=refs)
    return Path(out)
