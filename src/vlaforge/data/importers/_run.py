"""Run an importer: read the source episode by episode, write v3.0 with DatasetWriter, record lineage."""

from __future__ import annotations

import hashlib
import itertools
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vlaforge.data.importers import detect, get
from vlaforge.data.importers._base import ImportOptions, Source, SourceEpisode
from vlaforge.errors import ConfigError, DatasetError, FeatureMismatch, SourceFormatError


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _transform(frames: np.ndarray, how: str) -> np.ndarray:
    if how == "flip-vertical":
        return np.ascontiguousarray(frames[:, ::-1])  # (T, H, W, 3)
    if how == "rotate-180":
        return np.ascontiguousarray(frames[:, ::-1, ::-1])
    return frames


def _fps(source: Source, options: ImportOptions, fmt: str) -> int:
    if source.fps is None:
        if options.fps is None:
            raise ConfigError(f"{fmt} sources do not record their control rate; pass --fps (the rate the data was recorded at)")
        return options.fps
    if options.fps is not None and not math.isclose(options.fps, source.fps):
        raise ConfigError(
            f"the source records {source.fps:g} Hz but --fps is {options.fps}; drop --fps "
            "(to lower the rate, import, then `vlaforge data edit subsample`)"
        )
    if not float(source.fps).is_integer():
        raise ConfigError(f"the source records {source.fps:g} Hz, which is not a whole number of frames per second")
    return int(source.fps)


def import_dataset(
    src: str | Path,
    out: str | Path,
    format: str = "auto",
    options: ImportOptions | None = None,
    overwrite: bool = False,
    video: Any = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Convert a foreign dataset at `src` to a LeRobot v3.0 dataset at `out` (atomic; lineage in meta/vlaforge.json)."""
    from vlaforge import __version__
    from vlaforge.data.writer import DatasetWriter

    src, options = Path(src), options or ImportOptions()
    log = log or (lambda _msg: None)
    if not src.exists():
        raise ConfigError(f"{src} does not exist")
    imp = detect(src) if format == "auto" else get(format)
    unused = sorted(set(options.given()) - imp.options)
    if unused:
        raise ConfigError(f"--format {imp.name} does not take {', '.join('--' + u.replace('_', '-') for u in unused)}")
    with imp.open(src, options) as source:
        for note in source.notes:
            log(note)
        fps = _fps(source, options, imp.name)
        w = DatasetWriter.create(out, fps=fps, features=source.features, robot_type=source.robot_type, video=video, overwrite=overwrite)
        n = 0
        with w:
            for ep in itertools.islice(source.episodes(), options.max_episodes):  # islice: never reads one episode too many
                _add(w, ep, options)
                n += 1
                log(f"episode {n}: {ep.source} ({len(next(iter(ep.data.values())))} frames)")
            if n == 0:
                raise SourceFormatError(f"{src}: no episodes to import")
            files = [{"path": str(p.resolve()), "bytes": p.stat().st_size, "sha256": _sha256(p)} for p in source.files_read()]
            w.set_lineage(
                {
                    "name": "import",
                    "format": imp.name,
                    "converter": type(imp).__module__,
                    "converter_version": imp.version,
                    "vlaforge_version": __version__,
                    "source": {"path": str(src.resolve()), "files": files, **source.info},
                    "options": options.given(),
                    "episodes": n,
                },
                parents=[],
            )
    return Path(out)


def _add(w: Any, ep: SourceEpisode, options: ImportOptions) -> None:
    task = ep.task if ep.task and ep.task.strip() else options.task
    if not task:
        raise SourceFormatError(f"{ep.source}: the episode has no language instruction; pass --task TEXT")
    data = {}
    for k, v in ep.data.items():
        data[k] = _transform(v, options.image_transform) if k.startswith("observation.images.") else v
    try:
        w.add_episode(data, task, flags={"source_episode": ep.source, **ep.flags})
    except (FeatureMismatch, DatasetError) as e:
        raise SourceFormatError(f"{ep.source}: {e}") from None
