"""Spatial heatmaps: where the end effector goes and where the gripper closes, top-down and over a camera view.

No camera calibration is needed: where consecutive frames change, the arm moved, so an affine map from the end
effector's (x, y, z) (named `observation.state` dims) to pixels is fitted to those places (trimmed least squares) and
the camera that fits best is drawn over. An affine map is exact for a distant top-down camera and close for an oblique
one over a small workspace. When no camera fits (R^2 < 0.5), the x-y box is stretched over the image instead, with the
axis directions that best match where the image changes.
"""

from __future__ import annotations

import itertools

import numpy as np

from vlaforge.engine.health import charts
from vlaforge.engine.health.context import HealthContext
from vlaforge.engine.health.findings import Finding, Section
from vlaforge.engine.health.png import colormap, encode_png, upscale


def close_events(g: np.ndarray, level: float, closing_up: bool) -> np.ndarray:
    """Frame indices where a gripper signal (T,) crosses `level` towards closed."""
    closed = g > level if closing_up else g < level
    return np.flatnonzero(np.diff(closed.astype(np.int8)) == 1) + 1


def _gripper_signal(ctx: HealthContext, ok: list[int]) -> tuple[list[np.ndarray], float, bool] | None:
    """Per-episode gripper signal, its open/closed level and direction: the action command (1 = close, as in vlaforge
    and LeRobot's so100) when present, else the state (an 'opening' shrinks when closing)."""
    if ctx.action_grip:
        sig, up = [ctx.actions[i][:, ctx.action_grip[0]] for i in ok], True
    elif ctx.state_grip:
        d = ctx.state_grip[0]
        sig, up = [ctx.states[i][:, d] for i in ok], "open" not in ctx.state_names[d].lower()
    else:
        return None
    allv = np.concatenate(sig)
    return sig, 0.5 * (float(allv.min()) + float(allv.max())), up


def density(xy: np.ndarray, bounds: tuple[float, float, float, float], bins: int, weights: np.ndarray | None = None) -> np.ndarray:
    """(bins, bins) counts (or summed weights), row = y bin (increasing y), column = x bin."""
    x0, x1, y0, y1 = bounds
    h, _, _ = np.histogram2d(xy[:, 1], xy[:, 0], bins=bins, range=[[y0, y1], [x0, x1]], weights=weights)
    return h


def _smooth(g: np.ndarray, n: int = 2) -> np.ndarray:
    """n passes of a 3x3 box filter (edges repeated)."""
    for _ in range(n):
        p = np.pad(g, 1, mode="edge")
        g = sum(p[i:i + g.shape[0], j:j + g.shape[1]] for i in range(3) for j in range(3)) / 9
    return g


def match_view(xy: np.ndarray, speed: np.ndarray, bounds: tuple[float, float, float, float], motion: np.ndarray) -> tuple[float, bool, bool]:
    """(correlation, flip_x, flip_y) of the axis directions under which the speed-weighted end-effector density best
    matches a camera's pixel-change map (H, W): where the arm moves is where the image changes."""
    n = 24
    path = _smooth(density(xy, bounds, n, weights=speed))
    mm = _smooth(_resize(motion, n, n)).ravel()
    best = (-np.inf, False, True)
    for fx, fy in itertools.product((False, True), repeat=2):
        c = float(np.corrcoef(_orient(path, fx, fy).ravel(), mm)[0, 1])
        if np.isfinite(c) and c > best[0]:
            best = (c, fx, fy)
    return best


def _orient(h: np.ndarray, flip_x: bool, flip_y: bool) -> np.ndarray:
    """Density grid → image orientation (row 0 at the top)."""
    out = h[:, ::-1] if flip_x else h
    return out[::-1] if flip_y else out


def _resize(grid: np.ndarray, H: int, W: int) -> np.ndarray:
    """Nearest-neighbour resize of a 2-D grid to (H, W)."""
    r = (np.arange(H) * grid.shape[0] / H).astype(int)
    c = (np.arange(W) * grid.shape[1] / W).astype(int)
    return grid[r][:, c]


def _level(g: np.ndarray) -> np.ndarray:
    """Density → [0, 1] colour level: log scale, and visited cells start a quarter up so a passing path stays visible
    next to the spots where the arm dwells."""
    if g.max() <= 0:
        return np.zeros_like(g, dtype=float)
    return np.where(g > 0, 0.25 + 0.75 * np.log1p(g) / np.log1p(g.max()), 0.0)


def _blend(bg: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Heat over a greyed camera frame: opacity grows with density, so empty space shows the scene."""
    H, W = bg.shape[:2]
    g = _resize(grid, H, W)
    v = _level(g)
    alpha = (0.35 + 0.6 * v)[..., None] * (g > 0)[..., None]
    base = bg.astype(np.float32) * 0.55 + 0.45 * bg.astype(np.float32).mean(axis=2, keepdims=True)
    return (base * (1 - alpha) + colormap(v).astype(np.float32) * alpha).astype(np.uint8)


def _plain(grid: np.ndarray, size: int = 192) -> np.ndarray:
    img = colormap(_level(grid))
    img[grid == 0] = 235  # never visited: light grey
    return upscale(img, max(1, size // grid.shape[0]))


def fit_projection(pos: np.ndarray, rc: np.ndarray, keep: float = 0.7) -> tuple[np.ndarray, float]:
    """Affine map (K+1, 2) from positions (N, K) to pixel (row, col), refitted on the `keep` best-fitting points;
    returns it and the worse R^2 of rows and columns on those points."""
    X = np.concatenate([pos, np.ones((len(pos), 1))], axis=1)  # (N, K+1)
    M = np.linalg.lstsq(X, rc, rcond=None)[0]
    err = np.linalg.norm(X @ M - rc, axis=1)
    k = err <= np.quantile(err, keep)
    M = np.linalg.lstsq(X[k], rc[k], rcond=None)[0]
    res = ((X[k] @ M - rc[k]) ** 2).sum(axis=0)
    tot = ((rc[k] - rc[k].mean(axis=0)) ** 2).sum(axis=0)
    return M, float(np.min(1 - res / np.maximum(tot, 1e-9)))


def _projected(pos: np.ndarray, M: np.ndarray, H: int, W: int) -> np.ndarray:
    """Density (H/2, W/2) of positions (N, K) projected into the image by M."""
    rc = np.concatenate([pos, np.ones((len(pos), 1))], axis=1) @ M  # (N, 2)
    h, _, _ = np.histogram2d(rc[:, 0], rc[:, 1], bins=[max(1, H // 2), max(1, W // 2)], range=[[0, H], [0, W]])
    return h


def _camera_fits(ctx: HealthContext, cols: list[int]) -> list[tuple[float, str, np.ndarray, int]]:
    """(R^2, camera, map, points) for each camera with enough change points, best first."""
    fits = []
    for cam, v in ctx.views.items():
        pts = v.get("points")
        if pts is None or len(pts) < 12:
            continue
        pos = np.array([0.5 * (ctx.states[int(i)][int(t), cols] + ctx.states[int(i)][int(t) - 1, cols]) for i, t in pts[:, :2]])
        good = np.isfinite(pos).all(axis=1)
        if good.sum() < 12:
            continue
        M, r2 = fit_projection(pos[good], pts[good, 2:])
        fits.append((r2, cam, M, int(good.sum())))
    return sorted(fits, key=lambda f: -f[0])


def check_heatmap(ctx: HealthContext) -> Section:
    cfg, sec = ctx.cfg, Section("heatmap")
    xyz = ctx.state_xyz
    if "x" not in xyz or "y" not in xyz or ctx.states[0] is None:
        sec.findings.append(Finding(
            "heatmap.no_position", "info", "no end-effector position in the state",
            f"observation.state names {ctx.state_names} have no x and y, so no workspace heatmap can be drawn.", None, None,
            "Name the state dimensions (x, y, z, gripper) when writing the dataset; `vlaforge data check` shows the names."))
        return sec
    ok = [i for i in range(len(ctx.episodes)) if np.isfinite(ctx.states[i]).all() and (ctx.actions[i] is None or np.isfinite(ctx.actions[i]).all())]
    if not ok:
        return sec
    dx, dy = xyz["x"], xyz["y"]
    S = np.concatenate([ctx.states[i] for i in ok])
    x0, x1, y0, y1 = float(S[:, dx].min()), float(S[:, dx].max()), float(S[:, dy].min()), float(S[:, dy].max())
    px, py = 0.05 * max(x1 - x0, 1e-6), 0.05 * max(y1 - y0, 1e-6)
    bounds = (x0 - px, x1 + px, y0 - py, y1 + py)
    occ = density(S[:, [dx, dy]], bounds, cfg.heatmap_bins)
    cols = [dx, dy] + ([xyz["z"]] if "z" in xyz else [])
    grip = _gripper_signal(ctx, ok)
    grasp_xyz = np.array([ctx.states[i][t, cols] for k, i in enumerate(ok) for t in close_events(grip[0][k], grip[1], grip[2])]
                         if grip else []).reshape(-1, len(cols))
    grasp = density(grasp_xyz[:, :2], bounds, cfg.heatmap_bins) if len(grasp_xyz) else np.zeros_like(occ)
    sec.metrics.update({"workspace": {"x": [x0, x1], "y": [y0, y1]}, "close_events": len(grasp_xyz),
                        "visited_cells": float((occ > 0).mean()), "bins": cfg.heatmap_bins})
    top_down = [charts.image(encode_png(_plain(occ[::-1])), "End effector, top-down (x to the right, y up; log density)", 192),
                charts.image(encode_png(_plain(grasp[::-1])), f"Gripper closes, top-down ({len(grasp_xyz)} events)", 192)]
    fits = _camera_fits(ctx, cols)
    sec.metrics["camera_fits"] = {c.removeprefix("observation.images."): {"r2": r2, "points": n} for r2, c, _, n in fits}
    figs, note = [], ""
    if fits and fits[0][0] >= 0.5:
        r2, cam, M, _ = fits[0]
        bg = ctx.views[cam]["background"]
        H, W = bg.shape[:2]
        allpos = np.concatenate([ctx.states[i][:, cols] for i in ok])
        f, name = max(1, 192 // H), cam.removeprefix("observation.images.")
        figs = [charts.image(encode_png(upscale(_blend(bg, _projected(allpos, M, H, W)), f)), f"End effector over the {name} view"),
                charts.image(encode_png(upscale(_blend(bg, _projected(grasp_xyz, M, H, W) if len(grasp_xyz) else np.zeros((1, 1))), f)),
                             f"Gripper closes over the {name} view")]
        sec.metrics["view"] = {"camera": cam, "method": "fitted affine projection", "r2": r2}
        note = (f"Positions projected into the {name} camera by an affine map fitted to where its frames change "
                f"(R<sup>2</sup> = {r2:.2f}); no calibration used.")
    else:
        cam = next((c for c in [c for c in ctx.views if "front" in c] + list(ctx.views) if ctx.views[c].get("motion") is not None), None)
        if cam is not None:
            flip_x, flip_y, corr = False, True, None
            speed = np.concatenate([np.linalg.norm(np.diff(ctx.states[i][:, [dx, dy]], axis=0, prepend=ctx.states[i][:1, [dx, dy]]), axis=1) for i in ok])
            r = match_view(S[:, [dx, dy]], speed, bounds, ctx.views[cam]["motion"])
            if r[0] > 0.2:  # below: no evidence, keep the default (x to the right, y up)
                corr, flip_x, flip_y = r
            bg = ctx.views[cam]["background"]
            f, name = max(1, 192 // bg.shape[0]), cam.removeprefix("observation.images.")
            figs = [charts.image(encode_png(upscale(_blend(bg, _orient(occ, flip_x, flip_y)), f)), f"End effector over the {name} view (stretched)"),
                    charts.image(encode_png(upscale(_blend(bg, _orient(grasp, flip_x, flip_y)), f)), f"Gripper closes over the {name} view (stretched)")]
            sec.metrics["view"] = {"camera": cam, "method": "stretched workspace box", "x_right_to_left": flip_x, "y_up": flip_y, "match_correlation": corr}
            note = (f"No camera fitted a projection (best R<sup>2</sup> {fits[0][0]:.2f}); " if fits else "No camera projection could be fitted; ") + \
                f"the x-y box is stretched over the {name} image, x {'right to left' if flip_x else 'left to right'}, y {'upwards' if flip_y else 'downwards'}" + \
                (f" (matched to where the image changes, r = {corr:.2f})." if corr is not None else " (default).")
    sec.figures.append("<div class='grid'>" + "".join(top_down + figs) + "</div>")
    sec.figures.append(f"<p class='note'>Workspace x in [{x0:.3g}, {x1:.3g}], y in [{y0:.3g}, {y1:.3g}]. {note} "
                       "Colour: log of the time spent (or of the number of closes) per cell.</p>")
    if len(grasp_xyz) and "z" in xyz:
        sec.figures.append(charts.hist(grasp_xyz[:, 2], "Height where the gripper closes", ctx.state_names[xyz["z"]]))
    if len(grasp_xyz) >= 5:
        spread = float(max(grasp_xyz[:, 0].std() / max(x1 - x0, 1e-9), grasp_xyz[:, 1].std() / max(y1 - y0, 1e-9)))
        sec.metrics["grasp_spread"] = spread
        if spread < cfg.grasp_spread:
            sec.findings.append(Finding(
                "heatmap.grasp_one_spot", "info", "the gripper always closes at the same spot",
                f"Grasp positions spread over only {spread:.1%} of the workspace: objects were always placed in one place, so "
                "the policy will not learn to reach elsewhere.", spread, cfg.grasp_spread,
                "Randomise object placement and collect more (`vlaforge sim collect`)."))
    return sec
