"""meta/vlaforge.json: content fingerprint, version, parents, the operation that made a dataset, episode notes.

LeRobot ignores this file, so a vlaforge dataset stays a plain LeRobot v3.0 dataset.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from vlaforge.data.format import VLAFORGE_PATH
from vlaforge.errors import DatasetError
from vlaforge.io import atomic_write_json

FORMAT = "vlaforge-dataset/1"


def _content_files(root: Path) -> list[Path]:
    files = [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]
    return sorted(p for p in files if p.relative_to(root).as_posix() != VLAFORGE_PATH)


def content_fingerprint(root: Path) -> str:
    """sha256 over every file's relative path and bytes (except meta/vlaforge.json itself)."""
    h = hashlib.sha256()
    for p in _content_files(root):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\1")
    return h.hexdigest()[:32]


def quick_key(root: Path) -> str:
    """A cheap change detector (paths, sizes, mtimes): it changes whenever any dataset file is rewritten."""
    h = hashlib.sha256()
    for p in _content_files(root):
        st = p.stat()
        h.update(f"{p.relative_to(root).as_posix()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def read_lineage(root: Path) -> dict[str, Any]:
    """meta/vlaforge.json as a dict ({} for datasets not written by vlaforge)."""
    path = root / VLAFORGE_PATH
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path} is not valid JSON ({e}); delete it to treat the dataset as plain LeRobot") from None


def write_lineage(
    root: Path,
    episodes: dict[int, dict[str, Any]],
    parents: list[dict[str, Any]] | None = None,
    operation: dict[str, Any] | None = None,
    version: int = 1,
) -> dict[str, Any]:
    """Fingerprint the finished dataset in `root` and write meta/vlaforge.json; returns what was written.
    Parents' paths are made absolute, so the lineage (and the frame cache, see `data.cache`) finds them from anywhere."""
    doc = {
        "format": FORMAT,
        "version": version,
        "fingerprint": content_fingerprint(root),
        "parents": [{**p, "path": str(Path(p["path"]).resolve())} if p.get("path") else p for p in parents or []],
        "operation": operation or {"name": "create"},
        "episodes": {str(k): v for k, v in sorted(episodes.items())},
    }
    atomic_write_json(root / VLAFORGE_PATH, doc)
    return doc
