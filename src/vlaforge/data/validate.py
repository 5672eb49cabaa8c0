"""`vlaforge data check`: find every problem in a dataset, each with its file and field."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from vlaforge.data import format as fmt
from vlaforge.data import stats as st
from vlaforge.data.features import DEFAULT_FEATURES, Feature, camera_keys
from vlaforge.errors import DatasetError

TIMESTAMP_TOL_S = 1e-4  # LeRobot's tolerance for timestamps on the fps grid
SAMPLED_FRAMES = 6  # frames decoded per video file besides the first and last (seeded, so runs agree)


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with a dataset: where (file, field) and what."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}" + (f" [{self.field}]" if self.field else "")
        return f"{where}: {self.message}"


def check_dataset(path: str | Path, deep: bool = True, decode_all: bool = False) -> list[Problem]:
    """Validate a v3.0 (or v2.1) dataset; an empty list means it is good. `deep` also checks stats.

    Every video file gets its first, last and a few seeded frames decoded; `decode_all` decodes every frame.
    """
    root = Path(path)
    problems: list[Problem] = []

    def add(file: str, field: str, msg: str) -> None:
        problems.append(Problem(file, field, msg))

    try:
        info = fmt.read_info(root)
    except DatasetError as e:
        return [Problem(fmt.INFO_PATH, "", str(e))]
    if str(info["codebase_version"]).startswith("v2"):
        return _check_via_reader(root)
    if info["codebase_version"] != fmt.CODEBASE_VERSION:
        return [Problem(fmt.INFO_PATH, "codebase_version", f"{info['codebase_version']!r} is not supported")]
    try:
        features = fmt.parse_features(info)
    except DatasetError as e:
        return [Problem(fmt.INFO_PATH, "features", str(e))]
    fps = int(info["fps"])
    for k in DEFAULT_FEATURES:
        if k not in features:
            add(fmt.INFO_PATH, k, "required index feature is not declared")

    for rel in (fmt.TASKS_PATH, fmt.STATS_PATH):
        if not (root / rel).exists():
            add(rel, "", "missing file")
    tasks: list[str] = []
    try:
        tasks = fmt.read_tasks(root)
    except DatasetError as e:
        if (root / fmt.TASKS_PATH).exists():
            add(fmt.TASKS_PATH, "", str(e))
    try:
        episodes = fmt.read_episodes(root)
    except DatasetError as e:
        add("meta/episodes", "", str(e))
        return problems

    # ---- files referenced vs present
    cams = camera_keys(features)
    data_files: dict[Path, list[dict[str, Any]]] = {}
    video_files: dict[Path, list[tuple[str, dict[str, Any]]]] = {}
    for e in episodes:
        try:
            p = root / info["data_path"].format(chunk_index=e["data/chunk_index"], file_index=e["data/file_index"])
            data_files.setdefault(p, []).append(e)
            for c in cams:
                v = root / info["video_path"].format(video_key=c, chunk_index=e[f"videos/{c}/chunk_index"], file_index=e[f"videos/{c}/file_index"])
                video_files.setdefault(v, []).append((c, e))
        except KeyError as err:
            add("meta/episodes", str(err), f"episode {e.get('episode_index')} lacks column {err}")
    present = {p for p in (root / "data").rglob("*.parquet")} | {p for p in (root / "videos").rglob("*.mp4")}
    for p in sorted(set(data_files) | set(video_files)):
        if not p.exists():
            add(_rel(p, root), "", "missing file (referenced by meta/episodes)")
    for p in sorted(present - set(data_files) - set(video_files)):
        add(_rel(p, root), "", "extra file not referenced by any episode")
    if info.get("total_episodes") != len(episodes):
        add(fmt.INFO_PATH, "total_episodes", f"says {info.get('total_episodes')}, meta/episodes has {len(episodes)}")
    if tasks and info.get("total_tasks") != len(tasks):
        add(fmt.INFO_PATH, "total_tasks", f"says {info.get('total_tasks')}, meta/tasks.parquet has {len(tasks)}")

    # ---- tabular data
    columns: dict[str, list[np.ndarray]] = {}
    tab = {k: f for k, f in features.items() if not f.is_visual}
    for p in sorted(data_files):
        if not p.exists():
            continue
        try:
            table = fmt.read_parquet(p)
        except DatasetError as e:
            add(_rel(p, root), "", str(e))
            continue
        _check_table(table, tab, _rel(p, root), add, columns)
    cols = {k: np.concatenate(v) for k, v in columns.items() if v}
    total = len(cols.get("index", []))
    if "index" in cols and info.get("total_frames") != total:
        add(fmt.INFO_PATH, "total_frames", f"says {info.get('total_frames')}, data files hold {total} frames")
    if {"episode_index", "frame_index", "timestamp", "index"} <= set(cols):
        _check_episodes(cols, episodes, fps, tasks, add)

    # ---- videos
    from vlaforge.data.video import probe

    for p, users in sorted(video_files.items()):
        if not p.exists():
            continue
        try:
            meta = probe(p)
        except (DatasetError, Exception) as e:  # noqa: BLE001 - any decoder failure is a corrupt file
            add(_rel(p, root), "", f"cannot be read as video ({e})")
            continue
        cam = users[0][0]
        f = features[cam]
        if (meta["video.height"], meta["video.width"]) != tuple(f.shape[:2]):
            add(_rel(p, root), cam, f"video is {meta['video.height']}x{meta['video.width']}, info.json says {f.shape[0]}x{f.shape[1]}")
        bad = _undecodable(p, fps, meta["num_frames"], decode_all)
        if bad is not None:
            add(_rel(p, root), cam, bad)
        video_len_s = meta["num_frames"] / fps
        for c, e in users:
            end = float(e[f"videos/{c}/to_timestamp"])
            need = float(e[f"videos/{c}/from_timestamp"]) + int(e["length"]) / fps
            if video_len_s + 0.5 / fps < need or end + 0.5 / fps < need:
                add(_rel(p, root), c, f"episode {e['episode_index']}: video holds {video_len_s:.2f}s but the episode's {e['length']} frames need up to {need:.2f}s")

    # ---- stats
    if deep and (root / fmt.STATS_PATH).exists():
        _check_stats(root, features, episodes, cols, add)

    # ---- lineage
    from vlaforge.data.lineage import content_fingerprint, read_lineage

    try:
        lineage = read_lineage(root)
    except DatasetError as e:
        add(fmt.VLAFORGE_PATH, "", str(e))
        lineage = {}
    if lineage.get("fingerprint") and not problems and content_fingerprint(root) != lineage["fingerprint"]:
        add(fmt.VLAFORGE_PATH, "fingerprint", "files changed since vlaforge wrote this dataset; stats and caches may be stale (re-write it with a vlaforge command)")
    return problems


def leftover_staging(path: str | Path) -> list[str]:
    """One line per `.NAME.staging.*` dir beside dataset `path`: a killed writer's leftovers, or a writer still running."""
    from vlaforge.io import is_stale, staging_dirs, staging_owner

    root = Path(path)
    lines = []
    for d in staging_dirs(root.parent, root.name):
        owner = staging_owner(d)
        if owner is None:
            lines.append(f"{d}: staging dir of unknown owner (an older vlaforge or a writer just starting); delete it if no writer is running")
        elif is_stale(d):
            lines.append(f"{d}: leftover of a killed writer (pid {owner['pid']} is gone); the next write beside it removes it, or delete it")
        else:
            lines.append(f"{d}: a writer is running (pid {owner['pid']} on {owner.get('host')}); its result replaces {root.name} when it finishes")
    return lines


def _undecodable(path: Path, fps: int, n_frames: int, decode_all: bool) -> str | None:
    """Why `path` fails to decode (naming the first bad frame), or None; a sample of frames unless `decode_all`."""
    from vlaforge.data.video import first_bad_frame

    frames = None
    if not decode_all:
        rng = np.random.default_rng(0)
        frames = sorted({0, max(0, n_frames - 1), *rng.integers(0, max(1, n_frames), SAMPLED_FRAMES).tolist()})
    try:
        bad = first_bad_frame(path, fps, frames)
    except (DatasetError, Exception) as e:  # noqa: BLE001 - any decoder failure is a corrupt file
        return f"cannot be decoded ({e}); restore the file or re-create the dataset"
    if bad is None:
        return None
    i, why = bad
    how = "" if decode_all else " (a sample of frames was decoded; `vlaforge data check --deep` decodes them all)"
    return f"frame {i} (t={i / fps:.2f}s) {why}; the file is corrupt: restore it or re-create the dataset{how}"


def _rel(p: Path, root: Path) -> str:
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return str(p)


def _check_table(table: pa.Table, tab: dict[str, Feature], rel: str, add: Any, columns: dict[str, list[np.ndarray]]) -> None:
    names = set(table.column_names)
    for k in sorted(set(tab) - names):
        add(rel, k, "column declared in meta/info.json is missing")
    for k in sorted(names - set(tab) - {"__index_level_0__"}):
        add(rel, k, "column is not declared in meta/info.json")
    for k, f in tab.items():
        if k not in names:
            continue
        col = table.column(k).combine_chunks()
        if pa.types.is_list(col.type) or pa.types.is_fixed_size_list(col.type) or pa.types.is_large_list(col.type):
            lens = set(np.asarray(col.value_lengths() if hasattr(col, "value_lengths") else [col.type.list_size] * len(col)).tolist())
            if lens != {f.shape[0]} and f.shape != (1,):
                add(rel, k, f"values have length {sorted(lens)}, meta/info.json shape is {list(f.shape)}")
                continue
            if f.shape == (1,) and lens != {1}:
                add(rel, k, f"values have length {sorted(lens)}, meta/info.json shape is [1]")
                continue
            arr = col.flatten().to_numpy(zero_copy_only=False).reshape(len(col), -1)
        else:
            if f.shape != (1,):
                add(rel, k, f"column holds scalars, meta/info.json shape is {list(f.shape)}")
                continue
            arr = col.to_numpy(zero_copy_only=False)
        if arr.dtype.kind == "f":
            bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
            if bad.any():
                add(rel, k, f"{int(bad.sum())} rows hold NaN/inf (first at row {int(np.argmax(bad))})")
        columns.setdefault(k, []).append(arr.reshape(len(arr)) if f.shape == (1,) else arr)


def _check_episodes(cols: dict[str, np.ndarray], episodes: list[dict[str, Any]], fps: int, tasks: list[str], add: Any) -> None:
    ep_col, fi, ts = cols["episode_index"], cols["frame_index"], cols["timestamp"]
    gidx = cols["index"]
    if not np.array_equal(np.sort(gidx), np.arange(len(gidx))):
        add("data", "index", "global frame index has gaps or duplicates (expected 0..N-1)")
    if "task_index" in cols and tasks and (cols["task_index"].min() < 0 or cols["task_index"].max() >= len(tasks)):
        add("data", "task_index", f"values outside 0..{len(tasks) - 1} (meta/tasks.parquet)")
    for e in episodes:
        i = int(e["episode_index"])
        rows = np.flatnonzero(ep_col == i)
        if len(rows) != int(e["length"]):
            add("data", "episode_index", f"episode {i}: {len(rows)} rows in data, length {e['length']} in meta/episodes")
            continue
        f, t = fi[rows], ts[rows].astype(np.float64)
        if not np.array_equal(f, np.arange(len(rows))):
            add("data", "frame_index", f"episode {i}: frame_index is not 0..{len(rows) - 1} (gaps, duplicates or wrong order)")
        if len(t) > 1 and not (np.diff(t) > 0).all():
            add("data", "timestamp", f"episode {i}: timestamps are not strictly increasing (first at frame {int(np.argmax(np.diff(t) <= 0)) + 1})")
        off = np.abs(t - (t[0] + np.arange(len(t)) / fps))
        if (off > TIMESTAMP_TOL_S + 1e-6).any():
            add("data", "timestamp", f"episode {i}: timestamps are off the {fps} fps grid by up to {off.max() * 1000:.2f} ms (tolerance {TIMESTAMP_TOL_S * 1000:.1f} ms)")


def _check_stats(root: Path, features: dict[str, Feature], episodes: list[dict[str, Any]], cols: dict[str, np.ndarray], add: Any) -> None:
    try:
        saved = st.from_json(json.loads((root / fmt.STATS_PATH).read_text()))
    except (json.JSONDecodeError, ValueError) as e:
        add(fmt.STATS_PATH, "", f"not valid JSON ({e})")
        return
    for k, f in features.items():
        if k not in saved:
            add(fmt.STATS_PATH, k, "no statistics for this feature")
            continue
        for s in ("min", "max", "mean", "std"):
            if s not in saved[k]:
                add(fmt.STATS_PATH, k, f"missing '{s}'")
    numeric = {k: v for k, v in cols.items() if k in ("observation.state", "action") or (k in features and features[k].names)}
    for k, v in numeric.items():
        if k not in saved or not {"mean", "min", "max"} <= set(saved[k]) or not np.isfinite(v).all():
            continue  # NaN/inf rows are reported on their own
        fresh = st.feature_stats(v)
        for s in ("min", "max", "mean"):
            if np.shape(saved[k][s]) != np.shape(fresh[s]) or not np.allclose(saved[k][s], fresh[s], rtol=1e-4, atol=1e-5):
                add(fmt.STATS_PATH, k, f"stale '{s}': does not match the data (re-create stats: `vlaforge data restats {root}`)")
                break
    ep_stats = [e["stats"] for e in episodes if e.get("stats")]
    if ep_stats:
        agg = st.aggregate(ep_stats)
        for k in camera_keys(features):
            if k in saved and k in agg and st.stats_close({k: saved[k]}, {k: agg[k]}):
                add(fmt.STATS_PATH, k, "image stats do not match the per-episode stats in meta/episodes")


def _check_via_reader(root: Path) -> list[Problem]:
    from vlaforge.data.reader import open_dataset

    try:
        ds = open_dataset(root)
        for ep in range(ds.num_episodes):
            ds.episode(ds.episode_meta[ep]["episode_index"])
    except DatasetError as e:
        return [Problem(fmt.INFO_PATH, "", str(e))]
    return []
