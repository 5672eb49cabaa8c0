"""Tokens head decoding: the KV cache gives the uncached path's tokens, and DCT tokens stay decodable."""

import pytest
import torch
from torch import nn

from vlaforge.models import PolicyConfig, TokensConfig
from vlaforge.models.heads.token_decoding import CachedDecoder, allowed_tokens
from vlaforge.models.heads.tokens import ActionTokenizer, TokensHead, dct_matrix

TINY = dict(width=32, head_depth=2, n_heads=4, chunk=8)


def _head(tokenizer: str, seed: int = 0, **sizes) -> TokensHead:
    """A head (tiny unless `sizes` say otherwise) with random weights under which each sequence's tokens vary from step
    to step (embeddings and output rows large, so each token steers the next) and every LayerNorm has its own scale
    and shift (the decoder folds them into its matmuls)."""
    torch.manual_seed(seed)
    cfg = PolicyConfig(head="tokens", tokens=TokensConfig(tokenizer=tokenizer), **(sizes or TINY))
    head = TokensHead(cfg, action_dim=3).eval()
    with torch.no_grad():
        for p in head.parameters():
            p.normal_(0, 2 * p.shape[-1] ** -0.5 if p.dim() > 1 else 0.2)
        for m in head.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.add_(1)
        for p in (head.embed.weight, head.pos, head.out.weight):
            p.normal_(0, 1)
    return head


@pytest.mark.parametrize("tokenizer", ["dct", "bins"])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("batch", [1, 3])  # batch 1 reads q in place, larger batches copy it
def test_cached_tokens_equal_uncached(tokenizer, seed, batch):
    head = _head(tokenizer, seed)
    ctx = torch.randn(batch, 7, 32, generator=torch.Generator().manual_seed(seed))  # (B, M, D)
    cached, uncached = head.decode_ids(ctx), head.decode_ids(ctx, cache=False)
    assert cached.shape == (batch, 8 * 3) and cached.dtype == torch.long
    assert all(len(set(row.tolist())) > 5 for row in cached)  # no sequence is a degenerate constant
    assert torch.equal(cached, uncached)
    traced_path = CachedDecoder(head.decoder_weights()).run_functional(ctx, head.bos)  # what an ONNX export records
    assert torch.equal(traced_path, uncached)
    head.kv_cache = False
    torch.testing.assert_close(head.sample(ctx), _head(tokenizer, seed).sample(ctx), rtol=0, atol=0)


def test_cached_tokens_equal_uncached_at_the_default_size():
    sizes = {f: getattr(PolicyConfig(), f) for f in ("width", "head_depth", "n_heads", "chunk")}
    head = _head("dct", 0, **sizes)
    ctx = torch.randn(2, 21, sizes["width"], generator=torch.Generator().manual_seed(0))  # (B, M, D)
    for c in (ctx[:1], ctx[1:], ctx):  # several inputs, batch 1 and 2
        cached, uncached = head.decode_ids(c), head.decode_ids(c, cache=False)
        assert all(len(set(row.tolist())) > 10 for row in cached)
        assert torch.equal(cached, uncached)
        torch.testing.assert_close(head.tok.decode(cached), head.tok.decode(uncached))


def test_decoder_weights_follow_the_parameters():
    head, other = _head("dct", 0), _head("dct", 1)
    ctx = torch.randn(1, 7, 32)
    keys = set(head.state_dict())
    first = head.decode_ids(ctx)
    assert head.decoder_weights() is head.decoder_weights()  # built once while the weights stay put
    head.load_state_dict(other.state_dict())  # in-place copies: the arranged weights must be rebuilt
    assert torch.equal(head.decode_ids(ctx), other.decode_ids(ctx, cache=False))
    assert not torch.equal(first, head.decode_ids(ctx))
    opt = torch.optim.SGD(head.parameters(), lr=0.1)
    head.loss(torch.randn(2, 7, 32), torch.rand(2, 8, 3) * 2 - 1, torch.zeros(2, 8, dtype=torch.bool))[0].backward()
    before = head.decode_ids(ctx)
    opt.step()  # an optimizer step writes in place too
    after = head.decode_ids(ctx)
    assert torch.equal(after, head.decode_ids(ctx, cache=False)) and not torch.equal(after, before)
    assert set(head.state_dict()) == keys  # the arranged weights are no part of a checkpoint


def test_dct_mask_keeps_every_in_range_chunk_and_only_those_coefficients():
    H, A, V, scale = 16, 4, 256, 10.0
    tok = ActionTokenizer("dct", H, A, V, scale)
    ok = allowed_tokens(dct_matrix(H), A, V, scale)  # (H*A, V)
    g = torch.Generator().manual_seed(0)
    chunks = torch.cat([torch.rand(512, H, A, generator=g) * 2 - 1, torch.randint(0, 2, (512, H, A), generator=g).float() * 2 - 1])
    ids = tok.encode(chunks)  # (N, H*A): random and bang-bang chunks in [-1, 1]
    assert ok.gather(1, ids.T).all()  # no in-range chunk is ever masked
    C = dct_matrix(H)
    extreme = torch.sign(C)[:, :, None].expand(H, H, A)  # chunk k has the largest coefficient k an in-range chunk can have
    top = torch.stack([tok.encode(extreme[k : k + 1])[0].view(H, A)[k] for k in range(H)])  # (H, A)
    bottom = torch.stack([tok.encode(-extreme[k : k + 1])[0].view(H, A)[k] for k in range(H)])
    allowed = ok.view(H, A, V).float()
    assert torch.equal(top, allowed.cumsum(-1).argmax(-1))  # tight: each frequency's last allowed id is reachable
    assert torch.equal(bottom, allowed.argmax(-1))  # and so is its first
    assert not ok.all()  # and it does mask something


def test_constrained_decoding_never_emits_a_masked_token():
    head = _head("dct")
    with torch.no_grad():
        head.out.bias.zero_()
        head.out.bias[0] = head.out.bias[-1] = 1e4  # the extremes win every unconstrained argmax
    ctx = torch.randn(2, 5, 32)
    ids = head.decode_ids(ctx)
    ok = head.allowed_bias.eq(0)  # (L, V)
    assert ok.gather(1, ids.T).all()
    assert ids.min() > 0 and ids.max() < 255
    actions = head.sample(ctx)  # (B, H, A)
    assert torch.isfinite(actions).all() and actions.shape == (2, 8, 3)
