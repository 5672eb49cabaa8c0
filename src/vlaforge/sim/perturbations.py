"""Mid-episode perturbations, registered by name, seeded, reported in `info["events"]` when they fire.

A spec is `name` (its default trigger), `name@after_grasp` (once the first object is held for
3 steps) or `name@N` (at control step N); `all` expands to every registered perturbation.
Each fires at most once per episode; its random choices come from the episode's seed.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from vlaforge.errors import ConfigError
from vlaforge.registry import Registry

PERTURBATIONS = Registry("perturbation")  # the perturbations are defined below, so nothing to import on lookup


def register_perturbation(name: str) -> Any:
    """Class decorator: make a perturbation available as `--perturb name`."""
    return PERTURBATIONS.register(name)


def parse_specs(specs: list[str] | str | None) -> list[str]:
    """Normalize `--perturb` values: comma lists, `all`, and validate names and triggers."""
    if specs is None:
        return []
    items = [s.strip() for s in (specs.split(",") if isinstance(specs, str) else specs) if s and s.strip()]
    out: list[str] = []
    for s in items:
        if s == "all":
            out += sorted(PERTURBATIONS)
            continue
        name, _, trig = s.partition("@")
        if name not in PERTURBATIONS:
            raise ConfigError(f"unknown perturbation {name!r}; choose from {sorted(PERTURBATIONS)} or 'all'")
        if trig and trig != "after_grasp" and not trig.isdigit():
            raise ConfigError(f"bad trigger {trig!r} in {s!r}; use NAME, NAME@after_grasp or NAME@STEP (an integer)")
        out.append(s)
    return out


def make_perturbations(specs: list[str] | str | None) -> list["Perturbation"]:
    """Instantiate perturbations from specs (see module doc)."""
    out = []
    for s in parse_specs(specs):
        name, _, trig = s.partition("@")
        out.append(PERTURBATIONS[name](trig or None))
    return out


class Perturbation:
    """Fires once per episode when its trigger is due and it applies; `apply` changes the world."""

    name = "base"
    trigger = "schedule"  # default: a step drawn from `window`; or "after_grasp"
    window = (6, 14)

    def __init__(self, trigger: str | None = None) -> None:
        self.trigger_spec = trigger or self.trigger

    def reset(self, env: Any, rng: random.Random) -> None:
        """Sample this episode's schedule."""
        self.rng, self.fired, self.grasp_steps = rng, False, 0
        self.at_step = int(self.trigger_spec) if self.trigger_spec.isdigit() else rng.randint(*self.window)

    def before_step(self, env: Any) -> None:
        """Called by the env before each control step's physics."""
        held = any(env.grasped(i) for i in env.task["subject"]) and env.grip_cmd > 0.5
        self.grasp_steps = self.grasp_steps + 1 if held else 0
        if self.fired:
            self.hold(env)
            return
        due = self.grasp_steps >= 3 if self.trigger_spec == "after_grasp" else env.t >= self.at_step
        if due and self.applies(env):
            detail = self.apply(env)
            self.fired = True
            env.events.append({"name": self.name, "step": env.t, "trigger": self.trigger_spec, "detail": detail})

    def applies(self, env: Any) -> bool:
        """Whether firing now makes sense for this task and state."""
        return True

    def apply(self, env: Any) -> str:
        """Change the world; return a short description."""
        raise NotImplementedError

    def hold(self, env: Any) -> None:
        """Keep an effect going after firing (used by grasp slip)."""


def free_spot(env: Any, rng: random.Random, near: np.ndarray | None = None, exclude: tuple[int, ...] = (),
              radius: tuple[float, float] = (0.04, 0.06), ok: Any = None) -> np.ndarray | None:
    """A table spot >= 8 cm from other objects and clear of the bins (within `radius` of `near` if given)."""
    others = [env.obj_pos(i)[:2] for i in range(len(env.task["objects"])) if i not in exclude]
    for _ in range(300):
        if near is None:
            xy = np.array([rng.uniform(-0.2, 0.2), rng.uniform(-0.17, -0.03)])
        else:
            ang, r = rng.uniform(0, 2 * np.pi), rng.uniform(*radius)
            xy = near[:2] + r * np.array([np.cos(ang), np.sin(ang)])
        if -0.21 < xy[0] < 0.21 and -0.18 < xy[1] < -0.03 and all(np.linalg.norm(xy - o) > 0.08 for o in others):
            if ok is None or ok(xy):
                return xy
    return None


def teleport(env: Any, i: int, xy: np.ndarray) -> None:
    """Put object i at table spot `xy` (2,), at rest."""
    a, v = env._obj_q[i], env._obj_dof[i]
    env.data.qpos[a : a + 2] = xy
    env.data.qvel[v : v + 6] = 0


@register_perturbation("move_object")
class MoveObject(Perturbation):
    """Move the object the robot is going for by 4-6 cm before it is grasped."""

    window = (3, 7)  # while the gripper is still reaching

    def applies(self, env: Any) -> bool:
        i = env.task["subject"][0]
        return not env.grasped(i) and env.obj_pos(i)[2] < 0.03

    def apply(self, env: Any) -> str:
        i = env.task["subject"][0]
        p, family = env.obj_pos(i), env.task_family
        xy = free_spot(env, self.rng, near=p, exclude=(i,), ok=lambda xy: family.subject_spot_ok(env, i, xy))
        if xy is None:
            return "no free spot; object left in place"
        teleport(env, i, xy)
        return f"object {i} moved {np.linalg.norm(xy - p[:2]) * 100:.1f} cm"


@register_perturbation("move_bin")
class MoveBin(Perturbation):
    """Shift the goal region ~5 cm once the object is grasped: the bin, push marker or stack base (`TaskFamily.shift_goal`)."""

    trigger = "after_grasp"

    def applies(self, env: Any) -> bool:
        return env.task_family.grasps or self.trigger_spec != "after_grasp"

    def reset(self, env: Any, rng: random.Random) -> None:
        super().reset(env, rng)
        if not env.task_family.grasps and self.trigger_spec == "after_grasp":  # nothing is grasped when pushing
            self.trigger_spec = "schedule"

    def apply(self, env: Any) -> str:
        return env.task_family.shift_goal(env, self.rng)

@register_perturbation("grasp_slip")
class GraspSlip(Perturbation):
    """Force the gripper open for 3 steps after a grasp: the object drops."""

    trigger = "after_grasp"

    def applies(self, env: Any) -> bool:
        return env.task_family.grasps

    def apply(self, env: Any) -> str:
        self.open_for = 3
        env.grip_cmd = 0.0
        return "gripper forced open for 3 steps"

    def hold(self, env: Any) -> None:
        if getattr(self, "open_for", 0) > 0:
            env.grip_cmd = 0.0
            self.open_for -= 1


@register_perturbation("lighting")
class Lighting(Perturbation):
    """Dim or brighten the lights (key light and headlight) by 0.4-0.7x or 1.3-1.6x."""

    def apply(self, env: Any) -> str:
        f = self.rng.choice([self.rng.uniform(0.4, 0.7), self.rng.uniform(1.3, 1.6)])
        env.model.light_diffuse[:] = env._light0 * f
        env.model.vis.headlight.diffuse[:] = np.clip(env._head0 * f, 0, 1)
        return f"lights x{f:.2f}"


@register_perturbation("camera_jitter")
class CameraJitter(Perturbation):
    """Shift the front camera by up to 1.5 cm per axis and tilt it by up to 2 degrees."""

    def apply(self, env: Any) -> str:
        import mujoco

        cam = env.model.camera("front").id
        d = np.array([self.rng.uniform(-0.015, 0.015) for _ in range(3)])
        env.model.cam_pos[cam] = env._cam0[cam] + d
        axis = np.array([self.rng.uniform(-1, 1) for _ in range(3)])
        angle = np.deg2rad(self.rng.uniform(-2, 2))
        dq = np.zeros(4)
        mujoco.mju_axisAngle2Quat(dq, axis / max(np.linalg.norm(axis), 1e-9), angle)
        q = np.zeros(4)
        mujoco.mju_mulQuat(q, env._camq0[cam], dq)
        env.model.cam_quat[cam] = q
        return f"front camera moved {np.linalg.norm(d) * 100:.1f} cm, tilted {np.rad2deg(angle):.1f} deg"


@register_perturbation("distractor")
class Distractor(Perturbation):
    """Put an extra purple block on the table, clear of the task's objects and path."""

    def apply(self, env: Any) -> str:
        family = env.task_family
        xy = free_spot(env, self.rng, ok=lambda xy: family.distractor_spot_ok(env, xy))
        if xy is None:
            return "no free spot; no distractor"
        env.data.mocap_pos[env._mocap["distractor"]] = [xy[0], xy[1], 0.018]
        return f"distractor at ({xy[0]:.2f}, {xy[1]:.2f})"
