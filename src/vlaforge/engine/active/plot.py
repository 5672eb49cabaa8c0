"""Success against labelled steps, with Wilson 95% bands, one line per strategy (SVG)."""

from __future__ import annotations

from typing import Any, Sequence

from vlaforge.plots import PALETTE, _figure, _rc, no_data, to_svg


def curve_svg(curves: dict[str, Sequence[dict[str, Any]]], title: str = "success vs labelled steps", width: int = 560,
              height: int = 300) -> str:
    """{strategy: loop round rows with labels_added_total and eval {rate, ci95}} → standalone SVG."""
    if not any(r["eval"]["rate"] is not None for rows in curves.values() for r in rows):
        return no_data(title, width)
    fig = _figure(width, height)
    with _rc():
        ax = fig.add_subplot()
        for i, (name, rows) in enumerate(curves.items()):
            pts = [(r["labels_added_total"], r["eval"]["rate"], *r["eval"]["ci95"]) for r in rows if r["eval"]["rate"] is not None]
            if not pts:
                continue
            xs, ys, lo, hi = zip(*pts)
            color = PALETTE[i % len(PALETTE)]
            ax.plot(xs, ys, color=color, lw=1.6, marker="o", ms=3, label=name)
            ax.fill_between(xs, lo, hi, color=color, alpha=0.15, lw=0)
        ax.set(title=title, xlabel="labelled steps added", ylabel="success rate (95% CI)", ylim=(0, 1))
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=8)
    return to_svg(fig, standalone=True)
