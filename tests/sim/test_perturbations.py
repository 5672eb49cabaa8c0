"""Perturbations: each registered one fires, is reported in info["events"], and the expert recovers."""

import pytest

from tests.sim.conftest import rollout
from vlaforge.sim.perturbations import PERTURBATIONS, make_perturbations, parse_specs
from vlaforge.sim.tasks import TASKS


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
def test_perturbation_fires_and_expert_recovers(name, envs):
    env = envs("pick_place", perturb=[name], render=False)
    for seed in range(2):
        info, _ = rollout(env, seed)
        assert [e["name"] for e in info["events"]] == [name] and info["events"][0]["detail"]
        assert info["success"], (seed, info["events"])


@pytest.mark.slow
@pytest.mark.parametrize("family", [f for f in TASKS if f != "pick_place"])
@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
def test_every_perturbation_on_every_family(family, name, envs):
    env = envs(family, perturb=[name], render=False)
    info, _ = rollout(env, 2)
    assert info["success"], (family, info["events"])
    if name != "grasp_slip" or family != "push":  # nothing is grasped when pushing
        assert [e["name"] for e in info["events"]] == [name]


def test_perturbations_are_seeded(envs):
    env = envs("put_all", perturb=["move_bin", "distractor"], render=False)
    a, _ = rollout(env, 4)
    b, _ = rollout(env, 4)
    assert a["events"] == b["events"] and len(a["events"]) == 2


def test_trigger_specs():
    assert parse_specs("lighting@3, grasp_slip@after_grasp") == ["lighting@3", "grasp_slip@after_grasp"]
    assert parse_specs(["all"]) == sorted(PERTURBATIONS)
    p = make_perturbations(["lighting@3"])[0]
    assert p.trigger_spec == "3"


def test_fires_at_the_scheduled_step(envs):
    info, _ = rollout(envs("stack", perturb=["lighting@5"], render=False), 0)
    assert info["events"][0]["step"] == 5
