"""Render one expert episode as a captioned video (instruction, current subtask, perturbation events)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def play(task: str, out: str | Path, seed: int = 0, size: int = 256, split: str = "seen", perturb: list[str] | None = None,
         instruction: str | None = None, camera: str = "front", side_by_side: bool = True) -> dict[str, Any]:
    """Roll out the expert and write an mp4 of `camera` (plus the wrist view beside it) with captions."""
    from vlaforge.errors import ConfigError
    from vlaforge.sim.env import CAMERAS, TabletopEnv
    from vlaforge.sim.experts import Expert
    from vlaforge.sim.render import caption, write_mp4

    if camera not in CAMERAS:
        raise ConfigError(f"unknown camera {camera!r}; choose from {list(CAMERAS)}")
    env = TabletopEnv(family=task, split=split, image_size=size, perturb=perturb)
    try:
        obs, info = env.reset(seed=seed, options={"instruction": instruction} if instruction else None)
        expert, frames = Expert(), []

        def frame(obs: dict[str, np.ndarray], subtask: str, footer: str) -> np.ndarray:
            img = obs[f"observation.images.{camera}"]
            if side_by_side:
                other = [c for c in CAMERAS if c != camera][0]
                img = np.concatenate([img, obs[f"observation.images.{other}"]], axis=1)
            return caption(img, info["instruction"], subtask, footer)

        events = ""
        for _ in range(env.max_steps):
            action = expert(env)
            frames.append(frame(obs, expert.subtask, events))
            obs, _, terminated, truncated, info = env.step(action)
            if info["events"]:
                events = "event: " + ", ".join(e["name"] for e in info["events"])
            if terminated or truncated:
                break
        verdict = "success" if info["success"] else "failed"
        frames += [frame(obs, verdict, events)] * env.fps  # hold the last frame for a second
        path = write_mp4(out, frames, env.fps)
    finally:
        env.close()
    return {"out": str(path), "frames": len(frames), "success": bool(info["success"]), "instruction": info["instruction"],
            "events": info["events"]}
