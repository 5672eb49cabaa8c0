"""TabletopEnv: a gymnasium env over the MuJoCo tabletop scene with language-conditioned tasks.

Action (4,) = [dx, dy, dz, gripper]: end-effector target deltas in metres per step (clipped to
±MAX_DELTA) and a gripper command in [0, 1] (1 = close). State (4,) = [x, y, z, opening].
Observations use dataset feature names; `info` has success, task (structured), instruction,
subtask (from the scripted expert when one drives), events (perturbations that fired).
"""

from __future__ import annotations

import atexit
import copy
import os
import random
import weakref
from typing import Any

import gymnasium as gym
import numpy as np

from vlaforge.errors import ConfigError, VlaforgeError
from vlaforge.sim import language, tasks
from vlaforge.sim.families import TaskFamily
from vlaforge.sim.scene import BIN_COLORS, COLORS, HALF, MAX_DELTA, N_OBJECTS, SHAPES, scene_xml

FPS = 10
SUBSTEPS = 10  # 10 x 10 ms physics per 100 ms control step
HAND_Z0 = 0.25  # hand body origin height at joint zero
PAD_DROP = 0.035  # pads' centre below the hand origin
STATE_NAMES = ("x", "y", "z", "gripper_opening")
ACTION_NAMES = ("dx", "dy", "dz", "gripper")
CAMERAS = ("front", "wrist")
RESET_OPTIONS = {"instruction", "family", "split"}
# Python-side attributes that, with the MuJoCo integration state, make up a snapshot (see TabletopEnv.get_state).
_PY_STATE = ("family", "max_steps", "task", "instruction", "seed_used", "target_hand", "grip_cmd", "t", "_prev_obj",
             "_obj_q", "_obj_dof", "_obj_geom", "events", "subtask")


def feature_spec(image_size: int = 96) -> dict[str, Any]:
    """Features of the tabletop env as `vlaforge.data.Feature`s: cameras, state and action with axis names."""
    from vlaforge.data.features import Feature

    cams = {f"observation.images.{c}": Feature("video", (image_size, image_size, 3), ("height", "width", "channels")) for c in CAMERAS}
    return {**cams, "observation.state": Feature("float32", (len(STATE_NAMES),), STATE_NAMES),
            "action": Feature("float32", (len(ACTION_NAMES),), ACTION_NAMES)}


def _close_env(ref: "weakref.ref[TabletopEnv]") -> None:
    env = ref()
    if env is not None:
        env.close()


class TabletopEnv(gym.Env):
    """See module doc. `make_env(family, seed=..., split=..., perturb=[...])` is the usual way in."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": FPS}

    def __init__(self, family: str = "pick_place", split: str = "seen", image_size: int = 96, perturb: list[str] | None = None,
                 render: bool = True, max_steps: int | None = None, render_mode: str | None = "rgb_array"):
        os.environ.setdefault("MUJOCO_GL", "egl")
        import mujoco

        self._mj = mujoco
        tasks.check_family(family)
        tasks.check_split(split)
        if not isinstance(image_size, int) or not 16 <= image_size <= 1024:
            raise ConfigError(f"image_size must be an integer in [16, 1024]; got {image_size!r}")
        self.family, self.split, self.image_size, self.render_images = family, split, image_size, render
        self.render_mode = render_mode
        self.subtask = ""
        self.model = mujoco.MjModel.from_xml_string(scene_xml(image_size))
        self.data = mujoco.MjData(self.model)
        self.renderer = self._new_renderer() if render else None
        self._max_steps_arg = max_steps
        self.max_steps = max_steps or tasks.MAX_STEPS[family]
        from vlaforge.sim.perturbations import make_perturbations

        self.perturbations = make_perturbations(perturb or [])
        m = self.model
        self._jid = {n: m.joint(n).qposadr[0] for n in ("hx", "hy", "hz", "fl")}
        self._slots = {(i, sh): (m.joint(f"obj{i}_{sh}").qposadr[0], m.joint(f"obj{i}_{sh}").dofadr[0], m.geom(f"obj{i}_{sh}").id)
                       for i in range(N_OBJECTS) for sh in SHAPES}
        self._obj_q, self._obj_dof, self._obj_geom = [0] * N_OBJECTS, [0] * N_OBJECTS, [0] * N_OBJECTS
        self._pad_ids = np.array([m.geom("pad_l").id, m.geom("pad_r").id])
        self.bin_colors = BIN_COLORS
        self._mocap = {n: m.body(n).mocapid[0] for n in ("target", "distractor", *(f"bin_{c}" for c in BIN_COLORS))}
        self._light0 = m.light_diffuse.copy()
        self._cam0, self._camq0 = m.cam_pos.copy(), m.cam_quat.copy()
        self._head0 = m.vis.headlight.diffuse.copy()
        self._rgba0 = m.geom_rgba.copy()  # unused shape slots keep the colour they are reset to, not the last episode's
        n_img = (image_size, image_size, 3)
        cams = {f"observation.images.{c}": gym.spaces.Box(0, 255, n_img, np.uint8) for c in CAMERAS} if render else {}
        self.observation_space = gym.spaces.Dict({**cams, "observation.state": gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)})
        self.action_space = gym.spaces.Box(np.array([-MAX_DELTA] * 3 + [0.0], np.float32), np.array([MAX_DELTA] * 3 + [1.0], np.float32))

    # ------------------------------------------------------------------ features (for datasets and policies)
    @property
    def fps(self) -> int:
        """Control rate (Hz)."""
        return FPS

    def features(self) -> dict[str, Any]:
        """Dataset features this env produces (names, shapes, dtypes); see `feature_spec`."""
        return feature_spec(self.image_size)

    @property
    def task_family(self) -> TaskFamily:
        """The current family (`self.family`): its goal test, layout, expert plan and perturbation targets."""
        return tasks.get_family(self.family)

    def set_subtask(self, text: str) -> None:
        """Label the current step (experts call this; `info["subtask"]` reports it)."""
        self.subtask = text

    # ------------------------------------------------------------------ geometry
    def hand_pos(self) -> np.ndarray:
        """Pad centre (between the fingers) in world coordinates (3,)."""
        q = self.data.qpos
        return np.array([q[self._jid["hx"]], q[self._jid["hy"]], HAND_Z0 + q[self._jid["hz"]] - PAD_DROP])

    def opening(self) -> float:
        """Gap between the finger pads (m)."""
        return float(0.08 + 2 * self.data.qpos[self._jid["fl"]])

    def obj_pos(self, i: int) -> np.ndarray:
        """Object centre (3,)."""
        a = self._obj_q[i]
        return self.data.qpos[a : a + 3].copy()

    def bin_pos(self, color: str) -> np.ndarray:
        """Bin centre on the table (3,)."""
        return self.data.mocap_pos[self._mocap[f"bin_{color}"]].copy()

    def target_pos(self) -> np.ndarray:
        """The push marker (3,)."""
        return self.data.mocap_pos[self._mocap["target"]].copy()

    def grasped(self, i: int) -> bool:
        """Both pads touch object i."""
        g = self._obj_geom[i]
        pairs = self.data.contact.geom  # (ncon, 2)
        with_obj = pairs[(pairs == g).any(axis=1)]
        return bool(np.isin(self._pad_ids, with_obj).all())

    def place_goal(self, target: dict[str, Any]) -> np.ndarray:
        """Where an object must end up for `target` (centre position), as the task's family defines it."""
        return self.task_family.goal(self, target)

    def at_goal(self, i: int, target: dict[str, Any]) -> bool:
        """Object i rests where `target` wants it (not counting release), as the task's family tests it."""
        return self.task_family.at_goal(self, i, target)

    def settled(self, i: int) -> bool:
        """Object i moved less than 2 mm during the last control step (robust to contact jitter)."""
        return float(np.linalg.norm(self.obj_pos(i) - self._prev_obj[i])) < 0.002

    def check_success(self) -> bool:
        """The task's family says the task is done (every move done, objects resting and released)."""
        return self.task_family.success(self)

    # ------------------------------------------------------------------ snapshots (planning, oracles)
    def get_state(self) -> dict[str, Any]:
        """A copy of the simulation and task state (MuJoCo integration state, layout, task, step); see `set_state`."""
        if not hasattr(self, "task"):
            raise VlaforgeError("get_state before the first reset: call env.reset(seed=...) first")
        mj = self._mj
        flags = mj.mjtState.mjSTATE_INTEGRATION
        physics = np.empty(mj.mj_stateSize(self.model, flags))
        mj.mj_getState(self.model, self.data, physics, flags)
        py = {k: copy.deepcopy(getattr(self, k)) for k in _PY_STATE}
        return {"physics": physics, "python": py, "object_rgba": self.model.geom_rgba[self._obj_geom].copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a `get_state` snapshot, from this env or another TabletopEnv; perturbation schedules are not part of it."""
        mj = self._mj
        flags = mj.mjtState.mjSTATE_INTEGRATION
        physics = np.asarray(state["physics"], np.float64)
        if physics.shape != (mj.mj_stateSize(self.model, flags),):
            raise VlaforgeError(f"state has {physics.shape} physics values; this scene needs {mj.mj_stateSize(self.model, flags)} "
                                "(take the snapshot with TabletopEnv.get_state of the same vlaforge version)")
        for k in _PY_STATE:
            setattr(self, k, copy.deepcopy(state["python"][k]))
        self.model.geom_rgba[self._obj_geom] = state["object_rgba"]
        mj.mj_setState(self.model, self.data, physics, flags)
        mj.mj_forward(self.model, self.data)  # derived quantities and contacts (the grasp check reads them)

    def observation(self) -> dict[str, np.ndarray]:
        """The observation of the current state (what `reset`/`step` return), e.g. right after `set_state`."""
        return self._obs()

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """New scene and task. options: `instruction` (any wording for the sampled task), `family`, `split`."""
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - RESET_OPTIONS)
        if unknown:
            raise ConfigError(f"unknown reset option(s) {unknown}; valid: {sorted(RESET_OPTIONS)}")
        self.family = tasks.check_family(options.get("family", self.family))
        self.max_steps = self._max_steps_arg or tasks.MAX_STEPS[self.family]
        split = tasks.check_split(options.get("split", self.split))
        # Without a seed, draw one from gymnasium's generator so seeded-once envs stay reproducible.
        self.seed_used = int(seed) if seed is not None else int(self.np_random.integers(2**31))
        self.rng = random.Random(self.seed_used)
        mj, m, d = self._mj, self.model, self.data
        mj.mj_resetData(m, d)
        m.light_diffuse[:] = self._light0
        m.cam_pos[:], m.cam_quat[:] = self._cam0, self._camq0
        m.vis.headlight.diffuse[:] = self._head0
        m.geom_rgba[:] = self._rgba0
        self.task = tasks.sample_task(self.family, split, self.rng)
        wording = language.WORDING_OF_SPLIT.get(split, "train")
        phrased = self.task_family.instruction(self.task, wording, self.rng)  # always drawn, so overrides keep the rng stream
        text = options.get("instruction")
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise ConfigError(f"options['instruction'] must be a non-empty string; got {text!r}")
        self.instruction = text or phrased
        self._layout()
        self.target_hand = np.array([0.0, -0.05, 0.16])
        self.grip_cmd = 0.0
        self._apply_ctrl()
        for _ in range(30):
            mj.mj_step(m, d)
        self.t = 0
        self._prev_obj = [self.obj_pos(i) for i in range(N_OBJECTS)]
        self.events: list[dict[str, Any]] = []
        self.subtask = ""
        for p in self.perturbations:
            p.reset(self, random.Random(self.rng.random()))
        return self._obs(), self._info(False)

    def _layout(self) -> None:
        rng, d = self.rng, self.data
        sides = [-1, 1]
        rng.shuffle(sides)
        for c, s in zip(BIN_COLORS, sides):
            d.mocap_pos[self._mocap[f"bin_{c}"]] = [s * rng.uniform(0.13, 0.2), rng.uniform(0.08, 0.14), 0.0]
        d.mocap_pos[self._mocap["distractor"]] = [0.6, 0.6, -0.3]
        d.mocap_pos[self._mocap["target"]] = [0.6, -0.6, -0.3]
        placed = self.task_family.place_objects(self, rng)  # (2,) per object; may place the push marker too
        for i, o in enumerate(self.task["objects"]):
            self._obj_q[i], self._obj_dof[i], self._obj_geom[i] = self._slots[(i, o["shape"])]
            a = self._obj_q[i]
            d.qpos[a : a + 7] = [placed[i][0], placed[i][1], HALF + 0.001, 1, 0, 0, 0]
            self.model.geom_rgba[self._obj_geom[i]] = [*COLORS[o["color"]], 1.0]

    def _apply_ctrl(self) -> None:
        lo = self.model.actuator_ctrlrange
        x, y, z = self.target_hand
        self.target_hand = np.array([np.clip(x, *lo[0]), np.clip(y, *lo[1]), np.clip(z, HAND_Z0 - PAD_DROP + lo[2][0], HAND_Z0 - PAD_DROP + lo[2][1])])
        self.data.ctrl[0], self.data.ctrl[1] = self.target_hand[0], self.target_hand[1]
        self.data.ctrl[2] = self.target_hand[2] - HAND_Z0 + PAD_DROP
        self.data.ctrl[3] = -0.045 * self.grip_cmd

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Apply one control step (100 ms)."""
        a = np.asarray(action, np.float64)
        if a.shape != (len(ACTION_NAMES),):
            raise VlaforgeError(f"action has shape {a.shape}; expected ({len(ACTION_NAMES)},) = {list(ACTION_NAMES)}")
        if not np.isfinite(a).all():
            raise VlaforgeError(f"action {a.tolist()} is not finite; expected 4 finite numbers {list(ACTION_NAMES)}")
        self.target_hand = self.target_hand + np.clip(a[:3], -MAX_DELTA, MAX_DELTA)
        self.grip_cmd = float(np.clip(a[3], 0.0, 1.0))
        for p in self.perturbations:
            p.before_step(self)
        self._apply_ctrl()
        self._prev_obj = [self.obj_pos(i) for i in range(N_OBJECTS)]
        for _ in range(SUBSTEPS):
            self._mj.mj_step(self.model, self.data)
        self.t += 1
        success = self.check_success()
        terminated = success
        truncated = self.t >= self.max_steps
        return self._obs(), float(success), terminated, truncated, self._info(success)

    def _obs(self) -> dict[str, np.ndarray]:
        obs = {"observation.state": np.array([*self.hand_pos(), self.opening()], np.float32)}
        if self.render_images:
            for c in CAMERAS:
                self.renderer.update_scene(self.data, c)
                obs[f"observation.images.{c}"] = self.renderer.render().copy()
        return obs

    def _info(self, success: bool) -> dict[str, Any]:
        return {"success": success, "task": copy.deepcopy(self.task), "instruction": self.instruction, "subtask": self.subtask,
                "events": list(self.events), "step": self.t, "seed": self.seed_used,
                "grasped": any(self.grasped(i) for i in range(N_OBJECTS))}

    def render(self) -> np.ndarray:
        """Front camera frame (uint8 HxWx3)."""
        if self.renderer is None:
            self.renderer = self._new_renderer()
        self.renderer.update_scene(self.data, "front")
        return self.renderer.render().copy()

    def _new_renderer(self) -> Any:
        r = self._mj.Renderer(self.model, self.image_size, self.image_size)
        # Free the GL context at exit while EGL is still initialized. MuJoCo registers eglTerminate with
        # atexit when it makes its first context; handlers run last-in first-out, so one registered
        # after that runs before it (a weakref.finalize may have registered its exit hook earlier, e.g.
        # by torch, and would then run too late).
        atexit.register(_close_env, weakref.ref(self))
        return r

    def close(self) -> None:
        """Free the renderer's GL context."""
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None
