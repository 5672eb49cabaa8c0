"""Grounding every move ("moves" keypoints): labels from whole episodes, a policy that carries four keypoints."""

import json

import numpy as np
import pytest
import torch

from vlaforge.cli import main
from vlaforge.data import open_dataset
from vlaforge.data.loader import TrainingDataset
from vlaforge.errors import ConfigError
from vlaforge.models import PolicyConfig, build_policy, load_policy
from vlaforge.models.encoders.grounding import SLOT_KEY, GroundingNet, move_slot_labels, row_lookup, slot_label_table
from vlaforge.models.encoders.language import shared_embedder

TINY = dict(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4, grounding_width=16, grounding_init="",
            grounding_slots="moves")


@pytest.fixture(scope="module")
def sequence_dataset(tmp_path_factory):
    """Two sequence expert episodes (48 px) with the sim's label.* features."""
    from vlaforge.sim.collect import collect

    out = tmp_path_factory.mktemp("seq") / "seq"
    collect(out, ["sequence"], 2, workers=1, image_size=48, progress=False)
    return out


def test_each_move_keeps_its_object_and_goal_for_the_whole_episode():
    T, M = 10, 4
    objs = np.random.default_rng(0).normal(size=(T, M, 3)).astype(np.float32)
    objs_uv = objs[..., :2] + 1
    first, last = 1, 3
    current = np.array([first] * 6 + [last] * 4)  # the expert moves object 1, then object 3
    target = objs[np.arange(T), current]
    goal = np.where(np.arange(T)[:, None] < 6, [0.1, 0.2, 0.3], [0.4, 0.5, 0.6]).astype(np.float32)
    out = move_slot_labels(objs, objs_uv, target, goal, goal[:, :2])  # (T, 4, 5)
    assert np.array_equal(out[:, 0, 2:], objs[:, first]) and np.array_equal(out[:, 2, 2:], objs[:, last])
    assert np.array_equal(out[:, 0, :2], objs_uv[:, first])
    assert np.allclose(out[:, 1, 2:], [0.1, 0.2, 0.3]) and np.allclose(out[:, 3, 2:], [0.4, 0.5, 0.6])  # before and after each move
    one = move_slot_labels(objs, objs_uv, objs[:, 2], goal, goal[:, :2])  # a one-move task repeats its move
    assert np.array_equal(one[:, :2], one[:, 2:]) and np.array_equal(one[:, 1, 2:], goal)


def test_sim_sequences_label_the_two_named_objects(sequence_dataset):
    ds = open_dataset(sequence_dataset)
    table = slot_label_table(ds)  # (F, 4, 5)
    target = torch.from_numpy(ds.column("label.target"))
    for e in ds.episode_meta:
        a, b = ds.episode_range(int(e["episode_index"]))
        assert torch.equal(table[a, 0, 2:], target[a]) and torch.equal(table[b - 1, 2, 2:], target[b - 1])
        assert not torch.allclose(table[a, 0, 2:], table[a, 2, 2:])  # two different objects, both found from the first frame


def test_current_weights_start_each_move_as_the_current_move(tmp_path):
    from safetensors.torch import save_file

    from vlaforge.models.policy import load_grounding

    current = GroundingNet(width=16)
    save_file(current.state_dict(), str(tmp_path / "grounding.safetensors"))
    moves = GroundingNet(width=16, slots="moves")
    load_grounding(moves, str(tmp_path))
    text = shared_embedder().features(["put the red block in the blue bin, then the green cylinder in the white bin"])
    image = torch.randint(0, 255, (1, 3, 48, 48), dtype=torch.uint8)
    a, b = current(image, text), moves(image, text)
    assert b["uv"].shape == (1, 4, 2) and torch.allclose(b["uv"][:, :2], a["uv"]) and torch.allclose(b["uv"][:, 2:], a["uv"])


def test_a_moves_policy_trains_saves_and_acts(sequence_dataset, tmp_path):
    ds = open_dataset(sequence_dataset)
    policy = build_policy(PolicyConfig(**TINY, grounding_freeze=False), ds, verbose=False)
    assert policy.normalizer.kp_mean.shape == (4, 5) and policy.kp_emb.shape[0] == 4
    td = TrainingDataset(ds, chunk=8)
    batch = td.__getitems__(list(range(0, len(td), 10))[:16])
    batch[SLOT_KEY] = slot_label_table(ds)[row_lookup(ds)(batch["index"].numpy())]
    loss, metrics = policy(batch)
    loss.backward()
    assert torch.isfinite(loss) and {"grounding_loss", "right_object"} <= set(metrics)
    assert policy.grounding.slot.grad is not None  # each keypoint's own offset learns
    del batch[SLOT_KEY]
    assert "grounding_loss" not in policy(batch)[1]  # without whole-episode labels there is nothing to supervise
    policy.save(tmp_path / "ck")
    again = load_policy(tmp_path / "ck")
    assert again.cfg.grounding_slots == "moves"
    item = ds[5]
    assert again.predict_chunk({k: item[k] for k in [*again.cameras, "observation.state"]}, ds.tasks[0]).shape == (8, 4)


def test_pretrain_moves_from_the_shipped_weights(sequence_dataset, tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["pretrain", "grounding", "--dataset", str(sequence_dataset), "--out", str(out), "--steps", "3",
                 "--batch-size", "8", "--slots", "moves", "--init", "pretrained", "--budget-minutes", "0"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 3 and 0 <= summary["heldout-layouts/right_object"] <= 1
    assert json.loads((out / "grounding.json").read_text())["slots"] == "moves"
    ds = open_dataset(sequence_dataset)
    policy = build_policy(PolicyConfig(**{**TINY, "grounding_width": 32, "grounding_init": str(out)}), ds, verbose=False)
    assert policy.grounding.slot.shape == (4, 64)  # a frozen policy takes the moves weights as they are
    from vlaforge.errors import CheckpointError

    with pytest.raises(CheckpointError, match="pretrain grounding --slots moves"):  # frozen on current-move weights: refused
        build_policy(PolicyConfig(**{**TINY, "grounding_width": 32, "grounding_init": "pretrained"}), ds, verbose=False)
    with pytest.raises(ConfigError, match="grounding_slots"):
        PolicyConfig(grounding_slots="all")


def test_a_moves_run_continues_a_current_run(sequence_dataset, tmp_path):
    from safetensors.torch import load_file

    from vlaforge.train.config import TrainConfig
    from vlaforge.train.trainer import RunConfig, train

    current = {**TINY, "grounding_slots": "current", "grounding_freeze": False}
    train(RunConfig(str(sequence_dataset), PolicyConfig(**current), TrainConfig(steps=2, batch_size=4, threads=1)), tmp_path / "a", progress=False)
    moves = RunConfig(str(sequence_dataset), PolicyConfig(**TINY), TrainConfig(steps=2, batch_size=4, threads=1, init=str(tmp_path / "a"), lr=1e-9))
    train(moves, tmp_path / "b", progress=False)
    a, b = (load_file(str(tmp_path / r / "checkpoints" / "last" / "model.safetensors")) for r in "ab")
    assert torch.allclose(b["kp_emb"], a["kp_emb"].repeat(2, 1), atol=1e-6)  # each move's tokens start as the current move's
    assert torch.allclose(b["trunk_norm.weight"], a["trunk_norm.weight"], atol=1e-6)
    assert b["grounding.query"].shape[0] == 4 and "grounding.slot" in b
    assert load_policy(tmp_path / "b").cfg.grounding_slots == "moves"
