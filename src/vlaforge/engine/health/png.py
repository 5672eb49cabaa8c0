"""Images for the health report: PNG bytes (Pillow, via `vlaforge.plots`) and matplotlib's inferno colour map."""

from __future__ import annotations

import numpy as np

from vlaforge.plots import encode_png

__all__ = ["colormap", "encode_png", "upscale"]


def colormap(v: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) → uint8 RGB (..., 3) on matplotlib's perceptually uniform "inferno" map."""
    from matplotlib import colormaps

    rgba = colormaps["inferno"](np.clip(np.nan_to_num(np.asarray(v, float)), 0, 1), bytes=True)  # (..., 4) uint8
    return np.ascontiguousarray(rgba[..., :3])


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of (H, W, ...) by an integer factor."""
    return img.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else img
