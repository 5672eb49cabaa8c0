"""What a policy accepts: observation names, shapes and dtypes; requests are checked against it."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import numpy as np

from vlaforge.serve.codec import DecodeError


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    """Observation fields (name → shape, dtype) and the action chunk shape (H, A) with axis names."""

    observation: dict[str, tuple[tuple[int, ...], str]]
    chunk: int
    action_dim: int
    action_names: tuple[str, ...] = ()
    max_instruction_chars: int = 512
    execute: int = 0  # actions of each chunk the policy is meant to execute before re-planning; 0 = not said

    def to_json(self) -> dict[str, Any]:
        """For /health and clients; `action.execute` only when it is set (`vlaforge eval --server` follows it)."""
        action: dict[str, Any] = {"chunk": self.chunk, "dim": self.action_dim, "names": list(self.action_names)}
        if self.execute:
            action["execute"] = self.execute
        return {"observation": {k: {"shape": list(s), "dtype": d} for k, (s, d) in self.observation.items()}, "action": action}

    def validate(self, msg: Any) -> tuple[dict[str, np.ndarray], str]:
        """A decoded request → (observation arrays, instruction); DecodeError naming the problem otherwise."""
        if not isinstance(msg, dict):
            raise DecodeError("request must be a map with 'observation' and 'instruction'")
        extra = sorted(set(msg) - {"observation", "instruction"})
        if extra:
            raise DecodeError(f"unexpected request fields {extra}; expected 'observation' and 'instruction'")
        obs, instr = msg.get("observation"), msg.get("instruction")
        if not isinstance(instr, str) or not instr.strip():
            raise DecodeError("'instruction' must be a non-empty string")
        if len(instr) > self.max_instruction_chars:
            raise DecodeError(f"'instruction' is longer than {self.max_instruction_chars} characters")
        if not isinstance(obs, dict):
            raise DecodeError("'observation' must be a map of feature name → array")
        missing, unexpected = sorted(set(self.observation) - set(obs)), sorted(set(obs) - set(self.observation))
        if missing or unexpected:
            raise DecodeError(f"observation fields differ from the policy's: missing {missing}, unexpected {unexpected}")
        out = {}
        for k, (shape, dtype) in self.observation.items():
            a = obs[k]
            if not isinstance(a, np.ndarray):
                raise DecodeError(f"observation {k!r} must be an encoded array")
            if a.dtype.name != dtype:
                raise DecodeError(f"observation {k!r} has dtype {a.dtype.name}, the policy expects {dtype}")
            if tuple(a.shape) != tuple(shape):
                raise DecodeError(f"observation {k!r} has shape {list(a.shape)}, the policy expects {list(shape)}")
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                raise DecodeError(f"observation {k!r} contains NaN or inf")
            out[k] = a
        return out, instr


class Predictor(Protocol):
    """What the server needs from a policy (PyTorch or ONNX)."""

    spec: PolicySpec

    def predict_batch(self, observations: list[dict[str, np.ndarray]], instructions: list[str]) -> np.ndarray:
        """(B, H, A) raw action chunks for B observations."""
        ...


def spec_of(policy: object) -> PolicySpec:
    """The PolicySpec of a VLAPolicy (or anything with its `dataset_info`/`cfg` attributes): its inputs and outputs."""
    info = policy.dataset_info  # type: ignore[attr-defined]
    feats = info["features"]
    obs = {c: (tuple(feats[c]["shape"]), "uint8") for c in info["cameras"]}
    obs["observation.state"] = (tuple(feats["observation.state"]["shape"]), "float32")
    return PolicySpec(obs, chunk=int(policy.cfg.chunk), action_dim=int(feats["action"]["shape"][0]),  # type: ignore[attr-defined]
                      action_names=tuple(feats["action"].get("names") or ()), execute=int(policy.cfg.n_action_steps))


class TorchPredictor:
    """Serves a PyTorch VLAPolicy (one torch thread pool; batches are one forward pass).

    The policy's text embedder caches every string it sees; the server keeps only the
    `instruction_cache` most recently used instructions there (see `vlaforge.lru`).
    """

    def __init__(self, policy: object, instruction_cache: int | None = None):
        from vlaforge.lru import DEFAULT_SIZE, LRU

        self.policy = policy
        self.spec = spec_of(policy)
        self.recent: LRU[str, None] = LRU(instruction_cache or DEFAULT_SIZE)

    def predict_batch(self, observations: list[dict[str, np.ndarray]], instructions: list[str]) -> np.ndarray:
        """(B, H, A) raw chunks."""
        out = self.policy.predict_batch(observations, instructions)  # type: ignore[attr-defined]
        cache = self._text_cache()
        for text in instructions:
            for old, _ in self.recent.put(text, None):
                cache.pop(old, None)
        return out

    def warmup(self) -> None:
        """Load the text model and run one forward pass, so the first request is not the slow one."""
        self.policy.predict_batch([zero_observation(self.spec)], ["warm-up"])  # type: ignore[attr-defined]
        self._text_cache().pop("warm-up", None)

    def _text_cache(self) -> dict:
        text = getattr(self.policy, "text", None)
        return getattr(text, "cache", None) if isinstance(getattr(text, "cache", None), dict) else {}


def zero_observation(spec: PolicySpec) -> dict[str, np.ndarray]:
    """An all-zero observation that fits `spec` (for warm-up)."""
    return {k: np.zeros(shape, dtype) for k, (shape, dtype) in spec.observation.items()}
