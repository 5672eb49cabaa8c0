"""TabletopEnv: determinism, observation and feature contract, gymnasium registration, input errors."""

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

from tests.sim.conftest import rollout
from vlaforge.errors import ConfigError, VlaforgeError
from vlaforge.sim.tasks import TASKS


def test_same_seed_same_trajectory_and_frames(envs):
    a_info, a = rollout(envs("sequence", perturb=["camera_jitter", "lighting"]), seed=3)
    b_info, b = rollout(envs("sequence", perturb=["camera_jitter", "lighting"]), seed=3)
    assert len(a) == len(b) and a_info["instruction"] == b_info["instruction"] and a_info["events"] == b_info["events"]
    for x, y in zip(a, b):
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)


def test_an_episode_does_not_depend_on_the_episodes_before_it():
    """A worker reuses its env, so which worker ran which episodes before must not show (the unused shape slots once kept
    the last episode's colours: one wrist pixel differed, and a dataset with it depended on the worker count)."""
    from vlaforge.sim import make_env

    fresh, used = make_env("pick_place", image_size=48), make_env("pick_place", image_size=48)
    for seed in range(4):
        used.reset(seed=seed)
    a, b = fresh.reset(seed=1)[0], used.reset(seed=1)[0]
    np.testing.assert_array_equal(fresh.model.geom_rgba, used.model.geom_rgba)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    fresh.close()
    used.close()


def test_different_seeds_give_different_scenes(envs):
    env = envs("pick_place")
    f0 = env.reset(seed=0)[0]["observation.images.front"]
    f1 = env.reset(seed=1)[0]["observation.images.front"]
    assert not np.array_equal(f0, f1)


def test_every_step_renders_a_new_frame(envs):
    env = envs("pick_place")
    _, steps = rollout(env, seed=0)
    moving = [not np.array_equal(s["observation.images.wrist"], t["observation.images.wrist"]) for s, t in zip(steps[:10], steps[1:11])]
    assert all(moving)  # the hand moves every early step, so a reused frame would show up here


def test_observations_match_the_feature_spec(envs):
    env = envs("stack")
    obs, info = env.reset(seed=0)
    feats = env.features()
    assert set(obs) | {"action"} == set(feats)
    for k, v in obs.items():
        assert v.shape == feats[k].shape, k
        assert v.dtype == (np.uint8 if feats[k].dtype == "video" else np.dtype(feats[k].dtype)), k
    assert feats["action"].names == ("dx", "dy", "dz", "gripper") and env.action_space.shape == feats["action"].shape
    assert feats["observation.state"].names[-1] == "gripper_opening"
    assert env.fps == 10 and env.observation_space.contains(obs)
    assert {"success", "task", "subtask", "events", "instruction"} <= set(info)


def test_info_task_is_structured(envs):
    _, info = envs("sequence").reset(seed=5)
    task = info["task"]
    assert task["family"] == "sequence" and len(task["subject"]) == 2
    assert all({"color", "shape"} <= set(o) for o in task["objects"])
    assert [t["kind"] for t in task["targets"]] == ["bin", "bin"]


def test_instruction_override_keeps_the_sampled_task(envs):
    env = envs("pick_place")
    _, plain = env.reset(seed=7)
    task = dict(plain["task"])
    _, custom = env.reset(seed=7, options={"instruction": "drop that thing in the box"})
    assert custom["instruction"] == "drop that thing in the box" and custom["task"] == task


def test_image_size_option(envs):
    obs, _ = envs("push", image_size=48).reset(seed=0)
    assert obs["observation.images.front"].shape == (48, 48, 3)


def test_gymnasium_make():
    import vlaforge.sim  # noqa: F401  (registers the id)

    env = gym.make("vlaforge/Tabletop-v0", family="stack", render=False)
    try:
        obs, info = env.reset(seed=0)
        obs, reward, terminated, truncated, info = env.step(np.zeros(4, np.float32))
        assert info["task"]["family"] == "stack" and obs["observation.state"].dtype == np.float32
    finally:
        env.close()


@pytest.mark.parametrize("bad, err", [
    (dict(task="juggle"), ConfigError), (dict(split="tomorrow"), ConfigError), (dict(perturb=["earthquake"]), ConfigError),
    (dict(perturb=["lighting@soon"]), ConfigError), (dict(image_size=4), ConfigError),
])
def test_bad_arguments_are_clear_errors(bad, err):
    from vlaforge.sim import make_env

    with pytest.raises(err):
        make_env(**{"render": False, **bad})


def test_bad_actions_and_options_are_clear_errors(envs):
    env = envs("pick_place", render=False)
    env.reset(seed=0)
    with pytest.raises(VlaforgeError, match="shape"):
        env.step(np.zeros(3))
    with pytest.raises(VlaforgeError, match="finite"):
        env.step(np.array([np.nan, 0, 0, 0]))
    with pytest.raises(ConfigError, match="unknown reset option"):
        env.reset(seed=0, options={"color": "red"})


def test_import_is_light():
    code = "import sys, vlaforge.sim; assert 'mujoco' not in sys.modules and 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_registry_names_families():
    assert list(TASKS) == ["pick_place", "push", "stack", "put_all", "sequence"]
