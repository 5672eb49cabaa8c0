"""Chunked regression (ACT without the CVAE): H learned queries cross-attend to the context, L1 loss."""

from __future__ import annotations

import torch
from torch import nn

from vlaforge.models.config import PolicyConfig
from vlaforge.models.layers import Block
from vlaforge.models.registry import register_head


@register_head("chunk")
class ChunkHead(nn.Module):
    """One pass from context to the whole chunk."""

    draws_noise = False  # `sample` is deterministic
    config = None  # no settings of its own (the horizon H is `PolicyConfig.chunk`)

    def __init__(self, cfg: PolicyConfig, action_dim: int):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(cfg.chunk, cfg.width) * 0.02)
        self.blocks = nn.ModuleList([Block(cfg.width, cfg.n_heads, cross=True, dropout=cfg.dropout) for _ in range(cfg.head_depth)])
        self.norm = nn.LayerNorm(cfg.width)
        self.out = nn.Linear(cfg.width, action_dim)

    def predict(self, ctx: torch.Tensor) -> torch.Tensor:
        """ctx (B, N, D) → normalized actions (B, H, A)."""
        h = self.queries.expand(ctx.shape[0], -1, -1)  # (B, H, D)
        for blk in self.blocks:
            h = blk(h, ctx)
        return self.out(self.norm(h))

    def loss(self, ctx: torch.Tensor, actions: torch.Tensor, pad: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Masked L1 over the chunk."""
        err = (self.predict(ctx) - actions).abs().mean(-1)  # (B, H)
        keep = (~pad).float()
        loss = (err * keep).sum() / keep.sum().clamp(min=1)
        return loss, {"l1": float(loss.detach())}

    @torch.no_grad()
    def sample(self, ctx: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Deterministic chunk (B, H, A); `noise` is accepted for the common head signature and unused."""
        return self.predict(ctx)
