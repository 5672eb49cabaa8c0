"""What a mirror or a 90° turn of the world does to each named action/state axis, found by name, never by index.

A name is read as [prefix][d|delta_]<axis>: "x", "dx", "delta_x", "ee_x", "eef_yaw", "dyaw".
The `d`/`delta_` forms are deltas (negated or rotated); the plain forms are positions (mirrored
about a centre). Gripper axes (any name containing "grip") never change. A name the rules do not
know makes the transform refuse: guessing would silently teach the policy wrong actions.
"""

from __future__ import annotations

from typing import Sequence

import torch

from vlaforge.data.augment.base import AugmentRefused

PREFIXES = ("end_effector_", "eef_", "ee_", "tcp_", "ee.", "eef.")
DELTA_PREFIXES = ("delta_", "d")
AXES = ("x", "y", "z", "roll", "pitch", "yaw")
# Mirroring the world in x (x -> -x, the image's horizontal flip): x, pitch and yaw change sign.
MIRROR_NEGATES = {"x", "pitch", "yaw"}


def parse(name: str) -> tuple[str, bool] | None:
    """'dx' → ('x', True); 'ee_yaw' → ('yaw', False); 'gripper' → ('grip', False); unknown → None."""
    n = name.lower().strip()
    if "grip" in n:
        return "grip", False
    for p in PREFIXES:
        if n.startswith(p):
            n = n[len(p):]
            break
    if n in AXES:
        return n, False
    for p in DELTA_PREFIXES:
        if n.startswith(p) and n[len(p):] in AXES:
            return n[len(p):], True
    return None


def _require(names: Sequence[str] | None, key: str, what: str) -> list[tuple[str, bool]]:
    if names is None:
        raise AugmentRefused(
            f"{what}: {key} has no axis names in meta/info.json, so which axis is lateral is unknown; add names "
            "(e.g. ['dx', 'dy', 'dz', 'gripper']) to the feature, or remove this augmentation from the recipe"
        )
    parsed = [parse(n) for n in names]
    unknown = [n for n, p in zip(names, parsed) if p is None]
    if unknown:
        raise AugmentRefused(
            f"{what}: cannot tell how {key} axes {unknown} (of {list(names)}) change, so no consistent transform exists; "
            "it is refused rather than guessed. Known forms: x/y/z/roll/pitch/yaw with optional d/delta_ (delta) and "
            "ee_/eef_/tcp_ prefixes, and gripper*. Rename the axes or remove this augmentation from the recipe."
        )
    return parsed  # type: ignore[return-value]


def mirror_affine(names: Sequence[str] | None, key: str, center_x: float, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale (D,), offset (D,)) so that mirrored = scale * v + offset for a world mirror in x about `center_x`."""
    parsed = _require(names, key, what)
    if not any(axis == "x" for axis, _ in parsed):
        raise AugmentRefused(
            f"{what}: {key} names {list(names or [])} have no lateral (x) axis, so a mirrored image has no mirrored "
            "action; the flip is refused. Remove it from the recipe, or name the lateral axis x/dx."
        )
    scale = torch.tensor([-1.0 if axis in MIRROR_NEGATES else 1.0 for axis, _ in parsed])
    offset = torch.tensor([2.0 * center_x if axis == "x" and not delta else 0.0 for axis, delta in parsed])
    return scale, offset


def planar_rotation(names: Sequence[str] | None, key: str, what: str) -> tuple[int, int, bool]:
    """Indices of the x and y axes (which must both exist) and whether they are deltas; refuses roll/pitch and absolute yaw."""
    parsed = _require(names, key, what)
    ix = [i for i, (a, _) in enumerate(parsed) if a == "x"]
    iy = [i for i, (a, _) in enumerate(parsed) if a == "y"]
    if len(ix) != 1 or len(iy) != 1 or parsed[ix[0]][1] != parsed[iy[0]][1]:
        raise AugmentRefused(f"{what}: {key} names {list(names or [])} need exactly one x and one y axis of the same kind to be rotated")
    if any(a in ("roll", "pitch") or (a == "yaw" and not d) for a, d in parsed):
        raise AugmentRefused(
            f"{what}: {key} has orientation axes ({list(names or [])}) that a turn about the vertical would have to "
            "rotate or wrap (roll/pitch, absolute yaw), in units the names do not give; the turn is refused. "
            "Remove rot90 from the recipe."
        )
    return ix[0], iy[0], parsed[ix[0]][1]
