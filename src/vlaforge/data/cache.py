"""Decoded-frame cache: every camera frame once decoded into a uint8 memory-mapped array.

Lives outside the dataset (default `~/.cache/vlaforge/frames`, or `$VLAFORGE_CACHE`), keyed by a
change detector of the dataset's files, so a rewritten dataset never reads stale frames. Built
into a staging dir and swapped into place (`vlaforge.io.staging_dir`); safe to delete at any time (it is rebuilt).
Before a build, caches that can never be read again go (their dataset was rewritten or removed), and the
new cache's whole size is reserved on disk, so a full disk is a clear error up front, not a crash mid-build.
A dataset derived from others (merge, filter, an active-learning version) shares their video files (hard links): its
build copies those episodes from the sources' current caches instead of decoding them again.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from vlaforge.data.lineage import quick_key
from vlaforge.errors import DatasetError
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


@dataclasses.dataclass(frozen=True)
class CacheEntry:
    """One cache directory: the dataset it decodes and whether it can still be read."""

    path: Path
    dataset: str
    num_frames: int
    nbytes: int
    state: str  # "current" (matches the dataset's files now), "superseded" (the dataset changed) or "orphaned" (it is gone)


def list_caches(root: Path | None = None) -> list[CacheEntry]:
    """Every finished cache under `root`, with its state; unreadable ones count as orphaned."""
    root = root or default_cache_root()
    entries = []
    for path in sorted(p for p in root.glob("*") if p.is_dir() and not p.name.startswith(".")):
        nbytes = sum(f.stat().st_blocks * 512 for f in path.iterdir() if f.is_file())  # allocated, not apparent, size
        try:
            meta = json.loads((path / "meta.json").read_text())
            dataset = Path(meta["dataset"])
        except (OSError, ValueError, KeyError, TypeError):
            entries.append(CacheEntry(path, "?", 0, nbytes, "orphaned"))
            continue
        if not (dataset / "meta" / "info.json").exists():
            state = "orphaned"
        else:
            state = "current" if path.name == f"{dataset.name}-{quick_key(dataset)}" else "superseded"
        entries.append(CacheEntry(path, str(dataset), int(meta.get("num_frames", 0)), nbytes, state))
    return entries


def prune(root: Path | None = None, everything: bool = False) -> list[CacheEntry]:
    """Remove caches that can never be read again (`everything`: all of them); returns what was removed."""
    gone = [e for e in list_caches(root) if everything or e.state != "current"]
    for e in gone:
        shutil.rmtree(e.path, ignore_errors=True)
    return gone


def _size(nbytes: int) -> str:
    """Bytes in GiB, or MiB under one GiB."""
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.1f} MiB"


def _reserve(path: Path, nbytes: int, ds_root: Path, total: int) -> None:
    """Create `path` with `nbytes` allocated, or raise DatasetError saying how much the cache (`total`) needs and where."""
    with open(path, "wb") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, nbytes)
        except OSError as e:
            if e.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # a filesystem without fallocate: plain sparse file
                f.truncate(nbytes)
                return
            if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise
            free = shutil.disk_usage(path.parent).free
            raise DatasetError(
                f"the frame cache of {ds_root} needs {_size(total)} at {path.parent.parent} "
                f"({os.strerror(e.errno)}; {_size(free)} free there). Free some space, list and clear old caches "
                f"with `vlaforge data cache` (--prune, --clear), or point $VLAFORGE_CACHE at a bigger disk") from None


def _finished(path: Path, ds: Any) -> FrameCache | None:
    """The finished cache at `path` if it holds every frame of `ds` in this format, else None."""
    meta_file = path / "meta.json"
    if not meta_file.exists():
        return None
    meta = json.loads(meta_file.read_text())
    return FrameCache(path, meta) if meta.get("format") == FORMAT and meta.get("num_frames") == ds.num_frames else None


def _file_id(path: Path) -> tuple[int, int, int, int]:
    """Identity of a file's content (device, inode, size, mtime): equal for two hard links of one unchanged file."""
    st = path.stat()
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _segment(ds: Any, ep: int, cam: str) -> tuple[Any, ...]:
    """Which frames episode `ep` shows in camera `cam`: the video file's identity, first frame and frame count."""
    a, b = ds.episode_range(ep)
    return cam, _file_id(ds.video_path(ep, cam)), round(ds.video_from(ep, cam) * ds.fps), b - a


def _ancestor_caches(ds: Any, root: Path) -> list[tuple[Any, FrameCache]]:
    """The current caches of the datasets `ds` was derived from (its lineage's parents, or theirs where a parent has
    none), each with its dataset; a parent that moved, changed since or cannot be read is skipped."""
    from vlaforge.data.reader import open_dataset

    found: list[tuple[Any, FrameCache]] = []
    todo, seen = [(p, Path(ds.root).resolve().parent) for p in ds.lineage.get("parents", [])], set()
    while todo and len(seen) < 64:
        parent, base = todo.pop()
        path = Path(parent.get("path") or "")
        path = (path if path.is_absolute() else base / path).resolve()  # older versions recorded relative paths: try siblings
        if path in seen or not (path / "meta" / "info.json").exists():
            continue
        seen.add(path)
        try:
            src = open_dataset(path)
            if parent.get("fingerprint") and src.lineage.get("fingerprint") != parent["fingerprint"]:
                continue  # rewritten since: not the parent any more
            cache = _finished(cache_path(src, root), src)
        except (DatasetError, OSError, ValueError):
            continue
        if cache is not None:
            found.append((src, cache))
        else:
            todo += [(p, path.parent) for p in src.lineage.get("parents", [])]
    return found


def open_or_build(ds: Any, root: Path | None = None, progress: bool = True) -> FrameCache:
    """Return the frame cache of `ds`, building it if it is missing or stale: each episode copied from a source's
    cache where `ds` shares that episode's video segment with a dataset it was derived from, else decoded once."""
    path = cache_path(ds, root)
    cache = _finished(path, ds)
    if cache is not None:
        return cache
    prune(path.parent)  # superseded and orphaned caches first: they are never read again
    with staging_dir(path) as tmp:
        shapes = {}  # camera -> (N, C, H, W)
        for cam in ds.camera_keys:
            h, w, c = ds.features[cam].shape
            shapes[cam] = (ds.num_frames, c, h, w)
        meta = {"format": FORMAT, "dataset": str(Path(ds.root).resolve()), "num_frames": ds.num_frames,
                "cameras": {cam: list(shape) for cam, shape in shapes.items()}}
        total = sum(int(np.prod(shape)) for shape in shapes.values())
        arrays = {}
        for cam, shape in shapes.items():
            _reserve(tmp / f"{cam}.u8", int(np.prod(shape)), Path(ds.root), total)
            arrays[cam] = np.memmap(tmp / f"{cam}.u8", dtype=np.uint8, mode="r+", shape=shape)
        episodes = [int(e["episode_index"]) for e in ds.episode_meta]
        it: Any = episodes
        if progress:
            from rich.progress import track

            it = track(episodes, description=f"caching frames of {Path(ds.root).name}", transient=True)
        cached = {}  # segment -> (a source cache, the segment's first row there)
        for src, cache in _ancestor_caches(ds, path.parent):
            for e in src.episode_meta:
                for cam in set(src.camera_keys) & set(ds.camera_keys):
                    cached[_segment(src, int(e["episode_index"]), cam)] = (cache, src.episode_range(int(e["episode_index"]))[0])
        reused = 0
        for ep in it:
            a, b = ds.episode_range(ep)
            for cam in ds.camera_keys:
                hit = cached.get(_segment(ds, ep, cam))
                if hit is not None:  # the same frames of the same file, decoded before
                    arrays[cam][a:b] = hit[0].frames(cam)[hit[1] : hit[1] + b - a]
                    reused += b - a
                else:
                    arrays[cam][a:b] = ds.episode_frames(ep, cam).transpose(0, 3, 1, 2)  # (T, H, W, 3) -> (T, 3, H, W)
        for arr in arrays.values():
            arr.flush()
        meta["reused_frames"] = reused  # camera frames copied from the sources' caches instead of decoded
        (tmp / "meta.json").write_text(json.dumps(meta))
    return FrameCache(path, meta)
