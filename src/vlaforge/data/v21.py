"""The LeRobot v2.1 layout (one parquet and one mp4 per episode): its metadata read into v3.0 shape.

Only the reader uses this; conversion to v3.0 is `vlaforge.data.convert` (it needs both reader and writer).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
