"""Expert chunk predictor and env snapshots: the oracle plans what the expert would do and never disturbs the live env."""

import numpy as np
import pytest

from vlaforge.errors import VlaforgeError
from vlaforge.sim import make_env
from vlaforge.sim.experts import Expert
from vlaforge.sim.expert_planner import ExpertPlanner


def _expert_trajectory(env, seed, oracle=None):
    """qpos after every step of an expert episode; if `oracle` is given it is queried before every step."""
    obs, info = env.reset(seed=seed)
    expert, qpos = Expert(), []
    for _ in range(env.max_steps):
        if oracle is not None:
            oracle(obs, info["instruction"])
        obs, _, terminated, truncated, info = env.step(expert(env))
        qpos.append(env.data.qpos.copy())
        if terminated or truncated:
            break
    return np.stack(qpos), info["success"]


@pytest.mark.parametrize("family", ["pick_place", "push"])
def test_querying_the_oracle_does_not_change_the_live_env(family):
    env = make_env(family, render=False)
    plain, ok = _expert_trajectory(env, seed=4)
    queried, ok_q = _expert_trajectory(env, seed=4, oracle=ExpertPlanner(env, horizon=8))
    assert ok and ok_q
    np.testing.assert_array_equal(plain, queried)


def test_chunk_is_what_the_expert_does_next():
    env = make_env("pick_place", render=False)
    obs, info = env.reset(seed=2)
    chunk = ExpertPlanner(env, horizon=12)(obs, info["instruction"])
    assert chunk.shape == (12, 4) and chunk.dtype == np.float32
    expert = Expert()
    for k in range(12):
        a = expert(env)
        np.testing.assert_array_equal(a, chunk[k], err_msg=f"step {k}")
        env.step(a)


def test_state_round_trip_replays_identically():
    env = make_env("stack", render=False, seed=1)
    expert = Expert()
    for _ in range(15):
        env.step(expert(env))
    snap = env.get_state()
    actions = [np.array([0.01, -0.005, -0.01, 1.0], np.float32)] * 5
    first = [env.step(a)[0]["observation.state"] for a in actions]
    other = make_env("stack", render=False, seed=9)  # a different scene, overwritten by the snapshot
    other.set_state(snap)
    second = [other.step(a)[0]["observation.state"] for a in actions]
    np.testing.assert_array_equal(np.stack(first), np.stack(second))
    assert other.t == env.t and other.task == env.task


def test_oracle_refuses_an_observation_from_another_step():
    env = make_env("pick_place", render=False)
    obs, info = env.reset(seed=0)
    oracle = ExpertPlanner(env)
    env.step(np.array([0.02, 0.0, 0.0, 0.0], np.float32))
    with pytest.raises(VlaforgeError, match="live env's current state"):
        oracle(obs, info["instruction"])


def test_get_state_before_reset_is_an_error():
    with pytest.raises(VlaforgeError, match="reset"):
        make_env("pick_place", render=False).get_state()


def test_prefix_is_simulated_first_and_the_expert_plans_from_where_it_leads():
    env = make_env("pick_place", render=False)
    obs, info = env.reset(seed=5)
    prefix = np.array([[0.02, 0.0, 0.0, 0.0], [0.02, 0.01, 0.0, 0.0]], np.float32)  # (2, 4): not what the expert would do
    chunk = ExpertPlanner(env, horizon=10)(obs, info["instruction"], prefix=prefix)
    np.testing.assert_array_equal(chunk[:2], prefix)
    for a in prefix:
        env.step(a)
    expert = Expert()
    for k in range(2, 10):
        a = expert(env)
        np.testing.assert_array_equal(a, chunk[k], err_msg=f"step {k}")
        env.step(a)
