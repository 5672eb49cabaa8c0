"""A small generated dataset (moving colored blocks, two cameras) for demos, tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vlaforge.data.features import Feature
from vlaforge.data.video import VideoConfig

COLORS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (40, 80, 220), "yellow": (230, 200, 40)}
STATE_NAMES = ("x", "y", "z", "gripper")
ACTION_NAMES = ("dx", "dy", "dz", "gripper")


def sample_features(image_size: int = 96, cameras: tuple[str, ...] = ("front", "wrist")) -> dict[str, Feature]:
    """Feature spec of the sample dataset."""
    feats = {f"observation.images.{c}": Feature("video", (image_size, image_size, 3)) for c in cameras}
    feats["observation.state"] = Feature("float32", (4,), STATE_NAMES)
    feats["action"] = Feature("float32", (4,), ACTION_NAMES)
    return feats


def sample_episode(seed: int, length: int = 40, image_size: int = 96, cameras: tuple[str, ...] = ("front", "wrist")) -> tuple[dict[str, np.ndarray], str]:
    """One synthetic episode: a gripper dot moves to a colored block; returns (arrays, instruction)."""
    rng = np.random.default_rng(seed)
    color = list(COLORS)[seed % len(COLORS)]
    goal = rng.uniform(-0.8, 0.8, size=2)
    pos = np.zeros((length, 3), np.float32)
    p = rng.uniform(-0.8, 0.8, size=3)
    actions = np.zeros((length, 4), np.float32)
    for t in range(length):
        pos[t] = p
        d = np.append(goal - p[:2], -p[2] * 0.5)
        a = np.clip(d * 0.3, -0.1, 0.1)
        actions[t, :3] = a
        actions[t, 3] = 1.0 if np.linalg.norm(goal - p[:2]) < 0.1 else 0.0
        p = p + a
    grip = np.cumsum(actions[:, 3]).clip(0, 1).astype(np.float32)
    state = np.concatenate([pos, grip[:, None]], axis=1).astype(np.float32)
    s = image_size
    yy, xx = np.mgrid[0:s, 0:s]

    def to_px(v: np.ndarray) -> np.ndarray:
        return ((v + 1) / 2 * (s - 1)).astype(int)

    data: dict[str, np.ndarray] = {"observation.state": state, "action": actions}
    for ci, cam in enumerate(cameras):
        frames = np.empty((length, s, s, 3), np.uint8)
        bg = np.array([90 + 30 * ci, 90, 100], np.uint8)
        gx, gy = to_px(goal)
        for t in range(length):
            img = np.empty((s, s, 3), np.uint8)
            img[:] = bg
            img[(yy // 8 + xx // 8) % 2 == 0] += 12  # checker texture so the codec has detail to keep
            b = max(3, s // 12)
            img[max(0, gy - b) : gy + b, max(0, gx - b) : gx + b] = COLORS[color]
            px, py = to_px(state[t, :2])
            img[(yy - py) ** 2 + (xx - px) ** 2 <= (s // 24 + 1) ** 2] = (240, 240, 240)
            frames[t] = img
        data[f"observation.images.{cam}"] = frames
    return data, f"move to the {color} block"


def make_sample_dataset(
    root: str | Path,
    episodes: int = 6,
    length: int = 40,
    fps: int = 20,
    image_size: int = 96,
    cameras: tuple[str, ...] = ("front", "wrist"),
    video: VideoConfig | None = None,
    overwrite: bool = False,
    seed: int = 0,
    robot_type: str = "vlaforge_sample",
) -> Path:
    """Write a generated v3.0 dataset to `root` and return its path."""
    from vlaforge.data.writer import DatasetWriter

    feats = sample_features(image_size, cameras)
    with DatasetWriter.create(root, fps=fps, features=feats, robot_type=robot_type, video=video, overwrite=overwrite) as w:
        for i in range(episodes):
            data, task = sample_episode(seed + i, length + (i % 3) * 5, image_size, cameras)
            sub = [{"start": 0, "end": len(data["action"]) // 2, "text": "reach"}, {"start": len(data["action"]) // 2, "end": len(data["action"]), "text": "grasp"}]
            w.add_episode(data, task, flags={"success": True}, subtasks=sub)
    return Path(root)
