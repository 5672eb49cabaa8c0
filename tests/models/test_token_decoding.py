"""Tokens head decoding: the KV cache gives the uncached path's tokens, and DCT tokens stay decodable."""

import pytest
import torch

from vlaforge.models import PolicyConfig, TokensConfig
from vlaforge.models.heads.token_decoding import allowed_tokens
from vlaforge.models.heads.tokens import ActionTokenizer, TokensHead, dct_matrix

TINY = dict(width=32, head_depth=2, n_heads=4, chunk=8)


def _head(tokenizer: str, seed: int = 0) -> TokensHead:
    """A tiny head whose random weights are large enough that the greedy tokens vary from step to step."""
    torch.manual_seed(seed)
    head = TokensHead(PolicyConfig(head="tokens", tokens=TokensConfig(tokenizer=tokenizer), **TINY), action_dim=3).eval()
    with torch.no_grad():
        for p in head.parameters():
            p.normal_(0, 0.5 if p.dim() > 1 else 0.2)
    return head


@pytest.mark.parametrize("tokenizer", ["dct", "bins"])
@pytest.mark.parametrize("seed", [0, 1])
def test_cached_tokens_equal_uncached(tokenizer, seed):
    head = _head(tokenizer, seed)
    ctx = torch.randn(3, 7, 32, generator=torch.Generator().manual_seed(seed))  # (B, M, D)
    cached, uncached = head.decode_ids(ctx), head.decode_ids(ctx, cache=False)
    assert cached.shape == (3, 8 * 3) and cached.dtype == torch.long
    assert len(set(cached.flatten().tolist())) > 3  # not a degenerate constant sequence
    assert torch.equal(cached, uncached)
    head.kv_cache = False
    torch.testing.assert_close(head.sample(ctx), _head(tokenizer, seed).sample(ctx), rtol=0, atol=0)


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
