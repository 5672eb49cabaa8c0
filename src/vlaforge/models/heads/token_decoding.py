"""Greedy decoding for the tokens head: a KV cache, and a vocabulary constrained to decodable tokens.

Uncached decoding re-runs the whole prefix through every block for each new token (L(L+1)/2 token
rows, and the cross-attention keys/values of the context recomputed L times). `CachedDecoder`
computes the context's keys/values once per chunk and keeps each block's self-attention keys/values,
so every step runs one token through the blocks. At batch 1 a step is ~35 tiny ops and the cost of
each op, not its arithmetic, sets the time, so `DecoderWeights` rearranges the blocks' weights once
(per weight version) so that a step needs as few ops as possible; the math is unchanged (see its
doc). Its tokens equal the uncached path's under greedy decoding (tested).

Constraint (DCT mode): an orthonormal DCT maps a chunk with every value in [-1, 1] to coefficients
with |c_k| <= sum_t |C[k, t]|, so a token whose coefficient lies beyond that bound (for its
frequency k) cannot come from any in-range chunk. `allowed_tokens` masks those ids at every step,
so each decoded coefficient is one that an in-range chunk can have; the decoded chunk is still
clamped afterwards, as before.
"""

from __future__ import annotations

import math

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


def _fold_norm(norm: nn.LayerNorm, weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`F.linear(norm(x), weight (out, in), bias)` as (in, out) weight and (out,) bias applied to the affine-free norm of x."""
    return (norm.weight[:, None] * weight.t()).contiguous(), bias + weight @ norm.bias


class DecoderWeights:
    """The head's weights arranged for one-token steps; built from its modules once per weight version.

    Each rearrangement is an identity of the math (only float rounding differs):
    - every LayerNorm's scale and shift is folded into the matmul that reads it (the step runs affine-free norms);
    - self-attention: q (pre-scaled by hs^-0.5), k and v in one matmul, k and v of each head side by side so one
      copy stores both; the output projection gets one extra input row per head holding bias / n_heads, read
      through a value column fixed at 1 (each head's softmax sums to 1, so the bias is added once);
    - cross-attention: the query projection is folded into the context's keys and the output projection into its
      values once per chunk (`fold_context`), so a step's cross-attention is two batched matmuls and a softmax;
    - MLP: GELU(h) = h/√2 · (1 + erf(h/√2)) / √2: the first matmul yields u = h/√2 and the second takes the last
      1/√2, so the activation is erf and one fused multiply-add; fc2's bias rides on an input column fixed at 1;
    - output: the constrained-vocabulary bias (`logit_bias`) is added to the output bias once per position.
    """

    def __init__(self, embed: nn.Embedding, pos: torch.Tensor, blocks: nn.ModuleList, norm: nn.LayerNorm, out: nn.Linear,
                 bias: torch.Tensor):
        b0 = blocks[0]
        D = embed.weight.shape[1]
        self.nh = nh = b0.attn.n_heads
        self.hs = hs = D // nh
        self.length = bias.shape[0]
        scale, r2 = hs ** -0.5, 1 / math.sqrt(2)
        self.embed, self.pos = embed.weight.detach(), pos.detach()[: self.length].unbind(0)  # (V+1, D), L x (D,)
        self.blocks = []
        for b in blocks:
            a, c = b.attn, b.cross
            kv_w, kv_b = a.kv.weight.view(2, nh, hs, D), a.kv.bias.view(2, nh, hs)  # Attention.kv holds k then v
            w = torch.cat([a.q.weight * scale, torch.stack([kv_w[0], kv_w[1]], 1).reshape(2 * D, D)])  # (3D, D): q | (k_h, v_h) per head
            wb = torch.cat([a.q.bias * scale, torch.stack([kv_b[0], kv_b[1]], 1).reshape(2 * D)])
            qkv_w, qkv_b = _fold_norm(b.norm1, w, wb)  # (D, 3D), (3D,)
            proj = torch.cat([a.proj.weight.t().reshape(nh, hs, D), (a.proj.bias / nh).expand(nh, 1, D)], 1)  # (nh, hs+1, D)
            cq_w, cq_b = _fold_norm(b.norm_c, c.q.weight * scale, c.q.bias * scale)  # (D, D), (D,)
            fc1, fc2 = b.mlp.net[0], b.mlp.net[2]
            w1, b1 = _fold_norm(b.norm2, fc1.weight * r2, fc1.bias * r2)  # (D, 4D), (4D,)
            w2 = torch.cat([fc2.weight.t() * r2, fc2.bias[None]])  # (4D+1, D)
            eps = (b.norm1.eps, b.norm_c.eps, b.norm2.eps)
            self.blocks.append((qkv_w, qkv_b, proj.reshape(nh * (hs + 1), D), cq_w, cq_b, c.kv.weight, c.kv.bias, c.proj.weight,
                                c.proj.bias / nh, w1, b1, w2.contiguous(), eps))
        self.out_w, out_b = _fold_norm(norm, out.weight, out.bias)  # (D, V), (V,)
        self.out_b = (out_b + bias).unbind(0)  # L x (V,)
        self.eps = norm.eps
        t = torch.arange(self.length, device=bias.device)
        self.masks = torch.where(t[None, :] <= t[:, None], 0.0, NEG).to(bias.dtype)[:, None].unbind(0)  # L x (1, L): causal rows

    def fold_context(self, j: int, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Context (B, M, D) → A (B, D, nh*M), c (B, 1, nh*M), V' (B, nh*M, D) of block j's cross-attention."""
        B, M, D = ctx.shape
        nh, hs = self.nh, self.hs
        _, _, _, cq_w, cq_b, kv_w, kv_b, p_w, p_b, *_ = self.blocks[j]
        kv = F.linear(ctx, kv_w, kv_b).view(B, M, 2, nh, hs)
        k, v = kv[:, :, 0], kv[:, :, 1]  # (B, M, nh, hs)
        A = torch.einsum("dhs,bmhs->bdhm", cq_w.view(D, nh, hs), k).reshape(B, D, nh * M)  # scores = norm(x) @ A + c
        c = torch.einsum("hs,bmhs->bhm", cq_b.view(nh, hs), k).reshape(B, 1, nh * M)
        Vp = torch.einsum("dhs,bmhs->bhmd", p_w.view(D, nh, hs), v).reshape(B, nh * M, D) + p_b  # out = softmax @ V'
        return A, c, Vp


class CachedDecoder:
    """Greedy decoding of L tokens, one token per step through the head's blocks, with preallocated buffers.

    `run` (eager): per block, the self-attention keys/values live in one zero-filled buffer (B, nh, L, 2hs+1)
    written a row a step; attention runs over all L rows with a causal mask (masked rows get weight exactly 0).
    Every op writes into a buffer made once per chunk (`out=`, in place), so a step allocates almost nothing.
    `run_functional` is the same math without in-place writes (the cache grows by concatenation), for tracing:
    an ONNX export does not keep writes into views of a buffer.
    """

    def __init__(self, weights: DecoderWeights):
        self.w = weights

    def run(self, ctx: torch.Tensor, bos: int) -> torch.Tensor:
        """ctx (B, M, D) → token ids (B, L)."""
        w = self.w
        B, M, D = ctx.shape
        nh, hs, L = w.nh, w.hs, w.length
        new = lambda *shape: ctx.new_empty(shape)  # noqa: E731
        x = new(B, D)  # the residual stream, updated in place
        x3 = x.view(B, 1, D)
        steps = []
        for j, (qkv_w, qkv_b, proj, *_, w1, b1, w2, eps) in enumerate(w.blocks):
            qkv = new(B, 3 * D)
            q = qkv[:, :D].view(B * nh, 1, hs) if B == 1 else new(B * nh, 1, hs)  # (B*nh, 1, hs); B > 1 copies it each step
            q_src = None if B == 1 else qkv[:, :D].view(B, nh, hs)
            kv = ctx.new_zeros(B, nh, L, 2 * hs + 1)  # per head and position: k | v | 1
            kv[..., -1] = 1
            K = kv[..., :hs].view(B * nh, L, hs).transpose(1, 2)  # (B*nh, hs, L)
            V = kv[..., hs:].view(B * nh, L, hs + 1)  # (B*nh, L, hs+1)
            s, p, y = new(B * nh, 1, L), new(B * nh, 1, L), new(B * nh, 1, hs + 1)
            cs, ps = new(B, 1, nh * M), new(B, 1, nh * M)
            h, g = new(B, 4 * D), new(B, 4 * D + 1)
            g[:, -1] = 1
            steps.append((qkv_w, qkv_b, qkv, q, q_src, qkv[:, D:].view(B, nh, 2 * hs), kv[..., : 2 * hs].unbind(2), K, V, s, p, y,
                          y.view(B, nh * (hs + 1)), proj, *w.fold_context(j, ctx), cs, cs.view(B, nh, M), ps, ps.view(B, nh, M),
                          w1, b1, h, g, g[:, :-1], w2, *eps))
        ids = torch.full((L + 1, B), bos, dtype=torch.long, device=ctx.device)  # row i: the token fed at step i
        toks, nxt = ids.unbind(0), ids[1:].unbind(0)
        ln, addmm, erf, addcmul, softmax = torch.layer_norm, torch.addmm, torch.erf, torch.addcmul, torch.softmax
        emb, pos, masks, out_w, out_b, eps_f, norm = w.embed, w.pos, w.masks, w.out_w, w.out_b, w.eps, (D,)
        for i in range(L):
            torch.index_select(emb, 0, toks[i], out=x).add_(pos[i])
            for (qkv_w, qkv_b, qkv, q, q_src, kv_src, kv_rows, K, V, s, p, y, y2, proj, A, c, Vp, cs, cs3, ps, ps3,
                 w1, b1, h, g, g_act, w2, eps1, eps_c, eps2) in steps:
                # causal self-attention: store this token's k, v; attend over the L rows (later ones masked)
                addmm(qkv_b, ln(x, norm, None, None, eps1), qkv_w, out=qkv)  # (B, 3D)
                if q_src is not None:
                    q.view(B, nh, hs).copy_(q_src)
                kv_rows[i].copy_(kv_src)
                torch.baddbmm(masks[i], q, K, out=s)  # (B*nh, 1, L)
                torch.bmm(softmax(s, -1, out=p), V, out=y)  # (B*nh, 1, hs+1)
                x.addmm_(y2, proj)  # + output projection and its bias
                # cross-attention to the context, folded (DecoderWeights.fold_context)
                torch.baddbmm(c, ln(x3, norm, None, None, eps_c), A, out=cs)  # (B, 1, nh*M)
                softmax(cs3, -1, out=ps3)
                x3.baddbmm_(ps, Vp)
                # MLP: u = h/√2; g = u + u·erf(u) = √2·GELU(h); fc2 takes the other 1/√2 and adds its bias
                addmm(b1, ln(x, norm, None, None, eps2), w1, out=h)  # (B, 4D)
                addcmul(h, h, erf(h, out=g_act), out=g_act)
                x.addmm_(g, w2)
            torch.argmax(addmm(out_b[i], ln(x, norm, None, None, eps_f), out_w), -1, out=nxt[i])  # (B,)
        return ids[1:].t().contiguous()  # (B, L)

    def run_functional(self, ctx: torch.Tensor, bos: int) -> torch.Tensor:
        """ctx (B, M, D) → token ids (B, L), with functional ops only (what an ONNX export traces; B stays dynamic)."""
        w = self.w
        B, M, D = ctx.shape
        M, D = int(M), int(D)  # fixed by the model; as Python ints an ONNX export keeps them static (layer_norm needs D) and B dynamic
        nh, hs = w.nh, w.hs
        blocks = [(blk, *w.fold_context(j, ctx)) for j, blk in enumerate(w.blocks)]
        cache: list[torch.Tensor | None] = [None] * len(blocks)  # per block (B, nh, i, 2hs+1): k | v | 1
        tok = torch.full_like(ctx[:, 0, 0], bos, dtype=torch.long)  # (B,); full_like keeps B dynamic in an ONNX export
        out = []
        for i in range(w.length):
            x = w.embed.index_select(0, tok) + w.pos[i]  # (B, D)
            for j, ((qkv_w, qkv_b, proj, *_, w1, b1, w2, (eps1, eps_c, eps2)), A, c, Vp) in enumerate(blocks):
                qkv = torch.addmm(qkv_b, torch.layer_norm(x, (D,), None, None, eps1), qkv_w)  # (B, 3D)
                kv = qkv[:, D:].reshape(-1, nh, 1, 2 * hs)
                kv = torch.cat([kv, torch.ones_like(kv[..., :1])], -1)  # (B, nh, 1, 2hs+1)
                kv = kv if cache[j] is None else torch.cat([cache[j], kv], 2)
                cache[j] = kv
                s = torch.bmm(qkv[:, :D].reshape(-1, 1, hs), kv[..., :hs].reshape(-1, i + 1, hs).transpose(1, 2))  # (B*nh, 1, i+1)
                y = torch.bmm(s.softmax(-1), kv[..., hs:].reshape(-1, i + 1, hs + 1))  # (B*nh, 1, hs+1)
                x = torch.addmm(x, y.reshape(-1, nh * (hs + 1)), proj)
                cs = torch.baddbmm(c, torch.layer_norm(x, (D,), None, None, eps_c)[:, None], A)  # (B, 1, nh*M)
                x = torch.baddbmm(x[:, None], cs.view(-1, nh, M).softmax(-1).view(-1, 1, nh * M), Vp)[:, 0]
                u = torch.addmm(b1, torch.layer_norm(x, (D,), None, None, eps2), w1)  # (B, 4D)
                x = torch.addmm(x, torch.cat([u + u * torch.erf(u), torch.ones_like(u[:, :1])], 1), w2)
            tok = torch.addmm(w.out_b[i], torch.layer_norm(x, (D,), None, None, w.eps), w.out_w).argmax(-1)  # (B,)
            out.append(tok)
        return torch.stack(out, 1)  # (B, L)
