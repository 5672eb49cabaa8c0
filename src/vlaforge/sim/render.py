"""Captions on frames (a 5x7 bitmap font in numpy, no Pillow) and mp4 writing with PyAV.

Used by `vlaforge sim play` to draw the instruction and the current subtask on rollout videos.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Classic 5x7 LCD font: 5 column bytes per glyph, bit 0 = top row. Covers ASCII 32..122.
_FONT_HEX = (
    "0000000000 00005f0000 0007000700 147f147f14 242a7f2a12 2313086462 3649552250 0005030000 001c224100 0041221c00"
    " 082a1c2a08 08083e0808 0050300000 0808080808 0060600000 2010080402 3e5149453e 00427f4000 4261514946 2141454b31"
    " 1814127f10 2745454539 3c4a494930 0171090503 3649494936 064949291e 0036360000 0056360000 0008142241 1414141414"
    " 4122140800 0201510906 324979413e 7e1111117e 7f49494936 3e41414122 7f4141221c 7f49494941 7f09090101 3e41415132"
    " 7f0808087f 00417f4100 2040413f01 7f08142241 7f40404040 7f0204027f 7f0408107f 3e4141413e 7f09090906 3e4151215e"
    " 7f09192946 4649494931 01017f0101 3f4040403f 1f2040201f 7f2018207f 6314081463 0304780403 6151494543 007f414100"
    " 0204081020 0041417f00 0402010204 4040404040 0001020400 2054545478 7f48444438 3844444420 384444487f 3854545418"
    " 087e090102 0c5252523e 7f08040478 00447d4000 2040443d00 7f10284400 00417f4000 7c04180478 7c08040478 3844444438"
    " 7c14141408 081414187c 7c08040408 4854545420 043f444020 3c4040207c 1c2040201c 3c4030403c 4428102844 0c5050503c"
    " 4464544c44"
)
_GLYPHS = np.array(
    [[[(int(h[2 * c : 2 * c + 2], 16) >> r) & 1 for c in range(5)] for r in range(7)] for h in _FONT_HEX.split()], bool
)  # (91, 7, 5)


def text_mask(text: str, scale: int = 1) -> np.ndarray:
    """Boolean mask (7*scale, 6*len*scale) of `text`; characters outside ASCII 32..122 draw as '?'."""
    idx = [ord(ch) - 32 if 32 <= ord(ch) <= 122 else ord("?") - 32 for ch in text]
    cells = np.zeros((len(idx), 7, 6), bool)
    cells[:, :, :5] = _GLYPHS[idx]
    mask = cells.transpose(1, 0, 2).reshape(7, -1)  # (7, 6*len)
    return mask.repeat(scale, 0).repeat(scale, 1)


def draw_text(img: np.ndarray, text: str, xy: tuple[int, int], scale: int = 1, color: tuple[int, int, int] = (255, 255, 255),
              background: tuple[int, int, int] | None = (0, 0, 0)) -> np.ndarray:
    """Draw `text` into uint8 HxWx3 `img` in place at top-left `xy` (clipped to the image); returns img."""
    m = text_mask(text, scale)
    x, y = xy
    h, w = img.shape[:2]
    mh, mw = min(m.shape[0], h - y), min(m.shape[1], w - x)
    if mh <= 0 or mw <= 0:
        return img
    m = m[:mh, :mw]
    region = img[y : y + mh, x : x + mw]
    if background is not None:
        region[:] = (region * 0.4 + np.array(background) * 0.6).astype(np.uint8)
    region[m] = color
    return img


def wrap(text: str, width: int) -> list[str]:
    """Split `text` into lines of at most `width` characters at spaces."""
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    return lines + ([cur] if cur else [])


def caption(frame: np.ndarray, instruction: str, subtask: str, footer: str = "") -> np.ndarray:
    """A copy of `frame` with the instruction on top, the subtask below it and an optional footer."""
    img = frame.copy()
    w = img.shape[1]
    scale = max(1, w // 256)
    per_line = max(8, (w - 4) // (6 * scale))
    y = 2
    for line in wrap(instruction, per_line):
        draw_text(img, line, (2, y), scale)
        y += 8 * scale
    if subtask:
        draw_text(img, wrap(f"> {subtask}", per_line)[0], (2, y + 1), scale, color=(255, 230, 80))
    if footer:
        draw_text(img, footer[:per_line], (2, img.shape[0] - 8 * scale - 1), scale, color=(160, 255, 160))
    return img


def write_mp4(path: str | Path, frames: list[np.ndarray], fps: int) -> Path:
    """Write uint8 HxWx3 frames as an H.264 mp4 (atomic: temp file then rename)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    h, w = frames[0].shape[:2]
    with av.open(str(tmp), "w") as box:
        stream = box.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f[: h - h % 2, : w - w % 2]), format="rgb24")):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    tmp.replace(path)
    return path
