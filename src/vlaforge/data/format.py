"""The LeRobot v3.0 on-disk layout: paths, info.json, tasks.parquet and episodes parquet I/O."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vlaforge.data.features import DEFAULT_FEATURES, Feature
from vlaforge.errors import DatasetError
from vlaforge.io import atomic_write_bytes, atomic_write_json

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000  # max files per chunk directory
DATA_FILE_SIZE_MB = 100
VIDEO_FILE_SIZE_MB = 200
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
VLAFORGE_PATH = "meta/vlaforge.json"


def chunk_file(n: int, chunks_size: int = CHUNKS_SIZE) -> tuple[int, int]:
    """The n-th file of a kind → (chunk_index, file_index)."""
    return n // chunks_size, n % chunks_size


def make_info(fps: int, features: dict[str, Feature], robot_type: str | None = None, **extra: Any) -> dict[str, Any]:
    """A v3.0 info.json dict with the default index features appended."""
    feats = {k: f.to_json() for k, f in features.items()}
    for k, d in DEFAULT_FEATURES.items():
        feats[k] = {"dtype": d["dtype"], "shape": list(d["shape"]), "names": None}
    info = {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": 0,
        "total_frames": 0,
        "total_tasks": 0,
        "chunks_size": CHUNKS_SIZE,
        "data_files_size_in_mb": DATA_FILE_SIZE_MB,
        "video_files_size_in_mb": VIDEO_FILE_SIZE_MB,
        "fps": int(fps),
        "splits": {},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if any(f.dtype == "video" for f in features.values()) else None,
        "features": feats,
    }
    info.update(extra)
    return info


def require_dataset_dir(root: Path) -> None:
    """DatasetError naming what `root` is instead, and what to pass, unless it is a directory holding meta/info.json."""
    root = Path(root)
    if (root / INFO_PATH).is_file():
        return
    what = "does not exist" if not root.exists() else "is a file, not a dataset directory" if not root.is_dir() else \
        f"is not a dataset directory (it has no {INFO_PATH})"
    above = next((p for p in root.absolute().parents if (p / INFO_PATH).is_file()), None)
    below = sorted(p.parent.parent for p in root.glob(f"*/{INFO_PATH}"))[:3] if root.is_dir() else []
    if above is not None:
        hint = f"the dataset it belongs to is {above}"
    elif below:
        hint = f"the datasets inside it are {', '.join(map(str, below))}"
    else:
        hint = "e.g. the --out of `vlaforge sim collect` or `vlaforge data sample`"
    raise DatasetError(f"{root} {what}; pass the directory that holds {INFO_PATH}, data/ and videos/ ({hint})")


def read_info(root: Path) -> dict[str, Any]:
    """Load and sanity-check meta/info.json."""
    path = root / INFO_PATH
    require_dataset_dir(root)
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path} is not valid JSON ({e}); restore it or re-create the dataset") from None
    for key in ("codebase_version", "fps", "features"):
        if key not in info:
            raise DatasetError(f"{path} has no {key!r} field")
    return info


def parse_features(info: dict[str, Any]) -> dict[str, Feature]:
    """info.json features → {name: Feature}."""
    try:
        return {k: Feature.from_json(v) for k, v in info["features"].items()}
    except (KeyError, TypeError) as e:
        raise DatasetError(f"meta/info.json features are malformed ({e})") from None


def write_info(root: Path, info: dict[str, Any]) -> None:
    """Write meta/info.json atomically."""
    atomic_write_json(root / INFO_PATH, info)


def _table_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def write_tasks(root: Path, tasks: list[str]) -> None:
    """meta/tasks.parquet as pandas writes it: `task` string index, `task_index` column."""
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks, pa.string())})
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64", "metadata": None},
            {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": None},
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.3",
    }
    table = table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})
    atomic_write_bytes(root / TASKS_PATH, _table_bytes(table))


def read_tasks(root: Path) -> list[str]:
    """meta/tasks.parquet → task strings ordered by task_index."""
    path = root / TASKS_PATH
    table = read_parquet(path)
    names = table.column_names
    col = "task" if "task" in names else "__index_level_0__" if "__index_level_0__" in names else None
    if col is None or "task_index" not in names:
        raise DatasetError(f"{path} must have a 'task' index and a 'task_index' column; found {names}")
    idx = table.column("task_index").to_pylist()
    texts = table.column(col).to_pylist()
    if sorted(idx) != list(range(len(idx))):
        raise DatasetError(f"{path}: task_index values {sorted(idx)[:10]}... are not 0..{len(idx) - 1}")
    out = [""] * len(idx)
    for i, t in zip(idx, texts):
        out[i] = t
    return out


def read_parquet(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read a parquet file, turning missing/corrupt files into DatasetError."""
    if not path.exists():
        raise DatasetError(f"{path} is missing")
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as e:
        raise DatasetError(f"{path} is not a readable parquet file ({e}); it is truncated or corrupt") from None


def _nested(v: np.ndarray) -> Any:
    return np.asarray(v, dtype=np.float64).tolist()


def write_episodes(root: Path, episodes: list[dict[str, Any]], chunks_size: int = CHUNKS_SIZE) -> None:
    """Write all episode metadata rows to meta/episodes/chunk-000/file-000.parquet (plus stats/* columns)."""
    rows = []
    for ep in episodes:
        row = {k: v for k, v in ep.items() if k != "stats"}
        for feat, st in ep.get("stats", {}).items():
            for s, arr in st.items():
                row[f"stats/{feat}/{s}"] = _nested(arr) if s != "count" else np.asarray(arr, np.int64).tolist()
        row["meta/episodes/chunk_index"] = 0
        row["meta/episodes/file_index"] = 0
        rows.append(row)
    columns = list(rows[0]) if rows else ["episode_index"]
    table = pa.Table.from_pylist(rows, schema=None) if rows else pa.table({"episode_index": pa.array([], pa.int64())})
    table = table.select(columns)
    atomic_write_bytes(root / EPISODES_PATH.format(chunk_index=0, file_index=0), _table_bytes(table))


def read_episodes(root: Path) -> list[dict[str, Any]]:
    """All episode metadata rows (every meta/episodes file), sorted by episode_index; stats parsed."""
    files = sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
    if not files:
        raise DatasetError(f"{root / 'meta/episodes'} has no episode metadata files (meta/episodes/chunk-XXX/file-XXX.parquet)")
    rows: list[dict[str, Any]] = []
    for f in files:
        rows.extend(read_parquet(f).to_pylist())
    out = []
    for row in rows:
        ep: dict[str, Any] = {"stats": {}}
        for k, v in row.items():
            if k.startswith("stats/"):
                feat, s = k[len("stats/") : k.rfind("/")], k[k.rfind("/") + 1 :]
                if v is not None:
                    ep["stats"].setdefault(feat, {})[s] = np.atleast_1d(np.asarray(v, np.float64))
            else:
                ep[k] = v
        out.append(ep)
    out.sort(key=lambda e: e["episode_index"])
    return out
