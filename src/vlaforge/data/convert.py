"""Convert a LeRobot v2.1 dataset to v3.0: read with `reader` (v2.1 layout from `v21`), write with `writer`."""

from __future__ import annotations

from pathlib import Path

from vlaforge.data.features import user_features
from vlaforge.data.reader import open_dataset
from vlaforge.data.video import VideoConfig
from vlaforge.data.writer import DatasetWriter, VideoRef
from vlaforge.errors import DatasetError


def convert_v21_to_v30(src: str | Path, out: str | Path, overwrite: bool = False) -> Path:
    """Write a v3.0 copy of a v2.1 dataset; videos are copied as they are (one file per episode), never re-encoded."""
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
