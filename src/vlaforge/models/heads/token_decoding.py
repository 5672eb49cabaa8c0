"""Greedy decoding for the tokens head: a KV cache, and a vocabulary constrained to decodable tokens.

Uncached decoding re-runs the whole prefix through every block for each new token (L(L+1)/2 token
rows, and the cross-attention keys/values of the context recomputed L times). `CachedDecoder`
computes the context's keys/values once per chunk and keeps each block's self-attention keys/values,
so every step runs one token through the blocks. It reads the weights of the same `Block`s, with
plain functional ops (no module calls, q/k/v in one matmul): at batch 1 per-op overhead is most of
the cost. Its tokens equal the uncached path's under greedy decoding (tested).

Constraint (DCT mode): an orthonormal DCT maps a chunk with every value in [-1, 1] to coefficients
with |c_k| <= sum_t |C[k, t]|, so a token whose coefficient lies beyond that bound (for its
frequency k) cannot come from any in-range chunk. `allowed_tokens` masks those ids at every step,
so each decoded coefficient is one that an in-range chunk can have; the decoded chunk is still
clamped afterwards, as before.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NEG = -1e9  # logit bias of a masked token (finite: keeps ONNX graphs free of -inf arithmetic)


def allowed_tokens(C: torch.Tensor, action_dim: int, n_bins: int, scale: float) -> torch.Tensor:
    """DCT matrix C (H, H) → bool (H*A, V): token v may appear at position k*A + a (frequency-major)."""
    bound = C.abs().sum(1).double() * scale  # (H,) largest |coefficient * scale| of a chunk in [-1, 1]
    q = torch.arange(n_bins, dtype=torch.float64) - n_bins // 2  # (V,) quantized coefficient of each id
    ok = q[None, :].abs() <= torch.floor(bound[:, None] + 0.5 + 1e-4)  # (H, V): what encode's round() can reach (float32 slack)
    return ok.repeat_interleave(action_dim, dim=0)  # (H*A, V)


def logit_bias(allowed: torch.Tensor) -> torch.Tensor:
    """bool (L, V) → float (L, V): 0 where allowed, NEG elsewhere."""
    return torch.where(allowed, 0.0, NEG).float()


class CachedDecoder:
    """Greedy decoding of L tokens, one token per step through the head's blocks; built per chunk from their weights.

    Per block, self-attention keys/values are cached (grown by one row a step). Cross-attention to
    the fixed context is folded into two matmuls per step: the query projection into the context keys
    (scores = h @ A + c) and the output projection into the context values (out = P @ V' with the
    projection bias spread over heads, which is exact because each head's softmax sums to 1).
    """

    def __init__(self, embed: nn.Embedding, pos: torch.Tensor, blocks: nn.ModuleList, norm: nn.LayerNorm, out: nn.Linear):
        self.embed, self.pos, self.norm, self.out = embed.weight, pos, norm, out
        self.blocks = list(blocks)
        self.nh = self.blocks[0].attn.n_heads

    def _fold_cross(self, b: nn.Module, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Context (B, M, D) → A (B, D, nh*M), c (B, 1, nh*M), V' (B, nh*M, D) of block b's cross-attention."""
        B, M, D = ctx.shape
        nh, hs = self.nh, D // self.nh
        kv = F.linear(ctx, b.cross.kv.weight, b.cross.kv.bias).view(B, M, 2, nh, hs)
        k, v = kv[:, :, 0], kv[:, :, 1]  # (B, M, nh, hs)
        wq = b.cross.q.weight.view(nh, hs, D)  # (nh, hs, D)
        scale = hs ** -0.5
        A = torch.einsum("hsd,bmhs->bdhm", wq, k).reshape(B, D, nh * M) * scale  # (B, D, nh*M)
        c = torch.einsum("hs,bmhs->bhm", b.cross.q.bias.view(nh, hs), k).reshape(B, 1, nh * M) * scale  # (B, 1, nh*M)
        wp = b.cross.proj.weight.view(D, nh, hs)  # (D, nh, hs): output d, from head h, feature s
        Vp = torch.einsum("dhs,bmhs->bhmd", wp, v).reshape(B, nh * M, D) + b.cross.proj.bias / nh  # (B, nh*M, D)
        return A, c, Vp

    def run(self, ctx: torch.Tensor, bos: int, length: int, bias: torch.Tensor) -> torch.Tensor:
        """ctx (B, M, D) → token ids (B, length); `bias` (length, V) is added to each step's logits."""
        B, M, D = ctx.shape
        M, D = int(M), int(D)  # fixed by the model; as Python ints an ONNX export keeps them static (layer_norm needs D) and B dynamic
        nh, hs = self.nh, D // self.nh
        steps = [(self._block_weights(b), self._fold_cross(b, ctx)) for b in self.blocks]
        pos = self.pos[:length].unbind(0)  # (D,) each: no indexing op inside the loop
        out_w, out_bias = self.out.weight.t().contiguous(), (self.out.bias + bias).unbind(0)  # (D, V), (V,) each
        lnf = (self.norm.weight, self.norm.bias, self.norm.eps)
        cache: list[torch.Tensor | None] = [None] * len(self.blocks)  # per block: keys and values (B, 2, nh, i, hs)
        tok = torch.full_like(ctx[:, 0, 0], bos, dtype=torch.long)  # (B,); full_like keeps B dynamic in an ONNX export
        out = []
        for i in range(length):
            x = self.embed.index_select(0, tok) + pos[i]  # (B, D)
            for j, (w, (A, c, Vp)) in enumerate(steps):
                ln1, qkv_w, qkv_b, proj_w, proj_b, lnc, ln2, w1, b1, w2, b2 = w
                # causal self-attention of the new token over every cached one
                qkv = torch.addmm(qkv_b, torch.layer_norm(x, (D,), *ln1), qkv_w).view(B, 3, nh, 1, hs)  # q, k, v
                kv = qkv[:, 1:] if cache[j] is None else torch.cat([cache[j], qkv[:, 1:]], 3)  # (B, 2, nh, i + 1, hs)
                cache[j] = kv
                y = F.scaled_dot_product_attention(qkv[:, 0], kv[:, 0], kv[:, 1]).view(B, D)  # (B, D)
                x = torch.addmm(x, y, proj_w).add_(proj_b)
                # cross-attention to the context, folded (see class doc)
                s = torch.baddbmm(c, torch.layer_norm(x, (D,), *lnc).view(B, 1, D), A)  # (B, 1, nh*M)
                p = s.view(B, nh, M).softmax(-1).view(B, 1, nh * M)
                x = torch.baddbmm(x.view(B, 1, D), p, Vp).view(B, D)
                # MLP
                g = F.gelu(torch.addmm(b1, torch.layer_norm(x, (D,), *ln2), w1))  # (B, 4D)
                x = torch.addmm(x, g, w2).add_(b2)
            tok = torch.addmm(out_bias[i], torch.layer_norm(x, (D,), *lnf), out_w).argmax(-1)  # (B,)
            out.append(tok)
        return torch.stack(out, 1)  # (B, length)

    @staticmethod
    def _block_weights(b: nn.Module) -> tuple:
        """Block b's tensors in the order `run` uses them (matmul weights as contiguous (in, out) copies; q/k/v stacked)."""
        ln = lambda n: (n.weight, n.bias, n.eps)  # noqa: E731
        qkv_w = torch.cat([b.attn.q.weight, b.attn.kv.weight]).t().contiguous()  # (D, 3D); Attention.kv holds k then v
        qkv_b = torch.cat([b.attn.q.bias, b.attn.kv.bias])
        fc1, fc2 = b.mlp.net[0], b.mlp.net[2]
        t = lambda w: w.t().contiguous()  # noqa: E731  (addmm is fastest on this layout at batch 1)
        return (ln(b.norm1), qkv_w, qkv_b, t(b.attn.proj.weight), b.attn.proj.bias, ln(b.norm_c), ln(b.norm2),
                t(fc1.weight), fc1.bias, t(fc2.weight), fc2.bias)
