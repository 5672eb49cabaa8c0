"""`vlaforge engine reground`: a policy's grounding module fine-tuned on its own rollouts' states, the rest left as it was."""

import json

import pytest
import torch
from safetensors.torch import load_file

from vlaforge.cli import main
from vlaforge.data import open_dataset
from vlaforge.engine.reground import TRAINED, RegroundConfig, reground
from vlaforge.errors import CheckpointError, ConfigError, DatasetError
from vlaforge.models import PolicyConfig, build_policy, load_policy

TINY = PolicyConfig(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4)


@pytest.fixture(scope="module")
def tiny_run(labelled_dataset, tmp_path_factory):
    torch.manual_seed(0)
    return build_policy(TINY, open_dataset(labelled_dataset), verbose=False).save(tmp_path_factory.mktemp("reground") / "ck")


def test_only_the_grounding_heads_change_and_the_run_records_its_rounds(tiny_run, labelled_dataset, tmp_path, capsys):
    out = tmp_path / "re"
    rc = main(["engine", "reground", str(tiny_run), "--dataset", str(labelled_dataset), "--out", str(out), "--tasks", "pick_place",
               "--rollouts", "1", "--rounds", "2", "--steps", "3", "--batch-size", "4", "--every", "20"])
    assert rc == 0 and "re-grounded policy written to" in capsys.readouterr().out
    before = load_file(str(tiny_run / "model.safetensors"))
    after = load_file(str(out / "checkpoints" / "last" / "model.safetensors"))
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.removeprefix("grounding.").startswith(TRAINED) for k in changed), changed
    assert not any(k.startswith(("grounding.stem", "grounding.convs", "grounding.to_xyz")) for k in changed)
    load_policy(out)  # a normal checkpoint: its normalization still matches the weights
    recipe = json.loads((out / "reground.json").read_text())
    rounds = recipe["rounds_done"]
    assert [r["rollouts"] for r in rounds] == [1, 1] and 0 < rounds[0]["frames"] < rounds[1]["frames"]  # DAgger keeps every round's frames
    assert json.loads((out / "config.json").read_text())["train"]["init"] == str(tiny_run)
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [6]


def test_bad_inputs_are_refused_before_any_rollout(tiny_run, labelled_dataset, sample_dataset, tmp_path):
    import dataclasses

    with pytest.raises(ConfigError, match="--rollouts 0"):
        RegroundConfig(rollouts=0)
    with pytest.raises(ConfigError, match="exists"):
        reground(tiny_run, labelled_dataset, tmp_path)
    with pytest.raises(ConfigError, match="task family"):
        reground(tiny_run, labelled_dataset, tmp_path / "a", RegroundConfig(families=("juggling",)))
    with pytest.raises(DatasetError, match="label"):
        reground(tiny_run, sample_dataset, tmp_path / "b")
    plain = build_policy(dataclasses.replace(TINY, grounding=False), open_dataset(labelled_dataset), verbose=False).save(tmp_path / "plain")
    with pytest.raises(CheckpointError, match="no grounding module"):
        reground(plain, labelled_dataset, tmp_path / "c")
    assert not any((tmp_path / n).exists() for n in "abc")
