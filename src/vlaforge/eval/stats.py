"""Statistics for evaluation: Wilson intervals, paired tests between two checkpoints, smoothness."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float, float]:
    """Success rate and its Wilson score interval → (rate, low, high); (nan, 0, 1) when n == 0."""
    if n == 0:
        return float("nan"), 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return p, max(0.0, centre - half), min(1.0, centre + half)


def mcnemar(a: Sequence[bool], b: Sequence[bool]) -> dict[str, float]:
    """Exact McNemar test on paired outcomes (same seeds): counts of discordant pairs and a two-sided p-value."""
    a_, b_ = np.asarray(a, bool), np.asarray(b, bool)
    if a_.shape != b_.shape:
        raise ValueError(f"paired outcomes need equal lengths, got {a_.shape} and {b_.shape}")
    b_only = int(np.sum(~a_ & b_))  # B succeeded where A failed
    a_only = int(np.sum(a_ & ~b_))
    n = a_only + b_only
    if n == 0:
        p = 1.0
    else:
        k = min(a_only, b_only)
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
        p = min(1.0, 2 * tail)
    return {"a_only": a_only, "b_only": b_only, "p_value": p}


def interval_text(rate: dict) -> str:
    """A rate record's ({"ci95": [lo, hi], ...}) Wilson interval as "[lo%, hi%]"."""
    lo, hi = rate["ci95"]
    return f"[{lo:.0%}, {hi:.0%}]"


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_boot: int = 10000, seed: int = 0) -> dict[str, float]:
    """Bootstrap over paired episodes of mean(b - a): estimate, 95% interval, P(diff <= 0)."""
    d = np.asarray(b, np.float64) - np.asarray(a, np.float64)
    if len(d) == 0:
        return {"diff": float("nan"), "low": float("nan"), "high": float("nan"), "p_not_better": float("nan")}
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
    return {
        "diff": float(d.mean()),
        "low": float(np.quantile(means, 0.025)),
        "high": float(np.quantile(means, 0.975)),
        "p_not_better": float(np.mean(means <= 0)),
    }


def mean_jerk(actions: np.ndarray, fps: float) -> float:
    """Mean magnitude of the third time-derivative of the action stream (T, A); lower is smoother."""
    a = np.asarray(actions, np.float64)
    if len(a) < 4:
        return 0.0
    jerk = np.diff(a, n=3, axis=0) * fps**3  # (T-3, A)
    return float(np.linalg.norm(jerk, axis=1).mean())


def verdict(a_name: str, b_name: str, rate_a: float, rate_b: float, p_value: float, alpha: float = 0.05) -> str:
    """One sentence saying whether B beats A on the shared episodes."""
    if p_value < alpha:
        better, worse = (b_name, a_name) if rate_b > rate_a else (a_name, b_name)
        return f"{better} is better than {worse}: {max(rate_a, rate_b):.1%} vs {min(rate_a, rate_b):.1%} success (McNemar p = {p_value:.3g} < {alpha})."
    return f"No significant difference between {a_name} and {b_name}: {rate_a:.1%} vs {rate_b:.1%} success (McNemar p = {p_value:.3g})."
