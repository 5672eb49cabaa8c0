"""A served spec may say how many actions of each chunk to execute (`action.execute`); `vlaforge eval --server` follows it.

LeRobot policies serve their `n_action_steps` this way (tests/serve/test_lerobot_policy.py checks that part inside a
LeRobot venv); here a real tiny vlaforge policy is served with such a spec, so the client side runs everywhere.
"""

import dataclasses

import pytest

from vlaforge.serve.lerobot_policy import ExecutingSpec


@pytest.fixture(scope="module")
def served(tiny_checkpoint, serve_app):
    """(url of the tiny policy served with action.execute = 3, url of the same policy served as vlaforge serves it)."""
    from vlaforge.serve.cli import load_predictor
    from vlaforge.serve.server import create_app

    ck, _ = tiny_checkpoint
    plain = load_predictor(ck, threads=1)
    executing = load_predictor(ck, threads=1)
    fields = {f.name: getattr(executing.spec, f.name) for f in dataclasses.fields(executing.spec)}
    executing.spec = ExecutingSpec(**fields, execute=3)
    return serve_app(create_app(executing, token="t")), serve_app(create_app(plain, token="t"))


def test_the_spec_serves_execute_only_when_set(served):
    from vlaforge.serve.client import Client

    with_execute, plain = served
    a, b = Client(with_execute, token="t").spec, Client(plain, token="t").spec
    assert a["action"].pop("execute") == 3
    assert a == b and "execute" not in b["action"]  # only the field is added; vlaforge's own policies serve what they did


@pytest.mark.parametrize("executor", ["naive", "async"])
def test_eval_executes_what_the_spec_says_unless_told_otherwise(served, executor):
    from vlaforge.eval.runner import make_actor

    with_execute, plain = served
    assert make_actor({"server": with_execute, "token": "t", "executor": executor}).horizon == 3
    assert make_actor({"server": with_execute, "token": "t", "executor": executor, "n_action_steps": 5}).horizon == 5
    assert make_actor({"server": plain, "token": "t", "executor": executor}).horizon == 8  # the default for servers, as before

