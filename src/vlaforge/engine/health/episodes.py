"""Episodes: length distribution, near-duplicates, success flags, instruction diversity and word coverage."""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from vlaforge.engine.health import charts
from vlaforge.engine.health.context import HealthContext
from vlaforge.engine.health.findings import Finding, Section, Table, episode_list

STOPWORDS = {"the", "a", "an", "it", "of", "to", "in", "on", "and", "then", "into", "onto", "so", "there", "that", "this",
             "after", "first", "is", "at", "with", "its", "until", "each", "every", "all"}


def resample(x: np.ndarray, n: int) -> np.ndarray:
    """(T, D) → (n, D) by linear interpolation over normalised time."""
    T = len(x)
    if T == 1:
        return np.repeat(x, n, axis=0)
    t = np.linspace(0, T - 1, n)
    i = np.minimum(t.astype(int), T - 2)
    f = (t - i)[:, None]
    return x[i] * (1 - f) + x[i + 1] * f


def near_duplicates(trajs: list[np.ndarray], lengths: np.ndarray, n: int, rms: float) -> list[tuple[int, int, float]]:
    """Pairs (i, j, distance) whose resampled, standardised trajectories are within `rms` and lengths within 10%."""
    if len(trajs) < 2:
        return []
    X = np.stack([resample(t, n) for t in trajs])  # (E, n, D)
    std = X.reshape(-1, X.shape[2]).std(axis=0)
    X = (X / np.where(std > 0, std, 1)).reshape(len(trajs), -1)  # (E, n*D)
    sq = (X * X).sum(axis=1)
    out = []
    for a in range(0, len(X), 512):  # blocks keep memory at 512 x E
        d2 = np.maximum(sq[a:a + 512, None] + sq[None] - 2 * X[a:a + 512] @ X.T, 0) / X.shape[1]  # (b, E) mean square
        for i, j in zip(*np.nonzero(d2 < rms ** 2)):
            i += a
            if i < j and abs(lengths[i] - lengths[j]) <= 0.1 * max(lengths[i], lengths[j]):
                out.append((int(i), int(j), float(np.sqrt(d2[i - a, j]))))
    return out


def check_episodes(ctx: HealthContext) -> Section:
    """Lengths, duplicates, success, instruction diversity."""
    sec = Section("episodes")
    _lengths(ctx, sec)
    _duplicates(ctx, sec)
    _success(ctx, sec)
    _instructions(ctx, sec)
    return sec


def _lengths(ctx: HealthContext, sec: Section) -> None:
    """Short/long against the median of the episode's own family when families are recorded (a two-step task is
    longer than a push by design), else against the dataset's median."""
    cfg, L = ctx.cfg, ctx.lengths
    med_all = float(np.median(L))
    groups = ctx.families or ["(all)"] * len(L)
    by: dict[str, list[int]] = defaultdict(list)
    for g, n in zip(groups, L):
        by[g].append(int(n))
    ref = {g: float(np.median(v)) if len(v) >= 3 else med_all for g, v in by.items()}
    sec.metrics["length"] = {"min": int(L.min()), "median": med_all, "max": int(L.max()), "mean": float(L.mean()),
                             "median_per_family": ref if ctx.families else None}
    short = [e for e, g, n in zip(ctx.episodes, groups, L) if n < cfg.short_fraction * ref[g]]
    long_ = [e for e, g, n in zip(ctx.episodes, groups, L) if n > cfg.long_factor * ref[g]]
    against = "their family's median length" if ctx.families else f"the median length ({med_all:g} frames)"
    if short:
        sec.findings.append(Finding(
            "episodes.short", "warning", f"{len(short)} unusually short episode(s)",
            f"Episodes {episode_list(short)} are shorter than {cfg.short_fraction:g} x {against}: aborted or truncated "
            "recordings.", len(short), cfg.short_fraction,
            f"Drop them with `vlaforge data edit filter --drop-episodes {','.join(map(str, short[:20]))}` "
            f"(or `--min-length N` for one threshold).", tuple(short)))
    if long_:
        sec.findings.append(Finding(
            "episodes.long", "info", f"{len(long_)} unusually long episode(s)",
            f"Episodes {episode_list(long_)} are longer than {cfg.long_factor:g} x {against}: retries, pauses, or two "
            "demos in one.", len(long_), cfg.long_factor,
            "Inspect them; `vlaforge data edit trim-idle` removes idle ends, `vlaforge data edit filter --drop-episodes ...` "
            "drops them.", tuple(long_)))
    sec.figures.append(charts.hist(L, "Episode length", f"frames ({ctx.ds.fps} fps)"))


def _duplicates(ctx: HealthContext, sec: Section) -> None:
    cfg = ctx.cfg
    keep = [i for i, a in enumerate(ctx.actions) if a is not None and np.isfinite(a).all()
            and (ctx.states[i] is None or np.isfinite(ctx.states[i]).all())]
    trajs = [np.concatenate([ctx.actions[i]] + ([ctx.states[i]] if ctx.states[i] is not None else []), axis=1) for i in keep]
    pairs = near_duplicates(trajs, ctx.lengths[keep], cfg.duplicate_points, cfg.duplicate_rms)
    pairs = [(ctx.episodes[keep[i]], ctx.episodes[keep[j]], d) for i, j, d in pairs]
    sec.metrics["near_duplicates"] = [[a, b, d] for a, b, d in pairs]
    if pairs:
        later = sorted({b for _, b, _ in pairs})
        txt = ", ".join(f"{a}~{b}" for a, b, _ in pairs[:10]) + (" ..." if len(pairs) > 10 else "")
        sec.findings.append(Finding(
            "episodes.duplicates", "warning", f"{len(pairs)} near-duplicate episode pair(s)",
            f"Pairs {txt} have action+state trajectories within {cfg.duplicate_rms:g} standard deviations (RMS, resampled to "
            f"{cfg.duplicate_points} points): double-saved or replayed demos, which overweight one demo and leak across a "
            "train/val split.", len(pairs), cfg.duplicate_rms,
            f"Drop the copies with `vlaforge data edit filter --drop-episodes {','.join(map(str, later[:20]))}`.", tuple(later)))


def _success(ctx: HealthContext, sec: Section) -> None:
    vals = [f.get("success") for f in ctx.flags]
    n_true, n_false = sum(v is True for v in vals), sum(v is False for v in vals)
    n_none = len(vals) - n_true - n_false
    sec.metrics["success"] = {"true": n_true, "false": n_false, "unknown": n_none}
    if n_false:
        failed = [e for e, v in zip(ctx.episodes, vals) if v is False]
        sec.findings.append(Finding(
            "episodes.failed", "warning", f"{n_false} failed episode(s) in the data",
            f"Episodes {episode_list(failed)} are flagged success=false; behaviour cloning imitates failures too.",
            n_false, 0, "Keep only successes with `vlaforge data edit filter --success true` (keep failures only for "
            "recovery or reward models).", tuple(failed)))
    if n_none == len(vals):
        sec.findings.append(Finding(
            "episodes.no_success_flags", "info", "no success flags",
            "No episode records flags.success, so failed demos cannot be told apart.", n_none, 0,
            "Record success when collecting (`vlaforge sim collect` does); then filter with `vlaforge data edit filter --success true`."))
    sec.figures.append(charts.bars({"success": n_true, "failed": n_false, "unknown": n_none}, "Success flags", "episodes", highlight=("failed",)))


def objects_in(text: str, colors: tuple[str, ...], shapes: tuple[str, ...]) -> list[str]:
    """Object phrases ('red block', 'blue') named in an instruction; a colour alone counts when no shape follows."""
    words = re.findall(r"[a-z]+", text.lower())
    out = []
    for k, w in enumerate(words):
        if w in colors:
            nxt = words[k + 1] if k + 1 < len(words) else ""
            nxt = nxt[:-1] if nxt.endswith("s") and nxt[:-1] in shapes else nxt  # "objects" -> "object"
            out.append(f"{w} {nxt}" if nxt in shapes else w)
    return out


def _instructions(ctx: HealthContext, sec: Section) -> None:
    cfg = ctx.cfg
    groups: dict[str, set[str]] = defaultdict(set)
    count: dict[str, int] = defaultdict(int)
    for g, t in zip(ctx.task_groups, ctx.tasks):
        groups[g].add(t)
        count[g] += 1
    per = {g: len(v) for g, v in groups.items()}
    sec.metrics["instructions"] = {"unique": len(set(ctx.tasks)), "groups": len(groups),
                                   "unique_per_group": {"min": min(per.values()), "median": float(np.median(list(per.values()))), "max": max(per.values())}}
    if ctx.families is not None:
        fam: dict[str, set[str]] = defaultdict(set)
        for f, t in zip(ctx.families, ctx.tasks):
            fam[f].add(t)
        sec.metrics["instructions"]["unique_per_family"] = {f: len(v) for f, v in fam.items()}
    mono = [g for g, n in per.items() if count[g] >= cfg.min_wordings_episodes and n < cfg.min_wordings]
    if mono:
        sec.findings.append(Finding(
            "episodes.monotone_instructions", "info", f"{len(mono)} task(s) always worded the same way",
            f"{len(mono)} task(s) with >= {cfg.min_wordings_episodes} episodes use fewer than {cfg.min_wordings} distinct "
            f"instructions (e.g. '{next(iter(groups[mono[0]]))}'); the policy may not follow paraphrases.", len(mono), cfg.min_wordings,
            "Add paraphrases with `vlaforge data edit relabel --map OLD=NEW` on part of the episodes, or collect with more "
            "templates (`vlaforge sim collect`)."))
    # Word coverage: which words each object is named with, and the common words it never appears with.
    with_obj: dict[str, set[str]] = defaultdict(set)
    for t in set(ctx.tasks):
        objs = objects_in(t, cfg.colors, cfg.shapes)
        obj_words = {w for o in objs for w in o.split()}
        words = {w for w in re.findall(r"[a-z]+", t.lower()) if w not in STOPWORDS and w not in obj_words}
        for o in objs:
            with_obj[o] |= words
    gaps: list[tuple[str, str]] = []
    if len(with_obj) >= 2:
        freq: dict[str, int] = defaultdict(int)
        for ws in with_obj.values():
            for w in ws:
                freq[w] += 1
        common = {w for w, n in freq.items() if n >= max(2, len(with_obj) // 2)}
        gaps = sorted((o, w) for o, ws in with_obj.items() for w in common - ws)
    sec.metrics["word_gaps"] = [list(g) for g in gaps]
    if with_obj:
        sec.tables.append(Table("Words used with each object", ["object", "instructions", "words never used with it"],
                                [[o, sum(o in objects_in(t, cfg.colors, cfg.shapes) for t in ctx.tasks),
                                  ", ".join(w for oo, w in gaps if oo == o) or "-"] for o in sorted(with_obj)]))
    if gaps:
        ex = "; ".join(f"'{w}' never with '{o}'" for o, w in gaps[:6])
        sec.findings.append(Finding(
            "episodes.word_gaps", "info", f"{len(gaps)} (object, word) combination(s) never seen",
            f"Words common across objects are missing for some objects: {ex}{' ...' if len(gaps) > 6 else ''}. A policy may not "
            "generalise to those combinations.", len(gaps), 0,
            "Collect the missing combinations (`vlaforge sim collect`) or add paraphrases with `vlaforge data edit relabel`."))
