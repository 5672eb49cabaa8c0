"""The tabular side of a dataset, loaded once and shared by every group of checks."""

from __future__ import annotations

import dataclasses
import json
from functools import cached_property
from typing import Any, Sequence

import numpy as np

from vlaforge.engine.health.config import HealthConfig


def gripper_dims(names: Sequence[str] | None) -> list[int]:
    """Indices of dimensions whose name mentions a gripper."""
    return [i for i, n in enumerate(names or ()) if "grip" in n.lower()]


def axis_of(name: str) -> str | None:
    """'x' for x, ee_x, eef.pos.x, dx, delta_x; None for anything else."""
    n = name.lower()
    for a in ("x", "y", "z"):
        if n in (a, "d" + a) or n.endswith(("_" + a, "." + a, "/" + a)):
            return a
    return None


@dataclasses.dataclass
class HealthContext:
    """A dataset plus its per-episode state/action arrays, dimension roles and notes."""

    ds: Any  # vlaforge.data.reader.LeRobotDataset
    cfg: HealthConfig
    progress: Any = None  # a rich Progress, or None
    # per camera, filled by the image checks for the heatmaps: "background" uint8 (H, W, 3), "motion" float (H, W)
    # (summed pixel change), "points" (N, 4) [episode position, frame, row, col] where consecutive frames changed
    views: dict[str, dict[str, np.ndarray]] = dataclasses.field(default_factory=dict)

    @cached_property
    def episodes(self) -> list[int]:
        return [int(e["episode_index"]) for e in self.ds.episode_meta]

    def _split(self, key: str) -> list[np.ndarray | None]:
        if key not in self.ds.features:
            return [None] * len(self.episodes)
        col = self.ds.column(key)
        out = []
        for ep in self.episodes:
            a, b = self.ds.episode_range(ep)
            v = np.asarray(col[a:b], np.float64)
            out.append(v[:, None] if v.ndim == 1 else v)  # (T, D)
        return out

    @cached_property
    def actions(self) -> list[np.ndarray | None]:
        """Per episode (T, A) float64, or None when the dataset has no action."""
        return self._split("action")

    @cached_property
    def states(self) -> list[np.ndarray | None]:
        """Per episode (T, S) float64, or None when the dataset has no observation.state."""
        return self._split("observation.state")

    def names(self, key: str) -> list[str]:
        f = self.ds.features.get(key)
        if f is None:
            return []
        n = f.names or ()
        return list(n) if len(n) == int(np.prod(f.shape)) else [f"{key.split('.')[-1]}[{i}]" for i in range(int(np.prod(f.shape)))]

    @cached_property
    def action_names(self) -> list[str]:
        return self.names("action")

    @cached_property
    def state_names(self) -> list[str]:
        return self.names("observation.state")

    @cached_property
    def action_grip(self) -> list[int]:
        return gripper_dims(self.action_names)

    @cached_property
    def state_grip(self) -> list[int]:
        return gripper_dims(self.state_names)

    @cached_property
    def action_motion(self) -> list[int]:
        """Action dimensions that move the robot (everything but the gripper)."""
        return [i for i in range(len(self.action_names)) if i not in self.action_grip]

    @cached_property
    def state_motion(self) -> list[int]:
        return [i for i in range(len(self.state_names)) if i not in self.state_grip]

    @cached_property
    def state_xyz(self) -> dict[str, int]:
        """Which state dimension holds the end effector's x, y, z (by name)."""
        out: dict[str, int] = {}
        for i, n in enumerate(self.state_names):
            a = axis_of(n)
            if a and a not in out and i not in self.state_grip:
                out[a] = i
        return out

    @cached_property
    def action_is_delta(self) -> bool:
        """True when every motion action name starts with 'd' (dx, dy, ...), as `data edit subsample` decides."""
        names = [self.action_names[i] for i in self.action_motion]
        return bool(names) and all(n.lower().startswith("d") for n in names)

    @cached_property
    def lengths(self) -> np.ndarray:
        return np.array([b - a for a, b in (self.ds.episode_range(ep) for ep in self.episodes)], int)

    @cached_property
    def tasks(self) -> list[str]:
        """The instruction (LeRobot task string) of each episode."""
        col = self.ds.column("task_index")
        return [self.ds.tasks[int(col[self.ds.episode_range(ep)[0]])] for ep in self.episodes]

    @cached_property
    def flags(self) -> list[dict[str, Any]]:
        return [self.ds.flags(ep) or {} for ep in self.episodes]

    @cached_property
    def families(self) -> list[str] | None:
        """flags.family of each episode, or None when no episode records one."""
        fam = [f.get("family") for f in self.flags]
        if all(v is None for v in fam):
            return None
        return [str(v) if v is not None else "(none)" for v in fam]

    @cached_property
    def task_groups(self) -> list[str]:
        """What counts as 'the same task' for instruction diversity: flags.task, else family, else the instruction."""
        out = []
        for i, f in enumerate(self.flags):
            t = f.get("task")
            if isinstance(t, dict):
                t = {k: v for k, v in t.items() if k != "objects"}  # the scene's other objects do not change the task
                out.append(json.dumps(t, sort_keys=True))
            elif t is not None:
                out.append(str(t))
            elif self.families is not None:
                out.append(self.families[i])
            else:
                out.append(self.tasks[i])
        return out

    def track(self, it: Sequence[Any], what: str) -> Any:
        """Iterate `it`, advancing a progress bar when one is shown."""
        if self.progress is None:
            yield from it
            return
        task = self.progress.add_task(what, total=len(it))
        for x in it:
            yield x
            self.progress.advance(task)
        self.progress.update(task, visible=False)
