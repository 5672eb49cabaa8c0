"""Local chunk execution without a latency model: an action queue or temporal ensembling, and gripper hysteresis.

What a robot loop (or the evaluation rollout) runs around a policy's `predict_chunk` when inference is
fast enough to wait for; with latency to hide use `vlaforge.control.executor`. Every piece here is an
actor: `reset()` at each episode start, then `actor(obs, instruction) -> action (A,)` once per step.

- `ActionQueue`: execute the first `n_action_steps` actions of a chunk, then re-plan.
- `TemporalEnsemble`: re-plan every step and average the overlapping chunks' actions for this step,
  weights exp(-k * age) with the oldest chunk first (ACT's temporal ensembling).
- `GripperHysteresis`: the action dim named "gripper" executed open/closed, switching only when the
  command crosses the middle by more than `band` of the range (see `PolicyConfig.gripper_hysteresis`).
- `PolicyControl`: the three above, set up from a policy's config (`VLAPolicy` or `OnnxPolicy`).
"""

from __future__ import annotations

import collections
from typing import Any, Callable

import numpy as np

Predict = Callable[[dict[str, np.ndarray], str], np.ndarray]  # (obs, instruction) -> (H, A)
Observe = Callable[[dict[str, np.ndarray]], None]  # record an observation a step did not plan from


class ActionQueue:
    """A queue refilled with the first `n_action_steps` actions of a new chunk whenever it runs empty.

    `observe`, if given, is called with the observations of the steps that do not re-plan, so a policy
    with an observation history (`n_obs` > 1) still sees every step."""

    def __init__(self, predict: Predict, n_action_steps: int, observe: Observe | None = None):
        self.predict, self.n_action_steps, self.observe = predict, n_action_steps, observe
        self.reset()

    def reset(self) -> None:
        """Drop the queued actions."""
        self.queue: collections.deque = collections.deque()

    def __call__(self, obs: dict[str, np.ndarray], instruction: str) -> np.ndarray:
        """The next action (A,)."""
        if not self.queue:
            chunk = self.predict(obs, instruction)  # (H, A)
            self.queue.extend(chunk[: max(1, min(self.n_action_steps, len(chunk)))])
        elif self.observe is not None:
            self.observe(obs)
        return self.queue.popleft()


class TemporalEnsemble:
    """Re-plan every step; this step's action is the exp(-k * age)-weighted mean of every chunk that covers it."""

    def __init__(self, predict: Predict, k: float):
        self.predict, self.k = predict, k
        self.reset()

    def reset(self) -> None:
        """Forget the chunks of the last episode."""
        self.chunks: list[tuple[int, np.ndarray]] = []  # (step planned at, chunk (H, A))
        self.t = 0

    def __call__(self, obs: dict[str, np.ndarray], instruction: str) -> np.ndarray:
        """The next action (A,)."""
        self.chunks.append((self.t, self.predict(obs, instruction)))
        self.chunks = [(t0, c) for t0, c in self.chunks if self.t - t0 < len(c)]
        acts = np.stack([c[self.t - t0] for t0, c in self.chunks])  # (n, A), oldest first
        w = np.exp(-self.k * np.arange(len(acts)))[:, None]  # (n, 1)
        self.t += 1
        return (acts * w).sum(0) / w.sum()


class GripperHysteresis:
    """Dim `index` executed as `lo` (open) or `hi` (closed), switching only past the middle ± `band` * (hi - lo)."""

    def __init__(self, index: int, lo: float, hi: float, band: float):
        self.index, self.lo, self.hi = index, lo, hi
        self.mid, self.band = (lo + hi) / 2, band * (hi - lo)
        self.reset()

    def reset(self) -> None:
        """The first action of the next episode decides the state."""
        self.closed: bool | None = None

    def __call__(self, action: np.ndarray) -> np.ndarray:
        """`action` (A,) with the gripper dim snapped to open or closed."""
        g = self.index
        if self.closed is None:
            self.closed = bool(action[g] > self.mid)
        elif self.closed and action[g] < self.mid - self.band or not self.closed and action[g] > self.mid + self.band:
            self.closed = not self.closed
        out = action.copy()
        out[g] = self.hi if self.closed else self.lo
        return out


def gripper_for(policy: Any, band: float) -> GripperHysteresis | None:
    """Hysteresis on the policy's action dim named "gripper" over its training range; None when off or absent."""
    names = policy.dataset_info["features"]["action"].get("names") or []
    if band <= 0 or "gripper" not in names:
        return None
    g = names.index("gripper")
    return GripperHysteresis(g, float(policy.normalizer.action_min[g]), float(policy.normalizer.action_max[g]), band)


class PolicyControl:
    """A policy as an actor: queue (or temporal ensembling) + gripper hysteresis, as its config says.

    `policy` needs `predict_chunk(obs, instruction) -> (H, A)`; its `cfg` (a `PolicyConfig`) gives
    `n_action_steps`, `temporal_ensemble` and `gripper_hysteresis`; without one (an `OnnxPolicy`) its
    `n_action_steps` attribute is used and the other two are off. Arguments given here override them."""

    def __init__(self, policy: Any, n_action_steps: int | None = None, temporal_ensemble: float | None = None,
                 gripper_hysteresis: float | None = None):
        self.policy = policy
        cfg = getattr(policy, "cfg", None)
        n = n_action_steps or (cfg.n_action_steps if cfg is not None else int(getattr(policy, "n_action_steps", 8)))
        k = temporal_ensemble if temporal_ensemble is not None else (cfg.temporal_ensemble if cfg is not None else 0.0)
        band = gripper_hysteresis if gripper_hysteresis is not None else (cfg.gripper_hysteresis if cfg is not None else 0.0)
        self.steps: ActionQueue | TemporalEnsemble = (
            TemporalEnsemble(policy.predict_chunk, k) if k > 0 else ActionQueue(policy.predict_chunk, n, getattr(policy, "observe", None)))
        self.gripper = gripper_for(policy, band) if band > 0 else None

    def reset(self) -> None:
        """New episode: the policy's history, the queue or ensemble, the gripper state."""
        if hasattr(self.policy, "reset"):
            self.policy.reset()
        self.steps.reset()
        if self.gripper is not None:
            self.gripper.reset()

    def __call__(self, obs: dict[str, np.ndarray], instruction: str) -> np.ndarray:
        """The next action (A,)."""
        action = self.steps(obs, instruction)
        return action if self.gripper is None else self.gripper(action)

    @property
    def inference_ms(self) -> list[float]:
        """Wall time of each chunk inference this episode (when the policy records it)."""
        return list(getattr(self.policy, "inference_ms", []))
