"""Grounding: keypoint heatmaps learn the named object from labelled sim frames; policies never take labels as input."""

import json

import pytest
import torch

from vlaforge.cli import main
from vlaforge.data import open_dataset
from vlaforge.data.loader import TrainingDataset
from vlaforge.errors import CheckpointError, ConfigError, FeatureMismatch
from vlaforge.models import PolicyConfig, build_policy, load_policy
from vlaforge.models.encoders.grounding import GroundingNet, current_labels, grounding_loss, label_targets
from vlaforge.models.encoders.language import shared_embedder

TINY = dict(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4, grounding_width=16, grounding_init="")


def test_shapes_and_keypoints_in_the_image():
    net = GroundingNet(width=16)
    text = shared_embedder().features(["put the red block in the blue bin", "push the green cylinder to the white target"])
    out = net(torch.randint(0, 255, (2, 3, 48, 48), dtype=torch.uint8), text)
    assert out["logits"].shape == (2, 2, 12, 12) and out["uv"].shape == (2, 2, 2) and out["xyz"].shape == (2, 2, 3)
    assert out["feat"].shape == (2, 2, 16)
    assert (out["uv"] >= 0).all() and (out["uv"] <= 1).all()


def test_heatmap_loss_is_zero_only_at_the_label():
    net = GroundingNet(width=16)
    text = shared_embedder().features(["put the red block in the blue bin"])
    out = net(torch.zeros(1, 3, 48, 48), text)
    uv = torch.tensor([[[0.3, 0.6], [0.7, 0.2]]])
    peaked = {**out, "logits": torch.full_like(out["logits"], -50.0), "uv": uv, "xyz": torch.zeros(1, 2, 3)}
    h, w = out["logits"].shape[-2:]
    for k, (u, v) in enumerate(uv[0].tolist()):
        yy, xx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
        peaked["logits"][0, k] = -((yy - v * h) ** 2 + (xx - u * w) ** 2) / 2  # log of the Gaussian target itself
    assert grounding_loss(peaked, uv, torch.zeros(1, 2, 3)) < 1e-4
    assert grounding_loss(peaked, uv.flip(-1), torch.zeros(1, 2, 3)) > 1.0


@pytest.mark.slow
def test_policy_learns_to_find_the_named_object_and_reports_it(labelled_dataset):
    ds = open_dataset(labelled_dataset)
    torch.manual_seed(0)
    policy = build_policy(PolicyConfig(**TINY, grounding_freeze=False), ds, verbose=False)  # trained end to end
    td = TrainingDataset(ds, chunk=8)
    batch = td.__getitems__(list(range(0, len(td), max(1, len(td) // 32)))[:32])
    uv, _ = label_targets(current_labels(batch))
    images, text = {c: batch[c] for c in policy.cameras}, policy.embed_text(batch["task"])

    def uv_error() -> float:
        with torch.no_grad():
            return float((policy.ground(images, text)["uv"] - uv).abs().mean())

    before = uv_error()
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    first = None
    for _ in range(40):
        loss, metrics = policy(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first or metrics["grounding_loss"]
    assert metrics["grounding_loss"] < 0.6 * first
    assert {"right_object", "target_err_cm", "goal_err_cm"} <= set(metrics)
    assert uv_error() < 0.9 * before, (before, uv_error())  # it starts moving the keypoints onto the labels


def test_policy_refuses_privileged_inputs(labelled_dataset, tmp_path):
    ds = open_dataset(labelled_dataset)
    policy = build_policy(PolicyConfig(**TINY), ds, verbose=False).eval()
    item = ds[3]
    obs = {k: item[k] for k in [*policy.cameras, "observation.state"]}
    assert policy.predict_chunk(obs, ds.tasks[0]).shape == (8, 4)
    assert "label.target" not in json.dumps(policy.dataset_info)  # the checkpoint's inputs are cameras and state only
    with pytest.raises(FeatureMismatch, match="privileged"):
        policy.predict_chunk({**obs, "label.target": item["label.target"]}, ds.tasks[0])
    with pytest.raises(FeatureMismatch, match="privileged"):
        policy.predict_batch([{**obs, "label.goal_uv": item["label.goal_uv"]}], [ds.tasks[0]])
    policy.save(tmp_path / "ck")
    again = load_policy(tmp_path / "ck")
    for k, v in policy.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k


def test_keypoints_enter_the_trunk_normalized_and_old_checkpoints_keep_their_scale(labelled_dataset, tmp_path):
    from safetensors.torch import load_file, save_file

    ds = open_dataset(labelled_dataset)
    policy = build_policy(PolicyConfig(**TINY), ds, verbose=False).eval()
    norm = policy.normalizer
    xyz_std = torch.tensor(ds.stats["label.target"]["std"], dtype=torch.float32).clamp(min=0.01)
    assert torch.allclose(norm.kp_std[0, 2:], xyz_std) and torch.allclose(norm.kp_mean[1, :2], torch.tensor(ds.stats["label.goal_uv"]["mean"], dtype=torch.float32))
    kp = norm.kp_mean + norm.kp_std  # one std from the mean on every axis → 1 after normalization
    assert torch.allclose(norm.keypoints(kp), torch.ones_like(kp))
    policy.save(tmp_path / "ck")
    assert json.loads((tmp_path / "ck" / "normalization.json").read_text())["keypoints"]["names"] == ["target", "goal"]
    weights = {k: v for k, v in load_file(str(tmp_path / "ck" / "model.safetensors")).items() if not k.startswith("normalizer.kp_")}
    save_file(weights, str(tmp_path / "ck" / "model.safetensors"))  # as saved before keypoints were normalized
    old = load_policy(tmp_path / "ck")
    assert torch.equal(old.normalizer.kp_mean, torch.zeros_like(kp)) and torch.equal(old.normalizer.kp_std, torch.ones_like(kp))


def test_grounding_camera_and_init_errors(labelled_dataset, tmp_path):
    ds = open_dataset(labelled_dataset)
    with pytest.raises(ConfigError, match="grounding_camera 'top'"):
        build_policy(PolicyConfig(**{**TINY, "grounding_camera": "top"}), ds, verbose=False)
    with pytest.raises(CheckpointError, match="do not exist"):
        build_policy(PolicyConfig(**{**TINY, "grounding_init": str(tmp_path / "nope")}), ds, verbose=False)


def test_pretrain_cli_writes_weights_a_policy_starts_from(labelled_dataset, tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["pretrain", "grounding", "--dataset", str(labelled_dataset), "--out", str(out), "--steps", "6",
                 "--batch-size", "8", "--width", "16"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 6 and 0 <= summary["heldout-layouts/right_object"] <= 1
    recipe = json.loads((out / "grounding.json").read_text())
    assert recipe["command"].startswith("vlaforge pretrain grounding") and recipe["seed"] == 0 and recipe["minutes"] >= 0
    ds = open_dataset(labelled_dataset)
    policy = build_policy(PolicyConfig(**{**TINY, "grounding_init": str(out)}), ds, verbose=False)
    from safetensors.torch import load_file

    shipped = load_file(str(out / "grounding.safetensors"))
    assert all(torch.equal(v, policy.grounding.state_dict()[k]) for k, v in shipped.items())
    with pytest.raises(CheckpointError, match="grounding_width"):
        build_policy(PolicyConfig(**{**TINY, "grounding_width": 32, "grounding_init": str(out)}), ds, verbose=False)


def test_pretrain_refuses_a_dataset_without_labels(tiny_dataset, tmp_path, capsys):
    assert main(["pretrain", "grounding", "--dataset", str(tiny_dataset.root), "--out", str(tmp_path / "g"), "--steps", "2"]) == 1
    assert "label" in capsys.readouterr().err


def test_geometric_augmentation_is_refused_with_grounding_labels(labelled_dataset, tmp_path):
    from vlaforge.train.config import TrainConfig
    from vlaforge.train.pretrain import pretrain_grounding
    from vlaforge.train.trainer import RunConfig, train

    cfg = RunConfig(str(labelled_dataset), PolicyConfig(**TINY), TrainConfig(steps=2, batch_size=4, augment="default", threads=1))
    with pytest.raises(ConfigError, match="moves image content"):
        train(cfg, tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="moves image content"):
        pretrain_grounding(labelled_dataset, tmp_path / "g", steps=2, batch_size=4, width=16, augment="default", progress=False)


def test_prefilled_instruction_embeddings_equal_one_by_one_ones():
    """Batches of equal token length need no padding, so a prefilled embedding is the one the string gets alone."""
    from vlaforge.models.encoders.language import TextEmbedder

    texts = ["put the red block in the blue bin", "put the green block in the white bin", "push the cube left",
             "could you please stack the yellow cylinder on the red block?", "push the blue cube left"]
    threads = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            alone, batched = TextEmbedder(), TextEmbedder()
            assert batched.prefill(texts, batch=2) == len(texts) and batched.prefill(texts) == 0
            a, b = alone.features(texts), batched.features(texts)
            assert torch.equal(a, b) if n == 1 else torch.allclose(a, b, atol=1e-5)  # threads split a batch's sums differently
    finally:
        torch.set_num_threads(threads)
