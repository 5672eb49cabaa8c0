"""Chunk executors: skip-stale alignment, blending, simulated and real-time latency, and the tabletop result
(async under 100 ms keeps local success and is smoother than wait-then-act)."""

import threading
import time

import numpy as np
import pytest

from vlaforge.control.clocks import Rate, latency_steps
from vlaforge.control.executor import AsyncChunkExecutor, NaiveChunkExecutor
from vlaforge.errors import ConfigError, VlaforgeError
from vlaforge.eval.stats import mean_jerk, wilson

V = 0.01  # per-step change of the ramp planner's actions
H = 16


class RampPlanner:
    """Plans from the robot's progress p (planned actions executed so far): action k = [V*(p+k) + offset, 1].

    Executed correctly, the action at any step is V*p, whatever the latency; the 1 marks a planned
    action (a hold zeros it, with absolute_dims=()). `offset` (per chunk, seeded) makes chunks disagree."""

    def __init__(self, offset: float = 0.0, seed: int = 0, gate: threading.Event | None = None):
        self.rng, self.offset, self.gate = np.random.default_rng(seed), offset, gate
        self.offsets: list[float] = []

    def __call__(self, obs, instruction):
        if self.gate is not None and self.offsets:  # all but the first request wait for the test to open the gate
            assert self.gate.wait(timeout=10)
        p = float(obs["observation.state"][0])
        o = float(self.rng.uniform(-self.offset, self.offset))
        self.offsets.append(o)
        k = np.arange(H)
        return np.stack([V * (p + k) + o, np.ones(H)], axis=1)  # (H, 2)


def drive(executor, steps):
    """A fake robot loop; returns the actions (T, 2), the progress before each step (T,) and whether it was planned (T,)."""
    executor.reset()
    p, actions, progress = 0, [], []
    for _ in range(steps):
        a = executor({"observation.state": np.array([p], np.float32)}, "go")
        actions.append(a)
        progress.append(p)
        p += int(a[1] > 0.5)
    actions = np.stack(actions)
    return actions, np.array(progress), actions[:, 1] > 0.5


@pytest.mark.parametrize("latency_ms", [0, 100, 250, 700])
@pytest.mark.parametrize("kind,blend", [("naive", 0), ("async", 0), ("async", 3)])
def test_each_action_is_the_one_planned_for_the_robots_progress(kind, blend, latency_ms):
    make = NaiveChunkExecutor if kind == "naive" else (lambda *a, **k: AsyncChunkExecutor(*a, blend=blend, **k))
    ex = make(RampPlanner(), execute_horizon=8, latency_ms=latency_ms, fps=10, absolute_dims=())
    actions, progress, planned = drive(ex, 60)
    d = latency_steps(latency_ms, 10)
    # No stale action executed, none skipped twice: a planned action is exactly the plan for where the robot is.
    np.testing.assert_allclose(actions[planned, 0], V * progress[planned], atol=1e-6)
    assert set(ex.stats.delay_steps) == {d}
    if kind == "async":
        assert ex.stats.held_steps == d  # only while the first chunk was coming
        assert ex.stats.skipped_actions == d * (ex.stats.switches - 1)
    else:
        assert ex.stats.held_steps == d * ex.stats.switches and ex.stats.skipped_actions == 0


class TwoPlans:
    """First chunk: move +V per step with the gripper open; every later chunk: -V per step, gripper closed."""

    def __init__(self):
        self.planned_at: list[float] = []  # position of each request

    def __call__(self, obs, instruction):
        self.planned_at.append(float(obs["observation.state"][0]))
        first = len(self.planned_at) == 1
        return np.tile([V if first else -V, 0.0 if first else 1.0], (H, 1))  # (H, 2)


def move(executor, steps):
    """A fake robot integrating dim 0; returns the actions (T, 2) and the position after each step (T,)."""
    x, actions, xs = 0.0, [], []
    for _ in range(steps):
        a = executor({"observation.state": np.array([x], np.float32)}, "go")
        x += float(a[0])
        actions.append(a)
        xs.append(x)
    return np.stack(actions), np.array(xs)


@pytest.mark.parametrize("blend", [0, 1, 2, 4])
def test_blend_lands_on_the_new_plans_path(blend):
    planner = TwoPlans()
    ex = AsyncChunkExecutor(planner, execute_horizon=8, blend=blend, latency_ms=100)
    actions, x = move(ex, 16)
    # Chunk 2 was planned at step 8 from x = 7V and arrived at step 9, after the old chunk's +V ran in place of its
    # first (-V) action; its path is x = 7V - (s - 7)V after step s. Blending reaches it `blend` steps later;
    # a hard switch stays 2V off.
    assert planner.planned_at[1] == pytest.approx(7 * V)
    s = np.arange(8 + max(blend, 1), 16)
    np.testing.assert_allclose(x[s], 7 * V - (s - 7) * V + (2 * V if blend == 0 else 0), atol=1e-6)
    np.testing.assert_array_equal(actions[9:, 1], 1.0)  # the gripper (a switch dim) takes the new command at once
    if blend == 4:  # smoothstep spreads the correction: no step changes more than the hard switch's 2V
        assert np.abs(np.diff(actions[1:, 0])).max() < 2 * V


def test_action_bounds_clip_and_carry_the_correction():
    import gymnasium as gym

    box = gym.spaces.Box(np.array([-1.5 * V, 0], np.float32), np.array([1.5 * V, 1], np.float32))
    ex = AsyncChunkExecutor(TwoPlans(), execute_horizon=8, blend=4, latency_ms=100, action_space=box)
    actions, x = move(ex, 17)
    assert np.abs(actions[:, 0]).max() <= 1.5 * V + 1e-9
    assert x[12] > 7 * V - 5 * V + 1e-3  # not yet on the path where the unbounded blend would be...
    assert x[16] == pytest.approx(7 * V - 9 * V, abs=1e-6)  # ...but the carried correction gets there


def test_predictors_that_take_a_prefix_get_the_actions_run_during_inference():
    prefixes, steps = [], []

    def predict(obs, instruction, prefix=None):
        steps.append(int(obs["step"][0]))
        prefixes.append(prefix)
        k = 0 if prefix is None else len(prefix)
        plan = np.tile([V, 0.0], (H, 1)) * (1 + len(steps))  # each chunk a different speed
        return np.concatenate([prefix, plan[k:]]) if k else plan

    ex = AsyncChunkExecutor(predict, execute_horizon=8, blend=2, latency_ms=200, absolute_dims=())
    out = [ex({"step": np.array([t])}, "go") for t in range(30)]
    assert prefixes[0] is None and len(steps) >= 3
    for t, prefix in zip(steps[1:], prefixes[1:]):
        np.testing.assert_array_equal(prefix, np.stack(out[t : t + 2]))  # exactly what ran while it was computed


def test_hold_keeps_absolute_dims_and_zeroes_deltas():
    move = np.array([0.5, -0.25, 0.0, 1.0], np.float32)
    ex = NaiveChunkExecutor(lambda obs, text: np.tile(move, (4, 1)), execute_horizon=4, latency_ms=200)
    out = np.stack([ex({"s": np.zeros(1)}, "go") for _ in range(8)])
    np.testing.assert_array_equal(out[:2], [[0, 0, 0, 0]] * 2)  # nothing commanded yet: gripper at its reset value
    np.testing.assert_array_equal(out[2:6], [move] * 4)
    np.testing.assert_array_equal(out[6:8], [[0, 0, 0, 1]] * 2)  # waiting again: stand still, gripper stays closed
    assert ex.stats.held_steps == 4 and ex.stats.requests == 2


def test_latency_in_control_steps_and_bad_settings():
    assert [latency_steps(ms, 10) for ms in (0, 1, 100, 101, 200)] == [0, 1, 1, 2, 2]
    assert latency_steps(100, 30) == 3
    with pytest.raises(ConfigError, match="latency_ms"):
        AsyncChunkExecutor(RampPlanner(), latency_ms=-1)
    with pytest.raises(ConfigError, match="clock"):
        AsyncChunkExecutor(RampPlanner(), clock="wall")
    with pytest.raises(ConfigError, match="execute_horizon"):
        NaiveChunkExecutor(RampPlanner(), execute_horizon=0)
    ex = AsyncChunkExecutor(lambda obs, text: np.zeros(4))
    with pytest.raises(VlaforgeError, match=r"shape \(4,\)"):
        ex({"s": np.zeros(1)}, "go")


# ---------------------------------------------------------------- the tabletop task with the expert oracle
SEEDS = range(20)


def tabletop_run(make_executor, seeds=SEEDS):
    """Success per episode, arm jerk per episode (xyz deltas; the gripper is a binary command) and the stats."""
    from vlaforge.sim import make_env
    from vlaforge.sim.expert_planner import ExpertPlanner, roll_out

    env = make_env("pick_place", render=False)
    ex = make_executor(ExpertPlanner(env, horizon=H))
    success, jerk, stats, actions = [], [], [], []
    for seed in seeds:
        ok, acts = roll_out(env, ex, seed)
        success.append(ok)
        jerk.append(mean_jerk(acts[:, :3], env.fps))
        stats.append(ex.stats.summary())
        actions.append(acts)
    return np.array(success), np.array(jerk), stats, actions


@pytest.fixture(scope="module")
def local_success():
    return tabletop_run(lambda p: NaiveChunkExecutor(p, execute_horizon=8))[0]


@pytest.fixture(scope="module")
def naive_100ms():
    return tabletop_run(lambda p: NaiveChunkExecutor(p, execute_horizon=8, latency_ms=100))


@pytest.mark.parametrize("prefix", [True, False], ids=["rtc-prefix", "plain-predict"])
def test_async_keeps_local_success_under_100ms_and_is_smoother_than_waiting(local_success, naive_100ms, prefix):
    local = local_success
    _, naive_jerk, naive_stats, _ = naive_100ms

    def make(oracle):
        predict = oracle if prefix else (lambda obs, text: oracle(obs, text))  # the plain interface has no `prefix`
        ex = AsyncChunkExecutor(predict, execute_horizon=8, blend=4, latency_ms=100)
        assert ex.pass_prefix == prefix
        return ex

    asy, asy_jerk, asy_stats, _ = tabletop_run(make)
    _, lo, hi = wilson(int(local.sum()), len(local))
    assert lo <= asy.mean() <= hi, (local.mean(), asy.mean())
    assert asy_jerk.mean() < naive_jerk.mean()
    # The naive executor stood still for every inference; the async one only before the first chunk.
    assert all(s["held_steps"] == 1 for s in asy_stats)
    assert all(s["switches"] <= s["held_steps"] <= s["switches"] + 1 for s in naive_stats)  # +1: a request at the last step
    assert all(s["mean_delay_steps"] == 1 and s["mean_inference_ms"] > 0 for s in asy_stats)


def test_tabletop_runs_are_reproducible():
    make = lambda p: AsyncChunkExecutor(p, execute_horizon=8, blend=4, latency_ms=200)  # noqa: E731
    a = tabletop_run(make, seeds=[3, 7])[3]
    b = tabletop_run(make, seeds=[3, 7])[3]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------- real-time clock (background thread)
def test_real_clock_keeps_acting_while_inference_is_in_flight():
    gate = threading.Event()
    ex = AsyncChunkExecutor(RampPlanner(gate=gate), execute_horizon=4, blend=0, clock="real", absolute_dims=())
    try:
        actions, progress, planned = drive(ex, 12)  # the 2nd request (at step 4) is stuck behind the gate
        assert ex.stats.requests == 2 and ex.stats.switches == 1
        assert planned.all() and ex.stats.held_steps == 0  # the first chunk kept the robot moving
        gate.set()
        p = int(progress[-1] + planned[-1])
        deadline = time.monotonic() + 5
        while ex.stats.switches < 2 and time.monotonic() < deadline:
            a = ex({"observation.state": np.array([p], np.float32)}, "go")
            p += int(a[1] > 0.5)
            time.sleep(0.001)
        assert ex.stats.switches == 2 and ex.stats.delay_steps[1] >= 12 - 4
        np.testing.assert_allclose(a[0], V * (p - 1), atol=1e-6)  # skipped exactly the actions executed meanwhile
    finally:
        gate.set()
        ex.close()
