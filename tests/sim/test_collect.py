"""`vlaforge sim collect` and `sim play`: valid datasets with subtasks and flags; captioned videos."""

import json

import numpy as np
import pytest

from vlaforge.cli import main


@pytest.mark.slow
def test_collect_writes_a_valid_dataset_with_subtasks(tmp_path, capsys):
    from vlaforge.data import check_dataset, open_dataset
    from vlaforge.sim.env import feature_spec

    out = tmp_path / "demos"
    assert main(["sim", "collect", "--tasks", "all", "--episodes", "1", "--workers", "2", "--perturb", "distractor", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["kept"] == 5
    assert check_dataset(out) == []
    ds = open_dataset(out)
    assert ds.num_episodes == 5 and ds.fps == 10
    assert {k: f.shape for k, f in ds.features.items() if k in feature_spec()} == {k: f.shape for k, f in feature_spec().items()}
    families = set()
    for ep in range(ds.num_episodes):
        flags = ds.flags(ep)
        assert flags["success"] is True and flags["perturbations"] == ["distractor"]
        families.add(flags["family"])
        segs = ds.subtasks(ep)
        assert segs[0]["start"] == 0 and all(a["end"] == b["start"] for a, b in zip(segs, segs[1:]))
    assert families == {"pick_place", "push", "stack", "put_all", "sequence"}


def test_collect_rejects_unknown_family(tmp_path, capsys):
    assert main(["sim", "collect", "--tasks", "juggle", "--episodes", "1", "--out", str(tmp_path / "x")]) == 2
    assert "unknown task family" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_play_writes_a_captioned_video(tmp_path):
    import av

    out = tmp_path / "play.mp4"
    assert main(["sim", "play", "--task", "pick_place", "--size", "64", "--out", str(out)]) == 0
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) > 20 and frames[0].shape == (64, 128, 3)


def test_caption_draws_text():
    from vlaforge.sim.render import caption, text_mask

    assert text_mask("ab", scale=2).shape == (14, 24)
    img = np.zeros((64, 64, 3), np.uint8)
    out = caption(img, "put the red block in the blue bin", "lift")
    assert out.any() and not img.any()


@pytest.mark.slow
def test_collect_spreads_one_perturbation_each_over_a_fraction_of_episodes(tmp_path, capsys):
    from vlaforge.data import open_dataset

    out = tmp_path / "mix"
    assert main(["sim", "collect", "--episodes", "4", "--workers", "1", "--perturb", "lighting,distractor", "--one-each",
                 "--perturb-fraction", "0.5", "--out", str(out)]) == 0
    ds = open_dataset(out)
    fired = [ds.flags(ep)["perturbations"] for ep in range(ds.num_episodes)]
    assert fired == [[], ["lighting"], [], ["distractor"]]
    assert main(["sim", "collect", "--perturb-fraction", "2", "--out", str(tmp_path / "bad")]) == 2
    assert "perturb_fraction must be in [0, 1]" in capsys.readouterr().err


def test_action_noise_executes_noised_actions_but_records_the_experts(capsys, tmp_path):
    from vlaforge.sim.collect import NOISE_STREAM, run_episode
    from vlaforge.sim.env import TabletopEnv
    from vlaforge.sim.experts import Expert

    noisy = run_episode("pick_place", 7, image_size=32, render=False, action_noise=0.01)
    clean = run_episode("pick_place", 7, image_size=32, render=False)
    assert noisy["flags"]["action_noise"] == 0.01 and "action_noise" not in clean["flags"] and noisy["flags"]["success"]
    again = run_episode("pick_place", 7, image_size=32, render=False, action_noise=0.01)
    np.testing.assert_array_equal(again["data"]["observation.state"], noisy["data"]["observation.state"])  # seeded noise
    assert not np.array_equal(noisy["data"]["observation.state"][:10], clean["data"]["observation.state"][:10])
    # Replaying with the same noise stream: the expert's action at every visited state is what was recorded.
    env = TabletopEnv(family="pick_place", image_size=32)
    env.render_images = False
    env.reset(seed=7)
    expert, rng = Expert(), np.random.default_rng([NOISE_STREAM, 7])
    for t, recorded in enumerate(noisy["data"]["action"]):
        a = expert(env)
        np.testing.assert_allclose(recorded, a, err_msg=f"step {t}")
        a[:3] += rng.normal(0.0, 0.01, 3)  # the arm only, in the action's own dtype
        env.step(a)
    assert main(["sim", "collect", "--action-noise", "0.5", "--out", str(tmp_path / "bad")]) == 2
    assert "--action-noise must be in [0, 0.02]" in capsys.readouterr().err
    # Meta-World's scripted policies are collected as they are: the flag is refused, naming itself (metaworld need not be installed).
    assert main(["sim", "collect", "--suite", "metaworld-mt10", "--action-noise", "0.01", "--out", str(tmp_path / "mw")]) == 2
    assert "--action-noise applies to the tabletop suite only (Meta-World collection has no perturbations and no action noise)" \
        in capsys.readouterr().err and not (tmp_path / "mw").exists()
