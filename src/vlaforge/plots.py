"""Tiny dependency-free SVG charts for self-contained HTML reports (no JS, no CDN)."""

from __future__ import annotations

import html
from typing import Sequence

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def line_chart(series: dict[str, tuple[Sequence[float], Sequence[float]]], title: str, xlabel: str, ylabel: str,
               width: int = 560, height: int = 300, log_y: bool = False) -> str:
    """Lines {name: (xs, ys)} → an SVG string."""
    import math

    pts = [(x, y) for xs, ys in series.values() for x, y in zip(xs, ys) if y is not None and (not log_y or y > 0)]
    if not pts:
        return f"<svg width='{width}' height='40'><text x='4' y='20'>{html.escape(title)}: no data</text></svg>"
    fy = (lambda v: math.log10(v)) if log_y else (lambda v: v)
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(fy(p[1]) for p in pts), max(fy(p[1]) for p in pts)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1
    L, R, T, B = 60, 110, 28, 40
    sx = lambda x: L + (x - x0) / (x1 - x0) * (width - L - R)
    sy = lambda y: height - B - (fy(y) - y0) / (y1 - y0) * (height - T - B)
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='sans-serif' font-size='11'>",
           f"<text x='{L}' y='16' font-size='13' font-weight='bold'>{html.escape(title)}</text>"]
    for t in _ticks(y0, y1):
        y = height - B - (t - y0) / (y1 - y0) * (height - T - B)
        lab = f"{10 ** t:.3g}" if log_y else f"{t:.3g}"
        out.append(f"<line x1='{L}' x2='{width - R}' y1='{y:.1f}' y2='{y:.1f}' stroke='#ddd'/><text x='{L - 4}' y='{y + 4:.1f}' text-anchor='end'>{lab}</text>")
    for t in _ticks(x0, x1):
        out.append(f"<text x='{sx(t):.1f}' y='{height - B + 14}' text-anchor='middle'>{t:.4g}</text>")
    out.append(f"<text x='{(L + width - R) / 2}' y='{height - 6}' text-anchor='middle'>{html.escape(xlabel)}</text>")
    out.append(f"<text x='12' y='{(T + height - B) / 2}' transform='rotate(-90 12 {(T + height - B) / 2})' text-anchor='middle'>{html.escape(ylabel)}</text>")
    for i, (name, (xs, ys)) in enumerate(series.items()):
        c = PALETTE[i % len(PALETTE)]
        p = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys) if y is not None and (not log_y or y > 0))
        out.append(f"<polyline fill='none' stroke='{c}' stroke-width='1.8' points='{p}'/>")
        out.append(f"<rect x='{width - R + 8}' y='{T + 16 * i}' width='10' height='10' fill='{c}'/><text x='{width - R + 22}' y='{T + 9 + 16 * i}'>{html.escape(name)}</text>")
    out.append("</svg>")
    return "".join(out)


def bar_chart(bars: dict[str, tuple[float, float, float]], title: str, ylabel: str = "success rate",
              width: int = 560, height: int = 280, ymax: float = 1.0) -> str:
    """Bars {label: (value, low, high)} with interval whiskers → SVG."""
    L, R, T, B = 50, 10, 28, 70
    n = max(1, len(bars))
    bw = (width - L - R) / n
    sy = lambda v: height - B - v / ymax * (height - T - B)
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='sans-serif' font-size='11'>",
           f"<text x='{L}' y='16' font-size='13' font-weight='bold'>{html.escape(title)}</text>"]
    for t in _ticks(0, ymax):
        out.append(f"<line x1='{L}' x2='{width - R}' y1='{sy(t):.1f}' y2='{sy(t):.1f}' stroke='#ddd'/><text x='{L - 4}' y='{sy(t) + 4:.1f}' text-anchor='end'>{t:.2g}</text>")
    for i, (label, (v, lo, hi)) in enumerate(bars.items()):
        x = L + i * bw
        c = PALETTE[i % len(PALETTE)]
        if v == v:  # not NaN
            out.append(f"<rect x='{x + bw * 0.15:.1f}' y='{sy(v):.1f}' width='{bw * 0.7:.1f}' height='{sy(0) - sy(v):.1f}' fill='{c}' opacity='0.8'/>")
            cx = x + bw / 2
            out.append(f"<line x1='{cx:.1f}' x2='{cx:.1f}' y1='{sy(lo):.1f}' y2='{sy(hi):.1f}' stroke='black'/>"
                       f"<line x1='{cx - 5:.1f}' x2='{cx + 5:.1f}' y1='{sy(lo):.1f}' y2='{sy(lo):.1f}' stroke='black'/>"
                       f"<line x1='{cx - 5:.1f}' x2='{cx + 5:.1f}' y1='{sy(hi):.1f}' y2='{sy(hi):.1f}' stroke='black'/>"
                       f"<text x='{cx:.1f}' y='{sy(v) - 4:.1f}' text-anchor='middle'>{v:.0%}</text>")
        out.append(f"<text x='{x + bw / 2:.1f}' y='{height - B + 14}' text-anchor='end' transform='rotate(-35 {x + bw / 2:.1f} {height - B + 14})'>{html.escape(label)}</text>")
    out.append(f"<text x='12' y='{(T + height - B) / 2}' transform='rotate(-90 12 {(T + height - B) / 2})' text-anchor='middle'>{html.escape(ylabel)}</text></svg>")
    return "".join(out)


def histogram(values: Sequence[float], title: str, xlabel: str, bins: int = 20, width: int = 560, height: int = 240) -> str:
    """Histogram of `values` → SVG."""
    import numpy as np

    v = np.asarray([x for x in values if x == x], float)
    if len(v) == 0:
        return f"<svg width='{width}' height='40'><text x='4' y='20'>{html.escape(title)}: no data</text></svg>"
    counts, edges = np.histogram(v, bins=bins)
    L, R, T, B = 50, 10, 28, 40
    sx = lambda x: L + (x - edges[0]) / max(edges[-1] - edges[0], 1e-12) * (width - L - R)
    top = max(1, counts.max())
    sy = lambda c: height - B - c / top * (height - T - B)
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='sans-serif' font-size='11'>",
           f"<text x='{L}' y='16' font-size='13' font-weight='bold'>{html.escape(title)}</text>"]
    for c, a, b in zip(counts, edges[:-1], edges[1:]):
        out.append(f"<rect x='{sx(a):.1f}' y='{sy(c):.1f}' width='{max(0.5, sx(b) - sx(a) - 1):.1f}' height='{sy(0) - sy(c):.1f}' fill='{PALETTE[0]}'/>")
    for t in _ticks(edges[0], edges[-1]):
        out.append(f"<text x='{sx(t):.1f}' y='{height - B + 14}' text-anchor='middle'>{t:.3g}</text>")
    out.append(f"<text x='{(L + width - R) / 2}' y='{height - 6}' text-anchor='middle'>{html.escape(xlabel)}</text>")
    out.append(f"<text x='{L - 4}' y='{sy(top) + 4:.1f}' text-anchor='end'>{top}</text></svg>")
    return "".join(out)
