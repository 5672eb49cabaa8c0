"""Image encoders, shared across cameras: a fast small CNN and a small ViT (both trained from scratch)."""

from __future__ import annotations

import math

import torch
from torch import nn

from vlaforge.models.config import PolicyConfig
from vlaforge.models.layers import Block
from vlaforge.models.registry import register_encoder


@register_encoder("cnn")
class CNNEncoder(nn.Module):
    """4 strided conv stages (stride 16 overall), then adaptive pooling to a side x side token grid."""

    def __init__(self, cfg: PolicyConfig):
        super().__init__()
        side = int(math.isqrt(cfg.image_tokens))
        chans = [3, 32, 64, 96, cfg.width]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(chans[:-1], chans[1:])):
            layers += [nn.Conv2d(a, b, 5 if i == 0 else 3, stride=2, padding=2 if i == 0 else 1), nn.GroupNorm(8, b), nn.GELU()]
        self.net = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(side)
        self.pos = nn.Parameter(torch.zeros(side * side, cfg.width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x float (N, 3, H, W) normalized → tokens (N, side*side, D)."""
        f = self.pool(self.net(x))  # (N, D, side, side)
        return f.flatten(2).transpose(1, 2) + self.pos  # (N, side*side, D)


@register_encoder("vit")
class ViTEncoder(nn.Module):
    """Patchify (patch x patch), a couple of transformer blocks, then pool patches to `image_tokens` tokens."""

    def __init__(self, cfg: PolicyConfig, max_patches: int = 1024):
        super().__init__()
        self.patch = nn.Conv2d(3, cfg.width, cfg.patch, stride=cfg.patch)
        self.pos = nn.Parameter(torch.randn(max_patches, cfg.width) * 0.02)
        self.blocks = nn.ModuleList([Block(cfg.width, cfg.n_heads, dropout=cfg.dropout) for _ in range(2)])
        self.norm = nn.LayerNorm(cfg.width)
        self.side = int(math.isqrt(cfg.image_tokens))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x float (N, 3, H, W) normalized → tokens (N, image_tokens, D)."""
        f = self.patch(x)  # (N, D, h, w)
        N, D, h, w = f.shape
        t = f.flatten(2).transpose(1, 2) + self.pos[: h * w]  # (N, h*w, D)
        for blk in self.blocks:
            t = blk(t)
        t = self.norm(t).transpose(1, 2).reshape(N, D, h, w)
        return nn.functional.adaptive_avg_pool2d(t, self.side).flatten(2).transpose(1, 2)  # (N, side*side, D)
