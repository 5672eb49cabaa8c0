"""Actions and states: ranges, NaN/outliers, saturation, jerk, idle segments, gripper chatter, state→action lag."""

from __future__ import annotations

import numpy as np

from vlaforge.data.edit import idle_mask
from vlaforge.engine.health import charts
from vlaforge.engine.health.context import HealthContext, axis_of
from vlaforge.engine.health.findings import Finding, Section, Table, episode_list

TRIM = "vlaforge data edit trim-idle"


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True in a (T,) bool mask."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def estimate_lag(action: np.ndarray, state: np.ndarray, pairs: list[tuple[int, int]], delta: bool, max_lag: int) -> tuple[int, float] | None:
    """Frames k at which the state's velocity best follows the action (k=1: state[t+1]-state[t] answers action[t]).

    Cross-correlation of the action (its change, for absolute targets) with the state velocity v[t] = s[t] - s[t-1],
    summed over the (action dim, state dim) pairs; returns (k, peak correlation) or None without motion."""
    T = len(action)
    if T < 4 or not pairs:
        return None
    u = action[:, [a for a, _ in pairs]]  # (T, P)
    if not delta:
        u = np.diff(u, axis=0, prepend=u[:1])
    v = np.diff(state[:, [s for _, s in pairs]], axis=0, prepend=state[:1, [s for _, s in pairs]])  # (T, P)
    u, v = u - u.mean(axis=0), v - v.mean(axis=0)
    best, best_c = None, -np.inf
    for k in range(0, min(max_lag, T - 3) + 1):
        a, b = u[: T - k], v[k:]
        den = np.sqrt((a * a).sum() * (b * b).sum())
        if den <= 1e-12:
            continue
        c = float((a * b).sum() / den)
        if c > best_c:
            best, best_c = k, c
    return None if best is None else (best, best_c)


def _lag_pairs(ctx: HealthContext) -> list[tuple[int, int]]:
    """(action dim, state dim) that move the same axis, by name; else motion dims in order."""
    by_axis = {axis_of(ctx.state_names[i]): i for i in ctx.state_motion if axis_of(ctx.state_names[i])}
    pairs = [(j, by_axis[axis_of(ctx.action_names[j])]) for j in ctx.action_motion if axis_of(ctx.action_names[j]) in by_axis]
    return pairs or list(zip(ctx.action_motion, ctx.state_motion))


def check_motion(ctx: HealthContext) -> Section:
    """All action/state checks; episodes holding NaN/inf are reported and left out of the rest."""
    cfg, sec = ctx.cfg, Section("motion")
    eps = ctx.episodes
    acts, states = ctx.actions, ctx.states
    if all(a is None for a in acts):
        sec.findings.append(Finding("motion.no_action", "error", "no action column", "The dataset has no 'action' feature.", None, None,
                                    "A policy cannot be trained on it; re-record with actions."))
        return sec
    finite = []
    for key, arrs in (("action", acts), ("observation.state", states)):
        bad = [ep for ep, x in zip(eps, arrs) if x is not None and not np.isfinite(x).all()]
        n = sum(int((~np.isfinite(x)).sum()) for x in arrs if x is not None)
        sec.metrics[f"nonfinite_{key}"] = n
        if bad:
            sec.findings.append(Finding(
                f"motion.nonfinite.{key}", "error", f"NaN/inf in {key} ({n} values, {len(bad)} episodes)",
                f"Episodes {episode_list(bad)} hold NaN or inf {key} values; training on them produces NaN losses.",
                n, 0, f"Confirm with `vlaforge data check {ctx.ds.root}` and drop them with "
                f"`vlaforge data edit filter --drop-episodes {','.join(map(str, bad[:20]))}`.", tuple(bad)))
        finite.append(set(bad))
    ok = [i for i, ep in enumerate(eps) if ep not in finite[0] | finite[1]]
    A = [acts[i] for i in ok]
    S = [states[i] for i in ok] if states[0] is not None else None
    if not ok:
        return sec
    _ranges(ctx, np.concatenate(A), np.concatenate(S) if S else None, [eps[i] for i in ok], A, S, sec)
    _idle(ctx, ok, sec)
    _jerk(ctx, ok, sec)
    _chatter(ctx, ok, sec)
    _lag(ctx, ok, sec)
    return sec


def _ranges(ctx: HealthContext, A: np.ndarray, S: np.ndarray | None, eps: list[int], per_a: list, per_s: list | None, sec: Section) -> None:
    cfg = ctx.cfg
    rows, ranges = [], {}
    outlier_eps: set[int] = set()
    n_out = 0
    saturated: list[tuple[str, float, float, float]] = []
    for key, X, names, per in (("action", A, ctx.action_names, per_a), ("observation.state", S, ctx.state_names, per_s)):
        if X is None:
            continue
        for d, name in enumerate(names):
            x = X[:, d]
            q = np.percentile(x, [0, 1, 50, 99, 100])
            n_unique = len(np.unique(x[: 10000]))
            sat = None
            if key == "action" and d in ctx.action_motion and q[4] > q[0] and n_unique > 3:
                tol = 1e-6 * (q[4] - q[0])
                sat = float(np.mean((x <= q[0] + tol) | (x >= q[4] - tol)))
                if sat > cfg.saturation_fraction:
                    saturated.append((name, sat, q[0], q[4]))
            n_bad = 0
            span = q[3] - q[1]
            if span > 0 and n_unique > 3:
                lo, hi = q[1] - cfg.outlier_span * span, q[3] + cfg.outlier_span * span
                n_bad = int(((x < lo) | (x > hi)).sum())
                if n_bad:
                    n_out += n_bad
                    outlier_eps.update(ep for ep, arr in zip(eps, per) if ((arr[:, d] < lo) | (arr[:, d] > hi)).any())
            ranges[f"{key}.{name}"] = {"min": q[0], "p01": q[1], "median": q[2], "p99": q[3], "max": q[4], "std": float(x.std()),
                                       "at_limits": sat, "outliers": n_bad}
            rows.append([key, name, *(f"{v:.4g}" for v in q), f"{x.std():.3g}", "" if sat is None else f"{sat:.1%}", n_bad])
    sec.metrics["ranges"] = ranges
    if saturated:
        worst = max(f for _, f, _, _ in saturated)
        sec.findings.append(Finding(
            "motion.saturated", "warning", f"actions pinned at their limits ({', '.join(n for n, *_ in saturated)}, up to {worst:.0%})",
            "Share of frames exactly at the dimension's min or max: " + "; ".join(f"{n} {f:.0%} at {lo:.3g}/{hi:.3g}" for n, f, lo, hi in saturated)
            + ". Clipped commands hide how large the command should have been.", worst, cfg.saturation_fraction,
            "Expected if the limit is the robot's own; if it is a teleop/expert clip, raise it and re-record "
            "(`vlaforge sim collect` for simulated demos)."))
    sec.tables.append(Table("Ranges", ["feature", "dim", "min", "p01", "median", "p99", "max", "std", "at limits", "outliers"], rows))
    if outlier_eps:
        e = sorted(outlier_eps)
        sec.findings.append(Finding(
            "motion.outliers", "warning", f"{n_out} outlier value(s) in {len(e)} episode(s)",
            f"Values more than {cfg.outlier_span:g} x (p99 - p01) beyond the 1st or 99th percentile of their dimension, in "
            f"episodes {episode_list(e)}: sensor glitches, wrong units or a different robot.", n_out, cfg.outlier_span,
            f"Inspect them; drop with `vlaforge data edit filter --drop-episodes {','.join(map(str, e[:20]))}`.", tuple(e)))


def _idle(ctx: HealthContext, ok: list[int], sec: Section) -> None:
    cfg = ctx.cfg
    head, tail, mids, whole = [], [], [], []
    for i in ok:
        m = idle_mask(ctx.actions[i], ctx.states[i], cfg.action_eps, cfg.state_eps, ctx.action_grip)
        runs = runs_of(m)
        T = len(m)
        h = runs[0][1] if runs and runs[0][0] == 0 else 0
        t = T - runs[-1][0] if runs and runs[-1][1] == T else 0
        head.append(h)
        tail.append(t)
        if h == T:
            whole.append(ctx.episodes[i])
        mids.append(max([b - a for a, b in runs if a > 0 and b < T] or [0]))
    E = [ctx.episodes[i] for i in ok]
    head_a, tail_a, mid_a = np.array(head), np.array(tail), np.array(mids)
    sec.metrics["idle"] = {"start_frames": {str(e): int(v) for e, v in zip(E, head_a) if v}, "end_frames": {str(e): int(v) for e, v in zip(E, tail_a) if v},
                           "longest_pause": {str(e): int(v) for e, v in zip(E, mid_a) if v}, "idle_fraction_at_edges": float((head_a + tail_a).sum() / max(1, ctx.lengths[ok].sum()))}
    edge = [e for e, h, t in zip(E, head_a, tail_a) if (h >= cfg.idle_edge_frames or t >= cfg.idle_edge_frames) and e not in whole]
    if edge:
        n = int(sum(h + t for e, h, t in zip(E, head_a, tail_a) if e in edge))
        sec.findings.append(Finding(
            "motion.idle_edges", "warning", f"{len(edge)} episode(s) start or end idle ({n} frames)",
            f"Episodes {episode_list(edge)} begin or end with >= {cfg.idle_edge_frames} frames where the motion action is ~0 "
            f"(< {cfg.action_eps:g}) and the state does not change (< {cfg.state_eps:g}); a policy trained on them learns to wait.",
            len(edge), cfg.idle_edge_frames,
            f"`{TRIM} {ctx.ds.root} --out <new>` cuts them (same thresholds).", tuple(edge)))
    pause = [e for e, v in zip(E, mid_a) if v >= cfg.idle_mid_frames]
    if pause:
        sec.findings.append(Finding(
            "motion.idle_pauses", "info", f"{len(pause)} episode(s) pause mid-way",
            f"Episodes {episode_list(pause)} stand still for >= {cfg.idle_mid_frames} frames inside the episode (longest "
            f"{int(mid_a.max())}); pauses make the policy hesitate.", int(mid_a.max()), cfg.idle_mid_frames,
            "Inspect them; remove the worst with `vlaforge data edit filter --drop-episodes ...`.", tuple(pause)))
    if whole:
        sec.findings.append(Finding(
            "motion.idle_episodes", "warning", f"{len(whole)} episode(s) never move",
            f"Episodes {episode_list(whole)} are idle from start to end.", len(whole), 0,
            f"Drop them with `vlaforge data edit filter --drop-episodes {','.join(map(str, whole[:20]))}`.", tuple(whole)))
    sec.figures.append("<div class='grid'>" + charts.hist(head_a + tail_a, "Idle frames at start + end", "frames per episode",
                                                            threshold=cfg.idle_edge_frames)
                       + charts.hist(mid_a, "Longest mid-episode pause", "frames", threshold=cfg.idle_mid_frames) + "</div>")


def _jerk(ctx: HealthContext, ok: list[int], sec: Section) -> None:
    cfg = ctx.cfg
    dims = list(ctx.state_xyz.values()) or ctx.state_motion
    if ctx.states[0] is None or not dims:
        return
    fps = ctx.ds.fps
    jerk = np.array([float(np.sqrt(np.mean((np.diff(ctx.states[i][:, dims], 3, axis=0) * fps ** 3) ** 2))) if len(ctx.states[i]) > 4 else np.nan
                     for i in ok])
    med = float(np.nanmedian(jerk)) if np.isfinite(jerk).any() else 0.0
    sec.metrics["jerk_rms"] = {"median": med, "max": float(np.nanmax(jerk)) if np.isfinite(jerk).any() else None, "dims": [ctx.state_names[d] for d in dims]}
    if med > 0:
        bad = [ctx.episodes[i] for i, j in zip(ok, jerk) if j > cfg.jerk_factor * med]
        if bad:
            sec.findings.append(Finding(
                "motion.jerky", "warning", f"{len(bad)} jerky episode(s)",
                f"Episodes {episode_list(bad)} have an RMS state jerk above {cfg.jerk_factor:g} x the median episode's "
                f"({med:.3g} units/s^3): shaky teleoperation or tracking glitches.", len(bad), cfg.jerk_factor,
                "Inspect them and drop the shaky ones with `vlaforge data edit filter --drop-episodes ...`.", tuple(bad)))
    sec.figures.append(charts.hist(np.log10(np.maximum(jerk, 1e-12)), "State jerk per episode", "log10 RMS jerk (units/s^3)",
                                   threshold=float(np.log10(cfg.jerk_factor * med)) if med > 0 else None))


def _chatter(ctx: HealthContext, ok: list[int], sec: Section) -> None:
    cfg = ctx.cfg
    if ctx.action_grip:
        src, d = ctx.actions, ctx.action_grip[0]
    elif ctx.state_grip and ctx.states[0] is not None:
        src, d = ctx.states, ctx.state_grip[0]
    else:
        return
    allv = np.concatenate([src[i][:, d] for i in ok])
    mid = 0.5 * (float(allv.min()) + float(allv.max()))
    toggles = np.array([int(np.count_nonzero(np.diff(src[i][:, d] > mid))) for i in ok])
    sec.metrics["gripper_toggles"] = {"median": float(np.median(toggles)), "max": int(toggles.max()), "threshold_level": mid}
    bad = [ctx.episodes[i] for i, n in zip(ok, toggles) if n > cfg.chatter_toggles]
    if bad:
        sec.findings.append(Finding(
            "motion.gripper_chatter", "warning", f"gripper chatter in {len(bad)} episode(s)",
            f"Episodes {episode_list(bad)} switch the gripper open/closed more than {cfg.chatter_toggles} times (max "
            f"{int(toggles.max())}): a noisy trigger or hesitant grasps, which a policy will imitate.", int(toggles.max()), cfg.chatter_toggles,
            "Drop them with `vlaforge data edit filter --drop-episodes ...`, or debounce the gripper signal when recording.", tuple(bad)))
    sec.figures.append(charts.hist(toggles, "Gripper open/close switches per episode", "switches", bins=max(4, min(24, int(toggles.max()) + 1)),
                                   threshold=cfg.chatter_toggles))


def _lag(ctx: HealthContext, ok: list[int], sec: Section) -> None:
    cfg = ctx.cfg
    if ctx.states[0] is None:
        return
    pairs = _lag_pairs(ctx)
    res = [(ctx.episodes[i], estimate_lag(ctx.actions[i], ctx.states[i], pairs, ctx.action_is_delta, cfg.max_lag)) for i in ok]
    res = [(e, r) for e, r in res if r is not None and r[1] > 0.2]  # weak correlation: no evidence either way
    if not res:
        sec.metrics["lag_frames"] = None
        return
    lags = np.array([r[0] for _, r in res])
    lag = int(np.median(lags))
    sec.metrics["lag_frames"] = {"median": lag, "per_episode": {str(e): r[0] for e, r in res}, "mean_peak_correlation": float(np.mean([r[1] for _, r in res])),
                                 "pairs": [[ctx.action_names[a], ctx.state_names[s]] for a, s in pairs]}
    ms = 1000 * lag / ctx.ds.fps
    if lag > cfg.lag_frames:
        sec.findings.append(Finding(
            "motion.lag", "warning", f"state follows the action {lag} frames late ({ms:.0f} ms)",
            f"The state's velocity correlates best with the action {lag} frames earlier (a clean recorder gives 1): either the "
            "recorder stamps actions early or the robot responds slowly. A one-step policy then sees the effect of its "
            f"commands only {lag} steps later.", lag, cfg.lag_frames,
            f"If it is the recorder, fix its timestamps and re-record (`vlaforge data check {ctx.ds.root}` checks them); if the robot is slow, "
            f"`vlaforge data edit subsample --factor {lag}` brings the lag to ~1 frame, and predict action chunks."))
    elif lag == 0:
        sec.findings.append(Finding(
            "motion.lag_zero", "warning", "the state already shows the action of the same frame",
            "The state at frame t already moved by action t: observations were recorded after acting, so the policy is trained "
            "to predict what it can already see.", lag, 1,
            f"Shift states and actions by one frame in the recorder and re-record; `vlaforge data check {ctx.ds.root}` shows the timestamps."))
    off = [e for e, r in res if abs(r[0] - lag) > 2]
    if off:
        sec.findings.append(Finding(
            "motion.lag_varies", "info", f"{len(off)} episode(s) with a different lag",
            f"Episodes {episode_list(off)} lag by more than 2 frames more or less than the median ({lag}): a mixed recording setup?",
            len(off), 2, "Inspect them; drop with `vlaforge data edit filter --drop-episodes ...`.", tuple(off)))
    sec.figures.append(charts.hist(lags, "Estimated state→action lag per episode", "frames", bins=cfg.max_lag + 1, threshold=cfg.lag_frames + 0.5))
