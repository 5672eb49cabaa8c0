"""An episode's own signals for segmentation: gripper command and opening, hand position, velocity, image change.

Roles are found by feature axis names (`gripper`, `x`/`dx`, ...), so any dataset that names its axes
works; `label.*` columns (the simulator's training-only ground truth) are never read here.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from vlaforge.engine.health.context import axis_of, gripper_dims


@dataclasses.dataclass
class Signals:
    """Per-step signals of one episode; a field is None when the dataset lacks it."""

    T: int
    grip_cmd: np.ndarray | None  # (T,) gripper command, 1 = close, 0 = open (normalized to [0, 1])
    opening: np.ndarray | None  # (T,) measured gripper opening (state), in the dataset's units
    xyz: np.ndarray | None  # (T, 3) hand position
    velocity: np.ndarray  # (T, D) motion made at step t: delta actions, else state[t+1] - state[t]
    velocity_is_xyz: bool  # velocity columns are (x, y, z) in that order
    image_change: np.ndarray | None  # (T,) mean absolute pixel change to the next frame (0..1), front-most camera

    @property
    def speed(self) -> np.ndarray:
        """(T,) norm of the velocity."""
        return np.linalg.norm(self.velocity, axis=1)


def _axes(names: Sequence[str] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, n in enumerate(names or ()):
        a = axis_of(str(n))
        if a is not None and a not in out:
            out[a] = i
    return out


def _is_delta(names: Sequence[str], dims: Sequence[int]) -> bool:
    return all(str(names[i]).lower().startswith(("d", "delta")) for i in dims)


def image_change(frames: np.ndarray) -> np.ndarray:
    """uint8 (T, H, W, 3) → (T,) mean absolute change to the next frame in [0, 1] (the last step repeats the one before)."""
    f = frames.astype(np.float32) / 255.0  # (T, H, W, 3)
    if len(f) < 2:
        return np.zeros(len(f), np.float32)
    d = np.abs(np.diff(f, axis=0)).mean(axis=(1, 2, 3))  # (T-1,)
    return np.append(d, d[-1]).astype(np.float32)


def from_arrays(action: np.ndarray, state: np.ndarray | None, action_names: Sequence[str] | None,
                state_names: Sequence[str] | None, frames: np.ndarray | None = None) -> Signals:
    """Signals from an episode's arrays: action (T, A), state (T, S) or None, optional camera frames (T, H, W, 3)."""
    action = np.asarray(action, np.float64).reshape(len(action), -1)  # (T, A)
    T = len(action)
    anames = list(action_names or [])
    snames = list(state_names or [])
    ag, sg = gripper_dims(anames), gripper_dims(snames)
    grip_cmd = None
    if ag:
        g = action[:, ag[0]]
        lo, hi = float(np.min(g)), float(np.max(g))
        # Normalize to [0, 1]; a constant command keeps its side of 0.5 (a push episode holds the gripper closed throughout).
        grip_cmd = (g - lo) / (hi - lo) if hi - lo > 1e-6 else np.full(T, 1.0 if hi > 0.5 else 0.0)
    opening = None
    xyz = None
    if state is not None:
        state = np.asarray(state, np.float64).reshape(T, -1)  # (T, S)
        if sg:
            opening = state[:, sg[0]]
        ax = _axes(snames)
        if all(a in ax for a in "xyz"):
            xyz = state[:, [ax["x"], ax["y"], ax["z"]]]  # (T, 3)
    aax = _axes(anames)
    if all(a in aax for a in "xyz") and _is_delta(anames, [aax[a] for a in "xyz"]):
        velocity, is_xyz = action[:, [aax["x"], aax["y"], aax["z"]]], True
    elif xyz is not None:
        velocity, is_xyz = _forward_diff(xyz), True
    else:
        src = state if state is not None else action
        dims = [i for i in range(src.shape[1]) if i not in (sg if state is not None else ag)]
        velocity, is_xyz = _forward_diff(src[:, dims] if dims else src), False
    change = image_change(frames) if frames is not None and len(frames) == T else None
    return Signals(T, grip_cmd, opening, xyz, velocity, is_xyz, change)


def _forward_diff(x: np.ndarray) -> np.ndarray:
    """(T, D) → (T, D) x[t+1] - x[t], the last step repeating the one before (zeros for T = 1)."""
    if len(x) < 2:
        return np.zeros_like(x)
    d = np.diff(x, axis=0)
    return np.concatenate([d, d[-1:]])


def pick_camera(camera_keys: Sequence[str]) -> str | None:
    """The scene camera to measure image change on: one named front/scene/top, else the first that is not a wrist camera."""
    keys = list(camera_keys)
    for word in ("front", "scene", "top", "agentview"):
        for k in keys:
            if word in k.lower():
                return k
    rest = [k for k in keys if "wrist" not in k.lower() and "hand" not in k.lower()]
    return (rest or keys or [None])[0]


def episode_signals(ds: Any, ep: int, images: bool = True) -> Signals:
    """Signals of episode `ep` of a LeRobotDataset (decodes one camera when `images`)."""
    if "action" not in ds.features:
        from vlaforge.errors import DatasetError

        raise DatasetError(f"{ds.root}: segmentation needs an 'action' feature; this dataset has {sorted(ds.features)}")
    a, b = ds.episode_range(ep)
    action = ds.column("action")[a:b]
    state = ds.column("observation.state")[a:b] if "observation.state" in ds.features else None
    cam = pick_camera(ds.camera_keys) if images else None
    frames = ds.episode_frames(ep, cam) if cam else None
    sn = ds.features["observation.state"].names if state is not None else None
    return from_arrays(action, state, ds.features["action"].names, sn, frames)
