"""Charts for the offline health report: matplotlib SVG (via `vlaforge.plots`) and PNG figures as data URIs."""

from __future__ import annotations

import html
from typing import Sequence

from vlaforge import plots


def hist(values: Sequence[float], title: str, xlabel: str, bins: int = 24, threshold: float | None = None,
         width: int = 420, height: int = 200) -> str:
    """Histogram of the finite `values`, with an optional dashed red threshold line (see `vlaforge.plots.histogram`)."""
    return plots.histogram(values, title, xlabel, bins=bins, width=width, height=height, threshold=threshold, color=plots.BLUE)


def bars(values: dict[str, float], title: str, xlabel: str, width: int = 560, highlight: Sequence[str] = ()) -> str:
    """Horizontal bars {label: value}, one row each; `highlight` labels in red (see `vlaforge.plots.hbars`)."""
    return plots.hbars(values, title, xlabel, width=width, highlight=highlight)


def image(png: bytes, caption: str, width: int | None = None) -> str:
    """A PNG inlined as a data URI, with a caption."""
    import base64

    w = f" width='{width}'" if width else ""
    return (f"<figure><img{w} style='image-rendering:pixelated' alt='{html.escape(caption)}' "
            f"src='data:image/png;base64,{base64.b64encode(png).decode()}'/><figcaption>{html.escape(caption)}</figcaption></figure>")
