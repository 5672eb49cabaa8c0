"""Blur: Gaussian (defocus) and motion blur (a camera or scene moving during the exposure), as per-sample depthwise convolutions."""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from vlaforge.data.augment.base import ImageAugmentation, register, uniform


def depthwise(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Convolve x (n, T, 3, H, W) with one kernel per sample, kernels (n, kh, kw), shared over T and channels; reflect-padded."""
    n, T, C, H, W = x.shape
    kh, kw = kernels.shape[-2:]
    w = kernels.to(x.dtype)[:, None, None].expand(n, T * C, 1, kh, kw).reshape(n * T * C, 1, kh, kw)
    y = F.pad(x.reshape(1, n * T * C, H, W), (kw // 2, kw // 2, kh // 2, kh // 2), mode="reflect")
    return F.conv2d(y, w, groups=n * T * C).reshape(n, T, C, H, W)


def gaussian_kernels(sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """(n,) sigmas → (n, 2r+1) normalized 1-D Gaussian kernels."""
    t = torch.arange(-radius, radius + 1, dtype=sigma.dtype, device=sigma.device)
    k = torch.exp(-0.5 * (t[None] / sigma[:, None].clamp(min=1e-3)) ** 2)  # (n, 2r+1)
    return k / k.sum(-1, keepdim=True)


def line_kernels(length: torch.Tensor, angle: torch.Tensor, size: int, samples: int = 32) -> torch.Tensor:
    """(n,) lengths (px) and angles (rad) → (n, size, size) normalized anti-aliased line kernels."""
    n = length.shape[0]
    t = torch.linspace(-0.5, 0.5, samples, device=length.device)  # positions along the line
    px = (t[None] * length[:, None] * angle.cos()[:, None]) + size // 2  # (n, S)
    py = (t[None] * length[:, None] * angle.sin()[:, None]) + size // 2
    k = torch.zeros(n, size * size, device=length.device)
    x0, y0 = px.floor(), py.floor()
    for dx in (0, 1):
        for dy in (0, 1):  # bilinear splat of each sample point onto its 4 neighbours
            xi, yi = x0 + dx, y0 + dy
            w = (1 - (px - xi).abs()) * (1 - (py - yi).abs())
            ok = (xi >= 0) & (xi < size) & (yi >= 0) & (yi < size)
            k.scatter_add_(1, (yi.clamp(0, size - 1) * size + xi.clamp(0, size - 1)).long(), w * ok)
    k = k.reshape(n, size, size)
    return k / k.sum((-2, -1), keepdim=True)


@register("blur")
class Blur(ImageAugmentation):
    """Gaussian blur (defocus) with a per-sample sigma in pixels."""

    showcase = {"sigma": (1.5, 1.5)}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """sigma: blur standard deviation range in pixels."""

        sigma: tuple[float, float] = (0.3, 1.0)

    def check(self) -> None:
        lo, hi = self.range("sigma", 0.0, 8.0)
        self.radius = max(1, math.ceil(2.5 * hi))

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        return {"sigma": uniform(n, *self.range("sigma"), g)}

    def transform(self, x: torch.Tensor, p: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        k = gaussian_kernels(p["sigma"].to(x.dtype), self.radius)  # (n, K)
        return depthwise(depthwise(x, k[:, None, :]), k[:, :, None])  # rows, then columns


@register("motion_blur")
class MotionBlur(ImageAugmentation):
    """Motion blur: average along a line of `length` pixels at a per-sample angle (the same streak on every frame)."""

    showcase = {"length": (9.0, 9.0)}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """length: streak length range in pixels; the direction is uniform over all angles."""

        length: tuple[float, float] = (3.0, 7.0)

    def check(self) -> None:
        lo, hi = self.range("length", 1.0, 31.0)
        self.size = 2 * math.ceil(hi / 2) + 1

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        return {"length": uniform(n, *self.range("length"), g), "angle": uniform(n, 0.0, math.pi, g)}

    def transform(self, x: torch.Tensor, p: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        return depthwise(x, line_kernels(p["length"], p["angle"], self.size))
