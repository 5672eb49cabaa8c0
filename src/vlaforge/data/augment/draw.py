"""Just enough drawing for the preview gallery: a 3x5 bitmap font (PNG encoding is Pillow's, see `vlaforge.plots.encode_png`)."""

from __future__ import annotations

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
