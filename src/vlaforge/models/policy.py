"""The VLA policy: vision encoder (shared over cameras) + frozen language encoder + state projection
→ a small transformer trunk → an action head that outputs an H-step chunk.

Raw observations in, raw actions out: normalization lives inside (see normalize.py) and is saved
with the weights. The policy plans chunks (`predict_chunk`); executing them one action per step
(queue, temporal ensembling, gripper hysteresis, async) is `vlaforge.control`. A checkpoint is a directory (DESIGN §3): model.safetensors, config.json,
normalization.json, dataset.json (the policy's `dataset_info`: what it was trained on).
"""

from __future__ import annotations

import collections
import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from vlaforge.config import from_dict, to_dict
from vlaforge.data.features import is_label
from vlaforge.errors import CheckpointError, ConfigError, FeatureMismatch, NonFiniteAction
from vlaforge.models import registry
from vlaforge.models.checkpoint import CHECKPOINT_FILES, resolve_checkpoint  # noqa: F401  (re-exported)
from vlaforge.models.config import PolicyConfig
from vlaforge.models.encoders.grounding import SLOT_KEY, GroundingNet, batch_targets, current_labels, grounding_loss, grounding_metrics, keypoint_names
from vlaforge.models.encoders.language import DIM as TEXT_DIM
from vlaforge.models.encoders.language import shared_embedder
from vlaforge.models.layers import Block
from vlaforge.models.normalize import Normalizer

STATE, ACTION = "observation.state", "action"


class VLAPolicy(nn.Module):
    """See module doc. `forward(batch)` returns (loss, metrics) so DDP can wrap it.

    `dataset_info` (saved as dataset.json) describes the dataset the policy was trained on: path,
    fingerprint, fps, cameras, features with shapes and names, tasks. The I/O signature a server
    exposes is `vlaforge.serve.schema.PolicySpec`, built from it."""

    def __init__(self, cfg: PolicyConfig, dataset_info: dict[str, Any], verbose: bool = False):
        super().__init__()
        self.cfg, self.dataset_info = cfg, dataset_info
        feats = dataset_info["features"]
        self.cameras: list[str] = list(dataset_info["cameras"])
        self.state_dim, self.action_dim = int(feats[STATE]["shape"][0]), int(feats[ACTION]["shape"][0])
        D = cfg.width
        self.keypoints = keypoint_names(cfg.grounding_slots) if cfg.grounding else ()
        self.normalizer = Normalizer(self.state_dim, self.action_dim, self.cameras, self.keypoints)
        self.vision = registry.get("encoder", cfg.encoder)(cfg)
        self.cam_emb = nn.Parameter(torch.randn(len(self.cameras), D) * 0.02)
        self.obs_time_emb = nn.Parameter(torch.randn(cfg.n_obs, D) * 0.02)
        self.lang_proj = nn.Linear(TEXT_DIM, D)
        self.state_proj = nn.Linear(self.state_dim, D)
        self.trunk = nn.ModuleList([Block(D, cfg.n_heads, dropout=cfg.dropout) for _ in range(cfg.depth)])
        self.trunk_norm = nn.LayerNorm(D)
        self.head = registry.get("head", cfg.head)(cfg, self.action_dim)
        self.grounding: GroundingNet | None = None
        if cfg.grounding:
            self.ground_cam = self.cameras.index(grounding_camera_key(cfg, self.cameras))
            self.grounding = GroundingNet(cfg.grounding_width, TEXT_DIM, cfg.grounding_slots)
            self.grounding.requires_grad_(not cfg.grounding_freeze)
            self.kp_proj = nn.Linear(5 + cfg.grounding_width, D)  # (u, v, x, y, z, feature) → token
            self.kp_emb = nn.Parameter(torch.randn(len(self.keypoints), D) * 0.02)
        # Cameras the CNN encodes: all, except the grounding camera when its keypoints stand for it.
        self.cnn_cams = [i for i in range(len(self.cameras))
                         if self.grounding is None or cfg.encode_grounding_camera or i != self.ground_cam]
        self.text = shared_embedder(dataset_info.get("text_model"))
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
        """images uint8 {cam: (B, T, 3, H, W)}, state (B, T, S), lang (B, 1 + L, 384) from `embed_text` → context tokens (B, N, D)."""
        return self.encode_grounded(images, state, lang)[0]

    def ground(self, images: dict[str, torch.Tensor], lang: torch.Tensor) -> dict[str, torch.Tensor]:
        """The grounding module on the current frame of its camera → keypoints (see GroundingNet.forward)."""
        frame = images[self.cameras[self.ground_cam]][:, -1]  # (B, 3, H, W) uint8
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.cfg.grounding_freeze):
            return self.grounding(frame, lang)

    def encode_grounded(self, images: dict[str, torch.Tensor], state: torch.Tensor, lang: torch.Tensor,
                        keypoints: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        """Like `encode`, also returning the grounding module's output (None without one). `keypoints` (B, K, 5 + C),
        from `keypoint_table`, replaces running a frozen grounding module."""
        B, T = state.shape[:2]
        tokens = [self.lang_proj(lang[:, 0])[:, None, :]]  # (B, 1, D) from the sentence embedding
        g = None
        if self.grounding is not None:
            g = self.ground(images, lang) if keypoints is None else split_keypoints(keypoints)
            kp = torch.cat([self.normalizer.keypoints(torch.cat([g["uv"], g["xyz"]], -1)), g["feat"]], -1)  # (B, K, 5 + C)
            tokens.append(self.kp_proj(kp) + self.kp_emb)  # (B, K, D)
        for i, cam in enumerate(self.cameras):
            if i not in self.cnn_cams:
                continue
            x = self.normalizer.image(images[cam], i)  # (B, T, 3, H, W)
            f = self.vision(x.flatten(0, 1))  # (B*T, k, D)
            f = f.view(B, T, -1, f.shape[-1]) + self.obs_time_emb[-T:, None, :]  # (B, T, k, D)
            tokens.append(f.flatten(1, 2) + self.cam_emb[i])  # (B, T*k, D)
        tokens.append(self.state_proj(self.normalizer.state(state)) + self.obs_time_emb[-T:])  # (B, T, D)
        h = torch.cat(tokens, dim=1)  # (B, N, D)
        for blk in self.trunk:
            h = blk(h)
        return self.trunk_norm(h), g

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """Cached instruction features (B, 1 + L, 384) on the policy's device: sentence embedding, then token states."""
        return self.text.features(texts).to(self.device)

    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss on a loader batch (see vlaforge.data.loader for the keys and shapes)."""
        images = {c: batch[c] for c in self.cameras}
        state = batch[STATE].float()  # (B, T, S)
        ctx, g = self.encode_grounded(images, state, self.embed_text(list(batch["task"])), batch.get(KEYPOINT_KEY))
        actions = self.normalizer.action(batch[ACTION].float())  # (B, H, A)
        loss, metrics = self.head.loss(ctx, actions, batch["action_is_pad"])
        # "moves" keypoints are labelled from whole episodes: only batches with their table rows (the trainer adds them)
        if g is not None and "label.target_uv" in batch and (self.cfg.grounding_slots == "current" or SLOT_KEY in batch):
            labels = current_labels(batch)
            if self.cfg.grounding_weight > 0 and not self.cfg.grounding_freeze:
                g_loss = grounding_loss(g, *batch_targets(batch))
                loss = loss + self.cfg.grounding_weight * g_loss
                metrics["grounding_loss"] = float(g_loss.detach())
            metrics.update(grounding_metrics(g, labels, batch.get(SLOT_KEY)))
        return loss, metrics

    compute_loss = forward

    @torch.no_grad()
    def keypoint_table(self, ds: Any, batch_size: int = 256, progress: bool = False, retune: Callable[[], Any] | None = None) -> torch.Tensor:
        """The frozen grounding module's keypoints for every frame of `ds` → (num_frames, K, 5 + C), by dataset row.

        Training puts row `index` of it in each batch (`KEYPOINT_KEY`), so a frozen module runs once per frame and not
        once per sample drawn; the keypoints are those of the recorded frame and instruction. `retune` is called before
        each batch (the trainer re-checks its thread count there: the table can take minutes)."""
        from vlaforge.data.loader import TrainingDataset

        if self.grounding is None or not self.cfg.grounding_freeze:
            raise CheckpointError("keypoint_table needs a frozen grounding module (--model.grounding_freeze true)")
        cam = self.cameras[self.ground_cam]
        td = TrainingDataset(ds, delta_timestamps={cam: [0.0]})
        out = torch.zeros(ds.num_frames, len(self.keypoints), 5 + self.cfg.grounding_width)
        starts = range(0, len(td), batch_size)
        if progress:
            from rich.progress import track

            starts = track(starts, description=f"grounding keypoints for {len(td)} frames")
        for i in starts:
            if retune is not None:
                retune()
            b = td.__getitems__(list(range(i, min(i + batch_size, len(td)))))
            g = self.grounding(b[cam][:, 0].to(self.device), self.embed_text(b["task"]))
            out[td.rows[i : i + len(b["task"])]] = torch.cat([g["uv"], g["xyz"], g["feat"]], -1).float().cpu()
        return out

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict_batch(self, observations: list[dict[str, np.ndarray]], instructions: list[str]) -> np.ndarray:
        """Raw observations (one step each; cameras uint8 (H, W, 3), state (S,)) → raw chunks (B, H, A)."""
        for o in observations:
            refuse_labels(o)
        dev = self.device
        images = {c: torch.from_numpy(np.stack([o[c] for o in observations])).permute(0, 3, 1, 2)[:, None].to(dev) for c in self.cameras}
        state = torch.from_numpy(np.stack([np.asarray(o[STATE], np.float32) for o in observations]))[:, None].to(dev)
        if self.cfg.n_obs > 1:  # a single step repeated as history (servers are stateless)
            images = {c: v.expand(-1, self.cfg.n_obs, -1, -1, -1) for c, v in images.items()}
            state = state.expand(-1, self.cfg.n_obs, -1)
        return self._sample(images, state, instructions)

    def _sample(self, images: dict[str, torch.Tensor], state: torch.Tensor, instructions: list[str]) -> np.ndarray:
        was = self.training
        switch = any(m.training for m in self.modules())  # eval() and train() set every module (~0.5 ms): only when needed
        if switch:
            self.eval()
        ctx = self.encode(images, state, self.embed_text(instructions))
        out = self.normalizer.unaction(self.head.sample(ctx))  # (B, H, A)
        if switch:
            self.train(was)
        return out.float().cpu().numpy()

    @torch.no_grad()
    def predict_chunk(self, obs: dict[str, np.ndarray], instruction: str) -> np.ndarray:
        """One raw observation → raw action chunk (H, A); keeps the last n_obs observations as history.

        Each call's wall time is appended to `inference_ms` (cleared by `reset`)."""
        t0 = time.perf_counter()
        refuse_labels(obs)
        self.observe(obs)
        hist = list(self._history)
        hist = [hist[0]] * (self.cfg.n_obs - len(hist)) + hist  # pad the start by repetition, as training does
        dev = self.device
        images = {c: torch.from_numpy(np.stack([h[c] for h in hist])).permute(0, 3, 1, 2)[None].to(dev) for c in self.cameras}
        state = torch.from_numpy(np.stack([h[STATE] for h in hist]).astype(np.float32))[None].to(dev)
        chunk = self._sample(images, state, [instruction])[0]
        self.inference_ms.append((time.perf_counter() - t0) * 1000)
        if not np.isfinite(chunk).all():
            raise NonFiniteAction(f"the policy produced a non-finite action for this observation (state {np.asarray(obs[STATE]).tolist()}); "
                                  "nothing is sent: check that the inputs are in the range the policy was trained on")
        return chunk

    def observe(self, obs: dict[str, np.ndarray]) -> None:
        """Add a step's observation to the history without planning (chunk execution calls it between re-plans)."""
        self._history.append({k: np.asarray(obs[k]) for k in [*self.cameras, STATE]})

    def reset(self) -> None:
        """Clear the observation history and the inference times (call at the start of each episode)."""
        self._history: collections.deque = collections.deque(maxlen=self.cfg.n_obs)
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
        atomic_write_json(d / "dataset.json", self.dataset_info)
        return d

    def check_compatible(self, features: dict[str, Any], fps: int, what: str = "dataset") -> None:
        """Raise CheckpointError naming every difference between this policy's inputs/outputs and `features`/`fps`."""
        diffs = []
        if int(fps) != int(self.dataset_info["fps"]):
            diffs.append(f"fps: checkpoint {self.dataset_info['fps']}, {what} {fps}")
        for key in [*self.cameras, STATE, ACTION]:
            want = self.dataset_info["features"][key]
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


KEYPOINT_KEY = "grounding.keypoints"  # batch key for precomputed keypoints (see VLAPolicy.keypoint_table)


def split_keypoints(kp: torch.Tensor) -> dict[str, torch.Tensor]:
    """(B, K, 5 + C) rows of `keypoint_table` → the grounding output fields uv, xyz, feat."""
    return {"uv": kp[..., :2], "xyz": kp[..., 2:5], "feat": kp[..., 5:]}


def refuse_labels(obs: dict[str, Any]) -> None:
    """A policy acts on frames, the instruction and proprioception only: training-only `label.*` inputs are an error."""
    bad = sorted(k for k in obs if is_label(k))
    if bad:
        raise FeatureMismatch(f"observation carries training-only labels {bad}; a policy never takes privileged inputs "
                              "at inference (send cameras and observation.state only)")


def dataset_info(ds: Any) -> dict[str, Any]:
    """A policy's `dataset_info` (its dataset.json) when trained on `ds`."""
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
    policy = VLAPolicy(cfg, dataset_info(ds), verbose=verbose)
    policy.normalizer.load_stats(ds.stats)
    if cfg.encoder_init:
        if not hasattr(policy.vision, "load_pretrained"):
            raise ConfigError(f"--model.encoder_init is for encoders with a pretrained layout (resnet18), not {cfg.encoder!r}")
        policy.vision.load_pretrained(cfg.encoder_init)
    if policy.grounding is not None and cfg.grounding_init:
        load_grounding(policy.grounding, cfg.grounding_init, frozen=cfg.grounding_freeze)
    return policy


def grounding_camera_key(cfg: PolicyConfig, cameras: list[str]) -> str:
    """The feature name of the grounding camera, or a ConfigError naming the cameras there are."""
    key = f"observation.images.{cfg.grounding_camera}"
    if key not in cameras:
        raise ConfigError(f"--model.grounding_camera {cfg.grounding_camera!r} is not a camera of the data (cameras: "
                          f"{[c.removeprefix('observation.images.') for c in cameras]}); choose one or set --model.grounding false")
    return key


def load_grounding(net: GroundingNet, source: str, frozen: bool = False) -> Path:
    """Load grounding weights: "pretrained" (shipped with vlaforge) or a grounding.safetensors file or its directory.

    Weights of a "current" module start a "moves" one to be trained (each move's keypoints begin as the current move's);
    `frozen` refuses that, since the keypoints of every move would stay the current move's."""
    from safetensors.torch import load_file

    from vlaforge.models.pretrained import grounding_weights

    path = grounding_weights() if source == "pretrained" else Path(source)
    if path.is_dir():
        path = path / "grounding.safetensors"
    if not path.exists():
        raise CheckpointError(f"grounding weights {path} do not exist; run `vlaforge pretrain grounding` or set --model.grounding_init ''")
    state = load_file(str(path))
    if net.slots == "moves" and "slot" not in state and state.get("query") is not None and len(state["query"]) * 2 == net.K:
        if frozen:
            raise CheckpointError(f"{path} grounds the current move only; a frozen module with --model.grounding_slots moves "
                                  "needs weights trained for every move: `vlaforge pretrain grounding --slots moves --init pretrained "
                                  "--dataset DATA --out G`, then --model.grounding_init G (or --model.grounding_freeze false)")
        state["query"], state["slot"] = state["query"].repeat(2, 1), torch.zeros_like(net.slot)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path} does not fit this grounding module (--model.grounding_width {net.width}, "
                              f"--model.grounding_slots {net.slots}?): {str(e).splitlines()[0]}") from None
    return path


def load_policy(path: str | Path, device: str = "cpu") -> VLAPolicy:
    """Load a policy from a checkpoint or run directory; every file is checked against the others."""
    d = resolve_checkpoint(path)
    missing = [f for f in CHECKPOINT_FILES if not (d / f).exists()]
    if missing:
        raise CheckpointError(f"checkpoint {d} is missing {missing}")
    try:
        raw = json.loads((d / "config.json").read_text())
        raw.setdefault("encode_grounding_camera", True)  # checkpoints from before the option encoded every camera
        cfg = from_dict(PolicyConfig, raw)
        info = json.loads((d / "dataset.json").read_text())
        norm = json.loads((d / "normalization.json").read_text())
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"checkpoint {d} has a malformed JSON file ({e})") from None
    policy = VLAPolicy(cfg, info)
    from safetensors.torch import load_file

    state = load_file(str(d / "model.safetensors"))
    if cfg.grounding and "normalizer.kp_mean" not in state:  # saved before keypoints were normalized: they ran unscaled
        state["normalizer.kp_mean"], state["normalizer.kp_std"] = policy.normalizer.kp_mean, policy.normalizer.kp_std
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
