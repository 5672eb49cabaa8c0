"""Per-episode evaluation records and their aggregation into the numbers a report shows."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from vlaforge.eval.stats import wilson


@dataclasses.dataclass
class EpisodeRecord:
    """What happened in one evaluation episode."""

    family: str
    split: str
    seed: int
    instruction: str
    success: bool
    steps: int
    perturbations: list[str] = dataclasses.field(default_factory=list)  # names of perturbations that fired
    recover_steps: int | None = None  # steps from the first perturbation to success
    failures: list[str] = dataclasses.field(default_factory=list)  # stuck, dropped, gripper_oscillation, timeout
    hard_moments: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # {step, kind} for the data engine
    inference_ms: float = 0.0  # mean per chunk
    jerk: float = 0.0  # mean jerk of the commanded actions (see stats.mean_jerk)
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # perturbation events as the env reported them
    video: str | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        """Identity shared by two evaluations of the same episode (for paired tests)."""
        return (self.family, self.split, self.seed)


def save_records(records: list[EpisodeRecord], path: Path) -> None:
    """One JSON object per line."""
    from vlaforge.io import atomic_write_text

    atomic_write_text(path, "".join(json.dumps(dataclasses.asdict(r)) + "\n" for r in records))


def load_records(path: Path) -> list[EpisodeRecord]:
    """Read records written by save_records."""
    return [EpisodeRecord(**json.loads(line)) for line in Path(path).read_text().splitlines() if line.strip()]


def _rate(recs: list[EpisodeRecord]) -> dict[str, Any]:
    k = sum(r.success for r in recs)
    p, lo, hi = wilson(k, len(recs))
    return {"n": len(recs), "successes": k, "rate": p if recs else None, "ci95": [lo, hi]}  # None, not NaN: results.json stays valid JSON


def summarize(records: list[EpisodeRecord], groups: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Success with Wilson 95% intervals per split, per family x split, per group of families (e.g. Meta-World
    difficulty) when `groups` is given, recovery rate, smoothness, latency."""
    from vlaforge.eval.suite import EVAL_SPLITS

    splits = sorted({r.split for r in records}, key=lambda s: (EVAL_SPLITS.index(s) if s in EVAL_SPLITS else len(EVAL_SPLITS), s))
    families = sorted({r.family for r in records})
    out: dict[str, Any] = {"overall": _rate(records), "by_split": {}, "by_family": {}}
    for s in splits:
        out["by_split"][s] = _rate([r for r in records if r.split == s])
        out["by_family"][s] = {f: _rate([r for r in records if r.split == s and r.family == f]) for f in families if any(r.split == s and r.family == f for r in records)}
    if groups:
        out["by_group"] = {g: _rate([r for r in records if r.family in fams]) for g, fams in groups.items()
                           if any(r.family in fams for r in records)}
    fired = [r for r in records if r.perturbations]
    rec = _rate(fired)
    rec["mean_recover_steps"] = float(np.mean([r.recover_steps for r in fired if r.recover_steps is not None])) if any(r.recover_steps is not None for r in fired) else None
    out["recovery"] = rec
    out["recovery_by_perturbation"] = {p: _rate([r for r in fired if p in r.perturbations]) for p in sorted({p for r in fired for p in r.perturbations})}
    out["failures"] = {k: sum(k in r.failures for r in records) for k in sorted({f for r in records for f in r.failures})}
    out["mean_jerk"] = float(np.mean([r.jerk for r in records])) if records else None
    lat = [r.inference_ms for r in records if r.inference_ms > 0]
    out["inference_ms"] = {"mean": float(np.mean(lat)), "p50": float(np.median(lat)), "p99": float(np.quantile(lat, 0.99))} if lat else None
    return out
