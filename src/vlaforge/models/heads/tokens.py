"""Autoregressive action tokens: FAST-style DCT tokens (default) or plain per-dimension bins.

FAST (π0-FAST): per action dimension, a DCT over the H-step chunk; coefficients are scaled,
rounded and offset into a vocabulary of `n_bins` ids, ordered low frequency first across
dimensions, so the first tokens carry the coarse shape of the motion. `bins` maps each
normalized action value to one of `n_bins` uniform bins (the RT-2/OpenVLA baseline). A small
causal decoder cross-attends to the trunk's context and is decoded greedily, with a KV cache and
DCT tokens constrained to coefficients an in-range chunk can have (see token_decoding.py). Its
settings are `TokensConfig` (tokens_config.py), `PolicyConfig.tokens`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vlaforge.errors import ConfigError
from vlaforge.models.config import PolicyConfig
from vlaforge.models.heads.token_decoding import CachedDecoder, DecoderWeights, allowed_tokens, logit_bias
from vlaforge.models.heads.tokens_config import TOKENIZERS, TokensConfig
from vlaforge.models.layers import Block
from vlaforge.models.registry import register_head


def dct_matrix(n: int) -> torch.Tensor:
    """Orthonormal DCT-II matrix (n, n): coefficients = C @ signal, signal = C.T @ coefficients."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    t = torch.arange(n, dtype=torch.float64)[None, :]
    c = torch.cos(math.pi * (t + 0.5) * k / n) * math.sqrt(2.0 / n)
    c[0] /= math.sqrt(2.0)
    return c.float()


class ActionTokenizer(nn.Module):
    """Normalized chunk (B, H, A) in [-1, 1] ↔ token ids (B, H*A) in [0, n_bins)."""

    def __init__(self, mode: str, chunk: int, action_dim: int, n_bins: int, scale: float):
        super().__init__()
        if mode not in ("dct", "bins"):
            raise ConfigError(f"--model.tokens.tokenizer must be one of {', '.join(TOKENIZERS)}, got {mode!r}")
        self.mode, self.H, self.A, self.V, self.scale = mode, chunk, action_dim, n_bins, scale
        self.register_buffer("C", dct_matrix(chunk), persistent=False)

    def allowed(self) -> torch.Tensor:
        """bool (H*A, V): ids that may appear at each position (DCT: within the coefficient bound; bins: all)."""
        if self.mode == "bins":
            return torch.ones(self.H * self.A, self.V, dtype=torch.bool)
        return allowed_tokens(self.C.cpu(), self.A, self.V, self.scale)

    def encode(self, actions: torch.Tensor) -> torch.Tensor:
        """(B, H, A) → (B, H*A) long."""
        if self.mode == "bins":
            ids = ((actions.clamp(-1, 1) + 1) / 2 * self.V).floor().clamp(0, self.V - 1)  # (B, H, A)
            return ids.long().flatten(1)
        coef = torch.einsum("kt,bta->bka", self.C, actions)  # (B, H, A), row k = frequency k
        q = torch.round(coef * self.scale).clamp(-self.V // 2, self.V // 2 - 1)
        return (q + self.V // 2).long().flatten(1)  # frequency-major: all dims of k=0 first

    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, H*A) → (B, H, A)."""
        x = ids.float().view(-1, self.H, self.A)
        if self.mode == "bins":
            return (x + 0.5) / self.V * 2 - 1
        coef = (x - self.V // 2) / self.scale
        return torch.einsum("kt,bka->bta", self.C, coef)


@register_head("tokens")
class TokensHead(nn.Module):
    """Causal decoder over action tokens with cross-attention to the context."""

    draws_noise = False  # greedy decoding is deterministic
    int8_note = " (the tokens head's greedy decoding flips under int8; export it in fp32)"

    def __init__(self, cfg: PolicyConfig, action_dim: int):
        super().__init__()
        self.config: TokensConfig = cfg.tokens  # this head's own settings
        V = self.config.n_bins
        self.tok = ActionTokenizer(self.config.tokenizer, cfg.chunk, action_dim, V, self.config.dct_scale)
        self.L = cfg.chunk * action_dim
        self.bos = V
        self.embed = nn.Embedding(V + 1, cfg.width)
        self.pos = nn.Parameter(torch.randn(self.L, cfg.width) * 0.02)
        self.blocks = nn.ModuleList([Block(cfg.width, cfg.n_heads, cross=True, dropout=cfg.dropout) for _ in range(cfg.head_depth)])
        self.norm = nn.LayerNorm(cfg.width)
        self.out = nn.Linear(cfg.width, V)
        self.register_buffer("allowed_bias", logit_bias(self.tok.allowed()), persistent=False)  # (L, V) 0 or NEG
        self.kv_cache = True  # False: decode by re-running the prefix (the reference path; same tokens, slower)
        self._decoder: tuple[tuple, DecoderWeights] | None = None  # (weight versions, weights arranged for decoding)

    def logits(self, inp: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        """inp (B, l) token ids starting with BOS → next-token logits (B, l, V)."""
        h = self.embed(inp) + self.pos[: inp.shape[1]]  # (B, l, D)
        for blk in self.blocks:
            h = blk(h, ctx, causal=True)
        return self.out(self.norm(h))

    def loss(self, ctx: torch.Tensor, actions: torch.Tensor, pad: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy of the chunk's tokens (padded steps repeat the last action, as the loader fills them)."""
        ids = self.tok.encode(actions)  # (B, L)
        inp = torch.cat([torch.full_like(ids[:, :1], self.bos), ids[:, :-1]], dim=1)  # (B, L)
        logits = self.logits(inp, ctx)  # (B, L, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids.reshape(-1))
        acc = (logits.argmax(-1) == ids).float().mean()
        return loss, {"token_acc": float(acc)}

    @torch.no_grad()
    def sample(self, ctx: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Greedy decoding of L tokens → normalized actions (B, H, A); `noise` is unused (common head signature)."""
        return self.tok.decode(self.decode_ids(ctx, cache=self.kv_cache)).clamp(-1.5, 1.5)

    @torch.no_grad()
    def decode_ids(self, ctx: torch.Tensor, cache: bool = True) -> torch.Tensor:
        """Greedy, constrained token ids (B, L): with the KV cache, or (cache=False) re-running the prefix each step."""
        if cache:
            decoder = CachedDecoder(self.decoder_weights())
            if torch.jit.is_tracing():  # ONNX export: the same steps without writes into buffers
                return decoder.run_functional(ctx, self.bos)
            with torch.inference_mode():  # no autograd bookkeeping on ~2,000 small ops per chunk
                ids = decoder.run(ctx, self.bos)
            return ids.clone()  # a normal tensor again
        B = ctx.shape[0]
        seq = torch.full((B, 1), self.bos, dtype=torch.long, device=ctx.device)
        for i in range(self.L):
            nxt = (self.logits(seq, ctx)[:, -1] + self.allowed_bias[i]).argmax(-1, keepdim=True)  # (B, 1)
            seq = torch.cat([seq, nxt], dim=1)
        return seq[:, 1:]

    def decoder_weights(self) -> DecoderWeights:
        """This head's weights arranged for cached decoding; rebuilt whenever a parameter changes (in place or replaced)."""
        # _version counts in-place writes (optimizer steps, load_state_dict); data_ptr changes with .to() and reassignment
        key = tuple((t.data_ptr(), t._version, t.dtype) for t in (*self.parameters(), self.allowed_bias))
        if self._decoder is None or self._decoder[0] != key:
            with torch.no_grad():
                self._decoder = key, DecoderWeights(self.embed, self.pos, self.blocks, self.norm, self.out, self.allowed_bias)
        return self._decoder[1]
