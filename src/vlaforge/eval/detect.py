"""Failure detectors run during rollouts: stuck, object dropped outside its target, gripper oscillation.

They flag the "hard moments" of an episode (step + kind + detail); the data engine routes those
back to labeling or to an expert.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class DetectConfig:
    """Thresholds for the detectors."""

    stuck_seconds: float = 3.0  # no end-effector progress for this long ...
    stuck_eps: float = 0.01  # ... where progress means moving more than this many metres
    oscillation_window: int = 10  # steps
    oscillation_flips: int = 4  # gripper open/close flips within the window
    drop_settle_steps: int = 5  # after a release, wait this long before judging where the object lies


class FailureDetector:
    """Feed it every control step; read `events` (hard moments) and `kinds` afterwards."""

    def __init__(self, fps: float, cfg: DetectConfig = DetectConfig()):
        self.fps, self.cfg = fps, cfg
        self.events: list[dict[str, Any]] = []
        self._pos: list[np.ndarray] = []
        self._grip: list[float] = []
        self._held: dict[int, bool] = {}
        self._released: dict[int, int] = {}  # object -> step it was let go

    def update(self, step: int, ee_pos: np.ndarray, gripper_cmd: float, held: dict[int, bool], at_target: dict[int, bool],
               resting: dict[int, bool], success: bool) -> None:
        """Look at one step: end-effector position (3,), gripper command in [0, 1], per task object: held / at its target / resting."""
        self._pos.append(np.asarray(ee_pos, np.float64)[:3])
        self._grip.append(float(gripper_cmd))
        if success:
            return
        window = int(round(self.cfg.stuck_seconds * self.fps))
        if len(self._pos) > window:
            moved = float(np.linalg.norm(self._pos[-1] - self._pos[-1 - window]))
            if moved < self.cfg.stuck_eps and not self._recent("stuck", step, window):
                self._add(step, "stuck", f"end effector moved {moved * 1000:.1f} mm in {self.cfg.stuck_seconds:g} s")
        w = self.cfg.oscillation_window
        if len(self._grip) >= w:
            closed = np.asarray(self._grip[-w:]) > 0.5
            flips = int(np.sum(closed[1:] != closed[:-1]))
            if flips >= self.cfg.oscillation_flips and not self._recent("gripper_oscillation", step, w):
                self._add(step, "gripper_oscillation", f"{flips} gripper open/close flips in {w} steps")
        for i, h in held.items():
            if self._held.get(i) and not h:
                self._released[i] = step
            self._held[i] = h
            t0 = self._released.get(i)
            if t0 is not None and step - t0 >= self.cfg.drop_settle_steps and not h:
                del self._released[i]
                if resting[i] and not at_target[i]:
                    self._add(step, "dropped", f"object {i} was let go and came to rest outside its target")

    def _recent(self, kind: str, step: int, within: int) -> bool:
        return any(e["kind"] == kind and step - e["step"] < within for e in self.events)

    def _add(self, step: int, kind: str, detail: str) -> None:
        self.events.append({"step": step, "kind": kind, "detail": detail})

    @property
    def kinds(self) -> list[str]:
        """Distinct failure kinds seen, sorted."""
        return sorted({e["kind"] for e in self.events})
