"""Mining: roll a policy out in the sim, keep every state it visits with its uncertainty, pick the moments to correct.

A rollout is the evaluation rollout (`vlaforge.eval.rollout.run_episode`: same actor, failure
detector and record), with the actor wrapped so that before each action it snapshots the sim
(`TabletopEnv.get_state`) and, every `score_every` steps, scores the observation. Moments are then
chosen in two tiers: first the failed rollouts' hard moments (the detector's stuck / dropped /
oscillation steps, `backoff` steps earlier, so the correction starts before things went wrong; a
failure without one contributes its most uncertain step), then the most uncertain steps of all
rollouts. Within one rollout, moments closer than `min_gap` steps are merged (the higher tier, then
the higher score, wins), so the budget is not spent on one stretch.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

import numpy as np

from vlaforge.engine.active.uncertainty import Scorer
from vlaforge.errors import ConfigError

MINE_SEED_BASE = 500_000  # mining rollouts: far from `sim collect` (0, 1, ...) and evaluation (1,000,000+) seeds
SEEDS_PER_ROUND = 10_000


@dataclasses.dataclass
class Visit:
    """One mining rollout: its outcome, per-step uncertainty (NaN where not scored) and sim snapshots."""

    family: str
    split: str
    seed: int
    instruction: str
    success: bool
    steps: int
    failures: list[str]
    hard_moments: list[dict[str, Any]]
    scores: list[float]
    states: list[dict[str, Any]] = dataclasses.field(repr=False, default_factory=list)  # states[t]: before action t
    observations: list[dict[str, np.ndarray]] = dataclasses.field(repr=False, default_factory=list)  # what the policy saw at t

    def summary(self) -> dict[str, Any]:
        """JSON-able record (no snapshots, no observations)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("states", "observations")}
        d["scores"] = [None if math.isnan(s) else round(s, 6) for s in self.scores]
        return d


@dataclasses.dataclass(frozen=True)
class Moment:
    """A visited state chosen for correction."""

    rollout: int  # index into the visits
    step: int  # restore the state from before action `step`
    kind: str  # "uncertain", or the failure that led here: stuck | dropped | gripper_oscillation | timeout
    score: float  # uncertainty at `step` (NaN if that step was not scored)
    tier: int  # 0 = from a failure, 1 = uncertain
    detail: str = ""


class RecordingActor:
    """Wraps an actor: snapshots the env and keeps the observation before each action; scores every `every`-th one."""

    def __init__(self, actor: Any, env: Any, scorer: Scorer | None, every: int = 1):
        self.actor, self.env, self.scorer, self.every = actor, env, scorer, max(1, int(every))
        self.states: list[dict[str, Any]] = []
        self.observations: list[dict[str, np.ndarray]] = []
        self.scores: list[float] = []

    def reset(self) -> None:
        """New episode."""
        self.actor.reset()
        self.states, self.observations, self.scores = [], [], []

    def __call__(self, obs: dict[str, np.ndarray], instruction: str) -> np.ndarray:
        """Snapshot, score, then act."""
        t = len(self.states)
        self.states.append(self.env.get_state())
        self.observations.append({k: np.array(v, copy=True) for k, v in obs.items()})
        due = self.scorer is not None and t % self.every == 0
        self.scores.append(float(self.scorer(obs, instruction)) if due else float("nan"))
        return self.actor(obs, instruction)

    @property
    def inference_ms(self) -> list[float]:
        """The wrapped actor's chunk timings."""
        return list(getattr(self.actor, "inference_ms", []) or [])


def mining_seeds(round_: int, n: int) -> list[int]:
    """Seeds of round `round_`'s n mining rollouts (disjoint across rounds, demos and evaluation)."""
    return [MINE_SEED_BASE + SEEDS_PER_ROUND * round_ + k for k in range(n)]


def visit(policy: Any, scorer: Scorer | None, family: str, seeds: Sequence[int], image_size: int = 96, split: str = "seen",
          score_every: int = 1, on_rollout: Callable[[Visit], None] | None = None) -> list[Visit]:
    """Roll `policy` out once per seed (torch seeded by the episode seed, as evaluation does) → visits with snapshots."""
    import torch

    from vlaforge.control import PolicyControl
    from vlaforge.eval.rollout import env_for, run_episode
    from vlaforge.eval.suite import EpisodeSpec

    out = []
    for seed in seeds:
        spec = EpisodeSpec(family, split, int(seed))
        actor = RecordingActor(PolicyControl(policy), env_for(spec, image_size), scorer, score_every)
        torch.manual_seed(int(seed))
        rec, _ = run_episode(actor, spec, image_size)
        v = Visit(family, split, int(seed), rec.instruction, rec.success, rec.steps, rec.failures, rec.hard_moments,
                  actor.scores, actor.states, actor.observations)
        out.append(v)
        if on_rollout:
            on_rollout(v)
    return out


def candidates(visits: Sequence[Visit], backoff: int = 5) -> list[Moment]:
    """Every candidate moment: failures' hard moments (tier 0) and every scored step (tier 1)."""
    out = []
    for r, v in enumerate(visits):
        n = len(v.states)
        if n == 0:
            continue
        score = lambda t: v.scores[t] if t < len(v.scores) else float("nan")  # noqa: E731
        if not v.success:
            for h in v.hard_moments:
                t = min(n - 1, max(0, int(h["step"]) - backoff))
                out.append(Moment(r, t, h["kind"], score(t), 0, h.get("detail", "")))
            if not v.hard_moments:
                scored = [t for t in range(n) if not math.isnan(score(t))]
                t = max(scored, key=score) if scored else max(0, n // 2)
                out.append(Moment(r, t, "timeout", score(t), 0, "failed without a detected hard moment: its most uncertain step"))
        out += [Moment(r, t, "uncertain", v.scores[t], 1) for t in range(min(n, len(v.scores))) if not math.isnan(v.scores[t])]
    return out


def rank(moments: Sequence[Moment], min_gap: int = 10) -> list[Moment]:
    """Best first (tier, then score, high first), dropping moments within `min_gap` steps of a better one in the same rollout."""
    if min_gap < 0:
        raise ConfigError(f"--min-gap must be >= 0; got {min_gap}")
    key = lambda m: (m.tier, -(m.score if not math.isnan(m.score) else -math.inf), m.rollout, m.step)  # noqa: E731
    chosen: list[Moment] = []
    taken: dict[int, list[int]] = {}
    for m in sorted(moments, key=key):
        if any(abs(m.step - s) < min_gap for s in taken.get(m.rollout, [])):
            continue
        chosen.append(m)
        taken.setdefault(m.rollout, []).append(m.step)
    return chosen


def select(visits: Sequence[Visit], backoff: int = 5, min_gap: int = 10, failures: bool = True, uncertain: bool = True) -> list[Moment]:
    """The moments to correct, best first (see module doc); `failures` / `uncertain` switch a tier off."""
    ms = [m for m in candidates(visits, backoff) if (failures or m.tier != 0) and (uncertain or m.tier != 1)]
    return rank(ms, min_gap)
