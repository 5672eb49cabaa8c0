"""Typed dataset features (dtype, shape, names) and LeRobot's built-in index features."""

from __future__ import annotations

import dataclasses
from typing import Any

from vlaforge.errors import FeatureMismatch

# Written by the writer for every frame, never supplied by callers (as in LeRobot).
DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": (1,), "names": None},
    "frame_index": {"dtype": "int64", "shape": (1,), "names": None},
    "episode_index": {"dtype": "int64", "shape": (1,), "names": None},
    "index": {"dtype": "int64", "shape": (1,), "names": None},
    "task_index": {"dtype": "int64", "shape": (1,), "names": None},
}

# Training-only labels (e.g. the simulator's object positions): stored beside observations, never policy inputs.
LABEL_PREFIX = "label."

NUMERIC_DTYPES = {"float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"}
VISUAL_DTYPES = {"video", "image"}


@dataclasses.dataclass(frozen=True)
class Feature:
    """One dataset column: dtype ('video', 'float32', 'int64', ...), per-frame shape, and axis names."""

    dtype: str
    shape: tuple[int, ...]
    names: tuple[str, ...] | None = None
    info: dict[str, Any] | None = None  # video.* fields for video features, as LeRobot writes them

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if self.names is not None:
            object.__setattr__(self, "names", tuple(self.names) if not isinstance(self.names, dict) else self.names)
        if self.dtype not in NUMERIC_DTYPES | VISUAL_DTYPES | {"string"}:
            raise FeatureMismatch(f"unsupported dtype {self.dtype!r}; use one of {sorted(NUMERIC_DTYPES | VISUAL_DTYPES)}")

    @property
    def is_visual(self) -> bool:
        """True for camera features (stored as mp4 video or images)."""
        return self.dtype in VISUAL_DTYPES

    def to_json(self) -> dict[str, Any]:
        """The info.json form of this feature."""
        d: dict[str, Any] = {"dtype": self.dtype, "shape": list(self.shape), "names": _names_json(self.names)}
        if self.info is not None:
            d["info"] = self.info
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Feature":
        """Parse an info.json feature entry (names may be a list, a dict of lists, or null)."""
        names = d.get("names")
        if isinstance(names, dict):  # LeRobot v2.0-era {"motors": [...]} form
            names = next(iter(names.values()), None)
        return cls(dtype=d["dtype"], shape=tuple(d["shape"]), names=tuple(names) if names else None, info=d.get("info"))

def _names_json(names: Any) -> Any:
    if names is None:
        return None
    return list(names)


def user_features(features: dict[str, Feature]) -> dict[str, Feature]:
    """The features a caller supplies (everything but LeRobot's index columns)."""
    return {k: f for k, f in features.items() if k not in DEFAULT_FEATURES}


def camera_keys(features: dict[str, Feature]) -> list[str]:
    """Names of the visual features, in declaration order."""
    return [k for k, f in features.items() if f.is_visual]


def describe_mismatch(a: dict[str, Feature], b: dict[str, Feature], a_name: str, b_name: str) -> list[str]:
    """Human-readable differences between two feature sets (names, dtypes, shapes, axis names)."""
    diffs = []
    for key in sorted(set(a) | set(b)):
        if key not in b:
            diffs.append(f"{key!r} is in {a_name} but not in {b_name}")
        elif key not in a:
            diffs.append(f"{key!r} is in {b_name} but not in {a_name}")
        else:
            fa, fb = a[key], b[key]
            for attr in ("dtype", "shape", "names"):
                va, vb = getattr(fa, attr), getattr(fb, attr)
                if va != vb:
                    diffs.append(f"{key!r} {attr}: {a_name} has {va}, {b_name} has {vb}")
    return diffs


def is_label(key: str) -> bool:
    """True for a training-only label feature (`label.*`), which a policy must never take as input."""
    return key.startswith(LABEL_PREFIX)
