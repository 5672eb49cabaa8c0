"""State noise: a per-sample calibration offset plus small per-frame jitter on observation.state, in units of each axis's std."""

from __future__ import annotations

import dataclasses

import torch

from vlaforge.data.augment.base import STATE, AugBatch, Augmentation, AugmentRefused, register
from vlaforge.errors import ConfigError


@register("state_noise")
class StateNoise(Augmentation):
    """Add Gaussian noise to observation.state: `bias` (one offset per sample, all frames) + `jitter` (fresh per frame)."""

    kind = "state"
    per_frame = True
    showcase = {"bias": 0.2, "jitter": 0.05}

    @dataclasses.dataclass(frozen=True)
    class Params:
        """bias / jitter: noise std as a fraction of each state axis's dataset std (absolute units when stats are missing); skip: axis names left alone."""

        bias: float = 0.05
        jitter: float = 0.02
        skip: tuple[str, ...] = ()

    def check(self) -> None:
        if self.params.bias < 0 or self.params.jitter < 0:
            raise ConfigError(f"state_noise: bias and jitter must be >= 0, got {self.params.bias}, {self.params.jitter}")
        if not self.spec.has_state:
            raise AugmentRefused("state_noise: the dataset has no observation.state; remove state_noise from the recipe")
        names = list(self.spec.state_names or [])
        unknown = sorted(set(self.params.skip) - set(names))
        if unknown:
            raise ConfigError(f"state_noise.params.skip names {unknown}, which are not state axes; the state axes are {names}")
        self.dim = self.spec.state_dim or len(names) or len(self.spec.state_std or ())
        std = self.spec.state_std
        self.scale = torch.tensor(std) if std is not None and len(std) == self.dim else None
        self.keep = torch.tensor([n not in self.params.skip for n in names]) if len(names) == self.dim and self.params.skip else None

    def sample(self, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        return {"bias": torch.randn(n, self.dim, generator=g)}

    def apply(self, batch: AugBatch, idx: torch.Tensor, params: dict[str, torch.Tensor], g: torch.Generator) -> None:
        s = batch.state
        if s is None:
            return
        n, T, D = s[idx].shape
        if D != self.dim:
            raise AugmentRefused(f"state_noise: observation.state has {D} axes in the batch but {self.dim} in the dataset's features")
        noise = params["bias"][:, None] * self.params.bias + torch.randn(n, T, D, generator=g) * self.params.jitter  # (n, T, D)
        if self.scale is not None:
            noise = noise * self.scale
        if self.keep is not None:
            noise = noise * self.keep
        s[idx] = s[idx] + noise.to(s.device, s.dtype)
