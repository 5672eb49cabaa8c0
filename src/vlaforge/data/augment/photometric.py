"""Photometric augmentations: color, light and sensor changes that leave geometry, actions and words as they are.

Color-changing ones respect the instructions: when the instructions name colors ("the red
block"), a shift large enough to turn one named color into another (or to erase color) is
refused, because the policy could no longer see what the words refer to.
"""

from __future__ import annotations

import dataclasses
import torch

from vlaforge.data.augment.base import AugmentRefused, ImageAugmentation, bcast, register, uniform
from vlaforge.data.augment.language import color_words

LUMA = (0.299, 0.587, 0.114)
MAX_HUE_WITH_COLOR_WORDS = 0.04  # of a full turn (14°): red stays red, yellow stays yellow
MIN_SATURATION_WITH_COLOR_WORDS = 0.4  # below this colors are too faint to tell apart reliably


def luma(x: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) → (..., 1, H, W) Rec. 601 luma."""
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).reshape(3, 1, 1)
    return (x * w).sum(-3, keepdim=True)


def _refuse_if_colors(aug: ImageAugmentation, what: str, fix: str) -> None:
    words = color_words(aug.spec.tasks)
    if words:
        raise AugmentRefused(
            f"{aug.name}: {what}, but the instructions name colors ({', '.join(words[:6])}), which the policy must still "
            f"see to follow them; {fix}"
        )


@register("grayscale")
class Grayscale(ImageAugmentation):
    """Blend every camera toward its grey (luma) image by `amount` (1 = fully grey)."""

    showcase = {"amount": (0.4, 0.4)}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """amount: blend toward grey, a range within [0, 1]."""

        amount: tuple[float, float] = (0.2, 0.5)

    def check(self) -> None:
        lo, hi = self.range("amount", 0.0, 1.0)
        if hi > 1 - MIN_SATURATION_WITH_COLOR_WORDS:
            _refuse_if_colors(self, f"amount up to {hi} erases color", f"keep amount <= {1 - MIN_SATURATION_WITH_COLOR_WORDS:.1f}")

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        return {"amount": uniform(n, *self.range("amount"), g)}

    def transform(self, x: torch.Tensor, p: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        return torch.lerp(x, luma(x).expand_as(x), bcast(p["amount"]))  # (n, T, 3, H, W)


@register("saturation")
class Saturation(ImageAugmentation):
    """Scale color saturation by a factor (0 = grey, 1 = unchanged, > 1 more vivid)."""

    showcase = {"factor": (1.8, 1.8)}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """factor: saturation multiplier range."""

        factor: tuple[float, float] = (0.7, 1.3)

    def check(self) -> None:
        lo, _ = self.range("factor", 0.0, 5.0)
        if lo < MIN_SATURATION_WITH_COLOR_WORDS:
            _refuse_if_colors(self, f"factor down to {lo} nearly erases color", f"keep factor >= {MIN_SATURATION_WITH_COLOR_WORDS}")

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        return {"factor": uniform(n, *self.range("factor"), g)}

    def transform(self, x: torch.Tensor, p: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        y = luma(x)
        return (y + (x - y) * bcast(p["factor"])).clamp_(0.0, 1.0)


def rgb_to_hsv(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(..., 3, H, W) RGB in [0, 1] → hue in turns [0, 1), saturation, value, each (..., H, W)."""
    r, g, b = x.unbind(-3)
    v, _ = x.max(-3)
    delta = v - x.min(-3)[0]
    s = delta / v.clamp(min=1e-8)
    d = delta.clamp(min=1e-8)
    h = torch.where(v == r, (g - b) / d, torch.where(v == g, 2 + (b - r) / d, 4 + (r - g) / d))
    return torch.where(delta > 0, (h / 6) % 1.0, torch.zeros_like(h)), s, v


def hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Inverse of `rgb_to_hsv`: channel n = v - v s clamp(min(k, 4 - k), 0, 1) with k = (n + 6 h) mod 6, n = 5, 3, 1."""
    n = torch.tensor([5.0, 3.0, 1.0], dtype=h.dtype, device=h.device).reshape(3, 1, 1)
    k = (n + 6 * h.unsqueeze(-3)) % 6  # (..., 3, H, W)
    return v.unsqueeze(-3) - (v * s).unsqueeze(-3) * torch.minimum(k, 4 - k).clamp(0.0, 1.0)


@register("hue")
class Hue(ImageAugmentation):
    """Shift hue by `shift` of a full turn of the HSV color wheel (0.5 = complementary colors); saturation and value kept."""

    showcase = {"shift": (0.04, 0.04)}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """shift: hue shift range in turns (0.05 = 18°)."""

        shift: tuple[float, float] = (-0.03, 0.03)

    def check(self) -> None:
        lo, hi = self.range("shift", -0.5, 0.5)
        if max(abs(lo), abs(hi)) > MAX_HUE_WITH_COLOR_WORDS:
            _refuse_if_colors(self, f"a hue shift of up to {max(abs(lo), abs(hi))} turns changes one named color into another",
                              f"keep |shift| <= {MAX_HUE_WITH_COLOR_WORDS}")

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        return {"shift": uniform(n, *self.range("shift"), g)}

    def transform(self, x: torch.Tensor, p: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        h, s, v = rgb_to_hsv(x)  # each (n, T, H, W)
        return hsv_to_rgb((h + bcast(p["shift"], 4)) % 1.0, s, v)


@register("brightness")
class Brightness(ImageAugmentation):
    """Add a constant to every pixel (a brighter or darker scene), clipped to [0, 1]."""

    showcase = {"delta": (0.25, 0.25)}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """delta: offset range in [0, 1] intensity units."""

        delta: tuple[float, float] = (-0.12, 0.12)

    def check(self) -> None:
        self.range("delta", -1.0, 1.0)

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        return {"delta": uniform(n, *self.range("delta"), g)}

    def transform(self, x: torch.Tensor, p: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        return (x + bcast(p["delta"])).clamp_(0.0, 1.0)


@register("exposure")
class Exposure(ImageAugmentation):
    """Change exposure by `ev` stops: light x 2^ev in linear space, i.e. pixels x 2^(ev/2.2), highlights clip."""

    showcase = {"ev": (-1.0, -1.0)}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """ev: exposure change range in stops."""

        ev: tuple[float, float] = (-0.5, 0.5)

    def check(self) -> None:
        self.range("ev", -4.0, 4.0)

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        return {"ev": uniform(n, *self.range("ev"), g)}

    def transform(self, x: torch.Tensor, p: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        return (x * bcast(torch.exp2(p["ev"] / 2.2))).clamp_(0.0, 1.0)


@register("camera_gain")
class CameraGain(ImageAugmentation):
    """Sensor gain: per-channel gains (white balance) times an analog gain, with read noise amplified by that gain."""

    per_frame = True
    showcase = {"gain": (1.6, 1.6), "color": 0.12, "read_noise": 0.012}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """gain: analog gain range; color: largest per-channel gain deviation; read_noise: noise std at gain 1 (fresh per frame)."""

        gain: tuple[float, float] = (1.0, 1.4)
        color: float = 0.06
        read_noise: float = 0.01

    def check(self) -> None:
        self.range("gain", 0.1, 8.0)
        if not 0 <= self.params.color < 1 or not 0 <= self.params.read_noise <= 0.5:
            raise AugmentRefused(f"camera_gain: color must be in [0, 1) and read_noise in [0, 0.5]; got {self.params.color}, {self.params.read_noise}")

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        gain = uniform(n, *self.range("gain"), g)
        color = 1 + self.params.color * (2 * torch.rand(n, 3, generator=g) - 1)  # (n, 3)
        return {"gain": gain, "channel": gain[:, None] * color}

    def transform(self, x: torch.Tensor, p: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        y = x * p["channel"].reshape(-1, 1, 3, 1, 1)
        if self.params.read_noise > 0:
            y = y + torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype) * bcast(p["gain"] * self.params.read_noise)
        return y.clamp_(0.0, 1.0)


@register("noise")
class Noise(ImageAugmentation):
    """Gaussian pixel noise with a per-sample std; the noise itself is fresh every frame, as a sensor's is."""

    per_frame = True
    showcase = {"std": (0.04, 0.04)}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """std: noise standard deviation range in [0, 1] intensity units."""

        std: tuple[float, float] = (0.005, 0.03)

    def check(self) -> None:
        self.range("std", 0.0, 0.5)

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        return {"std": uniform(n, *self.range("std"), g)}

    def transform(self, x: torch.Tensor, p: dict[str, torch.Tensor], g: torch.Generator) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)  # (n, T, 3, H, W)
        return (x + noise * bcast(p["std"])).clamp_(0.0, 1.0)
