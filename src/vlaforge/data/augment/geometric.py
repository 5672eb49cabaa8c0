"""Geometric augmentations: flip and 90° turns move actions and words with the image; crop, rotate and shear model camera jitter.

Why crop/rotate/shear leave actions alone: actions and states are in the robot's (world) frame, not
the camera's. A small zoom, tilt or skew of the image is what a nudged or re-mounted camera sees
while the robot does exactly the same thing, so the labels stay true. Large turns are refused
(`rotate` above 30°): past camera jitter the picture no longer matches any camera on that robot.
A flip or a 90° turn does change what the picture shows the robot doing, so those transform the
actions, the state and the instruction too, or refuse when the names do not say how.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from vlaforge.data.augment import axes
from vlaforge.data.augment.base import (
    ACTION, STATE, AugBatch, AugmentRefused, ImageAugmentation, choice, register, uniform,
)
from vlaforge.data.augment.language import swap_left_right
from vlaforge.errors import ConfigError

MAX_JITTER_DEGREES = 30.0


def warp(x: torch.Tensor, theta: torch.Tensor, padding: str = "zeros") -> torch.Tensor:
    """Resample x (n, T, 3, H, W) with per-sample affine maps theta (n, 2, 3) from output to input coordinates."""
    n, T, C, H, W = x.shape
    th = theta.to(x.dtype).repeat_interleave(T, dim=0)  # (n*T, 2, 3)
    grid = F.affine_grid(th, [n * T, C, H, W], align_corners=False)  # (n*T, H, W, 2)
    out = F.grid_sample(x.reshape(n * T, C, H, W), grid, mode="bilinear", padding_mode=padding, align_corners=False)
    return out.reshape(n, T, C, H, W)


def _aspect(x: torch.Tensor) -> float:
    return x.shape[-1] / x.shape[-2]  # W / H: normalized coordinates stretch rotations on non-square images


@register("flip")
class Flip(ImageAugmentation):
    """Horizontal mirror of every camera; mirrors the lateral (x) action/state axes and swaps left/right in the instruction."""

    moves_pixels = True

    moves_actions = True

    @dataclasses.dataclass(frozen=True)
    class Params:
        """center_x: the world x the cameras look along (state x mirrors about it; deltas just change sign)."""

        center_x: float = 0.0

    def check(self) -> None:
        self.action_map = axes.mirror_affine(self.spec.action_names, ACTION, self.params.center_x, "flip")
        self.state_map = axes.mirror_affine(self.spec.state_names, STATE, self.params.center_x, "flip") if self.spec.has_state else None

    def transform(self, x: torch.Tensor, p: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        return x.flip(-1)  # (n, T, 3, H, W)

    def apply(self, batch: AugBatch, idx: torch.Tensor, params: dict[str, torch.Tensor], g: torch.Generator) -> None:
        super().apply(batch, idx, params, g)
        for attr, m in (("action", self.action_map), ("state", self.state_map)):
            v = getattr(batch, attr)
            if v is not None and m is not None:
                scale, offset = (t.to(v.device, v.dtype) for t in m)
                v[idx] = v[idx] * scale + offset  # (n, T|H, D)
        for i in idx.tolist():
            if batch.task:
                batch.task[i] = swap_left_right(batch.task[i])

    def rewordings(self, text: str) -> set[str] | None:
        return {swap_left_right(text)}


@register("rot90")
class Rot90(ImageAugmentation):
    """Turn every camera by 90°, 180° or 270°, and the x/y actions and state with it; only for top-down cameras."""

    moves_pixels = True

    moves_actions = True
    showcase = {"topdown": "y_down", "k": (1,)}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """topdown: "" (refuse), "y_down" or "y_up": the cameras look straight down with image right = +x and image down (or up) = +y. k: quarter turns to choose from."""

        topdown: str = ""
        k: tuple[int, ...] = (1, 2, 3)
        center: tuple[float, float] = (0.0, 0.0)

    def check(self) -> None:
        what = "rot90"
        if self.params.topdown not in ("y_down", "y_up"):
            raise AugmentRefused(
                "rot90: a 90° image turn is a 90° turn of the world about the vertical only for a camera that looks straight "
                "down; for an oblique camera (like the tabletop suite's front and wrist cameras) no turn of the world gives "
                "that picture, so no action transform is consistent with it and it is refused. If your cameras look "
                'straight down, set params.topdown to "y_down" (image right = +x, image down = +y) or "y_up".'
            )
        bad = [s for s in self.spec.image_sizes if s[0] != s[1]]
        if bad:
            raise AugmentRefused(f"rot90: camera images must be square to turn by 90° in place; found {bad}")
        if not self.params.k or any(k not in (1, 2, 3) for k in self.params.k):
            raise ConfigError(f"rot90.params.k must list quarter turns from 1, 2, 3; got {list(self.params.k)}")
        if len(self.params.center) != 2:
            raise ConfigError(f"rot90.params.center must be [x, y], got {list(self.params.center)}")
        self.action_axes = axes.planar_rotation(self.spec.action_names, ACTION, what)
        self.state_axes = axes.planar_rotation(self.spec.state_names, STATE, what) if self.spec.has_state else None

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        return {"k": choice(n, self.params.k, g).long()}

    def transform(self, x: torch.Tensor, p: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        out = x.clone()
        for k in (1, 2, 3):
            sel = p["k"] == k
            if sel.any():
                out[sel] = torch.rot90(x[sel], k, dims=(-2, -1))  # counterclockwise as displayed
        return out

    def world_matrix(self, k: torch.Tensor) -> torch.Tensor:
        """(n, 2, 2) rotation of world (x, y) for k counterclockwise quarter turns of the image."""
        r = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])  # image (u right, v down): a CCW turn maps (u, v) -> (v, -u)
        m = torch.eye(2) if self.params.topdown == "y_down" else torch.diag(torch.tensor([1.0, -1.0]))
        mats = [torch.linalg.matrix_power(r, int(j)) for j in range(4)]
        return torch.stack([m @ mats[int(j)] @ m for j in k.tolist()]) if len(k) else torch.zeros(0, 2, 2)

    def apply(self, batch: AugBatch, idx: torch.Tensor, params: dict[str, torch.Tensor], g: torch.Generator) -> None:
        super().apply(batch, idx, params, g)
        rot = self.world_matrix(params["k"])  # (n, 2, 2)
        c = torch.tensor(self.params.center)
        for attr, ax in (("action", self.action_axes), ("state", self.state_axes)):
            v = getattr(batch, attr)
            if v is None or ax is None:
                continue
            ix, iy, delta = ax
            xy = v[idx][..., [ix, iy]]  # (n, T, 2)
            cc = (torch.zeros(2) if delta else c).to(v.device, v.dtype)
            new = torch.einsum("nij,ntj->nti", rot.to(v.device, v.dtype), xy - cc) + cc
            sub = v[idx]
            sub[..., ix], sub[..., iy] = new[..., 0], new[..., 1]
            v[idx] = sub


@register("crop")
class Crop(ImageAugmentation):
    """Random zoom-in crop resized back to the full image (camera jitter: a closer or shifted camera)."""

    moves_pixels = True

    showcase = {"scale": (0.5, 0.5)}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """scale: kept fraction of the image area; ratio: aspect ratio (w/h) of the crop."""

        scale: tuple[float, float] = (0.8, 1.0)
        ratio: tuple[float, float] = (1.0, 1.0)

    def check(self) -> None:
        self.range("scale", 0.05, 1.0)
        self.range("ratio", 0.25, 4.0)

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        area = uniform(n, *self.range("scale"), g)
        lr = uniform(n, *(math.log(r) for r in self.range("ratio")), g).exp()
        sw, sh = (area * lr).sqrt().clamp(max=1.0), (area / lr).sqrt().clamp(max=1.0)
        return {"sw": sw, "sh": sh, "tx": (1 - sw) * (2 * torch.rand(n, generator=g) - 1), "ty": (1 - sh) * (2 * torch.rand(n, generator=g) - 1)}

    def transform(self, x: torch.Tensor, p: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        z = torch.zeros_like(p["sw"])
        theta = torch.stack([torch.stack([p["sw"], z, p["tx"]], -1), torch.stack([z, p["sh"], p["ty"]], -1)], 1)  # (n, 2, 3)
        return warp(x, theta, "border")


class _JitterAngle(ImageAugmentation):
    """Base of rotate and shear: one `degrees` limit, refused beyond camera jitter."""

    moves_pixels = True

    showcase = {"degrees": 20.0}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """degrees: largest angle either way (at most 30: beyond that it is not camera jitter)."""

        degrees: float = 8.0

    def check(self) -> None:
        if not 0 < self.params.degrees <= MAX_JITTER_DEGREES:
            raise AugmentRefused(
                f"{self.name}.params.degrees = {self.params.degrees}: {self.name} models camera jitter, which keeps world-frame "
                f"actions true only for small angles; use 0 < degrees <= {MAX_JITTER_DEGREES:g}, or rot90 for top-down cameras"
            )


@register("rotate")
class Rotate(_JitterAngle):
    """Small in-plane rotation of every camera (camera roll jitter), up to `degrees` either way."""

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        return {"angle": uniform(n, -self.params.degrees, self.params.degrees, g) * math.pi / 180}

    def transform(self, x: torch.Tensor, p: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        a, r = p["angle"], _aspect(x)
        c, s, z = a.cos(), a.sin(), torch.zeros_like(a)
        theta = torch.stack([torch.stack([c, -s / r, z], -1), torch.stack([s * r, c, z], -1)], 1)  # (n, 2, 3)
        return warp(x, theta)


@register("shear")
class Shear(_JitterAngle):
    """Small horizontal and vertical shear of every camera (a slightly skewed camera), up to `degrees` per image axis."""

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        d = self.params.degrees * math.pi / 180
        return {"sx": uniform(n, -d, d, g).tan(), "sy": uniform(n, -d, d, g).tan()}

    def transform(self, x: torch.Tensor, p: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        one, z, r = torch.ones_like(p["sx"]), torch.zeros_like(p["sx"]), _aspect(x)
        theta = torch.stack([torch.stack([one, p["sx"] / r, z], -1), torch.stack([p["sy"] * r, one, z], -1)], 1)  # (n, 2, 3)
        return warp(x, theta)

