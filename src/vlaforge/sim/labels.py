"""Training-only scene labels: where the named object, its goal, every object and every bin are, per frame.

`sim collect` writes them as `label.*` features beside the observations, so a grounding module can be
supervised by the simulator's ground truth. They are never policy inputs: a policy sees frames, the
instruction and proprioception only (`vlaforge.data.features.is_label` names the keys it must refuse). Positions are world
metres; `*_uv` are the front camera's normalized image coordinates (u right, v down, 0..1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vlaforge.sim.scene import BIN_COLORS, N_OBJECTS

LABEL_CAMERA = "front"


def label_spec() -> dict[str, Any]:
    """The `label.*` features `sim collect` writes, as `vlaforge.data.Feature`s with axis names."""
    from vlaforge.data.features import Feature

    xyz, uv = ("x", "y", "z"), ("u", "v")
    objs = tuple(f"obj{i}_{a}" for i in range(N_OBJECTS) for a in xyz)
    objs_uv = tuple(f"obj{i}_{a}" for i in range(N_OBJECTS) for a in uv)
    bins = tuple(f"{c}_{a}" for c in BIN_COLORS for a in xyz)
    return {
        "label.target": Feature("float32", (3,), xyz),
        "label.goal": Feature("float32", (3,), xyz),
        "label.target_uv": Feature("float32", (2,), uv),
        "label.goal_uv": Feature("float32", (2,), uv),
        "label.objects": Feature("float32", (3 * N_OBJECTS,), objs),
        "label.objects_uv": Feature("float32", (2 * N_OBJECTS,), objs_uv),
        "label.bins": Feature("float32", (3 * len(BIN_COLORS),), bins),
    }


def project(env: Any, points: np.ndarray, camera: str = LABEL_CAMERA) -> np.ndarray:
    """World points (N, 3) → normalized image coordinates (N, 2) of `camera` (pinhole, square image)."""
    m, d = env.model, env.data
    cid = m.camera(camera).id
    rel = (points - d.cam_xpos[cid]) @ d.cam_xmat[cid].reshape(3, 3)  # (N, 3) in camera axes (x right, y up, z back)
    f = 0.5 / np.tan(np.deg2rad(m.cam_fovy[cid]) / 2)
    depth = np.maximum(-rel[:, 2], 1e-6)
    return np.stack([0.5 + f * rel[:, 0] / depth, 0.5 - f * rel[:, 1] / depth], axis=1)


def scene_labels(env: Any, move: tuple[int, dict[str, Any]]) -> dict[str, np.ndarray]:
    """Labels for the env's current state; `move` = (object index, target) the expert is working on."""
    i, target = move
    objs = np.stack([env.obj_pos(k) for k in range(N_OBJECTS)])  # (N, 3)
    bins = np.stack([env.bin_pos(c) for c in BIN_COLORS])  # (2, 3)
    target_xyz, goal_xyz = objs[i], env.place_goal(target)
    uv = project(env, np.concatenate([objs, target_xyz[None], goal_xyz[None]]))  # (N + 2, 2)
    f32 = np.float32
    return {
        "label.target": target_xyz.astype(f32), "label.goal": goal_xyz.astype(f32),
        "label.target_uv": uv[N_OBJECTS].astype(f32), "label.goal_uv": uv[N_OBJECTS + 1].astype(f32),
        "label.objects": objs.reshape(-1).astype(f32), "label.objects_uv": uv[:N_OBJECTS].reshape(-1).astype(f32),
        "label.bins": bins.reshape(-1).astype(f32),
    }
