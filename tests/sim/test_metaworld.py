"""Meta-World suite: task lists, suite names, the missing-extra error, seeded envs, experts, render profile, collection.

Tests that build an env skip when the `metaworld` extra is not importable (CI installs only `.[test]`).
"""

import json
import sys

import numpy as np
import pytest

from vlaforge.errors import ConfigError, MissingExtra
from vlaforge.sim.metaworld import available
from vlaforge.sim.metaworld.tasks import DIFFICULTY, MT10, MT50, select_tasks, suite_tasks

needs_metaworld = pytest.mark.skipif(not available(), reason="metaworld extra not installed (pip install -e '.[metaworld]')")


def test_suite_names_select_tasks_by_benchmark_group_or_name():
    assert suite_tasks("metaworld-mt10") == list(MT10) and len(suite_tasks("metaworld-mt50")) == 50
    assert suite_tasks("metaworld:reach-v3,push-v3") == ["reach-v3", "push-v3"]
    assert select_tasks("metaworld-mt50", "very_hard") == [t for t in MT50 if t in DIFFICULTY["very_hard"]]
    assert select_tasks("metaworld-mt10", "hard") == ["push-v3", "pick-place-v3"]
    assert sum(len(v) for v in DIFFICULTY.values()) == 50 and [len(v) for v in DIFFICULTY.values()] == [28, 11, 6, 5]
    with pytest.raises(ConfigError, match="not in suite metaworld-mt10"):
        select_tasks("metaworld-mt10", "sweep-v3")
    with pytest.raises(ConfigError, match="did you mean"):
        suite_tasks("metaworld:reach")
    with pytest.raises(ConfigError, match="metaworld-mt10, metaworld-mt50"):
        suite_tasks("metaworld-mt20")


def test_missing_extra_names_the_pip_command(monkeypatch):
    from vlaforge.sim.metaworld import require_metaworld

    monkeypatch.setitem(sys.modules, "metaworld", None)  # import metaworld now raises ImportError
    with pytest.raises(MissingExtra, match=r'pip install -e "\.\[metaworld\]"'):
        require_metaworld()


def test_sim_collect_without_the_extra_says_what_to_install(monkeypatch, tmp_path, capsys):
    from vlaforge.cli import main

    monkeypatch.setitem(sys.modules, "metaworld", None)
    assert main(["sim", "collect", "--suite", "metaworld:reach-v3", "--episodes", "1", "--out", str(tmp_path / "d")]) == 2
    assert "[metaworld]" in capsys.readouterr().err and not (tmp_path / "d").exists()


def test_every_task_has_one_instruction_and_two_heldout_paraphrases():
    from vlaforge.sim.metaworld.language import INSTRUCTIONS

    assert set(INSTRUCTIONS) == set(MT50)
    for train, heldout in INSTRUCTIONS.values():
        assert len(heldout) == 2 and train not in heldout and len(set(heldout)) == 2


@needs_metaworld
def test_task_lists_match_the_installed_metaworld():
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS, MT10_V3
    from metaworld.policies import ENV_POLICY_MAP

    assert tuple(MT10_V3) == MT10 and tuple(ALL_V3_ENVIRONMENTS) == MT50
    assert set(ENV_POLICY_MAP) >= set(MT50)


@pytest.fixture(scope="module")
def reach():
    if not available():
        pytest.skip("metaworld extra not installed")
    from vlaforge.sim.metaworld.env import MetaWorldEnv

    env = MetaWorldEnv("reach-v3", image_size=32)
    yield env
    env.close()


@needs_metaworld
def test_a_seed_fixes_the_layout_and_another_seed_changes_it(reach):
    a, _ = reach.reset(seed=5)
    raw_a = reach.raw.copy()
    b, _ = reach.reset(seed=5)
    assert np.array_equal(raw_a, reach.raw) and np.array_equal(a["observation.images.front"], b["observation.images.front"])
    reach.reset(seed=6)
    assert not np.allclose(raw_a[-3:], reach.raw[-3:])  # another goal
    assert a["observation.images.front"].shape == (32, 32, 3) and a["observation.state"].dtype == np.float32


@needs_metaworld
def test_scripted_expert_succeeds_and_the_episode_ends_on_meta_world_success(reach):
    from vlaforge.sim.metaworld.expert import MetaWorldExpert

    expert = MetaWorldExpert("reach-v3")
    obs, info = reach.reset(seed=0)
    assert info["instruction"] == "Reach a goal position" and info["success"] is False
    for _ in range(reach.max_steps):
        obs, _, terminated, truncated, info = reach.step(expert(reach))
        if terminated or truncated:
            break
    assert terminated and info["success"] and reach.t < 200


@needs_metaworld
def test_heldout_wording_split_uses_paraphrases_and_options_override():
    from vlaforge.sim.metaworld.env import MetaWorldEnv
    from vlaforge.sim.metaworld.language import INSTRUCTIONS

    env = MetaWorldEnv("push-v3", split="heldout-wording", render=False)
    seen = {env.reset(seed=s)[1]["instruction"] for s in range(12)}
    assert seen == set(INSTRUCTIONS["push-v3"][1])
    assert env.reset(seed=0, options={"instruction": "shove it"})[1]["instruction"] == "shove it"
    with pytest.raises(ConfigError, match="unknown reset option"):
        env.reset(seed=0, options={"family": "x"})
    with pytest.raises(ConfigError, match="Meta-World split"):
        MetaWorldEnv("push-v3", split="heldout-combos", render=False)


@needs_metaworld
def test_fast_render_profile_keeps_physics_and_the_picture():
    from vlaforge.sim.metaworld.env import MetaWorldEnv

    envs = {p: MetaWorldEnv("pick-place-v3", image_size=64, profile=p) for p in ("full", "fast")}
    frames, raws = {}, {}
    for p, env in envs.items():
        env.reset(seed=3)
        for _ in range(20):
            obs, *_ = env.step(np.array([0.3, -0.2, -0.5, 1.0]))
        frames[p], raws[p] = obs["observation.images.front"].astype(int), env.raw.copy()
        assert env.renderer is not None
    assert envs["fast"].renderer.faces_removed > 20_000 and envs["full"].renderer.faces_removed == 0
    assert np.array_equal(raws["fast"], raws["full"])  # only visual meshes were simplified
    print("mean abs pixel difference fast vs full", np.abs(frames["fast"] - frames["full"]).mean())
    assert np.abs(frames["fast"] - frames["full"]).mean() < 15  # same scene; shadows and MSAA are the visible difference
    for env in envs.values():
        env.close()


@needs_metaworld
@pytest.mark.slow
def test_collect_two_expert_episodes_writes_a_valid_v3_dataset(tmp_path, capsys):
    from vlaforge.cli import main
    from vlaforge.data import check_dataset, open_dataset

    out = tmp_path / "mw"
    assert main(["sim", "collect", "--suite", "metaworld:reach-v3", "--episodes", "2", "--workers", "1", "--image-size", "32",
                 "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["kept"] == 2 and summary["success"] == {"reach-v3": "2/2"}
    assert check_dataset(out) == []
    assert main(["data", "check", str(out)]) == 0
    ds = open_dataset(out)
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and ds.fps == 80 and ds.num_episodes == 2
    assert {k for k in ds.features if k.startswith("observation.images.")} == {"observation.images.front", "observation.images.wrist"}
    assert ds.features["observation.images.front"].shape == (32, 32, 3)
    assert ds.flags(0)["success"] is True and ds.flags(1)["difficulty"] == "easy" and ds.flags(1)["seed"] == 1
