"""Transformer building blocks shared by the trunk and the heads (pre-norm, nanoGPT style)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head attention; self-attention when `kv` is None, cross-attention otherwise."""

    def __init__(self, dim: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, kv: torch.Tensor | None = None, causal: bool = False) -> torch.Tensor:
        B, N, D = x.shape
        src = x if kv is None else kv
        q = self.q(x).view(B, N, self.n_heads, D // self.n_heads).transpose(1, 2)  # (B, nh, N, hs)
        k, v = self.kv(src).view(B, src.shape[1], 2, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)  # (B, nh, M, hs) each
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal, dropout_p=self.dropout if self.training else 0.0)  # (B, nh, N, hs)
        return self.proj(y.transpose(1, 2).reshape(B, N, D))  # (B, N, D)


class MLP(nn.Module):
    """Two-layer GELU MLP, 4x expansion."""

    def __init__(self, dim: int, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Block(nn.Module):
    """Self-attention (optionally causal) + optional cross-attention to a context + MLP."""

    def __init__(self, dim: int, n_heads: int, cross: bool = False, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, n_heads, dropout)
        self.cross = Attention(dim, n_heads, dropout) if cross else None
        self.norm_c = nn.LayerNorm(dim) if cross else None
        self.norm2, self.mlp = nn.LayerNorm(dim), MLP(dim, dropout)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor | None = None, causal: bool = False) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), causal=causal)
        if self.cross is not None:
            x = x + self.cross(self.norm_c(x), kv=ctx)
        return x + self.mlp(self.norm2(x))


def sinusoidal(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of scalars t (B,) → (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)  # (half,)
    ang = t.float()[:, None] * 1000.0 * freqs[None, :]  # (B, half)
    return torch.cat([ang.sin(), ang.cos()], dim=-1)
