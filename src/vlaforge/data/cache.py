"""Decoded-frame cache: every camera frame once decoded into a uint8 memory-mapped array.

Lives outside the dataset (default `~/.cache/vlaforge/frames`, or `$VLAFORGE_CACHE`), keyed by a
change detector of the dataset's files, so a rewritten dataset never reads stale frames. Built
into a staging dir and swapped into place (`vlaforge.io.staging_dir`); safe to delete at any time (it is rebuilt).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from vlaforge.data.lineage import quick_key
from vlaforge.io import staging_dir

FORMAT = "vlaforge-frames/1"


def default_cache_root() -> Path:
    """Where frame caches live unless told otherwise."""
    return Path(os.environ.get("VLAFORGE_CACHE", Path.home() / ".cache" / "vlaforge")) / "frames"


class FrameCache:
    """uint8 frames per camera, shape (N, 3, H, W) in dataset frame order, memory-mapped read-only."""

    def __init__(self, path: Path, meta: dict[str, Any]):
        self.path, self.meta = path, meta
        self._arrays: dict[str, np.memmap] = {}

    def frames(self, cam: str) -> np.memmap:
        """The memmap for one camera, opened lazily (so each DataLoader worker opens its own)."""
        if cam not in self._arrays:
            shape = tuple(self.meta["cameras"][cam])
            self._arrays[cam] = np.memmap(self.path / f"{cam}.u8", dtype=np.uint8, mode="r", shape=shape)
        return self._arrays[cam]

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "meta": self.meta, "_arrays": {}}


def cache_path(ds: Any, root: Path | None = None) -> Path:
    """The cache directory for dataset `ds` (depends on its current files)."""
    return (root or default_cache_root()) / f"{Path(ds.root).resolve().name}-{quick_key(Path(ds.root))}"


def open_or_build(ds: Any, root: Path | None = None, progress: bool = True) -> FrameCache:
    """Return the frame cache of `ds`, decoding every video once if it is missing or stale."""
    path = cache_path(ds, root)
    meta_file = path / "meta.json"
    if meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if meta.get("format") == FORMAT and meta.get("num_frames") == ds.num_frames:
            return FrameCache(path, meta)
    with staging_dir(path) as tmp:
        meta = {"format": FORMAT, "dataset": str(Path(ds.root).resolve()), "num_frames": ds.num_frames, "cameras": {}}
        arrays = {}
        for cam in ds.camera_keys:
            h, w, c = ds.features[cam].shape
            meta["cameras"][cam] = [ds.num_frames, c, h, w]
            arrays[cam] = np.memmap(tmp / f"{cam}.u8", dtype=np.uint8, mode="w+", shape=(ds.num_frames, c, h, w))
        episodes = [int(e["episode_index"]) for e in ds.episode_meta]
        it: Any = episodes
        if progress:
            from rich.progress import track

            it = track(episodes, description=f"caching frames of {Path(ds.root).name}", transient=True)
        for ep in it:
            a, b = ds.episode_range(ep)
            for cam in ds.camera_keys:
                frames = ds.episode_frames(ep, cam)  # (T, H, W, 3)
                arrays[cam][a:b] = frames.transpose(0, 3, 1, 2)
        for arr in arrays.values():
            arr.flush()
        (tmp / "meta.json").write_text(json.dumps(meta))
    return FrameCache(path, meta)
