"""The Meta-World evaluation suite: MT10 / MT50 / single tasks, seen and held-out wording, success per difficulty.

Seeds are fixed per split exactly as for the tabletop suite (SEED_BASE + split offset + k), far from
`sim collect`'s 0, 1, ..., so evaluation episodes never meet training layouts. Success is Meta-World's
`info["success"]`; an episode ends at the first success or after 500 steps. The env renders only the
cameras the policy reads, at the policy's image size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vlaforge.errors import ConfigError
from vlaforge.eval.records import EpisodeRecord
from vlaforge.eval.stats import mean_jerk
from vlaforge.eval.suite import SEED_BASE, SEEDS_PER_SPLIT, EpisodeSpec, Suite
from vlaforge.sim.env_cache import EnvCache

_ENVS = EnvCache()  # per process (building one costs ~0.3 s; MT50 has 50 tasks of ~150 MB each)


class MetaWorldSuite(Suite):
    """`metaworld-mt10`, `metaworld-mt50` or `metaworld:TASK[,TASK]`."""

    what, default_tasks = "Meta-World env", "all"

    def __init__(self, name: str):
        from vlaforge.sim.metaworld.env import SPLITS
        from vlaforge.sim.metaworld.tasks import suite_tasks

        suite_tasks(name)  # validates the name without importing metaworld
        self.name, self.splits = name, SPLITS

    @property
    def fps(self) -> int:
        """80 Hz."""
        from vlaforge.sim.metaworld.env import FPS

        return FPS

    def tasks(self, value: str | list[str] | None) -> list[str]:
        """All the suite's tasks, a difficulty group, or task names within the suite."""
        from vlaforge.sim.metaworld.tasks import select_tasks

        return select_tasks(self.name, value)

    def specs(self, tasks: list[str], splits: list[str], episodes: int) -> list[EpisodeSpec]:
        """`episodes` per (task, split); the k-th episode of a split has the same seed for every policy."""
        if episodes < 1:
            raise ConfigError(f"--episodes must be >= 1; got {episodes}")
        return [EpisodeSpec(t, s, SEED_BASE + SEEDS_PER_SPLIT * self.splits.index(s) + k) for s in splits for t in tasks for k in range(episodes)]

    def features(self, image_size: int, cameras: tuple[str, ...] | None = None) -> dict[str, Any]:
        """Cameras (all, or `cameras`), state and action."""
        from vlaforge.sim.metaworld.env import CAMERAS, feature_spec

        return feature_spec(image_size, tuple(cameras or CAMERAS))

    def image_size(self, policy_size: int | None) -> int:
        """The policy's own size (96 when it is unknown)."""
        return policy_size or 96

    def groups(self) -> dict[str, list[str]]:
        """Difficulty groups (easy, medium, hard, very_hard) as published for MT50."""
        from vlaforge.sim.metaworld.tasks import DIFFICULTY

        return {g: list(ts) for g, ts in DIFFICULTY.items()}

    def run_episode(self, actor: Any, spec: EpisodeSpec, image_size: int, keep_frames: bool,
                    cameras: tuple[str, ...] | None = None) -> tuple[EpisodeRecord, list[np.ndarray] | None]:
        """Roll out `actor` on one Meta-World episode."""
        from vlaforge.sim.metaworld.env import CAMERAS, MetaWorldEnv

        cams = tuple(cameras or CAMERAS)
        env = _ENVS.get((spec.family, spec.split, image_size, cams),
                        lambda: MetaWorldEnv(spec.family, split=spec.split, image_size=image_size, cameras=cams))
        obs, info = env.reset(seed=spec.seed)
        actor.reset()
        frames: list[np.ndarray] | None = [] if keep_frames else None
        actions = []
        for _ in range(env.max_steps):
            if frames is not None:
                frames.append(np.concatenate([obs[f"observation.images.{c}"] for c in cams], axis=1))
            action = np.asarray(actor(obs, info["instruction"]), np.float32)
            actions.append(action)
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        if frames is not None:
            frames.append(np.concatenate([obs[f"observation.images.{c}"] for c in cams], axis=1))
        ms = list(getattr(actor, "inference_ms", []) or [])
        record = EpisodeRecord(
            family=spec.family, split=spec.split, seed=spec.seed, instruction=info["instruction"], success=bool(info["success"]),
            steps=env.t, failures=[] if info["success"] else ["timeout"], inference_ms=float(np.mean(ms)) if ms else 0.0,
            jerk=mean_jerk(np.stack(actions)[:, :3], env.fps))
        return record, frames
