"""What is in the scene, where known: object and bin positions from `label.*` columns, object colors from pixels.

Datasets written by `vlaforge sim collect` carry the simulator's positions of every object and bin as
training-only `label.*` features. Only positions are read (never `label.target`/`label.goal`, which
name the task's answer); an object's color is read off the front camera at its projected position.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

OBJECTS, OBJECTS_UV, BINS = "label.objects", "label.objects_uv", "label.bins"


@dataclasses.dataclass
class Scene:
    """Per-episode object and bin tracks; names are None where the dataset does not tell."""

    objects: np.ndarray  # (T, N, 3) object centres
    names: list[str]  # N object descriptions ("red object"), "object 2" when the color is unknown
    colors: list[str | None]  # N colors, None when unknown
    bins: dict[str, np.ndarray]  # bin name ("blue") -> (T, 3) centre


def _palette() -> dict[str, np.ndarray]:
    from vlaforge.sim.scene import COLORS

    return {k: np.asarray(v, np.float64) for k, v in COLORS.items()}


def color_name(rgb: np.ndarray, palette: dict[str, np.ndarray] | None = None) -> str:
    """The palette color nearest to `rgb` (0..1) in chromaticity, so shading does not change the answer."""
    palette = palette or _palette()
    c = np.asarray(rgb, np.float64) / max(float(np.sum(rgb)), 1e-6)
    return min(palette, key=lambda k: float(np.linalg.norm(c - palette[k] / palette[k].sum())))


def object_colors(frames: np.ndarray, uv: np.ndarray, samples: int = 9) -> list[str | None]:
    """Vote per object over `samples` frames: the palette color of a 3x3 patch at its image position.

    frames uint8 (T, H, W, 3); uv (T, N, 2) normalized (u right, v down)."""
    T, H, W, _ = frames.shape
    palette = _palette()
    out: list[str | None] = []
    for i in range(uv.shape[1]):
        votes: dict[str, int] = {}
        for t in np.unique(np.linspace(0, T - 1, samples).round().astype(int)):
            u, v = uv[t, i]
            if not (0.0 <= u < 1.0 and 0.0 <= v < 1.0):
                continue
            r, c = int(v * H), int(u * W)
            patch = frames[t, max(r - 1, 0):r + 2, max(c - 1, 0):c + 2].reshape(-1, 3).astype(np.float64) / 255.0
            rgb = np.median(patch, axis=0)
            if rgb.max() - rgb.min() < 0.15:  # grey: table or gripper in front of it
                continue
            name = color_name(rgb, palette)
            votes[name] = votes.get(name, 0) + 1
        out.append(max(votes, key=lambda k: votes[k]) if votes else None)
    return out


def episode_scene(ds: Any, ep: int, frames: np.ndarray | None) -> Scene | None:
    """The scene of episode `ep` from its `label.*` columns, or None when the dataset has none."""
    if OBJECTS not in ds.features:
        return None
    a, b = ds.episode_range(ep)
    objs = np.asarray(ds.column(OBJECTS)[a:b], np.float64)
    objs = objs.reshape(len(objs), -1, 3)  # (T, N, 3)
    colors: list[str | None] = [None] * objs.shape[1]
    if frames is not None and OBJECTS_UV in ds.features:
        uv = np.asarray(ds.column(OBJECTS_UV)[a:b], np.float64).reshape(len(objs), -1, 2)  # (T, N, 2)
        colors = object_colors(frames, uv)
    names = [f"{c} object" if c else f"object {i}" for i, c in enumerate(colors)]
    bins: dict[str, np.ndarray] = {}
    if BINS in ds.features:
        flat = np.asarray(ds.column(BINS)[a:b], np.float64)  # (T, 3 * nb)
        axis_names = ds.features[BINS].names or [f"bin{k // 3}_{'xyz'[k % 3]}" for k in range(flat.shape[1])]
        for k in range(0, flat.shape[1], 3):
            bins[str(axis_names[k]).rsplit("_", 1)[0]] = flat[:, k:k + 3]
    return Scene(objs, names, colors, bins)
