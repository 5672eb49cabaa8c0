"""report.html for an evaluation: one self-contained page (inline CSS, matplotlib SVG charts, videos as data URIs; works offline)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from vlaforge.eval.records import EpisodeRecord
from vlaforge.io import atomic_write_text

SECTIONS = {
    "summary": "Summary",
    "splits": "Success by split",
    "families": "Success by task family and split",
    "recovery": "Recovery from perturbations",
    "failures": "Failures and hard moments",
    "latency": "Smoothness and inference latency",
    "videos": "Rollout videos",
    "episodes": "Every episode",
}

CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#222;line-height:1.4}
h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}
table{border-collapse:collapse;margin:10px 0;font-size:13px} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4} .muted{color:#666;font-size:13px} .ok{color:#1e8449} .bad{color:#b03a2e}
.grid{display:flex;flex-wrap:wrap;gap:12px} figure{margin:4px} figcaption{font-size:12px;color:#555;max-width:384px}
svg{max-width:100%;height:auto;display:block;margin:8px 0}
"""


def _pct(rate: dict[str, Any]) -> str:
    if not rate["n"]:
        return "–"
    lo, hi = rate["ci95"]
    return f"{rate['rate']:.0%} <span class='muted'>[{lo:.0%}, {hi:.0%}] ({rate['successes']}/{rate['n']})</span>"


def _section(key: str, body: str) -> str:
    return f"<h2 id='{key}'>{SECTIONS[key]}</h2>{body}"


def _rate_table(rows: dict[str, dict[str, Any]], label: str) -> str:
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{_pct(v)}</td></tr>" for k, v in rows.items())
    return f"<table><tr><th>{label}</th><th>success [Wilson 95% interval] (successes/episodes)</th></tr>{body}</table>"


def render_html(meta: dict[str, Any], summary: dict[str, Any], records: list[EpisodeRecord], videos: list[dict[str, Any]],
                video_root: Path) -> str:
    """The whole report as one HTML string; `videos` are {file, record} with files relative to `video_root`."""
    from vlaforge.plots import bar_chart, histogram

    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>vlaforge eval: {html.escape(meta['title'])}</title>",
             f"<style>{CSS}</style></head><body><h1>{html.escape(meta['title'])}</h1>",
             f"<p class='muted'>suite {html.escape(meta['suite'])} · tasks {html.escape(', '.join(meta['tasks']))} · "
             f"{meta['episodes_per_split_and_task']} episodes per task and split · {len(records)} episodes in {meta['seconds']} s "
             f"with {meta['workers']} {html.escape(meta.get('backend', 'local'))} workers · seeds are fixed per split, so another checkpoint meets the same episodes</p>"]
    o = summary["overall"]
    lat = summary["inference_ms"]
    parts.append(_section("summary", _rate_table({"all episodes": o, **summary["by_split"]}, "split")
                          + f"<p>Recovery rate (success when a perturbation fired): {_pct(summary['recovery'])}. "
                          f"Mean action jerk {summary['mean_jerk']:.3g}. "
                          + (f"Inference {lat['mean']:.1f} ms per chunk (p50 {lat['p50']:.1f}, p99 {lat['p99']:.1f})." if lat else "")
                          + "</p>"))
    bars = {s: (r["rate"], *r["ci95"]) for s, r in summary["by_split"].items()}
    parts.append(_section("splits", bar_chart(bars, "success per split (Wilson 95% intervals)")))
    fam_bars = {f"{f} / {s}": (r["rate"], *r["ci95"]) for s, fams in summary["by_family"].items() for f, r in fams.items()}
    fam_rows = {f"{f} / {s}": r for s, fams in summary["by_family"].items() for f, r in fams.items()}
    groups = summary.get("by_group") or {}
    group_body = (bar_chart({g: (r["rate"], *r["ci95"]) for g, r in groups.items()}, "success per group (all splits)")
                  + _rate_table(groups, "group")) if groups else ""
    parts.append(_section("families", group_body + bar_chart(fam_bars, "success per family / split (Wilson 95% intervals)", width=640)
                          + _rate_table(fam_rows, "family / split")))
    by_p = summary.get("recovery_by_perturbation", {})
    rec_body = (f"<p>{summary['recovery']['n']} episodes had a perturbation fire; {_pct(summary['recovery'])} of them still succeeded"
                + (f", {summary['recovery']['mean_recover_steps']:.1f} control steps after the perturbation on average" if summary["recovery"].get("mean_recover_steps") else "")
                + ".</p>" + (_rate_table(by_p, "perturbation") if by_p else "<p class='muted'>No perturbation fired (evaluate the perturbed split).</p>"))
    parts.append(_section("recovery", rec_body))
    fails = summary["failures"]
    moments = [(r, m) for r in records for m in r.hard_moments][:60]
    fail_body = ("<table><tr><th>failure</th><th>episodes</th></tr>" + "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in fails.items()) + "</table>"
                 if fails else "<p class='ok'>No failures detected.</p>")
    fail_body += "<p class='muted'>stuck: no end-effector progress for 3 s · dropped: an object let go outside its target · gripper_oscillation: 4+ open/close flips in 1 s · timeout: not done in time. Hard moments are where the data engine should ask for labels or an expert.</p>"
    if moments:
        fail_body += "<table><tr><th>episode</th><th>step</th><th>kind</th><th>detail</th></tr>" + "".join(
            f"<tr><td>{html.escape(r.split)} / {html.escape(r.family)} / seed {r.seed}</td><td>{m['step']}</td><td>{html.escape(m['kind'])}</td><td>{html.escape(m['detail'])}</td></tr>"
            for r, m in moments) + "</table>"
    parts.append(_section("failures", fail_body))
    lat_body = histogram([r.inference_ms for r in records if r.inference_ms > 0], "inference per chunk (episode means)", "ms")
    lat_body += histogram([r.jerk for r in records], "mean action jerk per episode", "jerk (lower is smoother)")
    parts.append(_section("latency", lat_body))
    figs = []
    for v in videos:
        r = v["record"]
        data = base64.b64encode((video_root / v["file"]).read_bytes()).decode()
        outcome = "<b class='ok'>success</b>" if r.success else f"<b class='bad'>failure</b> ({html.escape(', '.join(r.failures))})"
        figs.append(f"<figure><video controls muted loop autoplay playsinline width='384' src='data:video/mp4;base64,{data}'></video>"
                    f"<figcaption>{outcome} · {html.escape(r.split)} · {html.escape(r.family)} · seed {r.seed}<br>“{html.escape(r.instruction)}”"
                    + (f"<br>events: {html.escape(', '.join(r.perturbations))}" if r.perturbations else "") + "</figcaption></figure>")
    parts.append(_section("videos", f"<div class='grid'>{''.join(figs)}</div>" if figs else "<p class='muted'>No videos.</p>"))
    rows = "".join(
        f"<tr><td>{html.escape(r.split)}</td><td>{html.escape(r.family)}</td><td>{r.seed}</td><td>{html.escape(r.instruction)}</td>"
        f"<td class='{'ok' if r.success else 'bad'}'>{'yes' if r.success else 'no'}</td><td>{r.steps}</td><td>{html.escape(', '.join(r.perturbations))}</td>"
        f"<td>{'' if r.recover_steps is None else r.recover_steps}</td><td>{html.escape(', '.join(r.failures))}</td><td>{r.inference_ms:.1f}</td><td>{r.jerk:.3g}</td></tr>"
        for r in records)
    parts.append(_section("episodes", "<details><summary>show all episodes</summary><table><tr><th>split</th><th>family</th><th>seed</th><th>instruction</th>"
                          "<th>success</th><th>steps</th><th>perturbation</th><th>recover steps</th><th>failures</th><th>ms/chunk</th><th>jerk</th></tr>"
                          f"{rows}</table></details>"))
    parts.append("</body></html>")
    return "".join(parts)


def write_report(path: Path, meta: dict[str, Any], summary: dict[str, Any], records: list[EpisodeRecord], videos: list[dict[str, Any]]) -> Path:
    """Write report.html next to its videos folder."""
    atomic_write_text(Path(path), render_html(meta, summary, records, videos, Path(path).parent))
    return Path(path)
