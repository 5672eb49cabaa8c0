"""A served spec says how many actions of each chunk to execute (`action.execute`); `vlaforge eval --server` follows it.

vlaforge's own policies serve their `n_action_steps`, LeRobot policies theirs (tests/serve/test_lerobot_policy.py checks
that part inside a LeRobot venv). A spec that says nothing (another server) gets 8.
"""

import dataclasses

import pytest


@pytest.fixture(scope="module")
def served(tiny_checkpoint, serve_app):
    """(url of the tiny policy as vlaforge serves it, url of the same policy with a spec that says nothing about execution)."""
    from vlaforge.serve.cli import load_predictor
    from vlaforge.serve.server import create_app

    ck, _ = tiny_checkpoint
    plain = load_predictor(ck, threads=1)
    silent = load_predictor(ck, threads=1)
    silent.spec = dataclasses.replace(silent.spec, execute=0)
    return serve_app(create_app(plain, token="t")), serve_app(create_app(silent, token="t"))


def test_a_vlaforge_policy_serves_its_own_n_action_steps(served, tiny_checkpoint):
    from vlaforge.models import load_policy
    from vlaforge.serve.client import Client

    own, silent = served
    a, b = Client(own, token="t").spec, Client(silent, token="t").spec
    assert a["action"].pop("execute") == load_policy(tiny_checkpoint[0]).cfg.n_action_steps
    assert a == b and "execute" not in b["action"]  # only the field differs


@pytest.mark.parametrize("executor", ["naive", "async"])
def test_eval_executes_what_the_spec_says_unless_told_otherwise(served, tiny_checkpoint, executor):
    from vlaforge.eval.runner import make_actor
    from vlaforge.models import load_policy

    own, silent = served
    n = load_policy(tiny_checkpoint[0]).cfg.n_action_steps
    assert make_actor({"server": own, "token": "t", "executor": executor}).horizon == n
    assert make_actor({"checkpoint": str(tiny_checkpoint[0]), "executor": executor}).horizon == n  # local agrees
    assert make_actor({"server": own, "token": "t", "executor": executor, "n_action_steps": 5}).horizon == 5
    assert make_actor({"server": silent, "token": "t", "executor": executor}).horizon == 8  # a spec that says nothing
