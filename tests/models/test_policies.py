"""Every head x encoder from the registries builds, learns a few steps, saves, reloads bit-exactly, predicts."""

import json

import numpy as np
import pytest
import torch

from vlaforge.control import PolicyControl
from vlaforge.control.queue import gripper_for
from vlaforge.data.loader import TrainingDataset
from vlaforge.errors import CheckpointError
from vlaforge.models import PolicyConfig, build_policy, load_policy
from vlaforge.models.heads.tokens import ActionTokenizer
from vlaforge.models.registry import names

TINY = dict(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4, patch=8)


def _obs(ds, i=5):
    item = ds[i]
    return {k: item[k] for k in ("observation.images.front", "observation.images.wrist", "observation.state")}


@pytest.mark.parametrize("head", names("head"))
@pytest.mark.parametrize("encoder", names("encoder"))
def test_build_train_save_reload_predict(tiny_dataset, tmp_path, head, encoder):
    torch.manual_seed(0)
    cfg = PolicyConfig(head=head, encoder=encoder, **TINY)
    policy = build_policy(cfg, tiny_dataset, verbose=False)
    td = TrainingDataset(tiny_dataset, chunk=cfg.chunk)
    batch = td.__getitems__(list(range(0, 160, 10)))
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss, metrics = policy(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]), losses
    policy.save(tmp_path / "ck")
    again = load_policy(tmp_path / "ck")
    for k, v in policy.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    obs = _obs(tiny_dataset)
    torch.manual_seed(3)
    a = policy.eval().predict_chunk(obs, "move to the red block")
    torch.manual_seed(3)
    b = again.predict_chunk(obs, "move to the red block")
    assert a.shape == (cfg.chunk, 4) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert policy.predict_batch([obs, obs], ["move to the red block", "move to the blue block"]).shape == (2, cfg.chunk, 4)


def test_predicting_in_training_mode_samples_in_eval_mode_and_restores_it(tiny_dataset):
    p = build_policy(PolicyConfig(head="chunk", dropout=0.5, **TINY), tiny_dataset, verbose=False)
    obs = _obs(tiny_dataset)
    a = p.train().predict_batch([obs], ["move to the red block"])  # dropout would change it, were it on
    assert all(m.training for m in p.modules())
    np.testing.assert_array_equal(a, p.eval().predict_batch([obs], ["move to the red block"]))
    assert not any(m.training for m in p.modules())


def test_policy_control_queue_and_temporal_ensembling(tiny_dataset):
    obs = _obs(tiny_dataset)
    p = build_policy(PolicyConfig(head="chunk", n_action_steps=3, gripper_hysteresis=0.0, **TINY), tiny_dataset, verbose=False).eval()
    chunk = p.predict_chunk(obs, "go")
    act = PolicyControl(p)
    act.reset()
    acts = [act(obs, "go") for _ in range(4)]
    np.testing.assert_allclose(acts[:3], chunk[:3], rtol=1e-5, atol=1e-6)  # queue of n_action_steps, then re-plan
    np.testing.assert_allclose(acts[3], chunk[0], rtol=1e-5, atol=1e-6)  # same obs → same chunk (deterministic head)
    e = build_policy(PolicyConfig(head="chunk", temporal_ensemble=0.5, gripper_hysteresis=0.0, **TINY), tiny_dataset, verbose=False).eval()
    c = e.predict_chunk(obs, "go")
    act = PolicyControl(e)
    act.reset()
    first = act(obs, "go")
    second = act(obs, "go")
    np.testing.assert_allclose(first, c[0], rtol=1e-5, atol=1e-6)
    w = np.exp(-0.5 * np.arange(2))
    np.testing.assert_allclose(second, (c[1] * w[0] + c[0] * w[1]) / w.sum(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["dct", "bins"])
def test_action_tokenizer_roundtrip(mode):
    tok = ActionTokenizer(mode, chunk=16, action_dim=4, n_bins=256, scale=10.0)
    t = torch.linspace(0, 1, 16)[None, :, None]
    a = torch.cat([torch.sin(3 * t), torch.cos(2 * t), t - 0.5, (t > 0.5).float() * 2 - 1], dim=-1) * 0.9  # (1, 16, 4)
    ids = tok.encode(a)
    assert ids.shape == (1, 64) and ids.min() >= 0 and ids.max() < 256
    err = (tok.decode(ids) - a).abs().max()
    assert err < (0.15 if mode == "dct" else 1 / 256 + 1e-6), err


def test_checkpoint_contract_errors(tiny_dataset, tmp_path):
    from vlaforge.data.features import Feature

    p = build_policy(PolicyConfig(**TINY), tiny_dataset, verbose=False)
    p.save(tmp_path / "ck")
    feats = dict(tiny_dataset.features)
    p.check_compatible(feats, tiny_dataset.fps)
    with pytest.raises(CheckpointError, match="fps: checkpoint 20, dataset 10"):
        p.check_compatible(feats, 10)
    bad = {**feats, "action": Feature("float32", (5,), ("dx", "dy", "dz", "yaw", "gripper"))}
    with pytest.raises(CheckpointError, match="'action' shape: checkpoint \\[4\\], dataset \\[5\\]"):
        p.check_compatible(bad, tiny_dataset.fps)
    renamed = {**feats, "observation.state": Feature("float32", (4,), ("a", "b", "c", "d"))}
    with pytest.raises(CheckpointError, match="names"):
        p.check_compatible(renamed, tiny_dataset.fps)
    norm = json.loads((tmp_path / "ck/normalization.json").read_text())
    norm["action"]["min"] = [0.0] * 5
    (tmp_path / "ck/normalization.json").write_text(json.dumps(norm))
    with pytest.raises(CheckpointError, match="normalization.json action/min has shape \\[5\\]"):
        load_policy(tmp_path / "ck")
    (tmp_path / "ck/model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_policy(tmp_path / "ck")


def test_edited_normalization_of_the_same_shape_is_refused(tiny_dataset, tmp_path):
    """normalization.json must agree with the stats stored with the weights: scaling the action std would silently
    scale every action the robot executes."""
    build_policy(PolicyConfig(**TINY), tiny_dataset, verbose=False).save(tmp_path / "ck")
    path = tmp_path / "ck/normalization.json"
    norm = json.loads(path.read_text())
    key = "std" if "std" in norm["action"] else next(iter(norm["action"]))
    norm["action"][key] = [10 * v for v in norm["action"][key]]  # same shape, other numbers
    path.write_text(json.dumps(norm))
    with pytest.raises(CheckpointError, match=f"normalization.json action/{key} differs from the stats stored with the weights"):
        load_policy(tmp_path / "ck")


def test_gripper_hysteresis_switches_only_past_the_band(tiny_dataset):
    p = build_policy(PolicyConfig(head="chunk", gripper_hysteresis=0.2, **TINY), tiny_dataset, verbose=False).eval()
    names = list(p.dataset_info["features"]["action"]["names"])
    if "gripper" not in names:
        pytest.skip("sample data has no gripper axis")
    g = names.index("gripper")
    lo, hi = float(p.normalizer.action_min[g]), float(p.normalizer.action_max[g])
    steady = gripper_for(p, p.cfg.gripper_hysteresis)  # what PolicyControl(p) applies to each action

    def cmd(frac: float) -> float:
        a = np.zeros(len(names), np.float32)
        a[g] = lo + frac * (hi - lo)
        return float(steady(a)[g])

    # open → stays open inside the band, closes past 0.7, stays closed until below 0.3
    assert [cmd(f) for f in (0.2, 0.6, 0.69, 0.75, 0.5, 0.35, 0.25, 0.45)] == [lo, lo, lo, hi, hi, hi, lo, lo]


def test_a_non_finite_action_never_leaves_predict_chunk(tiny_dataset):
    from vlaforge.errors import NonFiniteAction

    p = build_policy(PolicyConfig(**TINY), tiny_dataset, verbose=False).eval()
    obs = _obs(tiny_dataset)
    assert np.isfinite(p.predict_chunk(obs, "go")).all()
    act = PolicyControl(p)
    act.reset()
    with pytest.raises(NonFiniteAction, match="non-finite"):
        act({**obs, "observation.state": np.full(4, 3e38, np.float32)}, "go")


def test_a_config_json_with_retired_fields_still_loads(tiny_dataset, tmp_path):
    ck = build_policy(PolicyConfig(head="chunk", **TINY), tiny_dataset, verbose=False).save(tmp_path / "ck")
    raw = json.loads((ck / "config.json").read_text())
    raw["bpe_vocab"] = 0  # written by vlaforge before the field was removed
    (ck / "config.json").write_text(json.dumps(raw))
    assert load_policy(ck).cfg.head == "chunk"


@pytest.mark.parametrize("head", names("head"))
def test_every_head_samples_with_the_same_signature(tiny_dataset, head):
    p = build_policy(PolicyConfig(head=head, **TINY), tiny_dataset, verbose=False).eval()
    ctx = torch.randn(2, 5, p.cfg.width)  # (B, N, D)
    noise = torch.randn(2, p.cfg.chunk, p.action_dim)  # (B, H, A)
    a, b = p.head.sample(ctx, noise=noise), p.head.sample(ctx, noise=noise)
    assert a.shape == (2, p.cfg.chunk, p.action_dim)
    torch.testing.assert_close(a, b)  # given the noise, every head is deterministic
    assert isinstance(p.head.draws_noise, bool)


def test_dataset_info_is_what_dataset_json_holds(tiny_dataset, tmp_path):
    p = build_policy(PolicyConfig(head="chunk", **TINY), tiny_dataset, verbose=False)
    ck = p.save(tmp_path / "ck")
    saved = json.loads((ck / "dataset.json").read_text())  # the file name and content a checkpoint always had
    assert saved == p.dataset_info and saved["path"] == str(tiny_dataset.root) and "features" in saved
    assert load_policy(ck).dataset_info == saved
    assert not hasattr(p, "spec")  # "spec" means the I/O signature (PolicySpec) only
