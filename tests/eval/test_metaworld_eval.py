"""`vlaforge eval --suite metaworld-...`: suite registry, fixed seeds, success as Meta-World reports it, a tiny policy end to end."""

import json

import numpy as np
import pytest

from vlaforge.errors import ConfigError
from vlaforge.eval.suite import episode_specs
from vlaforge.eval.suites import get_suite
from vlaforge.sim.metaworld import available

needs_metaworld = pytest.mark.skipif(not available(), reason="metaworld extra not installed (pip install -e '.[metaworld]')")


def test_suite_registry_resolves_names_and_refuses_others():
    assert get_suite("tabletop").name == "tabletop"
    mt10 = get_suite("metaworld-mt10")
    assert mt10.tasks(None)[:2] == ["reach-v3", "push-v3"] and mt10.fps == 80
    assert get_suite("metaworld:reach-v3").tasks("all") == ["reach-v3"]
    assert mt10.parse_splits("all") == ["seen", "heldout-wording"]
    with pytest.raises(ConfigError, match="for suite metaworld-mt10"):
        mt10.parse_splits("perturbed")
    for bad in ("tabletop-v2", "libero", "metaworld-mt20"):
        with pytest.raises(ConfigError, match="metaworld-mt10"):
            get_suite(bad)


def test_seeds_are_fixed_per_split_like_the_tabletop_suite():
    specs = get_suite("metaworld-mt10").specs(["reach-v3", "push-v3"], ["seen", "heldout-wording"], 3)
    table = episode_specs(["pick_place"], ["seen", "heldout-wording"], 3)
    assert [s.seed for s in specs if s.family == "push-v3"] == [s.seed for s in table]
    assert len(specs) == 12 and min(s.seed for s in specs) >= 1_000_000


class _ExpertActor:
    """Drives the cached eval env with Meta-World's scripted policy (which reads the full state)."""

    def __init__(self, task):
        from vlaforge.sim.metaworld.expert import MetaWorldExpert

        self.task, self.expert = task, MetaWorldExpert(task)

    def reset(self):
        from vlaforge.eval.metaworld import _ENVS

        self.env = next(e for k, e in _ENVS.items() if k[0] == self.task)

    def __call__(self, obs, instruction):
        return self.expert(self.env)


@needs_metaworld
def test_success_is_meta_worlds_and_ends_the_episode():
    suite = get_suite("metaworld:drawer-close-v3")
    (spec,) = suite.specs(["drawer-close-v3"], ["seen"], 1)
    record, frames = suite.run_episode(_ExpertActor("drawer-close-v3"), spec, 32, keep_frames=True, cameras=("front",))
    assert record.success and record.failures == [] and record.steps < 500
    assert len(frames) == record.steps + 1 and frames[0].shape == (32, 32, 3)  # only the camera asked for


@needs_metaworld
@pytest.mark.slow
def test_tiny_policy_evaluates_on_two_episodes_with_intervals_and_difficulty(tmp_path):
    from vlaforge.data import open_dataset
    from vlaforge.eval.runner import evaluate
    from vlaforge.models import FlowConfig, PolicyConfig, build_policy
    from vlaforge.sim.metaworld.collect import collect

    collect(tmp_path / "ds", ["reach-v3"], episodes=2, workers=1, image_size=32, progress=False)
    cfg = PolicyConfig(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4, flow=FlowConfig(steps=2))
    ck = build_policy(cfg, open_dataset(tmp_path / "ds"), verbose=False).save(tmp_path / "ck")
    res = evaluate({"checkpoint": ck}, tmp_path / "ev", suite="metaworld:reach-v3", splits="seen", episodes=2, workers=1, progress=False)
    s = res["summary"]
    assert s["overall"]["n"] == 2 and s["by_split"]["seen"]["n"] == 2 and set(s["by_group"]) == {"easy"}
    lo, hi = s["overall"]["ci95"]
    assert 0.0 <= lo <= s["overall"]["rate"] <= hi <= 1.0
    assert res["meta"]["image_size"] == 32 and res["meta"]["cameras"] == ["front", "wrist"]
    saved = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert saved["summary"]["by_group"] == s["by_group"]
    assert "success per group" in (tmp_path / "ev" / "report.html").read_text()
    records = [json.loads(line) for line in (tmp_path / "ev" / "records.jsonl").read_text().splitlines()]
    assert [r["seed"] for r in records] == [1_000_000, 1_000_001] and all(isinstance(r["success"], bool) for r in records)
    assert all(r["success"] or r["steps"] == 500 for r in records)


@needs_metaworld
def test_a_tabletop_checkpoint_is_refused_before_any_rollout(tmp_path):
    from vlaforge.data import open_dataset
    from vlaforge.errors import CheckpointError
    from vlaforge.eval.runner import evaluate
    from vlaforge.models import PolicyConfig, build_policy
    from vlaforge.sim.collect import collect

    collect(tmp_path / "ds", ["pick_place"], episodes=1, workers=1, image_size=32, progress=False)
    ck = build_policy(PolicyConfig(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4), open_dataset(tmp_path / "ds"),
                      verbose=False).save(tmp_path / "ck")
    with pytest.raises(CheckpointError, match="fps: checkpoint 10, Meta-World env 80"):
        evaluate({"checkpoint": ck}, tmp_path / "ev", suite="metaworld-mt10", episodes=1, progress=False)
    assert not (tmp_path / "ev").exists()
