"""Exponential moving average of model weights (evaluated and exported instead of the raw weights)."""

from __future__ import annotations

import torch


class EMA:
    """Keeps `shadow = decay * shadow + (1 - decay) * param` for every floating tensor of a module."""

    def __init__(self, module: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: torch.nn.Module, step: int) -> None:
        """Blend in the current weights; warms up as min(decay, (1+step)/(10+step)) like timm/diffusers."""
        d = min(self.decay, (1 + step) / (10 + step))
        for k, v in module.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.shadow[k].copy_(v)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights."""
        return self.shadow

    def load_state_dict(self, sd: dict[str, torch.Tensor]) -> None:
        """Restore averaged weights (on resume)."""
        for k, v in sd.items():
            self.shadow[k].copy_(v)
