"""Each head owns a nested, validated config; old flat keys (config.json files, `--model.flow_steps`) still mean the same."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from vlaforge.config import apply_overrides, field_paths, from_dict, to_dict
from vlaforge.errors import ConfigError
from vlaforge.models import FlowConfig, PolicyConfig, TokensConfig, build_policy, load_policy
from vlaforge.models.registry import names

TINY = dict(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4, grounding=False)
OLD_FLAT = {"flow_steps": 3, "time_sampling": "uniform", "tokenizer": "bins", "n_bins": 64, "dct_scale": 8.0}
NESTED = {"flow": FlowConfig(steps=3, time_sampling="uniform"), "tokens": TokensConfig(tokenizer="bins", n_bins=64, dct_scale=8.0)}


@pytest.mark.parametrize("head", names("head"))
def test_every_head_reads_its_own_section_or_has_none(tiny_dataset, head):
    p = build_policy(PolicyConfig(head=head, **TINY, **NESTED), tiny_dataset, verbose=False)
    config = p.head.config
    assert config is None or (dataclasses.is_dataclass(config) and config.__dataclass_params__.frozen)
    assert config is None or config is p.cfg.flow or config is p.cfg.tokens


@pytest.mark.parametrize("make, flag", [
    (lambda: FlowConfig(steps=0), "--model.flow.steps 0"),
    (lambda: FlowConfig(time_sampling="gauss"), "--model.flow.time_sampling 'gauss'"),
    (lambda: TokensConfig(tokenizer="bpe"), "--model.tokens.tokenizer 'bpe'"),
    (lambda: TokensConfig(n_bins=1), "--model.tokens.n_bins 1"),
    (lambda: TokensConfig(dct_scale=0.0), "--model.tokens.dct_scale 0.0"),
    (lambda: TokensConfig(dct_scale=float("nan")), "--model.tokens.dct_scale nan"),
])
def test_a_bad_head_setting_names_its_flag(make, flag):
    with pytest.raises(ConfigError, match=flag.replace(".", r"\.")):
        make()


def test_a_section_must_be_its_config_class():
    with pytest.raises(ConfigError, match=r"model\.flow must be a FlowConfig"):
        PolicyConfig(flow={"steps": 3})


def test_old_flat_keys_load_as_the_nested_config():
    assert from_dict(PolicyConfig, {"head": "flow", **OLD_FLAT}) == PolicyConfig(head="flow", **NESTED)
    assert from_dict(PolicyConfig, to_dict(PolicyConfig(**NESTED))) == PolicyConfig(**NESTED)  # the new form round-trips


def test_an_old_key_that_contradicts_the_new_one_is_an_error():
    assert from_dict(PolicyConfig, {"flow_steps": 3, "flow": {"steps": 3}}).flow.steps == 3  # agreeing is fine
    with pytest.raises(ConfigError, match=r"model\.flow_steps = 3 \(the old name of model\.flow\.steps\)"):
        from_dict(PolicyConfig, {"flow_steps": 3, "flow": {"steps": 4}}, "model")


def test_nested_and_old_flat_cli_flags_set_the_same_fields():
    from vlaforge.train.config import TrainConfig
    from vlaforge.train.trainer import RunConfig

    base = RunConfig("ds", PolicyConfig(), TrainConfig())
    new = apply_overrides(base, ["--model.flow.steps", "3", "--model.flow.time_sampling=uniform", "--model.tokens.tokenizer", "bins",
                                 "--model.tokens.n_bins", "64", "--model.tokens.dct_scale", "8"])
    old = apply_overrides(base, [x for k, v in OLD_FLAT.items() for x in (f"--model.{k}", str(v))])
    assert new.model == old.model == dataclasses.replace(PolicyConfig(), **NESTED)
    with pytest.raises(ConfigError, match=r"--model\.flow\.steps 0"):
        apply_overrides(base, ["--model.flow_steps", "0"])  # an alias is validated like the field it names


def test_unknown_keys_list_the_nested_fields():
    from vlaforge.train.config import TrainConfig
    from vlaforge.train.trainer import RunConfig

    base = RunConfig("ds", PolicyConfig(), TrainConfig())
    with pytest.raises(ConfigError, match=r"unknown config key 'model\.widht'.*'model\.flow\.steps'.*'model\.tokens\.n_bins'"):
        apply_overrides(base, ["--model.widht", "3"])
    with pytest.raises(ConfigError, match=r"valid keys under model\.flow: \['model\.flow\.steps', 'model\.flow\.time_sampling'\]"):
        apply_overrides(base, ["--model.flow.step", "3"])
    with pytest.raises(ConfigError, match=r"'model\.flow' is a section; set its fields"):
        apply_overrides(base, ["--model.flow", "3"])
    with pytest.raises(ConfigError, match=r"valid keys: \[.*'model\.tokens\.dct_scale'"):
        from_dict(PolicyConfig, {"widht": 3}, "model")
    assert {"flow.steps", "tokens.tokenizer"} <= set(field_paths(PolicyConfig))


def test_train_help_lists_the_nested_fields(capsys):
    from vlaforge.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "flow.steps" in text and "tokens.n_bins" in text and "--train.<field>" in text


@pytest.mark.parametrize("head", ["flow", "tokens"])
def test_a_checkpoint_with_the_old_flat_config_json_loads_the_same_policy(tiny_dataset, tmp_path, head):
    torch.manual_seed(0)
    policy = build_policy(PolicyConfig(head=head, **TINY, **NESTED), tiny_dataset, verbose=False).eval()
    ck = policy.save(tmp_path / "ck")
    raw = json.loads((ck / "config.json").read_text())
    assert raw["flow"] == {"steps": 3, "time_sampling": "uniform"}  # saved in the new, nested form
    for section in ("flow", "tokens"):  # rewrite it the way vlaforge wrote it before the heads had sections
        raw.pop(section)
    (ck / "config.json").write_text(json.dumps({**raw, **OLD_FLAT}))
    again = load_policy(ck)
    assert again.cfg == policy.cfg
    item = tiny_dataset[5]
    obs = {k: item[k] for k in ("observation.images.front", "observation.images.wrist", "observation.state")}
    torch.manual_seed(1)
    want = policy.predict_chunk(obs, "go")
    torch.manual_seed(1)
    np.testing.assert_array_equal(again.predict_chunk(obs, "go"), want)
