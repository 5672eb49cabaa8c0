"""MetaWorldEnv: one Meta-World v3 task behind vlaforge's env API (dataset feature names, seeded resets, instructions).

Action (4,) = [dx, dy, dz, gripper] in [-1, 1], Meta-World's own (hand-target delta of 1 cm per unit,
gripper effort). State (4,) = [x, y, z, gripper_opening], the `agent_pos` of the published protocol.
Cameras: `front` is Meta-World's `corner4` (the repositioned `corner2` of LeRobot's MT50 dataset),
turned 180 degrees as LeRobot does; `wrist` is `gripperPOV`. Only the cameras asked for are rendered.
The goal is observable to the scripted experts (MT setting) and never to a policy: policies get frames,
state and the instruction. A seed fixes the task's object and goal positions; success is Meta-World's
`info["success"]`, and an episode ends on success (as LeRobot's evaluation does) or after 500 steps.
"""

from __future__ import annotations

import atexit
import os
import random
import weakref
from typing import Any

import gymnasium as gym
import numpy as np

from vlaforge.errors import ConfigError
from vlaforge.sim.metaworld.language import instruction
from vlaforge.sim.metaworld.tasks import check_task

FPS = 80  # 5 x 2.5 ms physics per control step
MAX_STEPS = 500  # Meta-World's max_path_length
CAMERAS = {"front": "corner4", "wrist": "gripperPOV"}  # vlaforge camera -> Meta-World camera
_TURN = {"front"}  # the corner cameras render upside down
STATE_NAMES = ("x", "y", "z", "gripper_opening")
ACTION_NAMES = ("dx", "dy", "dz", "gripper")
SPLITS = ("seen", "heldout-wording")  # no held-out combinations or perturbations in Meta-World
ROBOT_TYPE = "metaworld_sawyer"


def feature_spec(image_size: int = 96, cameras: tuple[str, ...] = tuple(CAMERAS)) -> dict[str, Any]:
    """Features of the Meta-World env as `vlaforge.data.Feature`s."""
    from vlaforge.data.features import Feature

    cams = {f"observation.images.{c}": Feature("video", (image_size, image_size, 3), ("height", "width", "channels")) for c in cameras}
    return {**cams, "observation.state": Feature("float32", (len(STATE_NAMES),), STATE_NAMES),
            "action": Feature("float32", (len(ACTION_NAMES),), ACTION_NAMES)}


def _close(ref: "weakref.ref[MetaWorldEnv]") -> None:
    env = ref()
    if env is not None:
        env.close()


class MetaWorldEnv(gym.Env):
    """See module doc; `MetaWorldEnv("reach-v3", split="seen", image_size=96)`."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": FPS}

    def __init__(self, task: str = "reach-v3", split: str = "seen", image_size: int = 96, cameras: tuple[str, ...] = tuple(CAMERAS),
                 render: bool = True, profile: str = "fast", max_steps: int | None = None, render_mode: str | None = "rgb_array"):
        os.environ.setdefault("MUJOCO_GL", "egl")
        from vlaforge.sim.metaworld import require_metaworld

        require_metaworld()
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS

        self.task = check_task(task)
        if split not in SPLITS:
            raise ConfigError(f"unknown Meta-World split {split!r}; choose from {list(SPLITS)}")
        if not isinstance(image_size, int) or not 16 <= image_size <= 1024:
            raise ConfigError(f"image_size must be an integer in [16, 1024]; got {image_size!r}")
        bad = [c for c in cameras if c not in CAMERAS]
        if bad or not cameras:
            raise ConfigError(f"unknown camera(s) {bad}; Meta-World cameras are {list(CAMERAS)}")
        if max_steps is not None and not 1 <= max_steps <= MAX_STEPS:
            raise ConfigError(f"max_steps must be in [1, {MAX_STEPS}] (Meta-World's limit); got {max_steps}")
        self.split, self.image_size, self.cameras, self.render_images = split, image_size, tuple(cameras), render
        self.profile, self.render_mode = profile, render_mode
        self.max_steps = max_steps or MAX_STEPS
        mw = ALL_V3_ENVIRONMENTS[self.task]()
        mw._partially_observable = False  # MT setting: the goal is in the 39-d state the scripted experts read
        mw.__dict__.pop("sawyer_observation_space", None)  # cached for the old observability
        mw._freeze_rand_vec, mw.seeded_rand_vec, mw._set_task_called = False, True, True  # positions drawn from the seeded rng
        self.mw = mw
        self.renderer: Any = None
        self.raw = np.zeros(39)  # Meta-World's own observation (hand, objects, goal), for experts and tests
        self.t, self.instruction, self.subtask, self.seed_used = 0, "", "", None
        self._rng = random.Random()
        img = (image_size, image_size, 3)
        cams = {f"observation.images.{c}": gym.spaces.Box(0, 255, img, np.uint8) for c in self.cameras} if render else {}
        self.observation_space = gym.spaces.Dict({**cams, "observation.state": gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)})
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)

    @property
    def fps(self) -> int:
        """Control rate (Hz)."""
        return FPS

    def features(self) -> dict[str, Any]:
        """Dataset features this env produces."""
        return feature_spec(self.image_size, self.cameras)

    def hand_pos(self) -> np.ndarray:
        """End-effector position (3,)."""
        return self.raw[:3].copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """New episode; `seed` fixes object and goal positions and the paraphrase; options may set "instruction"."""
        options = dict(options or {})
        unknown = set(options) - {"instruction"}
        if unknown:
            raise ConfigError(f"unknown reset option(s) {sorted(unknown)}; Meta-World accepts ['instruction']")
        seed = self._rng.randrange(2**31) if seed is None else int(seed)
        self.mw.seed(seed)
        self.raw, _ = self.mw.reset()
        self.t, self.seed_used, self.subtask = 0, seed, ""
        wording = "heldout" if self.split == "heldout-wording" else "train"
        self.instruction = options.get("instruction") or instruction(self.task, wording, random.Random(seed))
        return self._obs(), self._info(False)

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """One 12.5 ms control step; terminated on Meta-World success, truncated at max_steps."""
        a = np.clip(np.asarray(action, np.float64).reshape(-1), -1.0, 1.0)
        if a.shape != (4,) or not np.isfinite(a).all():
            raise ConfigError(f"a Meta-World action is 4 finite numbers [dx, dy, dz, gripper]; got {np.asarray(action).tolist()}")
        self.raw, reward, _, _, mw_info = self.mw.step(a)
        self.t += 1
        success = bool(mw_info["success"])
        return self._obs(), float(reward), success, self.t >= self.max_steps and not success, self._info(success)

    def _info(self, success: bool) -> dict[str, Any]:
        return {"success": success, "task": self.task, "instruction": self.instruction, "subtask": self.subtask, "events": []}

    def _obs(self) -> dict[str, np.ndarray]:
        obs = {"observation.state": self.raw[:4].astype(np.float32)}
        if self.render_images:
            for cam in self.cameras:
                obs[f"observation.images.{cam}"] = self.render_camera(cam)
        return obs

    def render_camera(self, cam: str) -> np.ndarray:
        """(S, S, 3) uint8 image from camera `cam` (front / wrist)."""
        if self.renderer is None:
            from vlaforge.sim.metaworld.render import CameraRenderer

            self.renderer = CameraRenderer(self.mw.model, self.image_size, self.profile)
            atexit.register(_close, weakref.ref(self))  # free GL before MuJoCo's own exit hook terminates EGL
        img = self.renderer.render(self.mw.data, CAMERAS[cam])
        return np.ascontiguousarray(img[::-1, ::-1]) if cam in _TURN else img.copy()

    def render(self) -> np.ndarray:
        """Front camera frame (uint8 HxWx3)."""
        return self.render_camera("front")

    def close(self) -> None:
        """Free the renderer's GL context."""
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None
