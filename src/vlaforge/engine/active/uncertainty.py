"""How unsure a policy is at one observation, as one number (higher = less sure).

- `flow`: spread of K action chunks sampled with different noise: the mean over (H, A) of their
  standard deviation across samples, in the policy's normalized action space ([-1, 1] per dim).
- `tokens`: mean entropy (nats) of the next-token distributions along the greedy decode, with the
  same constraints decoding uses.
- `ensemble`: disagreement of several checkpoints: the mean over (H, A) of the standard deviation of
  their chunks, all normalized with the first member's action range (flow members share one noise draw).

`make_scorer(policies, method)` returns `score(obs, instruction) -> float`; "auto" picks ensemble for
several policies, else the head's own measure. A scorer sees one observation (no history), as a
stateless server does.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from vlaforge.errors import ConfigError

STATE = "observation.state"
METHODS = ("auto", "flow", "tokens", "ensemble")
Scorer = Callable[[dict[str, np.ndarray], str], float]


@torch.no_grad()
def context(policy: Any, obs: dict[str, np.ndarray], instruction: str, batch: int = 1) -> torch.Tensor:
    """The trunk's context for one observation, repeated `batch` times → (batch, N, D)."""
    dev, T = policy.device, policy.cfg.n_obs
    images = {c: torch.from_numpy(np.asarray(obs[c])).permute(2, 0, 1)[None, None].expand(1, T, -1, -1, -1).to(dev)
              for c in policy.cameras}  # (1, T, 3, H, W) uint8
    state = torch.from_numpy(np.asarray(obs[STATE], np.float32))[None, None].expand(1, T, -1).to(dev)  # (1, T, S)
    ctx = policy.encode(images, state, policy.embed_text([instruction]))  # (1, N, D)
    return ctx.expand(batch, -1, -1)


@torch.no_grad()
def flow_spread(policy: Any, obs: dict[str, np.ndarray], instruction: str, samples: int = 8) -> float:
    """Mean std over `samples` flow chunks (normalized actions)."""
    if policy.cfg.head != "flow":
        raise ConfigError(f"flow-sample spread needs a flow head; this policy has {policy.cfg.head!r} (use --uncertainty tokens or ensemble)")
    if samples < 2:
        raise ConfigError(f"--samples must be >= 2 to measure a spread; got {samples}")
    chunks = policy.head.sample(context(policy, obs, instruction, samples))  # (K, H, A)
    return float(chunks.float().std(0).mean())


@torch.no_grad()
def token_entropy(policy: Any, obs: dict[str, np.ndarray], instruction: str) -> float:
    """Mean entropy (nats) of the constrained next-token distributions along the greedy decode."""
    if policy.cfg.head != "tokens":
        raise ConfigError(f"token entropy needs a tokens head; this policy has {policy.cfg.head!r} (use --uncertainty flow or ensemble)")
    head = policy.head
    ctx = context(policy, obs, instruction)  # (1, N, D)
    ids = head.decode_ids(ctx)  # (1, L)
    inp = torch.cat([torch.full_like(ids[:, :1], head.bos), ids[:, :-1]], dim=1)  # (1, L)
    logits = head.logits(inp, ctx) + head.allowed_bias  # (1, L, V)
    logp = torch.log_softmax(logits.float(), -1)
    return float(-(logp.exp() * logp).sum(-1).mean())


@torch.no_grad()
def ensemble_disagreement(policies: Sequence[Any], obs: dict[str, np.ndarray], instruction: str, seed: int = 0) -> float:
    """Mean std across the members' chunks, normalized with the first member's action range."""
    if len(policies) < 2:
        raise ConfigError(f"ensemble disagreement needs >= 2 checkpoints; got {len(policies)}")
    ref = policies[0]
    chunks = []
    for p in policies:
        ctx = context(p, obs, instruction)
        g = torch.Generator().manual_seed(seed)  # the same noise for every member; heads that draw none ignore it
        noise = torch.randn(1, p.cfg.chunk, p.action_dim, generator=g).to(ctx.device, ctx.dtype)  # (1, H, A)
        out = p.head.sample(ctx, noise)
        chunks.append(ref.normalizer.action(p.normalizer.unaction(out)))  # (1, H, A) in the first member's units
    shapes = {tuple(c.shape) for c in chunks}
    if len(shapes) > 1:
        raise ConfigError(f"ensemble members predict chunks of different shapes {sorted(shapes)}; use checkpoints with the same chunk size")
    return float(torch.cat(chunks).float().std(0).mean())


def method_for(head: str, members: int, method: str = "auto") -> str:
    """The measure `method` means for `members` policies whose first has `head` ("auto": ensemble for several, else the
    head's own); a ConfigError where that measure cannot score them, so a loop can refuse before it trains anything."""
    if method not in METHODS:
        raise ConfigError(f"unknown uncertainty measure {method!r}; choose from {list(METHODS)}")
    m = method if method != "auto" else "ensemble" if members > 1 else head
    if m == "ensemble" and members < 2 or m in ("flow", "tokens") and m != head or m not in METHODS:
        why = ("an ensemble needs >= 2 checkpoints" if m == "ensemble" else
               "it is deterministic" if head not in ("flow", "tokens") else f"it has no {m} measure")
        raise ConfigError(f"--uncertainty {method} cannot score a {head!r} head on its own ({why}): give --ensemble RUN "
                          "(several checkpoints disagree), or train a flow or tokens head (--model.head flow)")
    return m


def resolve_method(policies: Sequence[Any], method: str = "auto") -> str:
    """The measure `method` means for these policies (see `method_for`)."""
    return method_for(policies[0].cfg.head, len(policies), method)


def make_scorer(policies: Sequence[Any], method: str = "auto", samples: int = 8) -> tuple[str, Scorer]:
    """(resolved method, score(obs, instruction) -> float)."""
    if not policies:
        raise ConfigError("uncertainty needs at least one policy")
    m = resolve_method(policies, method)
    if m == "flow":
        return m, lambda obs, text: flow_spread(policies[0], obs, text, samples)
    if m == "tokens":
        return m, lambda obs, text: token_entropy(policies[0], obs, text)
    return m, lambda obs, text: ensemble_disagreement(policies, obs, text)
