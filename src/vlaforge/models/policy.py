"""The VLA policy: vision encoder (shared over cameras) + frozen language encoder + state projection
→ a small transformer trunk → an action head that outputs an H-step chunk.

Raw observations in, raw actions out: normalization lives inside (see normalize.py) and is saved
with the weights. A checkpoint is a directory (DESIGN §3): model.safetensors, config.json,
normalization.json, dataset.json.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vlaforge.config import from_dict, to_dict
from vlaforge.errors import CheckpointError
from vlaforge.models import registry
from vlaforge.models.config import PolicyConfig
from vlaforge.models.encoders.language import DIM as TEXT_DIM
from vlaforge.models.encoders.language import shared_embedder
from vlaforge.models.layers import Block
from vlaforge.models.normalize import Normalizer

STATE, ACTION = "observation.state", "action"
CHECKPOINT_FILES = ("model.safetensors", "config.json", "normalization.json", "dataset.json")


class VLAPolicy(nn.Module):
    """See module doc. `forward(batch)` returns (loss, metrics) so DDP can wrap it."""

    def __init__(self, cfg: PolicyConfig, spec: dict[str, Any], verbose: bool = False):
        super().__init__()
        self.cfg, self.spec = cfg, spec
        feats = spec["features"]
        self.cameras: list[str] = list(spec["cameras"])
        self.state_dim, self.action_dim = int(feats[STATE]["shape"][0]), int(feats[ACTION]["shape"][0])
        D = cfg.width
        self.normalizer = Normalizer(self.state_dim, self.action_dim, self.cameras)
        self.vision = registry.get("encoder", cfg.encoder)(cfg)
        self.cam_emb = nn.Parameter(torch.randn(len(self.cameras), D) * 0.02)
        self.obs_time_emb = nn.Parameter(torch.randn(cfg.n_obs, D) * 0.02)
        self.lang_proj = nn.Linear(TEXT_DIM, D)
        self.state_proj = nn.Linear(self.state_dim, D)
        self.trunk = nn.ModuleList([Block(D, cfg.n_heads, dropout=cfg.dropout) for _ in range(cfg.depth)])
        self.trunk_norm = nn.LayerNorm(D)
        self.head = registry.get("head", cfg.head)(cfg, self.action_dim)
        self.text = shared_embedder(spec.get("text_model"))
        self.reset()
        if verbose:
            print(f"built {cfg.encoder}+{cfg.head} policy: {self.num_params() / 1e6:.2f}M parameters "
                  f"({len(self.cameras)} cameras, state {self.state_dim}, action {self.action_dim}, chunk {cfg.chunk})")

    def num_params(self) -> int:
        """Trainable parameters (the frozen text model is not counted)."""
        return sum(p.numel() for p in self.parameters())

    @property
    def device(self) -> torch.device:
        """Where the weights are."""
        return self.cam_emb.device

    # ------------------------------------------------------------------ model
    def encode(self, images: dict[str, torch.Tensor], state: torch.Tensor, lang: torch.Tensor) -> torch.Tensor:
        """images uint8 {cam: (B, T, 3, H, W)}, state (B, T, S), lang (B, 384) → context tokens (B, N, D)."""
        B, T = state.shape[:2]
        tokens = [self.lang_proj(lang)[:, None, :]]  # (B, 1, D)
        for i, cam in enumerate(self.cameras):
            x = self.normalizer.image(images[cam], i)  # (B, T, 3, H, W)
            f = self.vision(x.flatten(0, 1))  # (B*T, k, D)
            f = f.view(B, T, -1, f.shape[-1]) + self.obs_time_emb[-T:, None, :]  # (B, T, k, D)
            tokens.append(f.flatten(1, 2) + self.cam_emb[i])  # (B, T*k, D)
        tokens.append(self.state_proj(self.normalizer.state(state)) + self.obs_time_emb[-T:])  # (B, T, D)
        h = torch.cat(tokens, dim=1)  # (B, N, D)
        for blk in self.trunk:
            h = blk(h)
        return self.trunk_norm(h)

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """Cached sentence embeddings (B, 384) on the policy's device."""
        return self.text.embed(texts).to(self.device)

    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss on a loader batch (see vlaforge.data.loader for the keys and shapes)."""
        images = {c: batch[c] for c in self.cameras}
        state = batch[STATE].float()  # (B, T, S)
        ctx = self.encode(images, state, self.embed_text(list(batch["task"])))
        actions = self.normalizer.action(batch[ACTION].float())  # (B, H, A)
        return self.head.loss(ctx, actions, batch["action_is_pad"])

    compute_loss = forward

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict_batch(self, observations: list[dict[str, np.ndarray]], instructions: list[str]) -> np.ndarray:
        """Raw observations (one step each; cameras uint8 (H, W, 3), state (S,)) → raw chunks (B, H, A)."""
        dev = self.device
        images = {c: torch.from_numpy(np.stack([o[c] for o in observations])).permute(0, 3, 1, 2)[:, None].to(dev) for c in self.cameras}
        state = torch.from_numpy(np.stack([np.asarray(o[STATE], np.float32) for o in observations]))[:, None].to(dev)
        if self.cfg.n_obs > 1:  # a single step repeated as history (servers are stateless)
            images = {c: v.expand(-1, self.cfg.n_obs, -1, -1, -1) for c, v in images.items()}
            state = state.expand(-1, self.cfg.n_obs, -1)
        return self._sample(images, state, instructions)

    def _sample(self, images: dict[str, torch.Tensor], state: torch.Tensor, instructions: list[str]) -> np.ndarray:
        was = self.training
        self.eval()
        ctx = self.encode(images, state, self.embed_text(instructions))
        out = self.normalizer.unaction(self.head.sample(ctx))  # (B, H, A)
        self.train(was)
        return out.float().cpu().numpy()

    @torch.no_grad()
    def predict_chunk(self, obs: dict[str, np.ndarray], instruction: str) -> np.ndarray:
        """One raw observation → raw action chunk (H, A); keeps the last n_obs observations as history.

        Each call's wall time is appended to `inference_ms` (cleared by `reset`)."""
        t0 = time.perf_counter()
        self._history.append({k: np.asarray(obs[k]) for k in [*self.cameras, STATE]})
        hist = list(self._history)
        hist = [hist[0]] * (self.cfg.n_obs - len(hist)) + hist  # pad the start by repetition, as training does
        dev = self.device
        images = {c: torch.from_numpy(np.stack([h[c] for h in hist])).permute(0, 3, 1, 2)[None].to(dev) for c in self.cameras}
        state = torch.from_numpy(np.stack([h[STATE] for h in hist]).astype(np.float32))[None].to(dev)
        chunk = self._sample(images, state, [instruction])[0]
        self.inference_ms.append((time.perf_counter() - t0) * 1000)
        return chunk

    def select_action(self, obs: dict[str, np.ndarray], instruction: str) -> np.ndarray:
        """The next action (A,): from a queue refilled every `n_action_steps`, or temporally ensembled."""
        if self.cfg.temporal_ensemble > 0:
            chunk = self.predict_chunk(obs, instruction)
            self._chunks.append((self._t, chunk))
            self._chunks = [(t0, c) for t0, c in self._chunks if self._t - t0 < len(c)]
            acts = np.stack([c[self._t - t0] for t0, c in self._chunks])  # oldest first
            w = np.exp(-self.cfg.temporal_ensemble * np.arange(len(acts)))[:, None]
            self._t += 1
            return (acts * w).sum(0) / w.sum()
        if not self._queue:
            chunk = self.predict_chunk(obs, instruction)
            self._queue.extend(chunk[: max(1, min(self.cfg.n_action_steps, len(chunk)))])
        else:
            self._history.append({k: np.asarray(obs[k]) for k in [*self.cameras, STATE]})
        self._t += 1
        return self._queue.popleft()

    def reset(self) -> None:
        """Clear the action queue and observation history (call at the start of each episode)."""
        self._queue: collections.deque = collections.deque()
        self._history: collections.deque = collections.deque(maxlen=self.cfg.n_obs)
        self._chunks: list[tuple[int, np.ndarray]] = []
        self._t = 0
        self.inference_ms: list[float] = []

    # ------------------------------------------------------------------ checkpoints
    def save(self, directory: str | Path) -> Path:
        """Write model.safetensors, config.json, normalization.json, dataset.json into `directory`."""
        from safetensors.torch import save_file

        from vlaforge.io import atomic_write_json

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, str(d / "model.safetensors"))
        atomic_write_json(d / "config.json", to_dict(self.cfg))
        atomic_write_json(d / "normalization.json", self.normalizer.to_json())
        atomic_write_json(d / "dataset.json", self.spec)
        return d

    def check_compatible(self, features: dict[str, Any], fps: int, what: str = "dataset") -> None:
        """Raise CheckpointError naming every difference between this policy's inputs/outputs and `features`/`fps`."""
        diffs = []
        if int(fps) != int(self.spec["fps"]):
            diffs.append(f"fps: checkpoint {self.spec['fps']}, {what} {fps}")
        for key in [*self.cameras, STATE, ACTION]:
            want = self.spec["features"][key]
            if key not in features:
                diffs.append(f"{key!r} is missing from the {what} (it has {sorted(k for k in features if k.startswith(('observation', 'action')))})")
                continue
            f = features[key]
            got = {"shape": list(getattr(f, "shape", f.get("shape") if isinstance(f, dict) else ())),
                   "names": list(getattr(f, "names", None) or (f.get("names") if isinstance(f, dict) else None) or [])}
            if got["shape"] != list(want["shape"]):
                diffs.append(f"{key!r} shape: checkpoint {want['shape']}, {what} {got['shape']}")
            if want.get("names") and got["names"] and got["names"] != list(want["names"]):
                diffs.append(f"{key!r} names: checkpoint {want['names']}, {what} {got['names']}")
        if diffs:
            raise CheckpointError(f"checkpoint does not match the {what}: " + "; ".join(diffs))


def spec_from_dataset(ds: Any) -> dict[str, Any]:
    """dataset.json content for a policy trained on `ds`."""
    from vlaforge.data.lineage import quick_key

    feats = {}
    for k in [*ds.camera_keys, STATE, ACTION]:
        if k not in ds.features:
            raise CheckpointError(f"dataset {ds.root} has no {k!r} feature; a policy needs cameras, {STATE} and {ACTION}")
        f = ds.features[k]
        feats[k] = {"dtype": f.dtype, "shape": list(f.shape), "names": list(f.names) if f.names else None}
    return {
        "fingerprint": ds.lineage.get("fingerprint") or quick_key(Path(ds.root)),
        "path": str(ds.root),
        "fps": ds.fps,
        "cameras": list(ds.camera_keys),
        "features": feats,
        "tasks": list(ds.tasks),
    }


def build_policy(cfg: PolicyConfig, ds: Any, verbose: bool = True) -> VLAPolicy:
    """A fresh policy sized for dataset `ds`, normalization taken from its stats."""
    policy = VLAPolicy(cfg, spec_from_dataset(ds), verbose=verbose)
    policy.normalizer.load_stats(ds.stats)
    return policy


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint dir, or a run dir (→ its checkpoints/last)."""
    p = Path(path)
    if (p / "checkpoints").exists():
        from vlaforge.train.checkpoint import latest_checkpoint

        return latest_checkpoint(p)
    if any((p / f).exists() for f in CHECKPOINT_FILES):
        return p
    raise CheckpointError(f"{p} is neither a checkpoint (model.safetensors) nor a run directory (checkpoints/)")


def load_policy(path: str | Path, device: str = "cpu") -> VLAPolicy:
    """Load a policy from a checkpoint or run directory; every file is checked against the others."""
    d = resolve_checkpoint(path)
    missing = [f for f in CHECKPOINT_FILES if not (d / f).exists()]
    if missing:
        raise CheckpointError(f"checkpoint {d} is missing {missing}")
    try:
        cfg = from_dict(PolicyConfig, json.loads((d / "config.json").read_text()))
        spec = json.loads((d / "dataset.json").read_text())
        norm = json.loads((d / "normalization.json").read_text())
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint {d} has a malformed JSON file ({e})") from None
    policy = VLAPolicy(cfg, spec)
    from safetensors.torch import load_file

    state = load_file(str(d / "model.safetensors"))
    try:
        policy.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{d}/model.safetensors does not fit config.json: {str(e).splitlines()[0]}") from None
    saved = policy.normalizer.to_json()
    for key in (STATE, ACTION):
        for s, v in norm.get(key, {}).items():
            if np.shape(v) != np.shape(saved[key][s]):
                raise CheckpointError(f"{d}/normalization.json {key}/{s} has shape {list(np.shape(v))}, the model expects {list(np.shape(saved[key][s]))}")
            if not np.allclose(v, saved[key][s], atol=1e-6):
                raise CheckpointError(f"{d}/normalization.json {key}/{s} differs from the stats stored with the weights; the checkpoint was edited")
    return policy.to(device).eval()
