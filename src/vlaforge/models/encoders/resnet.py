"""ResNet18 vision encoder (`--model.encoder resnet18`), written here without torchvision.

The trunk has torchvision's resnet18 layer shapes and parameter names (conv1, bn1, layer1-4 of
two BasicBlocks, downsample.0/.1), minus avgpool and fc: 11,176,512 parameters. So weights a user
already has from torchvision, saved as safetensors (`save_file(resnet18(weights=...).state_dict(),
"resnet18.safetensors")`), load with `--model.encoder_init resnet18.safetensors`; the fc.* rows are
ignored. It is the vision backbone LeRobot's ACT uses, for comparisons at equal compute.
Nothing is downloaded: without `encoder_init` the trunk starts from torchvision's random init.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from vlaforge.errors import CheckpointError
from vlaforge.models.config import PolicyConfig
from vlaforge.models.registry import register_encoder


class BasicBlock(nn.Module):
    """Two 3x3 convs with batch norm and a residual (1x1 conv + BN when the shape changes), as torchvision's."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + idt)


class ResNet18Trunk(nn.Module):
    """torchvision resnet18 up to layer4: (N, 3, H, W) → (N, 512, H/32, W/32); state_dict keys match torchvision's."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        chans = [64, 64, 128, 256, 512]
        for i in range(4):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(chans[i], chans[i + 1], stride), BasicBlock(chans[i + 1], chans[i + 1], 1)))
        for m in self.modules():  # torchvision's init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (N, 512, H/32, W/32)


def load_torchvision_resnet18(trunk: ResNet18Trunk, path: str | Path) -> Path:
    """Load a torchvision resnet18 state_dict saved as safetensors into `trunk` (fc.* ignored); CheckpointError if it does not fit."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"resnet18 weights {p} do not exist; pass a local .safetensors file of torchvision's resnet18 "
                              "state_dict (--model.encoder_init), or '' for random init")
    try:
        state = {k: v for k, v in load_file(str(p)).items() if not k.startswith("fc.")}
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{p} is not a readable safetensors file ({e})") from None
    want = trunk.state_dict()
    missing, extra = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    # torchvision checkpoints from before BN counted batches have no num_batches_tracked: not an error
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    bad = [f"{k} {list(state[k].shape)} (expected {list(want[k].shape)})" for k in want if k in state and state[k].shape != want[k].shape]
    if missing or extra or bad:
        raise CheckpointError(f"{p} is not a torchvision resnet18 state_dict: " + "; ".join(
            s for s in (f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''} ({len(missing)})" if missing else "",
                        f"unexpected {extra[:5]}{' ...' if len(extra) > 5 else ''} ({len(extra)})" if extra else "",
                        f"wrong shapes {bad[:3]}" if bad else "") if s))
    trunk.load_state_dict(state, strict=False)
    return p


@register_encoder("resnet18")
class ResNet18Encoder(nn.Module):
    """ResNet18 trunk → pooled to a side x side grid → linear 512 → width: tokens (N, side*side, D)."""

    def __init__(self, cfg: PolicyConfig):
        super().__init__()
        self.side = int(math.isqrt(cfg.image_tokens))
        self.trunk = ResNet18Trunk()
        self.pool = nn.AdaptiveAvgPool2d(self.side)
        self.proj = nn.Linear(512, cfg.width)
        self.pos = nn.Parameter(torch.zeros(self.side * self.side, cfg.width))

    def load_pretrained(self, path: str | Path) -> Path:
        """Weights for the trunk from a torchvision resnet18 safetensors file."""
        return load_torchvision_resnet18(self.trunk, path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x float (N, 3, H, W) normalized → tokens (N, side*side, D)."""
        f = self.pool(self.trunk(x))  # (N, 512, side, side)
        return self.proj(f.flatten(2).transpose(1, 2)) + self.pos  # (N, side*side, D)
