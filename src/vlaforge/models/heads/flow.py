"""Conditional flow matching over the action chunk (π0 / SmolVLA style).

x_t = t * noise + (1 - t) * actions, target velocity u = noise - actions; t ~ Beta(1.5, 1)
(emphasising noisy times, as openpi does) or uniform. An action expert (self-attention over the
H action tokens, cross-attention to the trunk's context) predicts v(x_t, t | ctx). Inference
integrates from pure noise at t = 1 to t = 0 with `steps` Euler steps, reusing the context. Its
settings are `FlowConfig` (flow_config.py), `PolicyConfig.flow`.
"""

from __future__ import annotations

import torch
from torch import nn

from vlaforge.models.config import PolicyConfig
from vlaforge.models.heads.flow_config import FlowConfig
from vlaforge.models.layers import Block, sinusoidal
from vlaforge.models.registry import register_head


@register_head("flow")
class FlowHead(nn.Module):
    """Velocity field over normalized action chunks (B, H, A)."""

    draws_noise = True  # `sample` integrates from Gaussian noise (drawn, or given for reproducible export)

    def __init__(self, cfg: PolicyConfig, action_dim: int):
        super().__init__()
        D = cfg.width
        self.config: FlowConfig = cfg.flow  # this head's own settings
        self.H, self.A = cfg.chunk, action_dim
        self.inp = nn.Linear(action_dim, D)
        self.pos = nn.Parameter(torch.randn(cfg.chunk, D) * 0.02)
        self.time = nn.Sequential(nn.Linear(D, D), nn.GELU(), nn.Linear(D, D))
        self.blocks = nn.ModuleList([Block(D, cfg.n_heads, cross=True, dropout=cfg.dropout) for _ in range(cfg.head_depth)])
        self.norm = nn.LayerNorm(D)
        self.out = nn.Linear(D, action_dim)

    def velocity(self, x: torch.Tensor, t: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        """v(x_t, t | ctx): x (B, H, A), t (B,), ctx (B, N, D) → (B, H, A)."""
        h = self.inp(x) + self.pos + self.time(sinusoidal(t, self.inp.out_features))[:, None, :]  # (B, H, D)
        for blk in self.blocks:
            h = blk(h, ctx)
        return self.out(self.norm(h))  # (B, H, A)

    def _sample_t(self, B: int, device: torch.device) -> torch.Tensor:
        if self.config.time_sampling == "uniform":
            return torch.rand(B, device=device)
        beta = torch.distributions.Beta(torch.tensor(1.5, device=device), torch.tensor(1.0, device=device))
        return beta.sample((B,)) * 0.999 + 0.001  # (B,)

    def loss(self, ctx: torch.Tensor, actions: torch.Tensor, pad: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Masked MSE between predicted and target velocity."""
        B = actions.shape[0]
        t = self._sample_t(B, actions.device)  # (B,)
        noise = torch.randn_like(actions)  # (B, H, A)
        x_t = t[:, None, None] * noise + (1 - t[:, None, None]) * actions
        v = self.velocity(x_t, t, ctx)  # (B, H, A)
        err = ((v - (noise - actions)) ** 2).mean(-1)  # (B, H)
        keep = (~pad).float()
        loss = (err * keep).sum() / keep.sum().clamp(min=1)
        return loss, {"flow_mse": float(loss.detach())}

    @torch.no_grad()
    def sample(self, ctx: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Integrate from noise (t=1) to actions (t=0) → (B, H, A)."""
        B = ctx.shape[0]
        x = torch.randn(B, self.H, self.A, device=ctx.device, dtype=ctx.dtype) if noise is None else noise
        n = self.config.steps
        for i in range(n):
            t = torch.full((B,), 1.0 - i / n, device=ctx.device, dtype=ctx.dtype)
            x = x - self.velocity(x, t, ctx) / n
        return x
