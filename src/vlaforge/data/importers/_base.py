"""What an importer is: options in, a Source out (features, fps, episodes), plus helpers they share."""

from __future__ import annotations

import abc
import dataclasses
from pathlib import Path
from typing import Any, Iterator

from vlaforge.errors import ConfigError, SourceFormatError

IMAGE_TRANSFORMS = ("none", "flip-vertical", "rotate-180")


@dataclasses.dataclass(frozen=True)
class ImportOptions:
    """Choices a user makes at import time; each importer lists in `Importer.options` which it reads."""

    fps: int | None = None  # only when the source does not record its control rate
    task: str | None = None  # instruction for episodes whose source has none (never overrides one it has)
    max_episodes: int | None = None
    cameras: tuple[str, ...] | None = None  # camera names to keep (default: every RGB camera found)
    state_keys: tuple[str, ...] | None = None  # source keys concatenated into observation.state, in this order
    action_keys: tuple[str, ...] | None = None  # source keys concatenated into action, in this order
    image_transform: str = "none"  # applied to every camera frame: none, flip-vertical, rotate-180
    filter_key: str | None = None  # robomimic: only the demos listed in mask/<filter_key>
    split: str | None = None  # rlds: only shards of this split (NAME-<split>.tfrecord-*)

    def __post_init__(self) -> None:
        if self.image_transform not in IMAGE_TRANSFORMS:
            raise ConfigError(f"image transform {self.image_transform!r} is not one of {', '.join(IMAGE_TRANSFORMS)}")
        if self.fps is not None and self.fps <= 0:
            raise ConfigError(f"--fps must be a positive integer, got {self.fps}")
        if self.max_episodes is not None and self.max_episodes <= 0:
            raise ConfigError(f"--max-episodes must be positive, got {self.max_episodes}")

    def given(self) -> dict[str, Any]:
        """The options that differ from their defaults (what lineage records)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v != f.default:
                out[f.name] = list(v) if isinstance(v, tuple) else v
        return out


@dataclasses.dataclass
class SourceEpisode:
    """One episode read from the source: arrays (T, ...) keyed by dataset feature name."""

    data: dict[str, Any]  # camera frames uint8 (T, H, W, 3); vectors (T, D)
    task: str | None  # the source's instruction, if it has one
    source: str  # where it came from, e.g. "demo.hdf5:data/demo_3" (kept in the episode's flags)
    flags: dict[str, Any] = dataclasses.field(default_factory=dict)


class Source(abc.ABC):
    """An opened foreign dataset: its features and rate are known before the first episode is read."""

    fps: float | None  # control rate the source records, or None
    features: dict[str, Any]  # dataset feature name -> vlaforge.data.features.Feature
    robot_type: str | None
    files: list[Path]  # the files it would read in full
    info: dict[str, Any]  # facts about the source worth keeping in the lineage (env name, dataset name, ...)
    notes: list[str]  # choices made on the user's behalf, printed by the CLI

    @abc.abstractmethod
    def episodes(self) -> Iterator[SourceEpisode]:
        """Yield the episodes in source order."""

    def files_read(self) -> list[Path]:
        """The files the episodes so far came from (what lineage hashes); all of `files` unless a source reads lazily."""
        return self.files

    def close(self) -> None:
        """Release open files."""

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Importer(abc.ABC):
    """A foreign format. A module in vlaforge/data/importers/ that sets `IMPORTER = SomeImporter()` is a format."""

    name: str  # the --format value
    version: str  # bump when the same input would convert differently (recorded in lineage)
    description: str  # one line for --help
    options: frozenset[str]  # the ImportOptions fields it reads; others given by the user are refused

    @abc.abstractmethod
    def detect(self, src: Path) -> bool:
        """True when `src` looks like this format (cheap: names, magic bytes, no full parse)."""

    @abc.abstractmethod
    def open(self, src: Path, options: ImportOptions) -> Source:
        """Open `src`, check it enough to fix the features, and return the Source."""


# ---------------------------------------------------------------- helpers shared by importers


def choose(found: list[str], wanted: tuple[str, ...] | None, what: str, where: str) -> list[str]:
    """The keys the user asked for (all must exist), or all found ones; errors list what exists."""
    if wanted is None:
        return list(found)
    missing = [k for k in wanted if k not in found]
    if missing:
        raise SourceFormatError(f"{where}: no {what} {missing}; found {found or 'none'}")
    return list(wanted)


def vector_names(key: str, dim: int) -> list[str]:
    """Axis names for a source vector: the key itself when scalar, key_0..key_{D-1} otherwise."""
    leaf = key.rsplit("/", 1)[-1]
    return [leaf] if dim == 1 else [f"{leaf}_{i}" for i in range(dim)]


def camera_name(key: str) -> str:
    """`agentview_image` / `eye_in_hand_rgb` / `steps/observation/image` -> a camera name for observation.images.*."""
    leaf = key.rsplit("/", 1)[-1]
    for suffix in ("_image", "_rgb"):
        if leaf.endswith(suffix) and len(leaf) > len(suffix):
            return leaf[: -len(suffix)]
    return leaf
