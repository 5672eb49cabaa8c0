"""One evaluation episode: an actor drives the tabletop env; the result is an EpisodeRecord (+ frames for video).

An actor is anything with `reset()` and `actor(obs, instruction) -> action (A,)`; if it has an
`inference_ms` list (per chunk, since reset) the record reports its mean. `vlaforge.control` makes
actors of policies: `PolicyControl` (queue or temporal ensembling) and the async/naive executors.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from vlaforge.eval.detect import DetectConfig, FailureDetector
from vlaforge.eval.records import EpisodeRecord
from vlaforge.eval.stats import mean_jerk
from vlaforge.eval.suite import EpisodeSpec
from vlaforge.sim.env_cache import EnvCache

_ENVS = EnvCache()  # per process: building a MuJoCo env costs ~50 ms
# Jerk is measured on the arm's motion: the gripper's 0/1 switches would dominate it, and a robot
# standing still (a wait-then-act executor) would look smoother for adding zero-jerk steps.
ARM = [0, 1, 2]  # dx, dy, dz of the tabletop action (dx, dy, dz, gripper)


class Actor(Protocol):
    """What a rollout needs from a policy."""

    def reset(self) -> None: ...

    def __call__(self, obs: dict[str, np.ndarray], instruction: str) -> np.ndarray: ...


def env_for(spec: EpisodeSpec, image_size: int = 96) -> Any:
    """A (cached) tabletop env for the spec's family, env split and perturbations."""
    from vlaforge.sim.env import TabletopEnv

    return _ENVS.get((spec.family, spec.env_split, spec.perturb, image_size),
                     lambda: TabletopEnv(family=spec.family, split=spec.env_split, image_size=image_size, perturb=list(spec.perturb)))


def run_episode(actor: Actor, spec: EpisodeSpec, image_size: int = 96, keep_frames: bool = False,
                detect: DetectConfig = DetectConfig()) -> tuple[EpisodeRecord, list[np.ndarray] | None]:
    """Roll out `actor` on `spec`; return the record and, if asked, the front+wrist frames with the events so far."""
    from vlaforge.sim.tasks import steps_of

    env = env_for(spec, image_size)
    obs, info = env.reset(seed=spec.seed)
    actor.reset()
    moves = steps_of(env.task)
    detector = FailureDetector(env.fps, detect)
    actions, frames = [], [] if keep_frames else None
    first_event: int | None = None
    success_step: int | None = None
    for step in range(env.max_steps):
        if frames is not None:
            frames.append(np.concatenate([obs["observation.images.front"], obs["observation.images.wrist"]], axis=1))
        action = np.asarray(actor(obs, info["instruction"]), np.float32)
        actions.append(action)
        obs, _, terminated, truncated, info = env.step(action)
        if info["events"] and first_event is None:
            first_event = info["events"][0]["step"]
        detector.update(step, env.hand_pos(), float(action[-1]),
                        held={i: env.grasped(i) for i, _ in moves}, at_target={i: env.at_goal(i, t) for i, t in moves},
                        resting={i: env.settled(i) for i, _ in moves}, success=info["success"])
        if info["success"]:
            success_step = step + 1
        if terminated or truncated:
            break
    if frames is not None:
        frames.append(np.concatenate([obs["observation.images.front"], obs["observation.images.wrist"]], axis=1))
    failures = detector.kinds + ([] if info["success"] else ["timeout"])
    ms = list(getattr(actor, "inference_ms", []) or [])
    record = EpisodeRecord(
        family=spec.family, split=spec.split, seed=spec.seed, instruction=info["instruction"], success=bool(info["success"]),
        steps=env.t, perturbations=[e["name"] for e in info["events"]],
        recover_steps=(success_step - first_event) if (success_step is not None and first_event is not None) else None,
        failures=failures, hard_moments=detector.events, inference_ms=float(np.mean(ms)) if ms else 0.0,
        jerk=mean_jerk(np.stack(actions)[:, ARM], env.fps), events=info["events"],
    )
    return record, frames
