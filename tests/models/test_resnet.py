"""`--model.encoder resnet18`: torchvision's resnet18 layout without torchvision, local weights, a training step."""

import pytest
import torch
from safetensors.torch import save_file

from vlaforge.data.loader import TrainingDataset
from vlaforge.errors import CheckpointError, ConfigError
from vlaforge.models import PolicyConfig, build_policy
from vlaforge.models.encoders.resnet import ResNet18Trunk

TINY = dict(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4, head="chunk")


def test_trunk_has_torchvision_resnet18_shapes_and_names():
    trunk = ResNet18Trunk()
    assert sum(p.numel() for p in trunk.parameters()) == 11_176_512  # torchvision resnet18 without fc (11,689,512 - 513,000)
    sd = trunk.state_dict()
    assert len(sd) == 120  # torchvision's 122 state_dict entries minus fc.weight, fc.bias
    assert sd["conv1.weight"].shape == (64, 3, 7, 7) and "bn1.num_batches_tracked" in sd
    assert sd["layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1)
    assert sd["layer4.1.conv2.weight"].shape == (512, 512, 3, 3) and "layer1.0.downsample.0.weight" not in sd
    assert trunk(torch.zeros(2, 3, 96, 96)).shape == (2, 512, 3, 3)  # stride 32


def _torchvision_like_file(path, seed=0):
    """A torchvision-layout resnet18 state_dict (random weights, with its fc) written as safetensors."""
    torch.manual_seed(seed)
    sd = {k: v.clone() for k, v in ResNet18Trunk().state_dict().items()}
    for k, v in sd.items():
        if v.dtype.is_floating_point:
            v.normal_()
    sd["fc.weight"], sd["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)
    save_file(sd, str(path))
    return sd


def test_local_safetensors_weights_load_into_the_policy(tiny_dataset, tmp_path):
    sd = _torchvision_like_file(tmp_path / "resnet18.safetensors")
    p = build_policy(PolicyConfig(encoder="resnet18", encoder_init=str(tmp_path / "resnet18.safetensors"), **TINY), tiny_dataset, verbose=False)
    got = p.vision.trunk.state_dict()
    for k, v in got.items():
        assert torch.equal(v, sd[k]), k
    fresh = build_policy(PolicyConfig(encoder="resnet18", **TINY), tiny_dataset, verbose=False)
    assert not torch.equal(fresh.vision.trunk.conv1.weight, sd["conv1.weight"])


def test_weights_that_do_not_fit_are_one_line_errors(tiny_dataset, tmp_path):
    sd = _torchvision_like_file(tmp_path / "ok.safetensors")
    sd["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    del sd["layer4.1.bn2.weight"]
    save_file(sd, str(tmp_path / "bad.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing \['layer4.1.bn2.weight'\].*wrong shapes \['layer1.0.conv1.weight \[64, 64, 1, 1\]"):
        build_policy(PolicyConfig(encoder="resnet18", encoder_init=str(tmp_path / "bad.safetensors"), **TINY), tiny_dataset, verbose=False)
    with pytest.raises(CheckpointError, match="do not exist"):
        build_policy(PolicyConfig(encoder="resnet18", encoder_init=str(tmp_path / "nope.safetensors"), **TINY), tiny_dataset, verbose=False)
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        build_policy(PolicyConfig(encoder="resnet18", encoder_init=str(tmp_path / "junk.safetensors"), **TINY), tiny_dataset, verbose=False)
    with pytest.raises(ConfigError, match="encoder_init is for encoders with a pretrained layout"):
        build_policy(PolicyConfig(encoder="cnn", encoder_init=str(tmp_path / "ok.safetensors"), **TINY), tiny_dataset, verbose=False)


def test_a_training_step_updates_the_trunk(tiny_dataset):
    torch.manual_seed(0)
    p = build_policy(PolicyConfig(encoder="resnet18", **TINY), tiny_dataset, verbose=False)
    assert sum(q.numel() for q in p.vision.trunk.parameters()) == 11_176_512 < p.num_params()
    batch = TrainingDataset(tiny_dataset, chunk=8).__getitems__(list(range(0, 40, 5)))
    before = p.vision.trunk.layer1[0].conv1.weight.detach().clone()
    opt = torch.optim.AdamW(p.parameters(), lr=1e-3)
    loss, _ = p(batch)
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and not torch.equal(before, p.vision.trunk.layer1[0].conv1.weight)
    assert p.vision.trunk.bn1.num_batches_tracked.item() == 1  # batch norm ran in training mode
