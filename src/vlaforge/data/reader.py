"""Read LeRobot datasets (v3.0, and v2.1 through `v21`) written by vlaforge or by LeRobot itself."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from vlaforge.data import format as fmt
from vlaforge.data import stats as st
from vlaforge.data.features import Feature, camera_keys
from vlaforge.data.lineage import read_lineage
from vlaforge.data.v21 import load_v21_layout
from vlaforge.data.video import decode_at, decode_range
from vlaforge.errors import DatasetError
from vlaforge.io import recover_dir


def _column_to_numpy(col: pa.ChunkedArray, feature: Feature) -> np.ndarray:
    arr = col.combine_chunks()
    if pa.types.is_fixed_size_list(arr.type) or pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        flat = arr.flatten().to_numpy(zero_copy_only=False)
        return flat.reshape(len(arr), -1).astype(feature.dtype, copy=False)
    return arr.to_numpy(zero_copy_only=False).astype(feature.dtype, copy=False)


class LeRobotDataset:
    """A dataset on disk: metadata, tabular columns in memory, camera frames decoded on demand."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        recover_dir(self.root)
        self.info = fmt.read_info(self.root)
        version = str(self.info["codebase_version"])
        if version.startswith("v2"):
            self.layout = "v2.1"
            self.tasks, self.episode_meta, self._data_files = load_v21_layout(self.root, self.info)
        elif version == fmt.CODEBASE_VERSION:
            self.layout = "v3.0"
            self.tasks = fmt.read_tasks(self.root)
            self.episode_meta = fmt.read_episodes(self.root)
            c = "data/chunk_index"
            self._data_files = sorted(
                {self.root / self.info["data_path"].format(chunk_index=e[c], file_index=e["data/file_index"]) for e in self.episode_meta}
            )
        else:
            raise DatasetError(f"{self.root}: codebase_version {version!r} is not supported (v3.0, or v2.x via `vlaforge data convert`)")
        self.features: dict[str, Feature] = fmt.parse_features(self.info)
        self.fps = int(self.info["fps"])
        self.camera_keys = camera_keys(self.features)
        self._columns = self._load_columns()
        n = len(self._columns["index"])
        if n != sum(int(e["length"]) for e in self.episode_meta):
            raise DatasetError(
                f"{self.root}: data files hold {n} frames but meta/episodes lists {sum(int(e['length']) for e in self.episode_meta)}; "
                "the dataset is inconsistent (run `vlaforge data check`)"
            )
        self._ep_pos = {int(e["episode_index"]): i for i, e in enumerate(self.episode_meta)}
        # Frames are kept ordered by (episode, frame) and looked up by position.
        order = np.lexsort((self._columns["frame_index"], self._columns["episode_index"]))
        if not np.array_equal(order, np.arange(n)):
            self._columns = {k: v[order] for k, v in self._columns.items()}
        eps, starts, counts = np.unique(self._columns["episode_index"], return_index=True, return_counts=True)
        self._bounds = {int(e): (int(s), int(s + c)) for e, s, c in zip(eps, starts, counts)}
        for e in self.episode_meta:
            got = self._bounds.get(int(e["episode_index"]), (0, 0))
            if got[1] - got[0] != int(e["length"]):
                raise DatasetError(
                    f"{self.root}: episode {e['episode_index']} has {got[1] - got[0]} rows in data/ but length {e['length']} in meta/episodes"
                )

    def _load_columns(self) -> dict[str, np.ndarray]:
        wanted = [k for k, f in self.features.items() if not f.is_visual]
        parts: dict[str, list[np.ndarray]] = {k: [] for k in wanted}
        for path in self._data_files:
            table = fmt.read_parquet(path)
            missing = [k for k in wanted if k not in table.column_names]
            if missing:
                raise DatasetError(f"{path} lacks columns {missing} declared in meta/info.json")
            for k in wanted:
                parts[k].append(_column_to_numpy(table.column(k), self.features[k]))
        cols = {k: (np.concatenate(v) if v else np.zeros(0, self.features[k].dtype)) for k, v in parts.items()}
        for k, f in self.features.items():
            if f.is_visual or k not in cols:
                continue
            if f.shape == (1,) and cols[k].ndim == 2 and cols[k].shape[1] == 1:
                cols[k] = cols[k][:, 0]
            elif f.shape != (1,) and cols[k].shape[1:] != f.shape:
                raise DatasetError(f"{self.root}: column {k!r} has per-frame shape {cols[k].shape[1:]}, meta/info.json says {f.shape}")
        return cols

    # ------------------------------------------------------------------ summary
    @property
    def num_episodes(self) -> int:
        """Number of episodes."""
        return len(self.episode_meta)

    @property
    def num_frames(self) -> int:
        """Number of frames over all episodes."""
        return len(self._columns["index"])

    def __len__(self) -> int:
        return self.num_frames

    @cached_property
    def stats(self) -> st.Stats:
        """Dataset statistics from meta/stats.json (never recomputed silently)."""
        path = self.root / fmt.STATS_PATH
        if not path.exists():
            raise DatasetError(f"{path} is missing; run `vlaforge data check {self.root}` and re-create the stats")
        return st.from_json(json.loads(path.read_text()))

    @cached_property
    def lineage(self) -> dict[str, Any]:
        """meta/vlaforge.json ({} for plain LeRobot datasets)."""
        return read_lineage(self.root)

    def flags(self, ep: int) -> dict[str, Any]:
        """Per-episode flags recorded by vlaforge (e.g. success, family)."""
        return self.lineage.get("episodes", {}).get(str(ep), {}).get("flags", {})

    def subtasks(self, ep: int) -> list[dict[str, Any]]:
        """Per-episode subtask segments [{start, end, text}] recorded by vlaforge."""
        return self.lineage.get("episodes", {}).get(str(ep), {}).get("subtasks", [])

    def suggestions(self, ep: int) -> dict[str, Any]:
        """Per-episode machine suggestions awaiting review ({"instruction": ..., "subtasks": ...}), see `vlaforge engine annotate`."""
        return self.lineage.get("episodes", {}).get(str(ep), {}).get("suggestions", {})

    def column(self, key: str) -> np.ndarray:
        """One tabular feature over all frames, ordered by (episode, frame)."""
        return self._columns[key]

    def episode_range(self, ep: int) -> tuple[int, int]:
        """[from, to) positions of an episode's frames."""
        self._pos(ep)
        return self._bounds[ep]

    def _pos(self, ep: int) -> int:
        if ep not in self._ep_pos:
            raise IndexError(f"episode {ep} is not in this dataset ({self.num_episodes} episodes)")
        return self._ep_pos[ep]

    def video_path(self, ep: int, cam: str) -> Path:
        """The mp4 file that holds camera `cam` of episode `ep`."""
        e = self.episode_meta[self._pos(ep)]
        if "video_file" in e:  # v2.1: one file per episode
            return self.root / e["video_file"][cam]
        return self.root / self.info["video_path"].format(
            video_key=cam, chunk_index=e[f"videos/{cam}/chunk_index"], file_index=e[f"videos/{cam}/file_index"]
        )

    def episode_stats(self, ep: int) -> st.Stats:
        """Per-episode statistics from meta/episodes ({} where the layout has none, e.g. LeRobot v2.1)."""
        return self.episode_meta[self._pos(ep)].get("stats") or {}

    def video_from(self, ep: int, cam: str) -> float:
        """Where episode `ep` starts inside its video file, in seconds."""
        return float(self.episode_meta[self._pos(ep)].get(f"videos/{cam}/from_timestamp", 0.0))

    # ------------------------------------------------------------------ access
    def episode(self, ep: int, cameras: bool = True) -> dict[str, Any]:
        """All arrays of one episode (camera frames uint8 (T, H, W, 3) when `cameras`)."""
        a, b = self.episode_range(ep)
        out: dict[str, Any] = {k: v[a:b] for k, v in self._columns.items()}
        out["task"] = [self.tasks[int(t)] for t in out["task_index"]]
        if cameras:
            for cam in self.camera_keys:
                out[cam] = self.episode_frames(ep, cam)
        return out

    def episode_frames(self, ep: int, cam: str) -> np.ndarray:
        """Decode one camera of one episode → uint8 (T, H, W, 3)."""
        a, b = self.episode_range(ep)
        start = self.video_from(ep, cam)
        frames = decode_range(self.video_path(ep, cam), start, start + (b - a) / self.fps, self.fps)
        if len(frames) < b - a:
            raise DatasetError(
                f"{self.video_path(ep, cam)}: episode {ep} has {b - a} frames of data but only {len(frames)} video frames; "
                "the video is truncated (run `vlaforge data check`)"
            )
        return frames[: b - a]

    def __getitem__(self, idx: int) -> dict[str, Any]:
        if not -self.num_frames <= idx < self.num_frames:
            raise IndexError(f"frame {idx} out of range for {self.num_frames} frames")
        idx = int(idx) % self.num_frames
        item: dict[str, Any] = {k: v[idx] for k, v in self._columns.items()}
        ep = int(item["episode_index"])
        for cam in self.camera_keys:
            t = self.video_from(ep, cam) + float(item["timestamp"])
            item[cam] = decode_at(self.video_path(ep, cam), [t], self.fps)[0]
        item["task"] = self.tasks[int(item["task_index"])]
        return item

    def summary(self) -> dict[str, Any]:
        """Counts, duration, cameras, tasks and size on disk."""
        size = sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
        return {
            "path": str(self.root),
            "layout": self.layout,
            "fps": self.fps,
            "episodes": self.num_episodes,
            "frames": self.num_frames,
            "duration_s": self.num_frames / self.fps,
            "cameras": {c: list(self.features[c].shape) for c in self.camera_keys},
            "features": {k: {"dtype": f.dtype, "shape": list(f.shape), "names": list(f.names) if f.names else None} for k, f in self.features.items() if not f.is_visual},
            "tasks": self.tasks,
            "size_mb": size / 1e6,
            "fingerprint": self.lineage.get("fingerprint"),
        }


def open_dataset(path: str | Path) -> LeRobotDataset:
    """Open a LeRobot dataset directory (v3.0 or v2.1)."""
    return LeRobotDataset(path)
