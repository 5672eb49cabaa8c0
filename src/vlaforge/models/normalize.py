"""Normalization inside the policy: raw observations in, raw actions out; stats saved with the weights.

State: (x - mean) / std. Actions: min/max → [-1, 1] (what the token head quantizes).
Images: uint8 → [0, 1] → (x - mean) / std per channel, from the dataset's image stats.
Grounding keypoints (image uv, table xyz): (x - mean) / std from the dataset's `label.*` stats, so a centimetre of
the named object's position weighs as much in the trunk as a centimetre of the hand's (in metres, unnormalized, it
weighed about 25x less, and the trained weights never made up for it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from vlaforge.errors import CheckpointError

EPS = 1e-6
KP_MIN_STD = 0.01  # a keypoint axis that hardly varies (a bin's height) is scaled as if it varied by 1 cm / 1% of the image


class Normalizer(nn.Module):
    """Holds the stats as buffers (saved in model.safetensors and normalization.json)."""

    def __init__(self, state_dim: int, action_dim: int, cameras: list[str], keypoints: tuple[str, ...] = ()):
        super().__init__()
        self.cameras, self.keypoint_names = cameras, keypoints
        self.register_buffer("state_mean", torch.zeros(state_dim))
        self.register_buffer("state_std", torch.ones(state_dim))
        self.register_buffer("action_min", -torch.ones(action_dim))
        self.register_buffer("action_max", torch.ones(action_dim))
        self.register_buffer("image_mean", torch.full((len(cameras), 3, 1, 1), 0.5))
        self.register_buffer("image_std", torch.full((len(cameras), 3, 1, 1), 0.25))
        if keypoints:
            self.register_buffer("kp_mean", torch.zeros(len(keypoints), 5))  # (K, u v x y z)
            self.register_buffer("kp_std", torch.ones(len(keypoints), 5))

    def load_stats(self, stats: dict[str, dict[str, Any]], state_key: str = "observation.state", action_key: str = "action") -> None:
        """Copy dataset stats (meta/stats.json form) into the buffers."""
        def arr(key: str, s: str, shape: torch.Size) -> torch.Tensor:
            try:
                v = torch.as_tensor(np.asarray(stats[key][s], np.float32)).reshape(shape)
            except (KeyError, RuntimeError, ValueError) as e:
                raise CheckpointError(f"normalization stats for {key!r}/{s} are missing or have the wrong shape (want {list(shape)}): {e}") from None
            return v

        self.state_mean.copy_(arr(state_key, "mean", self.state_mean.shape))
        self.state_std.copy_(arr(state_key, "std", self.state_std.shape).clamp(min=1e-3))
        self.action_min.copy_(arr(action_key, "min", self.action_min.shape))
        self.action_max.copy_(arr(action_key, "max", self.action_max.shape))
        for i, cam in enumerate(self.cameras):
            if cam in stats:
                self.image_mean[i].copy_(arr(cam, "mean", torch.Size([3, 1, 1])))
                self.image_std[i].copy_(arr(cam, "std", torch.Size([3, 1, 1])).clamp(min=1e-2))
        for k, name in enumerate(self.keypoint_names):  # datasets without labels keep the identity
            for cols, key in ((slice(0, 2), f"label.{name}_uv"), (slice(2, 5), f"label.{name}")):
                if key in stats:
                    n = cols.stop - cols.start
                    self.kp_mean[k, cols] = arr(key, "mean", torch.Size([n]))
                    self.kp_std[k, cols] = arr(key, "std", torch.Size([n])).clamp(min=KP_MIN_STD)

    def state(self, x: torch.Tensor) -> torch.Tensor:
        """Raw state (..., S) → normalized."""
        return (x - self.state_mean) / self.state_std

    def keypoints(self, kp: torch.Tensor) -> torch.Tensor:
        """Keypoints (..., K, 5) as (u, v, x, y, z) → normalized."""
        return (kp - self.kp_mean) / self.kp_std

    def action(self, a: torch.Tensor) -> torch.Tensor:
        """Raw actions (..., A) → [-1, 1]."""
        return 2 * (a - self.action_min) / (self.action_max - self.action_min).clamp(min=EPS) - 1

    def unaction(self, a: torch.Tensor) -> torch.Tensor:
        """Normalized actions (..., A) → raw."""
        return (a + 1) / 2 * (self.action_max - self.action_min) + self.action_min

    def image(self, x: torch.Tensor, cam: int) -> torch.Tensor:
        """uint8 (..., 3, H, W) → normalized float."""
        return (x.float() / 255.0 - self.image_mean[cam]) / self.image_std[cam]

    def to_json(self) -> dict[str, Any]:
        """normalization.json content."""
        return {
            "observation.state": {"mean": self.state_mean.tolist(), "std": self.state_std.tolist()},
            "action": {"min": self.action_min.tolist(), "max": self.action_max.tolist()},
            **{cam: {"mean": self.image_mean[i].tolist(), "std": self.image_std[i].tolist()} for i, cam in enumerate(self.cameras)},
            **({"keypoints": {"names": list(self.keypoint_names), "mean": self.kp_mean.tolist(), "std": self.kp_std.tolist()}}
               if self.keypoint_names else {}),
        }
