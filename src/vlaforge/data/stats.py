"""Per-episode and dataset statistics in LeRobot's layout (min, max, mean, std, count, quantiles).

Vector features get per-dimension stats of shape (D,); camera features get per-channel stats
of shape (3, 1, 1) over pixels scaled to [0, 1], as LeRobot computes them. Dataset stats are
aggregated exactly from per-episode sums for mean/std/min/max; quantiles are count-weighted
averages of episode quantiles (LeRobot aggregates them the same way).
"""

from __future__ import annotations

from typing import Any

import numpy as np

QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}

Stats = dict[str, dict[str, np.ndarray]]


def feature_stats(values: np.ndarray, is_image: bool = False) -> dict[str, np.ndarray]:
    """Stats of one feature over one episode: values (T, D) or images uint8 (T, H, W, 3)."""
    if is_image:
        x = values.reshape(-1, 3).astype(np.float64) / 255.0  # (T*H*W, 3)
    else:
        x = values.reshape(len(values), -1).astype(np.float64)  # (T, D)
    stats = {
        "min": x.min(axis=0),
        "max": x.max(axis=0),
        "mean": x.mean(axis=0),
        "std": x.std(axis=0),
        "count": np.array([len(values)]),
    }
    qs = np.quantile(x, list(QUANTILES.values()), axis=0)  # (5, D)
    for (name, _), q in zip(QUANTILES.items(), qs):
        stats[name] = q
    if is_image:
        stats = {k: (v if k == "count" else v.reshape(3, 1, 1)) for k, v in stats.items()}
    return stats


def aggregate(episode_stats: list[Stats]) -> Stats:
    """Combine per-episode stats into dataset stats (exact mean/std/min/max, weighted quantiles)."""
    out: Stats = {}
    keys = sorted({k for s in episode_stats for k in s})
    for key in keys:
        parts = [s[key] for s in episode_stats if key in s]
        counts = np.array([float(p["count"][0]) for p in parts])  # (E,)
        w = counts / counts.sum()
        means = np.stack([p["mean"] for p in parts])  # (E, ...)
        stds = np.stack([p["std"] for p in parts])
        wshape = (-1,) + (1,) * (means.ndim - 1)
        mean = (means * w.reshape(wshape)).sum(0)
        var = ((stds**2 + (means - mean) ** 2) * w.reshape(wshape)).sum(0)
        agg = {
            "min": np.min(np.stack([p["min"] for p in parts]), axis=0),
            "max": np.max(np.stack([p["max"] for p in parts]), axis=0),
            "mean": mean,
            "std": np.sqrt(np.maximum(var, 0.0)),
            "count": np.array([int(counts.sum())]),
        }
        for q in QUANTILES:
            if all(q in p for p in parts):
                agg[q] = (np.stack([p[q] for p in parts]) * w.reshape(wshape)).sum(0)
        out[key] = agg
    return out


def to_json(stats: Stats) -> dict[str, dict[str, Any]]:
    """Stats → JSON-able nested lists."""
    return {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in stats.items()}


def from_json(d: dict[str, dict[str, Any]]) -> Stats:
    """JSON nested lists → stats with numpy arrays."""
    return {k: {s: np.atleast_1d(np.asarray(v, dtype=np.float64)) for s, v in st.items()} for k, st in d.items()}


def stats_close(a: Stats, b: Stats, rtol: float = 1e-4, atol: float = 1e-6) -> list[str]:
    """Names of feature/stat pairs that differ between two stats dicts (empty if they agree)."""
    bad = []
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            bad.append(f"{key} (missing)")
            continue
        for s in ("min", "max", "mean", "std", "count"):
            if s not in a[key] or s not in b[key]:
                bad.append(f"{key}/{s} (missing)")
            elif np.shape(a[key][s]) != np.shape(b[key][s]) or not np.allclose(a[key][s], b[key][s], rtol=rtol, atol=atol):
                bad.append(f"{key}/{s}")
    return bad
