"""Task families: the scripted episodes are pinned, so moving family code around cannot change the data it makes.

The digests were recorded from the code before the families became one module each (commit 1c847f3):
same seed → same task, layout, instruction, actions, subtask labels, perturbation events and success.
They pin MuJoCo's arithmetic too (mujoco 3.3.x, x86-64): a MuJoCo upgrade that moves them is not a family bug.
"""

import hashlib
import json

import numpy as np
import pytest

from vlaforge.sim.tasks import TASKS

# (split, seed, perturbations): plain episodes of every split, and the perturbations whose targeting is per family.
CASES = [("seen", 0, ()), ("seen", 1, ()), ("heldout-combos", 2, ()), ("heldout-wording", 3, ()), ("val-wording", 4, ()),
         ("seen", 5, ("move_object",)), ("seen", 6, ("move_bin",)), ("seen", 7, ("move_bin@4",)),
         ("seen", 8, ("grasp_slip",)), ("seen", 9, ("distractor",))]
PINNED = {  # family -> digest per case, recorded at commit 1c847f3
    "pick_place": ["9d4afab9885e7472", "895096b9b3c2199b", "c43adcae03e373ec", "047a002a9dcc9cda", "0661d4433d897614",
                  "6aadd8f4e0c03ad1", "1827406a3f8a06c5", "b13fbb46ef172bbb", "fb89405461a2c51d", "ddb4b6b5caf4b232"],
    "push": ["dbd21d1254c9646f", "929a9cd385341f35", "8dda57dfb69432ce", "94f7a09d0e42e860", "057a31e684f1d60d",
            "d6d26bdeb6ab6c8b", "cfbc1ebe2e6cb5f8", "7389473ce6dc6cc5", "2956ec59d4f89085", "8c37cb4fd65f1b49"],
    "stack": ["56c82c4b6b82c861", "42bf700620f2a2dd", "8cc8ed2716ec3330", "491123981039c363", "7478a101e8299d8c",
             "95f67c7f61e5d1a1", "92b6853dad3ca07d", "2e293a7bdb18ffe1", "8693c3bd29414700", "73934bc8916eb087"],
    "put_all": ["bdb792b69ab7a337", "01e98836f8de2f37", "6498c7f7e62faa28", "5e932ce9e85e1b9a", "5d55b786fb0c6d78",
               "ae6d03c06c23b3bf", "758802023d4caa2b", "7d6d92401de1e2f6", "6cab4a347c065388", "20ce0c95d4b37335"],
    "sequence": ["2af8136eafddccbb", "f40f6e9e008a7167", "cb01de2006cfc7e8", "76404a339e9a0538", "8366ea922f1ac319",
                "a8b2f766fe25eeaf", "31a330be1935b7c0", "6397ac49de5da5bf", "20a5fa2a36255e60", "5cc809a387644ec5"],
}


def digest(family: str, split: str, seed: int, perturb: tuple[str, ...], options: dict | None = None) -> str:
    """sha256 (first 16 hex) of one expert episode: task, instruction, start state, and per step action, state, subtask, move."""
    from vlaforge.sim import make_env
    from vlaforge.sim.experts import Expert

    env = make_env(family, split=split, perturb=list(perturb), render=False)
    try:
        obs, info = env.reset(seed=seed, options=options)
        h = hashlib.sha256(json.dumps([info["task"], info["instruction"]], sort_keys=True).encode())
        h.update(np.round(np.concatenate([env.data.qpos, env.data.mocap_pos.ravel()]), 6).tobytes())
        expert = Expert()
        for _ in range(env.max_steps):
            a = expert(env)
            obs, _, terminated, truncated, info = env.step(a)
            h.update(np.round(np.concatenate([a, obs["observation.state"]]), 5).astype(np.float32).tobytes())
            h.update(json.dumps([info["subtask"], expert.move], sort_keys=True).encode())
            if terminated or truncated:
                break
        h.update(json.dumps([info["success"], info["events"], info["step"]], sort_keys=True).encode())
        return h.hexdigest()[:16]
    finally:
        env.close()


@pytest.mark.parametrize("family", list(TASKS))
def test_episodes_are_unchanged(family):
    got = [digest(family, *case) for case in CASES]
    assert got == PINNED[family]


def test_reset_option_switches_family():
    assert digest("pick_place", "seen", 0, (), options={"family": "push"}) == PINNED["push"][0]


@pytest.mark.parametrize("family", list(TASKS))
def test_fields_fill_every_template(family):
    import random
    import string

    from vlaforge.sim.tasks import get_family, sample_task

    fam = get_family(family)
    fields = fam.fields(sample_task(family, "seen", random.Random(0)))
    for wording in ("train", "heldout", "val"):
        for tpl in fam.templates[wording]:
            assert {f for _, f, _, _ in string.Formatter().parse(tpl) if f} <= set(fields), (wording, tpl)


def test_each_family_module_registers_its_own_name():
    import pkgutil

    import vlaforge.sim.families as pkg

    modules = {m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name != "base" and not m.name.startswith("_")}
    assert modules == set(TASKS) and all(cls.__module__ == f"{pkg.__name__}.{name}" for name, cls in TASKS.items())
