"""Closed-loop evaluation: real MuJoCo rollouts of a real (tiny, untrained) policy in spawned workers."""

import json

import numpy as np
import pytest

from vlaforge.errors import CheckpointError, ConfigError
from vlaforge.eval.compare import compare_dirs
from vlaforge.eval.detect import FailureDetector
from vlaforge.eval.records import load_records
from vlaforge.eval.report import SECTIONS
from vlaforge.eval.runner import evaluate
from vlaforge.eval.suite import episode_specs, parse_splits


@pytest.fixture(scope="module")
def sim_checkpoint(tmp_path_factory):
    from vlaforge.data import open_dataset
    from vlaforge.models import FlowConfig, PolicyConfig, build_policy
    from vlaforge.sim.collect import collect

    root = tmp_path_factory.mktemp("evalck")
    collect(root / "ds", ["pick_place"], episodes=2, workers=1, progress=False)
    cfg = PolicyConfig(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4, flow=FlowConfig(steps=2))
    return build_policy(cfg, open_dataset(root / "ds"), verbose=False).save(root / "ck")


def _strip_timing(path):
    out = []
    for r in load_records(path):
        r.inference_ms = 0.0
        out.append(r)
    return out


def test_same_seeds_give_identical_records_whatever_the_worker_count(sim_checkpoint, tmp_path):
    kw = dict(tasks="pick_place", splits="seen,perturbed", episodes=2, progress=False)
    a = evaluate({"checkpoint": sim_checkpoint}, tmp_path / "a", workers=1, **kw)
    evaluate({"checkpoint": sim_checkpoint}, tmp_path / "b", workers=2, **kw)
    ra, rb = _strip_timing(tmp_path / "a" / "records.jsonl"), _strip_timing(tmp_path / "b" / "records.jsonl")
    assert ra == rb and len(ra) == 4
    assert all(r.inference_ms > 0 for r in load_records(tmp_path / "a" / "records.jsonl"))
    assert {r.split for r in ra} == {"seen", "perturbed"}
    assert all(r.perturbations for r in ra if r.split == "perturbed" and r.steps > 10)  # the perturbation fired
    cmp = compare_dirs(tmp_path / "a", tmp_path / "b")
    assert cmp["shared_episodes"] == 4 and cmp["overall"]["p_value"] == 1.0
    assert a["summary"]["overall"]["n"] == 4


def test_temporal_ensembling_can_be_asked_for_at_eval_time_on_a_checkpoint_only(sim_checkpoint):
    from vlaforge.eval.runner import make_actor
    from vlaforge.sim import make_env

    env = make_env("pick_place", seed=3, image_size=32)
    obs, info = env.reset(seed=3)
    calls = {}
    for name, source in (("queue", {}), ("ensemble", {"temporal_ensemble": 0.01})):
        actor = make_actor({"checkpoint": sim_checkpoint, **source})
        actor.reset()
        for _ in range(3):
            assert np.isfinite(actor(obs, info["instruction"])).all()
        calls[name] = len(actor.inference_ms)
    assert calls == {"queue": 1, "ensemble": 3}  # the checkpoint executes 4 actions per chunk; ensembling re-plans every step
    with pytest.raises(ConfigError, match="must be >= 0"):
        make_actor({"checkpoint": sim_checkpoint, "temporal_ensemble": -1})
    with pytest.raises(ConfigError, match="without temporal ensembling"):
        make_actor({"server": "http://127.0.0.1:9", "temporal_ensemble": 0.01})


def test_report_has_every_section_and_embedded_videos(sim_checkpoint, tmp_path):
    res = evaluate({"checkpoint": sim_checkpoint}, tmp_path / "ev", tasks="pick_place", splits="heldout-wording", episodes=1,
                   workers=1, progress=False)
    page = (tmp_path / "ev" / "report.html").read_text()
    for title in SECTIONS.values():
        assert f">{title}</h2>" in page
    assert page.count("data:video/mp4;base64,") == 1 and "<script" not in page
    assert json.loads((tmp_path / "ev" / "results.json").read_text())["summary"] == res["summary"]
    (video,) = res["videos"]
    assert (tmp_path / "ev" / video).stat().st_size > 1000


def test_checkpoint_that_does_not_fit_the_env_fails_before_rollouts(tmp_path):
    from vlaforge.data import open_dataset
    from vlaforge.data.sample import make_sample_dataset
    from vlaforge.models import PolicyConfig, build_policy

    ds = open_dataset(make_sample_dataset(tmp_path / "ds", episodes=2, length=10, image_size=32))
    ck = build_policy(PolicyConfig(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4), ds, verbose=False).save(tmp_path / "ck")
    with pytest.raises(CheckpointError, match="does not match the tabletop env"):
        evaluate({"checkpoint": ck}, tmp_path / "ev", episodes=1, progress=False)
    assert not (tmp_path / "ev").exists()


def test_seed_lists_are_fixed_per_split_and_bad_names_are_refused():
    a = episode_specs(["pick_place", "push"], ["seen", "perturbed"], 3)
    b = episode_specs(["pick_place"], ["perturbed"], 5)
    pp = [s for s in a if s.family == "pick_place" and s.split == "perturbed"]
    assert pp == b[:3] and len({s.perturb for s in b}) == 5
    assert len({s.seed for s in a if s.split == "seen"} & {s.seed for s in a if s.split == "perturbed"}) == 0
    assert parse_splits("all")[0] == "seen"
    with pytest.raises(ConfigError, match="choose from"):
        parse_splits("unseen")


def _feed(det, steps, pos, grip, held=False, at=False, rest=True):
    for t in steps:
        det.update(t, pos(t), grip(t), {0: held(t) if callable(held) else held}, {0: at}, {0: rest}, success=False)


def test_detectors_find_stuck_oscillation_and_drop_and_stay_quiet_on_smooth_motion():
    quiet = FailureDetector(fps=10)
    _feed(quiet, range(60), lambda t: np.array([0.01 * t, 0, 0.1]), lambda t: float(t > 30))
    assert quiet.kinds == []
    stuck = FailureDetector(fps=10)
    _feed(stuck, range(40), lambda t: np.zeros(3), lambda t: 0.0)
    assert stuck.kinds == ["stuck"]
    osc = FailureDetector(fps=10)
    _feed(osc, range(12), lambda t: np.array([0.02 * t, 0, 0]), lambda t: float(t % 2))
    assert "gripper_oscillation" in osc.kinds
    drop = FailureDetector(fps=10)
    _feed(drop, range(20), lambda t: np.array([0.02 * t, 0, 0]), lambda t: float(t < 10), held=lambda t: t < 10)
    assert drop.kinds == ["dropped"]


def test_async_executor_with_simulated_latency_is_an_eval_actor(sim_checkpoint, tmp_path):
    kw = dict(tasks="pick_place", splits="seen", episodes=2, workers=1, progress=False)
    evaluate({"checkpoint": sim_checkpoint, "executor": "async", "latency_ms": 100}, tmp_path / "a", **kw)
    evaluate({"checkpoint": sim_checkpoint, "executor": "async", "latency_ms": 100}, tmp_path / "b", **kw)
    ra, rb = _strip_timing(tmp_path / "a" / "records.jsonl"), _strip_timing(tmp_path / "b" / "records.jsonl")
    assert ra == rb and len(ra) == 2  # simulated latency is deterministic
    with pytest.raises(ConfigError, match="needs --executor"):
        evaluate({"checkpoint": sim_checkpoint, "executor": "policy", "latency_ms": 100}, tmp_path / "c", **kw)


@pytest.fixture
def served_sim_policy(sim_checkpoint):
    import socket
    import threading
    import time

    import uvicorn

    from vlaforge.serve.cli import load_predictor
    from vlaforge.serve.server import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(load_predictor(sim_checkpoint, threads=1), token="tok"), host="127.0.0.1",
                                        port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=5)


def test_eval_through_a_real_server_with_latency(served_sim_policy, tmp_path, capsys):
    from vlaforge.cli import main

    out = tmp_path / "served"
    assert main(["eval", "--server", served_sim_policy, "--token", "tok", "--latency-ms", "100", "--split", "seen",
                 "--episodes", "2", "--workers", "1", "--no-progress", "--out", str(out)]) == 0
    recs = load_records(out / "records.jsonl")
    assert len(recs) == 2 and all(r.inference_ms > 0 for r in recs)
    assert "tok" not in (out / "results.json").read_text()  # the token is never written down
    assert main(["eval", "--server", served_sim_policy, "--token", "wrong", "--split", "seen", "--episodes", "1",
                 "--out", str(tmp_path / "x")]) == 1
    assert "401" in capsys.readouterr().err
