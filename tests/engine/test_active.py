"""Active learning: uncertainty measures, mining, sim corrections, new versions, and the loop (real sim, tiny models)."""

import json
import math
import shutil

import numpy as np
import pytest
import torch

from vlaforge.data import open_dataset
from vlaforge.data.validate import check_dataset
from vlaforge.engine.active.correct import correct_from, corrections, dagger_from
from vlaforge.engine.active.mine import Moment, Visit, select, visit
from vlaforge.engine.active.queue import QUEUE_PATH, make_queue, read_queue
from vlaforge.engine.active.uncertainty import ensemble_disagreement, flow_spread, make_scorer, token_entropy
from vlaforge.engine.active.version import write_version
from vlaforge.errors import ConfigError
from vlaforge.models import FlowConfig, PolicyConfig, TokensConfig, build_policy

TINY = dict(head="flow", width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4, flow=FlowConfig(steps=2))  # flow: its own uncertainty
SIZE = 48  # the labelled_dataset fixture's image size


@pytest.fixture(scope="module")
def ds(labelled_dataset):
    return open_dataset(labelled_dataset)


@pytest.fixture(scope="module")
def flow_policy(ds):
    torch.manual_seed(0)
    return build_policy(PolicyConfig(**TINY), ds, verbose=False).eval()


@pytest.fixture(scope="module")
def obs(ds):
    ep = ds.episode(0)
    return {**{c: ep[c][3] for c in ds.camera_keys}, "observation.state": ep["observation.state"][3]}


def _visit(scores, success=True, hard=(), n=None):
    n = n or len(scores)
    return Visit("pick_place", "seen", 1, "x", success, n, [] if success else ["timeout"], list(hard), list(scores), [{}] * n)


# ---------------------------------------------------------------------------- measures
def test_flow_spread_is_the_std_of_the_noise_when_the_head_predicts_no_velocity(ds, obs):
    flow_policy = build_policy(PolicyConfig(**TINY), ds, verbose=False).eval()  # its own: the weights are edited
    torch.nn.init.zeros_(flow_policy.head.out.weight)
    torch.nn.init.zeros_(flow_policy.head.out.bias)  # v = 0: every sample stays the noise it started from
    torch.manual_seed(0)
    assert flow_spread(flow_policy, obs, "pick up the red block", samples=256) == pytest.approx(1.0, abs=0.05)
    flow_policy.head.out.bias.data.fill_(3.0)  # a constant velocity shifts every sample alike: the spread stays
    torch.manual_seed(0)
    assert flow_spread(flow_policy, obs, "pick up the red block", samples=256) == pytest.approx(1.0, abs=0.05)


def test_token_entropy_is_log_of_the_allowed_tokens_when_logits_are_flat_and_lower_when_peaked(ds, obs):
    torch.manual_seed(0)
    p = build_policy(PolicyConfig(**{**TINY, "head": "tokens", "tokens": TokensConfig(n_bins=32)}), ds, verbose=False).eval()
    torch.nn.init.zeros_(p.head.out.weight)
    torch.nn.init.zeros_(p.head.out.bias)
    allowed = (p.head.allowed_bias == 0).sum(-1).float()  # (L,) ids each position may take
    assert token_entropy(p, obs, "go") == pytest.approx(float(torch.log(allowed).mean()), rel=1e-4)
    p.head.out.bias.data[: 32 // 2 + 1] = torch.linspace(0, 20, 32 // 2 + 1)
    assert token_entropy(p, obs, "go") < 0.5 * float(torch.log(allowed).mean())


def test_ensemble_disagreement_is_zero_for_copies_and_positive_for_different_weights(ds, flow_policy, obs):
    torch.manual_seed(1)
    other = build_policy(PolicyConfig(**TINY), ds, verbose=False).eval()
    assert ensemble_disagreement([flow_policy, flow_policy], obs, "go") == pytest.approx(0.0, abs=1e-6)
    assert ensemble_disagreement([flow_policy, other], obs, "go") > 1e-3
    assert make_scorer([flow_policy, other])[0] == "ensemble" and make_scorer([flow_policy])[0] == "flow"
    chunk = build_policy(PolicyConfig(**{**TINY, "head": "chunk"}), ds, verbose=False)
    with pytest.raises(ConfigError, match="deterministic"):
        make_scorer([chunk])


# ---------------------------------------------------------------------------- choosing moments
def test_failures_come_first_then_the_most_uncertain_steps_spread_over_the_rollout():
    ok = _visit([0.1, 0.9, 0.2, 0.8, 0.3, 0.1, 0.7, 0.1])
    failed = _visit([0.05] * 30, success=False, hard=[{"step": 20, "kind": "stuck", "detail": "d"}])
    ms = select([ok, failed], backoff=5, min_gap=3)
    assert (ms[0].rollout, ms[0].step, ms[0].kind, ms[0].tier) == (1, 15, "stuck", 0)
    uncertain = [(m.rollout, m.step) for m in ms if m.rollout == 0]
    assert uncertain == [(0, 1), (0, 6)]  # 0.9 at step 1, then 0.7 at 6; 0.8 at step 3 is within 3 steps of step 1
    assert all(m.tier == 1 for m in ms[1:])
    nan_scores = _visit([math.nan] * 10, success=False)  # failed, no hard moment, nothing scored: the middle
    (m,) = select([nan_scores])
    assert (m.kind, m.step) == ("timeout", 5)


def test_mined_moments_are_the_states_where_the_scorer_was_highest_and_corrections_start_there(flow_policy):
    seen = []

    def scorer(o, _):  # a constructed measure: unsure when the hand is high
        seen.append(np.asarray(o["observation.state"]).copy())
        return float(o["observation.state"][2])

    (v,) = visit(flow_policy, scorer, "pick_place", [500_123], image_size=SIZE, score_every=1)
    assert len(v.states) == v.steps == len(v.scores) == len(seen)
    chosen = select([v], min_gap=1)
    failed_at = {m.step for m in chosen if m.tier == 0}  # a failure's moment takes its step first
    moments = [m for m in chosen if m.tier == 1]
    free = [s for t, s in enumerate(v.scores) if t not in failed_at]
    assert moments[0].score == max(free) and moments[0].step == v.scores.index(max(free))
    assert [m.score for m in moments] == sorted(free, reverse=True)  # every other scored step, most uncertain first
    from vlaforge.eval.rollout import env_for
    from vlaforge.eval.suite import EpisodeSpec

    env = env_for(EpisodeSpec("pick_place", "seen", v.seed), SIZE)
    for m in moments[:2]:
        c = correct_from(env, v.states[m.step])
        np.testing.assert_array_equal(c["data"]["observation.state"][0], seen[m.step])  # the first labelled frame is that state
        assert c["success"] and c["data"]["action"].shape[1] == 4


def test_dagger_relabels_the_visited_states_before_the_moment_then_corrects_from_it(flow_policy):
    from vlaforge.eval.rollout import env_for
    from vlaforge.eval.suite import EpisodeSpec
    from vlaforge.sim.experts import Expert

    seen = []
    (v,) = visit(flow_policy, lambda o, _: seen.append({k: np.asarray(x).copy() for k, x in o.items()}) or 0.0, "pick_place", [500_124],
                 image_size=SIZE, score_every=1)
    step = min(20, v.steps - 1)
    env = env_for(EpisodeSpec("pick_place", "seen", v.seed), SIZE)
    d = dagger_from(env, v.states, step, prefix=8, observations=v.observations)
    c = correct_from(env, v.states[step])
    assert d["prefix"] == 8 and len(d["data"]["action"]) == 8 + len(c["data"]["action"])
    for t in range(8):  # the prefix: exactly the frames and states the policy saw, in order
        for k in ("observation.state", "observation.images.front", "observation.images.wrist"):
            np.testing.assert_array_equal(d["data"][k][t], seen[step - 8 + t][k])
    expert = Expert()  # ... labelled with one expert's actions along them
    for t in range(8):
        env.set_state(v.states[step - 8 + t])
        np.testing.assert_allclose(d["data"]["action"][t], expert(env))
    for k, x in c["data"].items():  # then exactly the correction from the moment
        np.testing.assert_array_equal(d["data"][k][8:], x)
    assert d["success"] == c["success"] and d["subtasks"][0]["start"] == 0 and d["subtasks"][-1]["end"] == len(d["data"]["action"])
    eps, items = corrections([v], [Moment(0, step, "uncertain", 0.5, 1)], budget=10_000, image_size=SIZE, round_=1, prefix=8)
    assert eps[0]["flags"]["start_step"] == step - 8 and eps[0]["flags"]["relabelled_steps"] == 8
    assert items[0]["labelled_steps"] == len(d["data"]["action"])  # relabelled steps count as labels


def test_corrections_spend_exactly_the_budget_and_the_queue_links_each_to_its_episode(flow_policy):
    (v,) = visit(flow_policy, make_scorer([flow_policy], samples=4)[1], "pick_place", [500_200], image_size=SIZE, score_every=4)
    moments = select([v], min_gap=5)
    eps, items = corrections([v], moments, budget=50, image_size=SIZE, round_=1)
    assert sum(len(e["data"]["action"]) for e in eps) == 50
    assert [it["labelled_steps"] for it in items if it["episode"] is not None] == [len(e["data"]["action"]) for e in eps]
    assert all(e["flags"]["source"] == "active-learning" and e["flags"]["start_step"] == it["step"]
               for e, it in zip(eps, [i for i in items if i["episode"] is not None]))


# ---------------------------------------------------------------------------- the new version
def test_new_version_merges_old_and_new_episodes_atomically_with_lineage_and_queue(labelled_dataset, flow_policy, tmp_path, snapshot):
    before = snapshot(labelled_dataset)
    (v,) = visit(flow_policy, None, "pick_place", [500_300], image_size=SIZE)
    m = Moment(0, v.steps // 2, "uncertain", 0.5, 1)
    eps, items = corrections([v], [m], budget=10_000, image_size=SIZE, round_=1)
    queue = make_queue(items, 1, "ck", "flow", "expert")
    out = write_version(labelled_dataset, tmp_path / "v2", eps, {"name": "active-learning", "round": 1}, queue)
    assert check_dataset(out) == []
    old, new = open_dataset(labelled_dataset), open_dataset(out)
    assert new.num_episodes == old.num_episodes + 1
    assert new.num_frames == old.num_frames + len(eps[0]["data"]["action"])
    assert new.lineage["version"] == old.lineage["version"] + 1
    assert new.lineage["parents"] == [{"fingerprint": old.lineage["fingerprint"], "path": str(old.root)}]
    assert new.lineage["operation"]["labelled_steps"] == len(eps[0]["data"]["action"])
    q = read_queue(out)
    (item,) = q["items"]
    assert item["status"] == "corrected" and item["episode"] == old.num_episodes and new.flags(item["episode"])["start_step"] == m.step
    np.testing.assert_array_equal(new.episode(0, cameras=False)["action"], old.episode(0, cameras=False)["action"])
    assert snapshot(labelled_dataset) == before  # the source is never touched
    assert (out / QUEUE_PATH).exists() and not list(tmp_path.glob(".v2.staging*"))


def test_a_failed_write_leaves_no_version_behind(labelled_dataset, tmp_path):
    bad = [{"data": {"action": np.zeros((3, 4), np.float32)}, "task": "x", "subtasks": [], "flags": {}}]
    with pytest.raises(Exception, match="lack the dataset's features"):
        write_version(labelled_dataset, tmp_path / "v2", bad, {"name": "active-learning"})
    assert not (tmp_path / "v2").exists()


# ---------------------------------------------------------------------------- the loop
def _loop(ds_path, ck, out, strategy):
    from vlaforge.engine.active.cli import recipe
    from vlaforge.engine.active.loop import LoopConfig, run_loop

    run = recipe(ds_path, str(ck), ["--train.steps", "2", "--train.batch_size", "4", "--train.val_fraction", "0",
                                    "--train.warmup_steps", "0", "--train.save_every", "100"])
    cfg = LoopConfig(str(ds_path), str(out), run, rounds=1, budget=40, strategy=strategy, init=str(ck), rollouts=1,
                     eval_episodes=1, workers=1, train_steps=3, score_every=4, samples=4)
    return run_loop(cfg, progress=lambda _: None, show_bars=False)


@pytest.mark.parametrize("strategy", ["uncertainty", "mixed", "random"])
def test_loop_records_are_consistent_with_the_versions_it_wrote(labelled_dataset, flow_policy, tmp_path, strategy):
    src = tmp_path / "pp"
    shutil.copytree(labelled_dataset, src)
    ck = flow_policy.save(tmp_path / "ck")
    doc = _loop(src, ck, tmp_path / "loop", strategy)
    assert json.loads((tmp_path / "loop" / "loop.json").read_text()) == doc
    r0, r1 = doc["rounds"]
    assert r0["labels_added_total"] == 0 and r0["dataset"] == str(src) and r0["checkpoint"] == str(ck)
    assert r1["labels_added"] == r1["labels_added_total"] == 40
    assert r1["frames"] == r0["frames"] + 40 and r1["version"] == r0["version"] + 1
    assert check_dataset(r1["dataset"]) == []
    assert open_dataset(r1["dataset"]).lineage["operation"]["strategy"] == strategy
    assert r1["checkpoint"].endswith("round_1/run") and (tmp_path / "loop" / "round_1" / "run" / "checkpoints" / "last").exists()
    steps = [json.loads(line)["step"] for line in (tmp_path / "loop" / "round_1" / "run" / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 3  # --train-steps, not the recipe's 2 steps
    assert r1["eval"]["n"] == 1 and 0.0 <= r1["eval"]["ci95"][0] <= r1["eval"]["ci95"][1] <= 1.0
    assert (tmp_path / "loop" / "loop.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    new = open_dataset(r1["dataset"])
    assert (new.root / QUEUE_PATH).exists() == (strategy != "random")
    added = [(new.flags(e)["source"], len(new.episode(e, cameras=False)["action"])) for e in range(r0["episodes"], r1["episodes"])]
    if strategy == "mixed":  # dagger corrections for at most half the budget, fresh expert episodes for the rest
        assert {src for src, _ in added} <= {"active-learning", "fresh"}
        assert r1["mined"]["fresh_episodes"] == sum(src == "fresh" for src, _ in added) >= 1
        assert sum(n for src, n in added if src == "active-learning") <= 20 and sum(n for _, n in added) == 40
    with pytest.raises(ConfigError, match="already holds a loop"):
        _loop(src, ck, tmp_path / "loop", strategy)


def test_finetuning_starts_from_the_checkpoint_weights_with_this_datas_normalization(ds, flow_policy, tmp_path):
    from vlaforge.errors import CheckpointError
    from vlaforge.train.checkpoint import init_weights

    ck = flow_policy.save(tmp_path / "ck")
    torch.manual_seed(7)
    fresh = build_policy(PolicyConfig(**TINY), ds, verbose=False)
    fresh.normalizer.action_max.fill_(5.0)  # stands for the new version's stats
    init_weights(fresh, ck)
    assert torch.equal(fresh.head.out.weight, flow_policy.head.out.weight)
    assert torch.all(fresh.normalizer.action_max == 5.0)
    wider = build_policy(PolicyConfig(**{**TINY, "width": 64}), ds, verbose=False)
    with pytest.raises(CheckpointError, match="does not fit"):
        init_weights(wider, ck)


@pytest.mark.parametrize("head,uncertainty,ok", [("chunk", "auto", False), ("flow", "auto", True), ("flow", "tokens", False),
                                                 ("tokens", "auto", True), ("flow", "ensemble", False)])
def test_a_loop_that_cannot_score_its_policy_is_refused_before_any_training(head, uncertainty, ok, tmp_path):
    """A chunk head (deterministic) without --ensemble, or a measure the head lacks, fails in the config, not after round 0."""
    from vlaforge.engine.active.loop import LoopConfig
    from vlaforge.errors import ConfigError
    from vlaforge.train.config import TrainConfig
    from vlaforge.train.trainer import RunConfig

    run = RunConfig("ds", PolicyConfig(**{**TINY, "head": head}), TrainConfig())
    if ok:
        LoopConfig("ds", str(tmp_path), run, uncertainty=uncertainty)
        return
    with pytest.raises(ConfigError, match="--ensemble RUN"):
        LoopConfig("ds", str(tmp_path), run, uncertainty=uncertainty)
    LoopConfig("ds", str(tmp_path), run, uncertainty=uncertainty, strategy="random")  # the baseline scores nothing
    if uncertainty in ("auto", "ensemble"):
        LoopConfig("ds", str(tmp_path), run, uncertainty=uncertainty, ensemble=("runs/other",))


def test_bad_loop_numbers_are_refused_together_with_the_flag_to_fix(tmp_path):
    from vlaforge.engine.active.loop import LoopConfig
    from vlaforge.train.config import TrainConfig
    from vlaforge.train.trainer import RunConfig

    run = RunConfig("ds", PolicyConfig(**{**TINY, "head": "flow"}), TrainConfig())
    with pytest.raises(ConfigError, match=r"--rounds 0 \(must be >= 1\).*--train-steps -5 \(must be >= 0"):
        LoopConfig("ds", str(tmp_path), run, rounds=0, train_steps=-5)
    assert LoopConfig("ds", str(tmp_path), run, train_steps=200).train_budget() == "200 steps"
    assert LoopConfig("ds", str(tmp_path), run).train_budget() == "5 min"
