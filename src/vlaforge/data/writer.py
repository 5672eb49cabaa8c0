"""Write LeRobot v3.0 datasets: episodes → parquet + mp4 in a staging dir, swapped in atomically.

Everything is written into a hidden sibling directory; `finalize()` fills in the metadata and
renames it over the target. A crash, an exception or Ctrl-C at any point leaves the previous
complete dataset (or nothing), never a half-written one. Appending hard-links the existing
files into the staging dir and adds new data/video files, so the original is never touched.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vlaforge.data import format as fmt
from vlaforge.data import stats as st
from vlaforge.data.features import DEFAULT_FEATURES, Feature, camera_keys, user_features
from vlaforge.data.lineage import read_lineage, write_lineage
from vlaforge.data.reader import open_dataset
from vlaforge.data.video import VideoConfig, VideoFileWriter, decode_range, probe, video_info
from vlaforge.errors import DatasetError, FeatureMismatch
from vlaforge.io import new_staging_dir, recover_dir, replace_dir

IMAGE_STATS_FRAMES = 32  # frames per episode sampled for image statistics


@dataclasses.dataclass(frozen=True)
class VideoRef:
    """An already-encoded episode segment [from_s, to_s) of an mp4, copied in without re-encoding.

    `stats`: the segment's image statistics when its source recorded them for exactly these frames; then the
    writer checks the frame count from the file's header instead of decoding the segment again."""

    path: Path
    from_s: float
    to_s: float
    stats: dict[str, np.ndarray] | None = None


def _arrow_type(f: Feature) -> pa.DataType:
    base = pa.from_numpy_dtype(np.dtype(f.dtype))
    if f.shape == (1,):
        return base
    if len(f.shape) == 1:
        return pa.list_(base, f.shape[0])  # fixed_size_list, as HF datasets writes Sequence(length=D)
    raise FeatureMismatch(f"feature shape {f.shape} is not supported for non-visual features (use 1-D vectors)")


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class DatasetWriter:
    """Builds a dataset episode by episode; use as a context manager or call finalize()/abort()."""

    def __init__(self, root: Path, info: dict[str, Any], video: VideoConfig, staging: Path):
        self.root, self.info, self.video, self.staging = Path(root), info, video, staging
        self.features = fmt.parse_features(info)
        self.fps = int(info["fps"])
        self.cameras = camera_keys(self.features)
        self.episodes: list[dict[str, Any]] = []
        self.tasks: list[str] = []
        self.notes: dict[int, dict[str, Any]] = {}
        self.parents: list[dict[str, Any]] = []
        self.operation: dict[str, Any] = {"name": "create"}
        self.version = 1
        self._next_data_file = 0
        self._next_video_file = {c: 0 for c in self.cameras}
        self._data_writer: pq.ParquetWriter | None = None
        self._data_loc = (0, 0)
        self._video_writers: dict[str, VideoFileWriter] = {}
        self._video_locs: dict[str, tuple[int, int]] = {}
        self._linked: dict[tuple[str, Path], tuple[tuple[int, int], int | None]] = {}  # -> (chunk, file), frames in the file
        self._frame_buffer: list[dict[str, Any]] = []
        self._schema = pa.schema(
            [(k, _arrow_type(f)) for k, f in user_features(self.features).items() if not f.is_visual]
            + [(k, pa.from_numpy_dtype(np.dtype(d["dtype"]))) for k, d in DEFAULT_FEATURES.items()]
        )
        self._done = False

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(
        cls,
        root: str | Path,
        fps: int,
        features: dict[str, Feature],
        robot_type: str | None = None,
        video: VideoConfig | None = None,
        overwrite: bool = False,
    ) -> "DatasetWriter":
        """Start a new dataset at `root` (refuses to replace an existing one unless `overwrite`)."""
        root = Path(root)
        recover_dir(root)
        if root.exists() and any(root.iterdir()) and not overwrite:
            raise DatasetError(f"{root} already exists; pass overwrite=True (CLI: --overwrite) or use DatasetWriter.append")
        bad = [k for k in features if k in DEFAULT_FEATURES]
        if bad:
            raise FeatureMismatch(f"features {bad} are written automatically; do not declare them")
        video = video or VideoConfig()
        feats = {}
        for k, f in features.items():
            if f.is_visual:
                if f.dtype != "video" or len(f.shape) != 3 or f.shape[2] != 3:
                    raise FeatureMismatch(f"camera feature {k!r} must be dtype 'video' with shape (H, W, 3); got {f.dtype} {f.shape}")
                f = dataclasses.replace(f, names=f.names or ("height", "width", "channels"), info=video_info(video, fps, f.shape[0], f.shape[1]))
            feats[k] = f
        info = fmt.make_info(fps, feats, robot_type)
        return cls(root, info, video, _new_staging(root))

    @classmethod
    def append(cls, root: str | Path, video: VideoConfig | None = None) -> "DatasetWriter":
        """Open an existing v3.0 dataset to add episodes; it is replaced atomically on finalize."""
        root = Path(root)
        ds = open_dataset(root)  # validates what we build on
        staging = _new_staging(root)
        for p in root.rglob("*"):
            if p.is_file():
                _link_or_copy(p, staging / p.relative_to(root))
        w = cls(root, dict(ds.info), video or _video_config_from(ds.features), staging)
        w.episodes = [dict(e) for e in ds.episode_meta]
        w.tasks = list(ds.tasks)
        lineage = read_lineage(root)
        w.notes = {int(k): v for k, v in lineage.get("episodes", {}).items()}
        if lineage.get("fingerprint"):
            w.parents = [{"fingerprint": lineage["fingerprint"], "path": str(root)}]
        w.operation = {"name": "append"}
        w.version = int(lineage.get("version", 0)) + 1
        w._next_data_file = 1 + max((e["data/chunk_index"] * ds.info["chunks_size"] + e["data/file_index"] for e in w.episodes), default=-1)
        for c in w.cameras:
            w._next_video_file[c] = 1 + max(
                (e[f"videos/{c}/chunk_index"] * ds.info["chunks_size"] + e[f"videos/{c}/file_index"] for e in w.episodes), default=-1
            )
        return w

    def set_lineage(self, operation: dict[str, Any], parents: list[dict[str, Any]], version: int = 1) -> None:
        """Record how this dataset was derived (written to meta/vlaforge.json)."""
        self.operation, self.parents, self.version = operation, parents, version

    # ------------------------------------------------------------------ adding data
    @property
    def num_frames(self) -> int:
        """Frames written so far (including any existing episodes when appending)."""
        return sum(int(e["length"]) for e in self.episodes)

    def add_frame(self, frame: dict[str, Any]) -> None:
        """Buffer one recorded frame (feature name → value); `save_episode` writes the buffer."""
        self._frame_buffer.append(frame)

    def save_episode(self, task: str, flags: dict[str, Any] | None = None, subtasks: list[dict[str, Any]] | None = None) -> int:
        """Write the buffered frames as one episode."""
        if not self._frame_buffer:
            raise DatasetError("save_episode called with no frames; call add_frame first")
        keys = self._frame_buffer[0].keys()
        data = {k: np.stack([np.asarray(f[k]) for f in self._frame_buffer]) for k in keys}
        self._frame_buffer = []
        return self.add_episode(data, task, flags=flags, subtasks=subtasks)

    def add_episode(
        self,
        data: dict[str, np.ndarray],
        task: str,
        flags: dict[str, Any] | None = None,
        subtasks: list[dict[str, Any]] | None = None,
        videos: dict[str, VideoRef] | None = None,
        suggestions: dict[str, Any] | None = None,
    ) -> int:
        """Write one episode: arrays (T, ...) per feature, camera frames uint8 (T, H, W, 3). Returns its index.

        `suggestions` are machine-made labels waiting for review (see `vlaforge.engine.annotate`); they are kept
        beside the flags and subtasks in meta/vlaforge.json and never change the instruction or the data."""
        if self._done:
            raise DatasetError("this writer is already finalized")
        videos = videos or {}
        wanted = set(user_features(self.features))
        given = set(data) | set(videos)
        if given != wanted:
            raise FeatureMismatch(
                f"episode features do not match the dataset: missing {sorted(wanted - given)}, unexpected {sorted(given - wanted)}"
            )
        if not isinstance(task, str) or not task.strip():
            raise DatasetError("every episode needs a non-empty task (instruction) string")
        lengths = {k: len(v) for k, v in data.items()}
        T = next(iter(lengths.values())) if lengths else 0
        if len(set(lengths.values())) > 1:
            raise FeatureMismatch(f"features have different numbers of frames: {lengths}")
        if T == 0:
            raise DatasetError("an episode must have at least one frame")
        ep = len(self.episodes)
        start = self.num_frames
        arrays = {}
        for k, v in data.items():
            f = self.features[k]
            v = np.asarray(v)
            if f.is_visual:
                if v.dtype != np.uint8 or v.shape[1:] != f.shape:
                    raise FeatureMismatch(f"{k}: expected uint8 frames (T, {', '.join(map(str, f.shape))}), got {v.dtype} {v.shape}")
            else:
                want = (T,) if f.shape == (1,) else (T, *f.shape)
                if v.shape == (T, 1) and f.shape == (1,):
                    v = v[:, 0]
                if v.shape != want:
                    raise FeatureMismatch(f"{k}: expected shape {want}, got {v.shape}")
                v = v.astype(f.dtype)
                if v.dtype.kind == "f" and not np.isfinite(v).all():
                    t = int(np.argwhere(~np.isfinite(v.reshape(T, -1)))[0, 0])
                    raise DatasetError(f"{k} has NaN/inf at frame {t} of this episode; clean the data before writing")
            arrays[k] = v
        if task not in self.tasks:
            self.tasks.append(task)
        task_index = self.tasks.index(task)
        index_cols = {
            "timestamp": (np.arange(T) / self.fps).astype(np.float32),
            "frame_index": np.arange(T, dtype=np.int64),
            "episode_index": np.full(T, ep, np.int64),
            "index": np.arange(start, start + T, dtype=np.int64),
            "task_index": np.full(T, task_index, np.int64),
        }
        meta: dict[str, Any] = {"episode_index": ep, "tasks": [task], "length": T}
        meta.update(self._write_data(arrays, index_cols))
        meta["dataset_from_index"], meta["dataset_to_index"] = start, start + T
        ep_stats: st.Stats = {}
        for k, v in {**arrays, **index_cols}.items():
            if not self.features[k].is_visual:
                ep_stats[k] = st.feature_stats(v)
        for cam in self.cameras:
            if cam in videos:
                frames = self._link_video(cam, videos[cam], T, meta)
                if frames is None:  # the source's stats of these very frames
                    ep_stats[cam] = videos[cam].stats
                    continue
            else:
                frames = arrays[cam]
                self._write_video(cam, frames, meta)
            step = max(1, math.ceil(T / IMAGE_STATS_FRAMES))
            ep_stats[cam] = st.feature_stats(frames[::step], is_image=True)
        meta["stats"] = ep_stats
        self.episodes.append(meta)
        note: dict[str, Any] = {}
        if flags:
            note["flags"] = flags
        if subtasks:
            for s in subtasks:
                if not (0 <= int(s["start"]) < int(s["end"]) <= T) or not str(s.get("text", "")).strip():
                    raise DatasetError(f"subtask {s} must have 0 <= start < end <= {T} and a text")
            note["subtasks"] = [{"start": int(s["start"]), "end": int(s["end"]), "text": str(s["text"])} for s in subtasks]
        if suggestions:
            note["suggestions"] = suggestions
        if note:
            self.notes[ep] = note
        return ep

    def _write_data(self, arrays: dict[str, np.ndarray], index_cols: dict[str, np.ndarray]) -> dict[str, int]:
        if self._data_writer is not None and self._data_path.stat().st_size / 1e6 >= self.info["data_files_size_in_mb"]:
            self._data_writer.close()
            self._data_writer = None
        if self._data_writer is None:
            self._data_loc = fmt.chunk_file(self._next_data_file, self.info["chunks_size"])
            self._next_data_file += 1
            c, f = self._data_loc
            self._data_path = self.staging / fmt.DATA_PATH.format(chunk_index=c, file_index=f)
            self._data_path.parent.mkdir(parents=True, exist_ok=True)
            self._data_writer = pq.ParquetWriter(self._data_path, self._schema)
        cols = []
        for field in self._schema:
            v = index_cols[field.name] if field.name in index_cols else arrays[field.name]
            if pa.types.is_fixed_size_list(field.type):
                cols.append(pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1), field.type.value_type), type=field.type))
            else:
                cols.append(pa.array(v, field.type))
        self._data_writer.write_table(pa.Table.from_arrays(cols, schema=self._schema))  # one row group per episode
        return {"data/chunk_index": self._data_loc[0], "data/file_index": self._data_loc[1]}

    def _open_video(self, cam: str) -> tuple[int, int]:
        loc = fmt.chunk_file(self._next_video_file[cam], self.info["chunks_size"])
        self._next_video_file[cam] += 1
        return loc

    def _write_video(self, cam: str, frames: np.ndarray, meta: dict[str, Any]) -> None:
        w = self._video_writers.get(cam)
        if w is not None and w.size_mb() >= self.info["video_files_size_in_mb"]:
            w.close()
            w = None
        if w is None:
            self._video_locs[cam] = loc = self._open_video(cam)
            path = self.staging / fmt.VIDEO_PATH.format(video_key=cam, chunk_index=loc[0], file_index=loc[1])
            h, wd = self.features[cam].shape[:2]
            w = self._video_writers[cam] = VideoFileWriter(path, self.fps, h, wd, self.video)
        c, f = self._video_locs[cam]
        from_s = w.num_frames / self.fps
        w.write(frames)
        meta.update({
            f"videos/{cam}/chunk_index": c,
            f"videos/{cam}/file_index": f,
            f"videos/{cam}/from_timestamp": from_s,
            f"videos/{cam}/to_timestamp": w.num_frames / self.fps,
        })

    def _link_video(self, cam: str, ref: VideoRef, T: int, meta: dict[str, Any]) -> np.ndarray | None:
        """Reference the segment in the new dataset; its decoded frames (T, H, W, 3), or None when `ref.stats` spares decoding."""
        key = (cam, Path(ref.path).resolve())
        if key not in self._linked:
            loc = self._open_video(cam)
            _link_or_copy(Path(ref.path), self.staging / fmt.VIDEO_PATH.format(video_key=cam, chunk_index=loc[0], file_index=loc[1]))
            self._linked[key] = (loc, probe(Path(ref.path))["num_frames"] if ref.stats is not None else None)
        (c, f), n_file = self._linked[key]
        frames = None
        if ref.stats is not None and n_file is not None:
            n = min(n_file - round(ref.from_s * self.fps), round((ref.to_s - ref.from_s) * self.fps))  # frames the header promises
        else:
            frames = decode_range(Path(ref.path), ref.from_s, ref.to_s, self.fps)
            n = len(frames)
        if n < T:
            raise DatasetError(f"{ref.path}: video has {n} frames in [{ref.from_s:.3f}, {ref.to_s:.3f}) s but the episode has {T}; "
                               "the file is truncated or its metadata is wrong: run `vlaforge data check` on the source")
        meta.update({
            f"videos/{cam}/chunk_index": c,
            f"videos/{cam}/file_index": f,
            f"videos/{cam}/from_timestamp": ref.from_s,
            f"videos/{cam}/to_timestamp": ref.to_s,
        })
        return None if frames is None else frames[:T]

    # ------------------------------------------------------------------ finishing
    def finalize(self) -> Path:
        """Close files, write metadata and lineage, then swap the staging dir onto the target."""
        if self._done:
            return self.root
        try:
            if self._frame_buffer:
                raise DatasetError(f"{len(self._frame_buffer)} buffered frames were never saved; call save_episode before finalize")
            if not self.episodes:
                raise DatasetError(f"no episodes were added; nothing written to {self.root}")
            self._close_files()
            for cam in self.cameras:
                first = next(e for e in self.episodes)
                c, f = first[f"videos/{cam}/chunk_index"], first[f"videos/{cam}/file_index"]
                p = probe(self.staging / fmt.VIDEO_PATH.format(video_key=cam, chunk_index=c, file_index=f))
                self.info["features"][cam]["info"] = {k: v for k, v in p.items() if k.startswith(("video.", "has_"))}
            n = len(self.episodes)
            self.info.update(total_episodes=n, total_frames=self.num_frames, total_tasks=len(self.tasks), splits={"train": f"0:{n}"})
            fmt.write_tasks(self.staging, self.tasks)
            fmt.write_episodes(self.staging, self.episodes)
            from vlaforge.io import atomic_write_json

            atomic_write_json(self.staging / fmt.STATS_PATH, st.to_json(st.aggregate([e["stats"] for e in self.episodes])))
            fmt.write_info(self.staging, self.info)
            write_lineage(self.staging, self.notes, self.parents, self.operation, self.version)
            replace_dir(self.staging, self.root)
        except BaseException:
            self.abort()
            raise
        self._done = True
        return self.root

    def _close_files(self) -> None:
        if self._data_writer is not None:
            self._data_writer.close()
            self._data_writer = None
        for w in self._video_writers.values():
            w.close()
        self._video_writers = {}

    def abort(self) -> None:
        """Drop everything written by this writer; the target stays as it was."""
        try:
            self._close_files()
        except Exception:
            pass
        shutil.rmtree(self.staging, ignore_errors=True)
        self._done = True

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.finalize()
        else:
            self.abort()


def _new_staging(root: Path) -> Path:
    return new_staging_dir(root)  # records its owner; leftovers of killed writers in root.parent are removed


def _video_config_from(features: dict[str, Feature]) -> VideoConfig:
    """Keep encoding appended episodes like the existing ones."""
    for f in features.values():
        if f.is_visual and f.info:
            codec = {"h264": "libx264", "av1": "libsvtav1"}.get(f.info.get("video.codec", ""), "libx264")
            pix = f.info.get("video.pix_fmt", "yuv444p")
            if pix == "gbrp":
                return VideoConfig.lossless()
            return VideoConfig(codec=codec, pix_fmt=pix, crf=30 if codec == "libsvtav1" else VideoConfig.crf, preset="8" if codec == "libsvtav1" else "veryfast")
    return VideoConfig()
