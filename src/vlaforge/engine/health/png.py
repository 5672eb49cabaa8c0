"""A minimal PNG encoder (zlib + struct) and colour maps, so reports embed images without Pillow."""

from __future__ import annotations

import struct
import zlib

import numpy as np


def encode_png(img: np.ndarray) -> bytes:
    """uint8 (H, W, 3) RGB or (H, W) grey → PNG bytes (8-bit, no interlace, filter 0 on every row)."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    if img.ndim == 2:
        color_type, rgb = 0, img[:, :, None]
    elif img.ndim == 3 and img.shape[2] == 3:
        color_type, rgb = 2, img
    else:
        raise ValueError(f"expected (H, W) or (H, W, 3) uint8, got shape {img.shape}")
    h, w, _ = rgb.shape
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, -1)], axis=1).tobytes()  # filter byte per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


# Anchors of a perceptually ordered dark-to-bright map (close to matplotlib's "inferno").
_INFERNO = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39], [252, 255, 164]], float)


def colormap(v: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) → uint8 RGB (..., 3)."""
    v = np.clip(np.nan_to_num(v), 0, 1) * (len(_INFERNO) - 1)
    i = np.minimum(v.astype(int), len(_INFERNO) - 2)
    f = (v - i)[..., None]
    return (_INFERNO[i] * (1 - f) + _INFERNO[i + 1] * f).astype(np.uint8)


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of (H, W, ...) by an integer factor."""
    return img.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else img
