"""TokensConfig: the tokens head's own settings, `PolicyConfig.tokens`, set as `--model.tokens.<field>` (no torch here)."""

from __future__ import annotations

import dataclasses
import math

from vlaforge.errors import ConfigError

TOKENIZERS = ("dct", "bins")


@dataclasses.dataclass(frozen=True)
class TokensConfig:
    """Action tokens: how a chunk becomes token ids (see tokens.py)."""

    tokenizer: str = "dct"  # dct (FAST: DCT over time, scale, round) | bins (per-dimension uniform bins)
    n_bins: int = 256  # vocabulary size (ids per token); the decoder adds one BOS id
    dct_scale: float = 10.0  # DCT coefficients are multiplied by this before rounding (larger: finer, more ids used)

    def __post_init__(self) -> None:
        bad = []
        if self.tokenizer not in TOKENIZERS:
            bad.append(f"--model.tokens.tokenizer {self.tokenizer!r} must be one of {', '.join(TOKENIZERS)}")
        if self.n_bins < 2:
            bad.append(f"--model.tokens.n_bins {self.n_bins} (must be >= 2)")
        if not (math.isfinite(self.dct_scale) and self.dct_scale > 0):
            bad.append(f"--model.tokens.dct_scale {self.dct_scale} (must be a finite number > 0)")
        if bad:
            raise ConfigError("; ".join(bad))
