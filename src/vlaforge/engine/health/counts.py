"""Counts: episodes, frames and duration per task and per task family; imbalance and rare tasks."""

from __future__ import annotations

import numpy as np

from vlaforge.engine.health import charts
from vlaforge.engine.health.context import HealthContext
from vlaforge.engine.health.findings import Finding, Section, Table


def _group_counts(keys: list[str], lengths: np.ndarray, fps: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for k, n in zip(keys, lengths):
        d = out.setdefault(k, {"episodes": 0, "frames": 0, "duration_s": 0.0})
        d["episodes"] += 1
        d["frames"] += int(n)
        d["duration_s"] = d["frames"] / fps
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["episodes"]))


def _balance(ctx: HealthContext, groups: dict[str, dict[str, float]], what: str, sec: Section) -> None:
    cfg = ctx.cfg
    if len(groups) < 2:
        return
    eps = np.array([g["episodes"] for g in groups.values()], float)
    ratio = float(eps.max() / eps.min())
    sec.metrics[f"{what}_imbalance_ratio"] = ratio
    median = float(np.median(eps))
    rare = [k for k, g in groups.items() if g["episodes"] < cfg.rare_task_fraction * median]
    plural = "families" if what == "family" else f"{what}s"
    sec.metrics[f"rare_{plural}"] = rare
    collect = "vlaforge sim collect --tasks <family> --episodes N" if what == "family" else "vlaforge sim collect (or record more demos)"
    if rare:
        names = "; ".join(f"'{k}' ({groups[k]['episodes']})" for k in rare[:8]) + (" ..." if len(rare) > 8 else "")
        sec.findings.append(Finding(
            f"counts.rare_{plural}", "warning", f"{len(rare)} rare {plural}" if len(rare) > 1 else f"1 rare {what}",
            f"{names} have fewer than {cfg.rare_task_fraction:g} x the median of {median:g} episodes per {what}; "
            "a policy sees too few demonstrations of them to learn them.",
            len(rare), cfg.rare_task_fraction,
            f"Add episodes for the rare {plural} with `{collect}`, or drop them with "
            f"`vlaforge data edit filter --drop-task ...` if they are not wanted.",
        ))
    if ratio > cfg.imbalance_ratio:
        big, small = max(groups, key=lambda k: groups[k]["episodes"]), min(groups, key=lambda k: groups[k]["episodes"])
        sec.findings.append(Finding(
            f"counts.{what}_imbalance", "warning", f"{what} imbalance {ratio:.1f}x",
            f"'{big}' has {int(eps.max())} episodes and '{small}' {int(eps.min())}; training batches will be "
            f"dominated by the common {plural}.",
            ratio, cfg.imbalance_ratio,
            f"Collect more of the small {plural} (`{collect}`) or cap the large ones with `vlaforge data edit filter`.",
        ))


def check_counts(ctx: HealthContext) -> Section:
    """Episodes, frames and duration in all, per task and per family; imbalance and rare groups."""
    ds, sec = ctx.ds, Section("counts")
    per_task = _group_counts(ctx.tasks, ctx.lengths, ds.fps)
    sec.metrics.update({
        "episodes": ds.num_episodes, "frames": ds.num_frames, "duration_s": ds.num_frames / ds.fps, "fps": ds.fps,
        "tasks": len(per_task), "per_task": per_task,
    })
    _balance(ctx, per_task, "task", sec)
    sec.tables.append(Table("Per task", ["task", "episodes", "frames", "duration (s)"],
                            [[k, v["episodes"], v["frames"], round(v["duration_s"], 1)] for k, v in per_task.items()]))
    if ctx.families is not None:
        per_family = _group_counts(ctx.families, ctx.lengths, ds.fps)
        sec.metrics["per_family"] = per_family
        _balance(ctx, per_family, "family", sec)
        sec.tables.append(Table("Per task family (flags.family)", ["family", "episodes", "frames", "duration (s)", "tasks"],
                                [[k, v["episodes"], v["frames"], round(v["duration_s"], 1),
                                  len({t for t, f in zip(ctx.tasks, ctx.families) if f == k})] for k, v in per_family.items()]))
        sec.figures.append(charts.bars({k: v["episodes"] for k, v in per_family.items()}, "Episodes per family", "episodes"))
    sec.figures.append(charts.bars({k: v["episodes"] for k, v in list(per_task.items())[:40]}, "Episodes per task" +
                                   (" (40 largest)" if len(per_task) > 40 else ""), "episodes"))
    if ds.num_episodes < 10:
        sec.findings.append(Finding(
            "counts.few_episodes", "info", f"only {ds.num_episodes} episodes",
            "Imitation policies usually need tens of demonstrations per task.", ds.num_episodes, 10,
            "Collect more with `vlaforge sim collect` (or record more demos).",
        ))
    return sec
