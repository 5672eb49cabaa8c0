"""Mid-episode perturbations, registered by name, seeded, reported in `info["events"]` when they fire."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from vlaforge.errors import ConfigError

PERTURBATIONS: dict[str, type["Perturbation"]] = {}


def register_perturbation(name: str) -> Any:
    """Class decorator: make a perturbation available as `--perturb name`."""

    def deco(cls: type) -> type:
        cls.name = name
        PERTURBATIONS[name] = cls
        return cls

    return deco


def make_perturbations(names: list[str]) -> list["Perturbation"]:
    """Instantiate perturbations by name ('all' = every registered one is a valid choice per episode)."""
    bad = [n for n in names if n not in PERTURBATIONS]
    if bad:
        raise ConfigError(f"unknown perturbation(s) {bad}; choose from {sorted(PERTURBATIONS)}")
    return [PERTURBATIONS[n]() for n in names]


class Perturbation:
    """Fires once per episode when `should_fire` says so; `apply` changes the world."""

    name = "base"
    trigger = "schedule"  # or "after_grasp"

    def reset(self, env: Any, rng: random.Random) -> None:
        """Sample this episode's schedule."""
        self.rng, self.fired, self.grasp_steps = rng, False, 0
        self.at_step = rng.randint(6, 14)

    def before_step(self, env: Any) -> None:
        """Called by the env before each physics step."""
        subject = env.task["subject"][0]
        self.grasp_steps = self.grasp_steps + 1 if env.grasped(subject) else 0
        if self.fired:
            self.hold(env)
            return
        due = self.grasp_steps >= 3 if self.trigger == "after_grasp" else env.t >= self.at_step
        if due and self.applicable(env):
            detail = self.apply(env)
            self.fired = True
            env.events.append({"name": self.name, "step": env.t, "detail": detail})

    def applicable(self, env: Any) -> bool:
        """Whether firing now makes sense."""
        return True

    def apply(self, env: Any) -> str:
        """Change the world; return a short description."""
        raise NotImplementedError

    def hold(self, env: Any) -> None:
        """Keep an effect going after firing (used by grasp slip)."""


def _free_spot(env: Any, rng: random.Random, near: np.ndarray | None = None, radius: tuple[float, float] = (0.04, 0.06)) -> np.ndarray:
    """A table spot at least 6 cm from every object and bin (within `radius` of `near` if given)."""
    others = [env.obj_pos(i)[:2] for i in range(len(env.task["objects"]))] + [env.bin_pos(c)[:2] for c in ("blue", "yellow")]
    if near is not None:
        others = [o for o in others if np.linalg.norm(o - near[:2]) > 1e-6]
    xy = np.zeros(2)
    for _ in range(200):
        if near is None:
            xy = np.array([rng.uniform(-0.2, 0.2), rng.uniform(-0.16, 0.0)])
        else:
            ang, r = rng.uniform(0, 2 * np.pi), rng.uniform(*radius)
            xy = near[:2] + r * np.array([np.cos(ang), np.sin(ang)])
        if -0.22 < xy[0] < 0.22 and -0.17 < xy[1] < 0.02 and all(np.linalg.norm(xy - o) > 0.06 for o in others):
            return xy
    return xy


@register_perturbation("move_object")
class MoveObject(Perturbation):
    """Move the object the robot is going for by 4-6 cm before it is grasped."""

    def applicable(self, env: Any) -> bool:
        return not env.grasped(env.task["subject"][0])

    def apply(self, env: Any) -> str:
        i = env.task["subject"][0]
        p = env.obj_pos(i)
        xy = _free_spot(env, self.rng, near=p)
        a = env._obj_q[i]
        env.data.qpos[a : a + 2] = xy
        env.data.qvel[env._obj_dof[i] : env._obj_dof[i] + 6] = 0
        return f"object {i} moved {np.linalg.norm(xy - p[:2]) * 100:.1f} cm"


@register_perturbation("move_bin")
class MoveBin(Perturbation):
    """Shift the target bin ~5 cm (two inches) once the object is grasped."""

    trigger = "after_grasp"

    def applicable(self, env: Any) -> bool:
        return env.task["target"]["kind"] == "bin"

    def apply(self, env: Any) -> str:
        c = env.task["target"]["color"]
        k = env._mocap[f"bin_{c}"]
        ang = self.rng.uniform(0, 2 * np.pi)
        delta = 0.05 * np.array([np.cos(ang), np.sin(ang)])
        new = np.clip(env.data.mocap_pos[k][:2] + delta, [-0.22, 0.03], [0.22, 0.16])
        env.data.mocap_pos[k][:2] = new
        return f"{c} bin moved to ({new[0]:.2f}, {new[1]:.2f})"


@register_perturbation("grasp_slip")
class GraspSlip(Perturbation):
    """Force the gripper open for 3 steps after a grasp: the object drops."""

    trigger = "after_grasp"

    def apply(self, env: Any) -> str:
        self.open_for = 3
        env.grip_cmd = 0.0
        return "gripper forced open"

    def hold(self, env: Any) -> None:
        if getattr(self, "open_for", 0) > 0:
            env.grip_cmd = 0.0
            self.open_for -= 1


@register_perturbation("lighting")
class Lighting(Perturbation):
    """Dim or brighten the key light."""

    def apply(self, env: Any) -> str:
        f = self.rng.choice([self.rng.uniform(0.3, 0.6), self.rng.uniform(1.3, 1.7)])
        env.model.light_diffuse[:] = env._light0 * f
        return f"light x{f:.2f}"


@register_perturbation("camera_jitter")
class CameraJitter(Perturbation):
    """Shift the front camera by up to 1.5 cm per axis."""

    def apply(self, env: Any) -> str:
        cam = env.model.camera("front").id
        d = np.array([self.rng.uniform(-0.015, 0.015) for _ in range(3)])
        env.model.cam_pos[cam] = env._cam0[cam] + d
        return f"front camera moved {np.linalg.norm(d) * 100:.1f} cm"


@register_perturbation("distractor")
class Distractor(Perturbation):
    """Put an extra purple block on the table."""

    def apply(self, env: Any) -> str:
        xy = _free_spot(env, self.rng)
        env.data.mocap_pos[env._mocap["distractor"]] = [xy[0], xy[1], 0.018]
        return f"distractor at ({xy[0]:.2f}, {xy[1]:.2f})"
