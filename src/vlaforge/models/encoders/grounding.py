"""Grounding: find the named object and its goal in one camera, as heatmaps with soft-argmax keypoints.

The named object is a few pixels wide, so this path keeps stride 4 (a 24x24 grid at 96 px), adds
pixel coordinates as input channels (CoordConv) and is conditioned on the instruction per keypoint
(a learned query per keypoint attends over the instruction's token states; FiLM on the stride-4 features). One heatmap per keypoint (the object to handle,
the place it goes); soft-argmax turns each into image coordinates and a feature vector, and a small
MLP maps them to table coordinates. Supervision comes from the simulator's training-only labels
(`label.target_uv`, `label.goal_uv`, `label.target`, `label.goal`); at inference it sees only the
frame and the instruction. The keypoints become tokens of the policy's trunk.

Which keypoints (`SLOTS`): "current" finds the object of the move under way and its goal, so in a two-move task the
module must tell from one frame which move that is. "moves" finds each move's object and goal for the whole episode
(the first move's, then the last move's; one-move tasks repeat theirs), so every keypoint names a fixed thing and the
policy's trunk reads the progress from where they are (the first object already in its bin). Its labels come from a
whole episode (`slot_label_table`), not from one frame.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

KEYPOINTS = ("target", "goal")
# Keypoints per `--model.grounding_slots`, named by the label.* stats that normalize them.
SLOTS = {"current": KEYPOINTS, "moves": (*KEYPOINTS, *KEYPOINTS)}
SLOT_KEY = "grounding.slot_labels"  # batch key: (B, K, 5) labels (u, v, x, y, z) per keypoint, from `slot_label_table`


def keypoint_names(slots: str) -> tuple[str, ...]:
    """The keypoints of a `--model.grounding_slots` choice, or a ConfigError naming the choices."""
    from vlaforge.errors import ConfigError

    if slots not in SLOTS:
        raise ConfigError(f"--model.grounding_slots {slots!r}: choose from {list(SLOTS)}")
    return SLOTS[slots]


def _conv(a: int, b: int, k: int = 3, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(a, b, k, stride=stride, padding=dilation * (k // 2), dilation=dilation)


def coord_channels(n: int, h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Pixel-centre coordinates in [-1, 1] as two channels (n, 2, h, w)."""
    ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h, device=device, dtype=dtype)
    xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w, device=device, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")  # (h, w) each
    return torch.stack([gx, gy])[None].expand(n, -1, -1, -1)


class GroundingNet(nn.Module):
    """Frame + instruction (sentence and token embeddings) → keypoint heatmaps, image coordinates, features and
    table positions."""

    def __init__(self, width: int = 64, text_dim: int = 384, slots: str = "current", attn_dim: int = 128):
        super().__init__()
        C, n_keypoints = width, len(keypoint_names(slots))
        self.width, self.K, self.slots = width, n_keypoints, slots
        self.stem = nn.Sequential(_conv(5, 32, 5, stride=2), nn.GroupNorm(8, 32), nn.GELU(),
                                  _conv(32, C, 3, stride=2), nn.GroupNorm(8, C), nn.GELU())  # stride 4
        self.convs = nn.ModuleList([_conv(C + 2, C), _conv(C, C, dilation=2), _conv(C, C, dilation=4)])
        self.norms = nn.ModuleList([nn.GroupNorm(8, C) for _ in self.convs])
        # Each keypoint reads its own words: a learned query attends over the instruction's token states, so
        # the goal's heatmap is conditioned on the goal's words and not on the object's (held-out combinations).
        self.query = nn.Parameter(torch.randn(n_keypoints, attn_dim) * 0.02)
        self.key = nn.Linear(text_dim, attn_dim)
        self.film = nn.Linear(text_dim, 2 * C)  # attended words → scale, shift
        nn.init.normal_(self.film.weight, std=0.02)
        nn.init.zeros_(self.film.bias)
        if slots == "moves":  # put_all's two moves read the same words: a learned offset per keypoint tells them apart
            self.slot = nn.Parameter(torch.zeros(n_keypoints, 2 * C))
        self.refine = nn.Sequential(_conv(C, C), nn.GroupNorm(8, C), nn.GELU())
        self.heat = nn.Conv2d(C, 1, 1)
        self.to_xyz = nn.Sequential(nn.Linear(2 + C, 128), nn.GELU(), nn.Linear(128, 3))

    def words(self, text: torch.Tensor) -> torch.Tensor:
        """text (N, 1 + L, 384) → the token states each keypoint attends to (N, K, 384)."""
        from vlaforge.models.encoders.language import token_mask

        tok, mask = text[:, 1:], token_mask(text)  # (N, L, 384), (N, L)
        att = torch.einsum("kd,nld->nkl", self.query, self.key(tok)) / self.query.shape[1] ** 0.5  # (N, K, L)
        att = att.masked_fill(~mask[:, None], -1e4).softmax(-1)
        return att @ tok  # (N, K, 384)

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> dict[str, torch.Tensor]:
        """image uint8 or float in [0, 255] (N, 3, H, W), text (N, 1 + L, 384) from `TextEmbedder.features` →
        logits (N, K, h, w), uv (N, K, 2) in [0, 1], feat (N, K, C), xyz (N, K, 3)."""
        N, _, H, W = image.shape
        K, C = self.K, self.width
        x = (image.float() / 255.0 - 0.5) / 0.25  # fixed normalization, so the weights move between datasets
        x = self.stem(torch.cat([x, coord_channels(N, H, W, x.device, x.dtype)], 1))  # (N, C, h, w)
        h, w = x.shape[-2:]
        coords = coord_channels(N, h, w, x.device, x.dtype)  # (N, 2, h, w)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            y = F.gelu(norm(conv(torch.cat([x, coords], 1) if i == 0 else x)))
            x = y if i == 0 else x + y  # (N, C, h, w)
        film = self.film(self.words(text))  # (N, K, 2C)
        if self.slots == "moves":
            film = film + self.slot
        film = film.reshape(N * K, 2, C, 1, 1)
        xk = x[:, None].expand(-1, K, -1, -1, -1).reshape(N * K, C, h, w)
        hk = self.refine(F.gelu(xk * (1 + film[:, 0]) + film[:, 1]))  # (N*K, C, h, w)
        logits = self.heat(hk).view(N, K, h, w)  # (N, K, h, w)
        prob = logits.flatten(2).softmax(-1)  # (N, K, h*w)
        grid = (coords[0].flatten(1).t() + 1) / 2  # (h*w, 2) cell centres as (u, v) in [0, 1]
        uv = prob @ grid  # (N, K, 2)
        feat = prob @ x.flatten(2).transpose(1, 2)  # (N, K, C) shared features at each keypoint
        xyz = self.to_xyz(torch.cat([uv, feat], -1))  # (N, K, 3)
        return {"logits": logits, "uv": uv, "feat": feat, "xyz": xyz}


def grounding_loss(out: dict[str, torch.Tensor], uv: torch.Tensor, xyz: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Heatmap KL against a Gaussian at the labelled cell + L1 on soft-argmax uv (cells) + L1 on xyz (cm).

    uv (N, K, 2) labels in [0, 1] (keypoints outside the image are masked), xyz (N, K, 3) metres."""
    logits = out["logits"]  # (N, K, h, w)
    N, K, h, w = logits.shape
    inside = ((uv >= 0) & (uv <= 1)).all(-1)  # (N, K)
    cy = torch.arange(h, device=uv.device, dtype=uv.dtype) + 0.5
    cx = torch.arange(w, device=uv.device, dtype=uv.dtype) + 0.5
    dy = (cy[None, None, :] - uv[..., 1:2] * h) ** 2  # (N, K, h)
    dx = (cx[None, None, :] - uv[..., 0:1] * w) ** 2  # (N, K, w)
    target = torch.exp(-(dy[..., :, None] + dx[..., None, :]) / (2 * sigma**2)).flatten(2)  # (N, K, h*w)
    target = target / target.sum(-1, keepdim=True).clamp(min=1e-8)
    # KL(target || predicted): cross-entropy minus the target's own entropy, so a perfect heatmap scores 0.
    ce = (target * (target.clamp(min=1e-12).log() - logits.flatten(2).log_softmax(-1))).sum(-1)  # (N, K)
    uv_l1 = (out["uv"] - uv).abs().sum(-1) * h  # (N, K) in cells
    xyz_l1 = (out["xyz"] - xyz).abs().sum(-1) * 100  # (N, K) in cm
    per = ce + 0.1 * uv_l1 + 0.1 * xyz_l1
    m = inside.float()
    return (per * m).sum() / m.sum().clamp(min=1)


@torch.no_grad()
def grounding_metrics(out: dict[str, torch.Tensor], labels: dict[str, torch.Tensor], slot_labels: torch.Tensor | None = None) -> dict[str, float]:
    """Right-object rate (predicted object keypoint nearest the named object, in the image) and median localization
    errors (cm), over every object keypoint.

    `labels` as `current_labels` returns them; `slot_labels` (N, K, 5) from `slot_label_table` when the keypoints are
    not the current move's ("moves")."""
    uv = out["uv"].float()  # (N, K, 2)
    objs_uv = labels["label.objects_uv"].float().view(uv.shape[0], -1, 2)  # (N, M, 2)
    if slot_labels is None:
        true_uv, true_xyz = label_targets(labels)  # (N, K, 2), (N, K, 3)
    else:
        true_uv, true_xyz = slot_labels[..., :2].float(), slot_labels[..., 2:].float()
    obj, goal = slice(0, None, 2), slice(1, None, 2)  # keypoints alternate object, goal
    named = (objs_uv[:, None] - true_uv[:, obj, None]).norm(dim=-1).argmin(-1)  # (N, K/2)
    picked = (objs_uv[:, None] - uv[:, obj, None]).norm(dim=-1).argmin(-1)  # (N, K/2)
    err = (out["xyz"].float() - true_xyz).norm(dim=-1) * 100  # (N, K) cm
    return {"right_object": float((named == picked).float().mean()), "target_err_cm": float(err[:, obj].median()),
            "goal_err_cm": float(err[:, goal].median())}


def current_labels(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The batch's `label.*` tensors at the current frame, (N, D) each (the loader gives (N, 1, D))."""
    return {k: (v[:, -1] if v.dim() == 3 else v).float() for k, v in batch.items() if k.startswith("label.") and not k.endswith("_is_pad")}


def label_targets(labels: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """uv (N, K, 2) and xyz (N, K, 3) keypoint labels from `current_labels`."""
    uv = torch.stack([labels[f"label.{k}_uv"] for k in KEYPOINTS], 1)
    xyz = torch.stack([labels[f"label.{k}"] for k in KEYPOINTS], 1)
    return uv, xyz


def batch_targets(batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """uv (N, K, 2) and xyz (N, K, 3) keypoint labels of a batch: its `SLOT_KEY` table rows when it has them, else the
    current move's."""
    if SLOT_KEY in batch:
        slot = batch[SLOT_KEY].float()  # (N, K, 5)
        return slot[..., :2], slot[..., 2:]
    return label_targets(current_labels(batch))


def move_slot_labels(objs: np.ndarray, objs_uv: np.ndarray, target: np.ndarray, goal: np.ndarray, goal_uv: np.ndarray) -> np.ndarray:
    """One episode's per-frame labels → (T, 4, 5): the first move's object and goal, then the last move's, as (u, v, x, y, z).

    objs (T, M, 3), objs_uv (T, M, 2), target (T, 3), goal (T, 3), goal_uv (T, 2). The object of a frame's move is the
    one at `target`; a move's goal before or after the move is its goal at the nearest frame of the move."""
    T = len(target)
    t = np.arange(T)
    k = np.linalg.norm(objs - target[:, None], axis=-1).argmin(1)  # (T,) the object being moved
    others = k[k != k[0]]
    out = np.empty((T, 4, 5), np.float32)
    for m, obj in enumerate((k[0], others[-1] if len(others) else k[0])):
        span = np.flatnonzero(k == obj)
        near = span[np.abs(t[:, None] - span[None]).argmin(1)]  # (T,) the move's nearest frame
        out[:, 2 * m, :2], out[:, 2 * m, 2:] = objs_uv[t, obj], objs[t, obj]
        out[:, 2 * m + 1, :2], out[:, 2 * m + 1, 2:] = goal_uv[near], goal[near]
    return out


def slot_label_table(ds: Any) -> torch.Tensor:
    """`move_slot_labels` for every episode of `ds` → (num_frames, 4, 5), by dataset position."""
    from vlaforge.errors import DatasetError

    need = ("label.objects", "label.objects_uv", "label.target", "label.goal", "label.goal_uv")
    missing = [k for k in need if k not in ds.features]
    if missing:
        raise DatasetError(f"{ds.root} lacks {missing}: --model.grounding_slots moves needs the sim's label.* features")
    col = {k: ds.column(k) for k in need}
    M = col["label.objects"].shape[1] // 3
    out = np.zeros((ds.num_frames, 4, 5), np.float32)
    for e in ds.episode_meta:
        a, b = ds.episode_range(int(e["episode_index"]))
        out[a:b] = move_slot_labels(col["label.objects"][a:b].reshape(-1, M, 3), col["label.objects_uv"][a:b].reshape(-1, M, 2),
                                    col["label.target"][a:b], col["label.goal"][a:b], col["label.goal_uv"][a:b])
    return torch.from_numpy(out)


def row_lookup(ds: Any) -> Callable[[np.ndarray], torch.Tensor]:
    """A function: batch["index"] values (B,) → dataset positions (B,), for tables built by position (`slot_label_table`,
    keypoint tables)."""
    index = np.asarray(ds.column("index"), np.int64)
    row_of = np.full(int(index.max()) + 1, -1, np.int64)
    row_of[index] = np.arange(len(index))
    return lambda idx: torch.from_numpy(row_of[np.asarray(idx, np.int64)])
