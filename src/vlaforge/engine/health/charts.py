"""Inline SVG charts (histograms, horizontal bars) for the offline health report: no JS, no external references."""

from __future__ import annotations

import html
from typing import Sequence

import numpy as np

BLUE, RED, GREY = "#3b6fb6", "#c0392b", "#ddd"


def _svg(width: int, height: int, title: str) -> list[str]:
    return [f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}' font-family='sans-serif' font-size='11' role='img'>",
            f"<title>{html.escape(title)}</title><text x='8' y='15' font-size='13' font-weight='bold'>{html.escape(title)}</text>"]


def _empty(title: str, width: int) -> str:
    return f"<svg width='{width}' height='30' font-family='sans-serif' font-size='12'><text x='4' y='20'>{html.escape(title)}: no data</text></svg>"


def hist(values: Sequence[float], title: str, xlabel: str, bins: int = 24, threshold: float | None = None,
         width: int = 420, height: int = 200) -> str:
    """Histogram of the finite `values`, with an optional dashed red threshold line."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return _empty(title, width)
    lo, hi = float(v.min()), float(v.max())
    if threshold is not None and np.isfinite(threshold):
        lo, hi = min(lo, threshold), max(hi, threshold)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    L, R, T, B = 40, 12, 24, 34
    sx = lambda x: L + (x - lo) / (hi - lo) * (width - L - R)
    top = max(1, int(counts.max()))
    sy = lambda c: height - B - c / top * (height - T - B)
    out = _svg(width, height, title)
    out.append(f"<line x1='{L}' x2='{width - R}' y1='{height - B}' y2='{height - B}' stroke='#888'/>")
    for c, a, b in zip(counts, edges[:-1], edges[1:]):
        if c:
            out.append(f"<rect x='{sx(a):.1f}' y='{sy(c):.1f}' width='{max(0.8, sx(b) - sx(a) - 1):.1f}' height='{sy(0) - sy(c):.1f}' fill='{BLUE}'><title>{a:.4g}..{b:.4g}: {c}</title></rect>")
    for i in range(5):
        t = lo + (hi - lo) * i / 4
        out.append(f"<text x='{sx(t):.1f}' y='{height - B + 13}' text-anchor='middle'>{t:.3g}</text>")
    out.append(f"<text x='{L - 4}' y='{sy(top) + 4:.1f}' text-anchor='end'>{top}</text><text x='{L - 4}' y='{height - B}' text-anchor='end'>0</text>")
    out.append(f"<text x='{(L + width - R) / 2:.0f}' y='{height - 4}' text-anchor='middle'>{html.escape(xlabel)}</text>")
    if threshold is not None and np.isfinite(threshold):
        x = sx(threshold)
        out.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{T}' y2='{height - B}' stroke='{RED}' stroke-dasharray='4 3'/>"
                   f"<text x='{x + 3:.1f}' y='{T + 10}' fill='{RED}'>threshold {threshold:.3g}</text>")
    out.append("</svg>")
    return "".join(out)


def bars(values: dict[str, float], title: str, xlabel: str, width: int = 560, highlight: Sequence[str] = ()) -> str:
    """Horizontal bars {label: value}, one row each; `highlight` labels in red."""
    if not values:
        return _empty(title, width)
    row, L, R, T = 16, 230, 50, 24
    height = T + row * len(values) + 20
    top = max(1e-12, max(values.values()))
    out = _svg(width, height, title)
    for i, (label, v) in enumerate(values.items()):
        y = T + i * row
        w = max(0.0, v) / top * (width - L - R)
        short = label if len(label) <= 38 else label[:36] + "…"
        c = RED if label in highlight else BLUE
        out.append(f"<text x='{L - 4}' y='{y + 11}' text-anchor='end'><title>{html.escape(label)}</title>{html.escape(short)}</text>"
                   f"<rect x='{L}' y='{y + 2}' width='{w:.1f}' height='{row - 4}' fill='{c}'/>"
                   f"<text x='{L + w + 3:.1f}' y='{y + 11}'>{v:.4g}</text>")
    out.append(f"<text x='{L}' y='{height - 4}'>{html.escape(xlabel)}</text></svg>")
    return "".join(out)


def image(png: bytes, caption: str, width: int | None = None) -> str:
    """A PNG inlined as a data URI, with a caption."""
    import base64

    w = f" width='{width}'" if width else ""
    return (f"<figure><img{w} style='image-rendering:pixelated' alt='{html.escape(caption)}' "
            f"src='data:image/png;base64,{base64.b64encode(png).decode()}'/><figcaption>{html.escape(caption)}</figcaption></figure>")
