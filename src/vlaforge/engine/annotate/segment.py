"""Automatic subtask segmentation from an episode's own signals: gripper events, velocity, height, contact.

The gripper command splits an episode into closed and open runs. A closed run that holds something
(the fingers stop apart: contact) is a grasp cycle: grasp until the hand moves, lift while it rises
straight up, move once it travels sideways, and, when it lets go well above where it picked (placing
on another object), lower for the final straight descent. A closed run that holds nothing is a push:
low, level, sideways motion that keeps its heading, after a descent. Open runs are the release (still,
right after letting go), then a reach (a grasp follows) or a retreat. Without a gripper or hand
position the segmenter falls back to moving/still runs of the velocity and the image change.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from vlaforge.engine.annotate.signals import Signals

PHASES = ("reach", "grasp", "lift", "move", "lower", "release", "retreat", "approach", "push", "still")


@dataclasses.dataclass(frozen=True)
class SegmentConfig:
    """Thresholds; speeds are fractions of the episode's top speed, lengths are in the hand position's units (m)."""

    move_frac: float = 0.3  # sideways speed that counts as travelling
    lift_frac: float = 0.5  # upward (or downward) speed that counts as rising (descending)
    settle_frac: float = 0.6  # speed that ends the release (the hand moves off)
    hold_frac: float = 0.15  # opening, as a fraction of the widest, above which closed fingers hold something
    stack_rise: float = 0.03  # released this much above the grasp height: placed on an object (a lower phase)
    lower_radius: float = 0.01  # the lower phase starts once the hand stays within this of the release point
    push_band: float = 0.012  # a push runs within this of the lowest height of its closed run
    push_turn_cos: float = 0.5  # a push keeps heading: cosine to the previous step above this
    still_frac: float = 0.1  # fallback: speed below this fraction is still
    min_run: int = 2  # fallback: shortest moving/still run

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return dataclasses.asdict(self)


def _runs(mask: np.ndarray) -> list[tuple[int, int, bool]]:
    """(T,) bool → [(start, end, value)] maximal runs."""
    out, s = [], 0
    for t in range(1, len(mask) + 1):
        if t == len(mask) or mask[t] != mask[s]:
            out.append((s, t, bool(mask[s])))
            s = t
    return out


def _top_speed(v: np.ndarray) -> float:
    return max(float(np.percentile(np.abs(v), 99)) if v.size else 0.0, 1e-9)


def _first(cond: np.ndarray, lo: int, hi: int) -> int:
    idx = np.flatnonzero(cond[lo:hi])
    return lo + int(idx[0]) if len(idx) else hi


class _Labeller:
    """Fills one phase name per step."""

    def __init__(self, sig: Signals, cfg: SegmentConfig):
        self.sig, self.cfg = sig, cfg
        self.phase = np.full(sig.T, "", dtype=object)
        v = sig.velocity  # (T, D)
        self.vmax = _top_speed(v)
        if sig.velocity_is_xyz:
            self.vxy = np.linalg.norm(v[:, :2], axis=1)  # (T,)
            self.vz = v[:, 2]  # (T,)
        else:  # joint space: no up/sideways, only moving or not
            self.vxy, self.vz = sig.speed, np.zeros(sig.T)

    def holding(self, s: int, e: int) -> bool:
        op = self.sig.opening
        if op is None:
            return True  # cannot tell: a closed gripper is taken as a grasp
        widest = max(float(np.max(op)), 1e-9)
        inner = op[min(s + 1, e - 1):e]
        # A grasp closes with the hand still; closing while travelling is a closed-hand move (pushing, or nothing).
        still = self.sig.speed[s] < self.cfg.move_frac * self.vmax
        return still and float(np.median(inner)) > self.cfg.hold_frac * widest

    def grasp_cycle(self, s: int, e: int) -> None:
        c, T = self.cfg, self.sig.T
        moving = self.vxy > c.move_frac * self.vmax
        rising = self.vz > c.lift_frac * self.vmax
        lift = _first(rising | moving, min(s + 1, e), e)
        move = _first(moving, lift, e)
        self.phase[s:lift], self.phase[lift:move], self.phase[move:e] = "grasp", "lift", "move"
        xyz = self.sig.xyz
        if xyz is not None and e < T and xyz[e, 2] - xyz[s, 2] > c.stack_rise:
            near = np.linalg.norm(xyz[move:e, :2] - xyz[e, :2], axis=1) <= c.lower_radius  # (e - move,)
            far = np.flatnonzero(~near)
            lower = move + (int(far[-1]) + 1 if len(far) else 0)
            self.phase[lower:e] = "lower"

    def closed_empty(self, s: int, e: int) -> None:
        c, sig = self.cfg, self.sig
        self.phase[s:e] = "push" if sig.xyz is None else "approach"
        if sig.xyz is None or not sig.velocity_is_xyz:
            return
        z, v = sig.xyz[:, 2], sig.velocity
        low = z <= float(np.min(z[s:e])) + c.push_band
        level = np.abs(self.vz) < self.vxy  # more sideways than up or down
        cand = low & level & (self.vxy > c.move_frac * self.vmax)
        for t in range(s, e):
            if not cand[t] or t == 0:
                continue
            prev = t - 1
            if self.phase[prev] == "push" and prev >= s:
                a, b = v[prev, :2], v[t, :2]
                ok = float(a @ b) > c.push_turn_cos * float(np.linalg.norm(a) * np.linalg.norm(b))
            else:
                ok = self.vz[prev] < -c.lift_frac * self.vmax  # a push starts right after a descent
            if ok:
                self.phase[t] = "push"

    def open_run(self, s: int, e: int, after_hold: bool, before_hold: bool) -> None:
        t = s
        if after_hold:
            settled = self.sig.speed > self.cfg.settle_frac * self.vmax
            t = max(s + 1, _first(settled, s, e))
            self.phase[s:t] = "release"
        self.phase[t:e] = "reach" if before_hold else "retreat"


def segment(sig: Signals, cfg: SegmentConfig | None = None) -> list[dict[str, Any]]:
    """Segments [{start, end (exclusive), phase}] covering the episode, from its signals only."""
    cfg = cfg or SegmentConfig()
    if sig.T == 0:
        return []
    if sig.grip_cmd is None:
        return _fallback(sig, cfg)
    lab = _Labeller(sig, cfg)
    runs = _runs(sig.grip_cmd >= 0.5)
    held = {i: closed and lab.holding(s, e) for i, (s, e, closed) in enumerate(runs)}
    for i, (s, e, closed) in enumerate(runs):
        if closed:
            (lab.grasp_cycle if held[i] else lab.closed_empty)(s, e)
    for i, (s, e, closed) in enumerate(runs):
        if not closed:
            lab.open_run(s, e, after_hold=held.get(i - 1, False), before_hold=held.get(i + 1, False))
    return _merge(list(lab.phase))


def _merge(phases: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for t, p in enumerate(phases):
        if out and out[-1]["phase"] == p:
            out[-1]["end"] = t + 1
        else:
            out.append({"start": t, "end": t + 1, "phase": p})
    return out


def _fallback(sig: Signals, cfg: SegmentConfig) -> list[dict[str, Any]]:
    """No gripper: moving/still runs of the velocity (and of the image change when there is one)."""
    speed = sig.speed / _top_speed(sig.velocity)
    if sig.image_change is not None:
        speed = np.maximum(speed, sig.image_change / max(float(np.percentile(sig.image_change, 99)), 1e-9))
    moving = speed > cfg.still_frac
    runs = _runs(moving)
    # Short runs join their neighbours, so jitter does not make one-step segments.
    phases = []
    for s, e, m in runs:
        if e - s < cfg.min_run and phases:
            m = phases[-1] == "move"
        phases.extend(["move" if m else "still"] * (e - s))
    return _merge(phases)
