"""Images per camera: brightness, contrast, blur, saturation, resolution; black, dark and frozen frames."""

from __future__ import annotations

import numpy as np

from vlaforge.engine.health import charts
from vlaforge.engine.health.context import HealthContext
from vlaforge.engine.health.findings import Finding, Section, Table, episode_list
from vlaforge.engine.health.motion import runs_of
from vlaforge.errors import DatasetError

GREY = np.array([0.299, 0.587, 0.114], np.float32)
AUGMENT = "`vlaforge engine augment DATASET --recipe photometric --out NEW` or `--train.augment photometric` (brightness, exposure)"


def frame_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame brightness, contrast (grey std), saturation in [0, 1] and blur (variance of Laplacian, 0..255 units) of uint8 (N, H, W, 3)."""
    f = frames.astype(np.float32)
    g = f @ GREY  # (N, H, W)
    lap = g[:, 1:-1, :-2] + g[:, 1:-1, 2:] + g[:, :-2, 1:-1] + g[:, 2:, 1:-1] - 4 * g[:, 1:-1, 1:-1]  # (N, H-2, W-2)
    mx, mn = f.max(axis=3), f.min(axis=3)  # (N, H, W)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1), 0)
    return {"brightness": g.mean(axis=(1, 2)) / 255, "contrast": g.std(axis=(1, 2)) / 255,
            "blur": lap.reshape(len(f), -1).var(axis=1), "saturation": sat.mean(axis=(1, 2))}


def frozen_runs(frames: np.ndarray, speed: np.ndarray | None, level: float, diff_eps: float, min_len: int) -> list[tuple[int, int]]:
    """[start, end) runs of >= min_len consecutive identical frames during which the robot moved: mean per-frame state
    change over the run above `level` (`speed` (T,) or None: every run counts)."""
    d = np.abs(frames[1:].astype(np.int16) - frames[:-1].astype(np.int16)).mean(axis=(1, 2, 3))  # (T-1,)
    runs = []
    for a, b in runs_of(d < diff_eps):  # identical pairs a..b-1 → frames a..b
        if b - a + 1 >= min_len and (speed is None or float(speed[a + 1: b + 1].mean()) > level):
            runs.append((a, b + 1))
    return runs


def change_points(frames: np.ndarray, idx: np.ndarray, min_diff: float = 25.0) -> list[tuple[int, float, float]]:
    """(t, row, col): centroid of the pixels that change between frames t-1 and t, for t in idx (a moving arm shows
    up there, halfway between where it was and where it is)."""
    out = []
    for t in idx[idx >= 1]:
        d = np.abs(frames[t].astype(np.int16) - frames[t - 1].astype(np.int16)).mean(axis=2)  # (H, W)
        top = float(d.max())
        if top < min_diff:
            continue
        r, c = np.nonzero(d > 0.5 * top)
        out.append((int(t), float(r.mean()), float(c.mean())))
    return out


def _speeds(ctx: HealthContext, i: int) -> np.ndarray | None:
    s = ctx.states[i]
    if s is None or not ctx.state_motion:
        return None
    return np.abs(np.diff(s[:, ctx.state_motion], axis=0, prepend=s[:1, ctx.state_motion])).max(axis=1)  # (T,)


def _moving_level(ctx: HealthContext) -> float:
    """Per-frame state change that counts as clearly moving: a fraction of the fast phases' speed, since frames that
    barely move (settling, slow approach) may not change a single pixel."""
    sp = [v for v in (_speeds(ctx, i) for i in range(len(ctx.episodes))) if v is not None]
    if not sp:
        return np.inf
    allv = np.concatenate(sp)
    allv = allv[np.isfinite(allv) & (allv > ctx.cfg.state_eps)]
    return float(ctx.cfg.frozen_speed * np.percentile(allv, 90)) if len(allv) else np.inf


def check_images(ctx: HealthContext) -> Section:
    """Decode every camera of every episode once; cheap per-frame checks on all frames, image statistics on a sample."""
    ds, cfg, sec = ctx.ds, ctx.cfg, Section("images")
    cams = list(ds.camera_keys)
    sec.metrics["cameras"] = {}
    if not cams:
        sec.findings.append(Finding("images.none", "info", "no cameras", "The dataset has no camera features.", 0, 1, "Nothing to do for images."))
        return sec
    per: dict[str, dict[str, list]] = {c: {"brightness": [], "contrast": [], "blur": [], "saturation": [], "ep_brightness": [],
                                             "black": [], "frozen": [], "shapes": [], "unreadable": []} for c in cams}
    bg: dict[str, list[np.ndarray]] = {c: [] for c in cams}
    motion: dict[str, np.ndarray] = {}
    points: dict[str, list[tuple[int, int, float, float]]] = {c: [] for c in cams}
    bg_every = max(1, len(ctx.episodes) // 64)
    level = _moving_level(ctx)
    for i in ctx.track(range(len(ctx.episodes)), "images"):
        ep = ctx.episodes[i]
        sp = _speeds(ctx, i)
        for cam in cams:
            p = per[cam]
            try:
                frames = ds.episode_frames(ep, cam)  # (T, H, W, 3)
            except (DatasetError, OSError, ValueError) as e:
                p["unreadable"].append((ep, str(e)))
                continue
            p["shapes"].append(frames.shape[1:3])
            idx = np.unique(np.linspace(0, len(frames) - 1, min(cfg.frames_per_episode, len(frames))).round().astype(int))
            st = frame_stats(frames[idx])
            for k, v in st.items():
                p[k].extend(v.tolist())
            bright = (frames[:, ::4, ::4].astype(np.float32) @ GREY).mean(axis=(1, 2)) / 255  # (T,), every frame, coarse
            p["ep_brightness"].append(float(bright.mean()))
            black = np.flatnonzero(bright < cfg.black_level)
            if len(black):
                p["black"].append((ep, len(black)))
            runs = frozen_runs(frames, sp, level, cfg.frozen_diff, cfg.frozen_frames)
            if runs:
                p["frozen"].append((ep, max(b - a for a, b in runs)))
            if i % bg_every == 0 and len(bg[cam]) < 64:
                bg[cam].append(frames[len(frames) // 2])
            m = np.abs(frames[idx].astype(np.float32) - np.median(frames[idx], axis=0)).mean(axis=(0, 3))  # (H, W)
            if len(points[cam]) < 4000:
                points[cam] += [(i, t, r, c) for t, r, c in change_points(frames, idx)]
            if cam not in motion or motion[cam].shape != m.shape:
                motion[cam] = m
            else:
                motion[cam] += m
    for cam in cams:
        if bg[cam]:
            shape = bg[cam][0].shape
            same = [f for f in bg[cam] if f.shape == shape]
            ctx.views[cam] = {"background": np.median(np.stack(same), axis=0).astype(np.uint8), "motion": motion.get(cam),
                              "points": np.array(points[cam], float).reshape(-1, 4)}  # (N, 4) episode position, t, row, col
        _judge_camera(ctx, cam, per[cam], sec)
    _judge_dimensions(ctx, per, sec)
    return sec


def _short(cam: str) -> str:
    return cam.removeprefix("observation.images.")


def _judge_camera(ctx: HealthContext, cam: str, p: dict[str, list], sec: Section) -> None:
    cfg, name = ctx.cfg, _short(cam)
    b, c, bl, sat = (np.asarray(p[k], float) for k in ("brightness", "contrast", "blur", "saturation"))
    epb = np.asarray(p["ep_brightness"], float)
    m: dict[str, object] = {"sampled_frames": len(b)}
    if len(b):
        m.update({k: {"median": float(np.median(v)), "p05": float(np.percentile(v, 5)), "p95": float(np.percentile(v, 95))}
                  for k, v in (("brightness", b), ("contrast", c), ("blur_var_laplacian", bl), ("saturation", sat))})
        m["episode_brightness_std"] = float(epb.std()) if len(epb) else None
    m.update({"black_frames": sum(n for _, n in p["black"]), "frozen_episodes": [e for e, _ in p["frozen"]],
              "unreadable_episodes": [e for e, _ in p["unreadable"]]})
    sec.metrics["cameras"][name] = m
    if p["unreadable"]:
        eps = [e for e, _ in p["unreadable"]]
        sec.findings.append(Finding(
            f"images.unreadable.{name}", "error", f"{name}: {len(eps)} episode(s) could not be decoded",
            f"Episodes {episode_list(eps)}: {p['unreadable'][0][1]}", len(eps), 0,
            f"Run `vlaforge data check {ctx.ds.root}` for the details; drop the broken episodes with "
            f"`vlaforge data edit filter --drop-episodes {','.join(map(str, eps[:20]))}`.", tuple(eps)))
    if not len(b):
        return
    med_b = float(np.median(b))
    if med_b < cfg.dark_brightness:
        sec.findings.append(Finding(
            f"images.dark.{name}", "warning", f"camera {name} is dark (median brightness {med_b:.2f})",
            f"Half of the sampled {name} frames have a mean brightness below {med_b:.2f} (0 = black, 1 = white); "
            "dark images hide objects and make the policy sensitive to small lighting changes.",
            med_b, cfg.dark_brightness,
            f"Check the camera's exposure or the scene lighting; to train for it, brighten and vary lighting with {AUGMENT}.",
        ))
    elif len(epb):
        dark_eps = [e for e, v in zip(_eps_with_frames(ctx, p), epb) if v < cfg.dark_brightness]
        if dark_eps:
            sec.findings.append(Finding(
                f"images.dark_episodes.{name}", "warning", f"{len(dark_eps)} episode(s) with dark {name} images",
                f"Episodes {episode_list(dark_eps)} have a mean {name} brightness below {cfg.dark_brightness:g}.",
                len(dark_eps), cfg.dark_brightness,
                f"Inspect them; drop with `vlaforge data edit filter --drop-episodes ...` or cover the range with {AUGMENT}.",
                tuple(dark_eps)))
    if med_b > cfg.bright_brightness:
        sec.findings.append(Finding(
            f"images.overexposed.{name}", "warning", f"camera {name} is overexposed (median brightness {med_b:.2f})",
            "Bright, clipped images lose the texture a policy needs.", med_b, cfg.bright_brightness,
            f"Lower the exposure; vary lighting with {AUGMENT}."))
    med_c = float(np.median(c))
    if med_c < cfg.low_contrast:
        sec.findings.append(Finding(
            f"images.low_contrast.{name}", "warning", f"camera {name} has low contrast ({med_c:.3f})",
            "The grey-level spread of most frames is tiny: washed out, fogged or covered lens.", med_c, cfg.low_contrast,
            f"Check the camera; vary lighting and contrast with {AUGMENT}."))
    med_bl = float(np.median(bl))
    blurry = float(np.mean(bl < cfg.blur_relative * med_bl)) if med_bl > 0 else 0.0
    m["blurry_fraction"] = blurry
    if blurry > cfg.blurry_fraction:
        sec.findings.append(Finding(
            f"images.blurry.{name}", "warning", f"{blurry:.0%} of sampled {name} frames are blurry",
            f"Their variance of Laplacian is below {cfg.blur_relative:g} x the camera's median ({med_bl:.1f}): motion blur "
            "or focus problems.", blurry, cfg.blurry_fraction,
            "Check focus and shutter speed; blurry episodes can be removed with `vlaforge data edit filter`."))
    if p["black"]:
        eps = [e for e, _ in p["black"]]
        n = sum(k for _, k in p["black"])
        sec.findings.append(Finding(
            f"images.black.{name}", "warning", f"{n} black {name} frame(s) in {len(eps)} episode(s)",
            f"Frames with mean brightness below {cfg.black_level:g} in episodes {episode_list(eps)}: dropped camera frames "
            "or a covered lens.", n, 0,
            f"Drop those episodes with `vlaforge data edit filter --drop-episodes {','.join(map(str, eps[:20]))}`.", tuple(eps)))
    if p["frozen"] and med_b >= cfg.dark_brightness:  # a dark camera hides motion; the dark finding is the root cause
        eps = [e for e, _ in p["frozen"]]
        longest = max(k for _, k in p["frozen"])
        sec.findings.append(Finding(
            f"images.frozen.{name}", "warning", f"camera {name} froze in {len(eps)} episode(s)",
            f"Up to {longest} consecutive identical frames while the robot was moving (episodes {episode_list(eps)}): "
            "the camera stream stalled, so images and actions disagree.", longest, cfg.frozen_frames,
            f"Drop them with `vlaforge data edit filter --drop-episodes {','.join(map(str, eps[:20]))}` and fix the recorder.",
            tuple(eps)))
    if len(epb) >= 5 and float(epb.std()) < cfg.lighting_spread:
        sec.findings.append(Finding(
            f"images.lighting_narrow.{name}", "info", f"{name}: lighting never varies",
            f"The std of per-episode brightness is {float(epb.std()):.4f}: every episode was recorded under the same light, "
            "so a policy may fail when the light changes.", float(epb.std()), cfg.lighting_spread,
            f"Add lighting variety with {AUGMENT}."))
    sec.figures.append("<div class='grid'>" + "".join([
        charts.hist(b, f"{name}: brightness", "mean grey level (0..1)", threshold=cfg.dark_brightness if med_b < 0.5 else cfg.bright_brightness),
        charts.hist(c, f"{name}: contrast", "grey-level std (0..1)", threshold=cfg.low_contrast),
        charts.hist(np.log10(np.maximum(bl, 1e-3)), f"{name}: sharpness", "log10 variance of Laplacian",
                    threshold=float(np.log10(max(cfg.blur_relative * med_bl, 1e-3)))),
        charts.hist(sat, f"{name}: saturation", "mean HSV saturation (0..1)"),
    ]) + "</div>")


def _eps_with_frames(ctx: HealthContext, p: dict[str, list]) -> list[int]:
    bad = {e for e, _ in p["unreadable"]}
    return [e for e in ctx.episodes if e not in bad]


def _judge_dimensions(ctx: HealthContext, per: dict[str, dict[str, list]], sec: Section) -> None:
    rows, aspects = [], {}
    for cam, p in per.items():
        shapes: dict[tuple[int, int], int] = {}
        for s in p["shapes"]:
            shapes[tuple(s)] = shapes.get(tuple(s), 0) + 1
        declared = tuple(ctx.ds.features[cam].shape[:2])
        for (h, w), n in sorted(shapes.items()):
            rows.append([_short(cam), f"{w}x{h}", f"{w / h:.3g}", n, "yes" if (h, w) == declared else f"no (info.json: {declared[1]}x{declared[0]})"])
            aspects.setdefault(_short(cam), set()).add(round(w / h, 3))
        if any(s != declared for s in shapes):
            sec.findings.append(Finding(
                f"images.resolution_mismatch.{_short(cam)}", "error", f"{_short(cam)}: decoded size differs from meta/info.json",
                f"Decoded sizes {sorted(shapes)} (H, W) vs declared {declared}.", sorted(shapes), declared,
                f"Run `vlaforge data check {ctx.ds.root}`."))
    sec.tables.append(Table("Dimension distribution (decoded frames)", ["camera", "width x height", "aspect", "episodes", "matches info.json"], rows))
    sec.metrics["dimensions"] = [{"camera": r[0], "size": r[1], "aspect": float(r[2]), "episodes": r[3]} for r in rows]
    if len({a for s in aspects.values() for a in s}) > 1:
        sec.findings.append(Finding(
            "images.mixed_aspect", "info", "cameras have different aspect ratios",
            f"Aspect ratios per camera: {({k: sorted(v) for k, v in aspects.items()})}; a shared vision encoder resizes them "
            "differently, which is fine if intended.", sorted({a for s in aspects.values() for a in s}), 1,
            "Nothing to fix if intended; otherwise re-record at one resolution."))
