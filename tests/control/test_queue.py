"""Local chunk execution: queue, temporal ensembling, gripper hysteresis (policy-free, with a scripted planner)."""

import numpy as np

from vlaforge.control.queue import ActionQueue, GripperHysteresis, TemporalEnsemble


class Planner:
    """Chunk k (k-th call) is [[100k + i, 0] for i in range(4)]; records what it was asked."""

    def __init__(self):
        self.calls, self.seen = 0, []

    def __call__(self, obs, instruction):
        self.calls += 1
        return np.array([[100.0 * (self.calls - 1) + i, 0.0] for i in range(4)], np.float32)

    def observe(self, obs):
        self.seen.append(obs["t"])


def test_queue_replans_every_n_action_steps_and_observes_the_steps_between():
    p = Planner()
    q = ActionQueue(p, 3, observe=p.observe)
    acts = [q({"t": t}, "go")[0] for t in range(7)]
    assert acts == [0, 1, 2, 100, 101, 102, 200] and p.calls == 3
    assert p.seen == [1, 2, 4, 5]
    q.reset()
    assert q({"t": 0}, "go")[0] == 300


def test_temporal_ensemble_weights_older_chunks_first():
    e = TemporalEnsemble(Planner(), 0.5)
    assert e({}, "go")[0] == 0
    w = np.exp(-0.5 * np.arange(2))
    np.testing.assert_allclose(e({}, "go")[0], (1 * w[0] + 100 * w[1]) / w.sum())


def test_gripper_switches_only_past_the_band():
    g = GripperHysteresis(1, lo=0.0, hi=1.0, band=0.2)
    out = [g(np.array([0.0, v]))[1] for v in (0.2, 0.6, 0.75, 0.4, 0.25)]
    assert out == [0.0, 0.0, 1.0, 1.0, 0.0]
