"""Occlusion: cutout (solid boxes over the view) and mosaic (distractor patches pasted from other samples).

Both stay put over the whole sample: the same boxes, at the same image position, on every frame
and camera, like a smudge on the lens or an object that was left on the table.
"""

from __future__ import annotations

import dataclasses

import torch

from vlaforge.data.augment.base import AugBatch, ImageAugmentation, register
from vlaforge.errors import ConfigError


def _boxes(n: int, count: int, size: tuple[float, float], g: torch.Generator) -> dict[str, torch.Tensor]:
    """n samples x `count` boxes: side (fraction of the image), top-left y/x (fractions), and which boxes are used."""
    side = size[0] + (size[1] - size[0]) * torch.rand(n, count, generator=g)  # (n, K)
    y = (1 - side) * torch.rand(n, count, generator=g)
    x = (1 - side) * torch.rand(n, count, generator=g)
    used = torch.arange(count)[None] < torch.randint(1, count + 1, (n, 1), generator=g)  # (n, K): 1..count boxes
    return {"side": side, "y": y, "x": x, "used": used}


def box_mask(side: torch.Tensor, y: torch.Tensor, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """(n,) box side/top/left fractions → bool (n, H, W) masks; square in pixels (side is a fraction of min(H, W))."""
    px = (side * min(H, W)).round().clamp(min=1)  # (n,)
    y0, x0 = (y * H).floor(), (x * W).floor()
    rows = torch.arange(H, device=side.device, dtype=side.dtype)[None, :, None]
    cols = torch.arange(W, device=side.device, dtype=side.dtype)[None, None, :]
    return (rows >= y0[:, None, None]) & (rows < (y0 + px)[:, None, None]) & (cols >= x0[:, None, None]) & (cols < (x0 + px)[:, None, None])


class _BoxParams:
    def _check_boxes(self) -> None:
        if not 1 <= self.params.count <= 8:
            raise ConfigError(f"{self.name}.params.count must be 1..8 boxes, got {self.params.count}")
        self.range("size", 0.01, 0.9)


@register("cutout")
class Cutout(_BoxParams, ImageAugmentation):
    """Up to `count` solid boxes of a random color over every camera (occlusion), fixed for the whole sample."""

    showcase = {"count": 2, "size": (0.25, 0.3)}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """count: most boxes per sample (1..count are drawn); size: box side as a fraction of the image side."""

        count: int = 2
        size: tuple[float, float] = (0.1, 0.25)

    def check(self) -> None:
        self._check_boxes()

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        return {**_boxes(n, self.params.count, self.range("size"), g), "color": torch.rand(n, self.params.count, 3, generator=g)}

    def transform(self, x: torch.Tensor, p: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        H, W = x.shape[-2:]
        for k in range(self.params.count):
            m = box_mask(p["side"][:, k], p["y"][:, k], p["x"][:, k], H, W) & p["used"][:, k, None, None]  # (n, H, W)
            x = torch.where(m[:, None, None], p["color"][:, k].to(x.dtype)[:, None, :, None, None], x)  # (n, T, 3, H, W)
        return x


@register("mosaic")
class Mosaic(_BoxParams, ImageAugmentation):
    """Distractor paste: square patches cut from another sample of the batch pasted over the view (a cluttered table)."""

    showcase = {"count": 2, "size": (0.3, 0.35)}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """count: most patches per sample; size: patch side as a fraction of the image side. A batch of one (offline episodes) uses its own first frame."""

        count: int = 2
        size: tuple[float, float] = (0.15, 0.3)

    def check(self) -> None:
        self._check_boxes()

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        size, k = self.range("size"), self.params.count
        src = _boxes(n, k, size, g)
        return {**src, "sy": (1 - src["side"]) * torch.rand(n, k, generator=g), "sx": (1 - src["side"]) * torch.rand(n, k, generator=g),
                "donor": torch.rand(n, generator=g)}

    def apply(self, batch: AugBatch, idx: torch.Tensor, params: dict[str, torch.Tensor], g: torch.Generator) -> None:
        B = batch.size
        donor = (idx + 1 + (params["donor"] * (B - 1)).long()) % B if B > 1 else idx  # never the sample itself when B > 1
        dev = batch.device
        p = {k: v.to(dev) for k, v in params.items()}
        for cam in batch.cameras:
            full = batch.image(cam)  # (B, T, 3, H, W)
            src = full[donor.to(dev), 0]  # (n, 3, H, W): the donor's first frame, so the distractor holds still
            x = full[idx]
            H, W = x.shape[-2:]
            for k in range(self.params.count):
                side, used = p["side"][:, k], p["used"][:, k]
                m = box_mask(side, p["y"][:, k], p["x"][:, k], H, W) & used[:, None, None]  # (n, H, W)
                # Source pixel for every destination pixel: the same offset inside the source box.
                rows = torch.arange(H, device=dev)[None, :, None] - (p["y"][:, k] * H).floor().long()[:, None, None] + (p["sy"][:, k] * H).floor().long()[:, None, None]
                cols = torch.arange(W, device=dev)[None, None, :] - (p["x"][:, k] * W).floor().long()[:, None, None] + (p["sx"][:, k] * W).floor().long()[:, None, None]
                flat = (rows.clamp(0, H - 1) * W + cols.clamp(0, W - 1)).reshape(len(idx), 1, H * W).expand(-1, 3, -1)  # (n, 3, H*W)
                patch = src.reshape(len(idx), 3, H * W).gather(2, flat).reshape(len(idx), 1, 3, H, W)
                x = torch.where(m[:, None, None], patch, x)  # (n, T, 3, H, W)
            full[idx] = x
