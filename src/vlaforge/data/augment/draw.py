"""Just enough drawing for the preview gallery without Pillow: a 3x5 bitmap font and a PNG encoder with per-row filters."""

from __future__ import annotations

import struct
import zlib

import numpy as np

_GLYPHS = {
    "A": "010101111101101", "B": "110101110101110", "C": "011100100100011", "D": "110101101101110", "E": "111100110100111",
    "F": "111100110100100", "G": "011100101101011", "H": "101101111101101", "I": "111010010010111", "J": "001001001101010",
    "K": "101101110101101", "L": "100100100100111", "M": "101111111101101", "N": "110101101101101", "O": "010101101101010",
    "P": "110101110100100", "Q": "010101101110011", "R": "110101110101101", "S": "011100010001110", "T": "111010010010010",
    "U": "101101101101111", "V": "101101101101010", "W": "101101111111101", "X": "101101010101101", "Y": "101101010010010",
    "Z": "111001010100111", "0": "111101101101111", "1": "010110010010111", "2": "110001010100111", "3": "110001010001110",
    "4": "101101111001001", "5": "111100110001110", "6": "011100111101111", "7": "111001010010010", "8": "111101111101111",
    "9": "111101111001110", "_": "000000000000111", "-": "000000111000000", ".": "000000000000010", ":": "000010000010000",
    "(": "001010010010001", ")": "100010010010100", "/": "001001010100100", "=": "000111000111000", ",": "000000000010100",
    "+": "000010111010000", " ": "000000000000000",
}


def text_width(text: str, scale: int = 2) -> int:
    """Width in pixels of `text` drawn by `draw_text`."""
    return len(text) * 4 * scale


def draw_text(img: np.ndarray, text: str, y: int, x: int, color: tuple[int, int, int] = (20, 20, 20), scale: int = 2) -> None:
    """Draw upper-cased `text` into uint8 (H, W, 3) `img` with its top-left at (y, x); unknown characters are blank."""
    for i, ch in enumerate(text.upper()):
        bits = np.array([int(b) for b in _GLYPHS.get(ch, _GLYPHS[" "])], bool).reshape(5, 3)
        glyph = bits.repeat(scale, 0).repeat(scale, 1)  # (5s, 3s)
        y0, x0 = y, x + i * 4 * scale
        h, w = min(glyph.shape[0], img.shape[0] - y0), min(glyph.shape[1], img.shape[1] - x0)
        if h > 0 and w > 0:
            img[y0 : y0 + h, x0 : x0 + w][glyph[:h, :w]] = color


def encode_png(img: np.ndarray) -> bytes:
    """uint8 (H, W, 3) → PNG bytes; each row gets the filter (none, sub, up, average, Paeth) with the smallest residuals."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    h, w, _ = img.shape
    x = img.reshape(h, w * 3).astype(np.int16)
    a = np.zeros_like(x)
    a[:, 3:] = x[:, :-3]  # left pixel
    b = np.zeros_like(x)
    b[1:] = x[:-1]  # pixel above
    c = np.zeros_like(x)
    c[1:, 3:] = x[:-1, :-3]  # above-left
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    preds = np.stack([np.zeros_like(x), a, b, (a + b) // 2, paeth])  # (5, H, W*3): PNG filter types 0..4
    res = ((x[None] - preds) % 256).astype(np.uint8)
    signed = res.astype(np.int16)
    cost = np.minimum(signed, 256 - signed).sum(-1)  # (5, H): the usual minimum-sum-of-absolute-differences heuristic
    best = cost.argmin(0)  # (H,)
    rows = res[best, np.arange(h)]  # (H, W*3)
    raw = np.concatenate([best.astype(np.uint8)[:, None], rows], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    z = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_FILTERED)  # the strategy meant for filtered image rows
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", z.compress(raw) + z.flush()) + chunk(b"IEND", b""))
