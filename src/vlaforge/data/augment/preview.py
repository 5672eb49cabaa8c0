"""`vlaforge engine augment DATASET --preview --out DIR`: every registered augmentation on real frames of one episode.

Writes DIR/gallery.png (one labelled tile per augmentation: each camera at a few times of the
episode, so time consistency is visible) and a self-contained DIR/gallery.html (PNG data URIs,
inline CSS, no scripts or links) with each augmentation's parameters, whether the default
parameters are refused on this dataset and why, and the instruction, action and state before/after.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from vlaforge.data.reader import open_dataset
from vlaforge.data.augment.base import ACTION, STATE, AugmentRefused, DataSpec, get, registered
from vlaforge.data.augment.draw import draw_text, text_width
from vlaforge.data.augment.pipeline import Pipeline, Recipe, Step, build_step
from vlaforge.plots import encode_png
from vlaforge.errors import DatasetError
from vlaforge.io import atomic_write_bytes, atomic_write_text

LABEL_H, GAP, BG = 16, 3, (250, 250, 250)


def _tile(label: str, images: list[np.ndarray] | None, width: int, height: int, refused: bool) -> np.ndarray:
    """A labelled strip of frames (or a grey box saying why there is none)."""
    tile = np.full((LABEL_H + height, width, 3), BG, np.uint8)
    scale = 2 if text_width(label, 2) <= width - 2 else 1  # long labels in narrow tiles get the small font
    draw_text(tile, label, 3 if scale == 2 else 5, 2, (170, 40, 40) if refused else (20, 20, 20), scale)
    if images is None:
        tile[LABEL_H:] = (215, 215, 215)
        draw_text(tile, "refused on this data", LABEL_H + height // 2 - 5, 8, (120, 120, 120))
        return tile
    x = 0
    for im in images:
        tile[LABEL_H : LABEL_H + im.shape[0], x : x + im.shape[1]] = im
        x += im.shape[1] + GAP
    return tile


def _grid(tiles: list[np.ndarray], cols: int) -> np.ndarray:
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // cols)
    out = np.full((rows * (h + GAP * 2), cols * (w + GAP * 3), 3), BG, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * (h + 2 * GAP) : r * (h + 2 * GAP) + h, c * (w + 3 * GAP) : c * (w + 3 * GAP) + w] = t
    return out


def _frames(batch: dict[str, Any], cams: list[str]) -> list[np.ndarray]:
    return [f.permute(1, 2, 0).numpy() for c in cams for f in batch[c][0]]  # each (H, W, 3)


def _fmt(v: Any) -> str:
    return "[" + ", ".join(f"{x:+.3f}" for x in np.asarray(v, float).reshape(-1)) + "]"


def _pick_cameras(all_cams: list[str], wanted: Sequence[str] | None) -> list[str]:
    if not wanted:
        return list(all_cams)
    full = {c.removeprefix("observation.images."): c for c in all_cams}
    unknown = [w for w in wanted if w not in full and w not in all_cams]
    if unknown:
        raise DatasetError(f"cameras {unknown} are not in the dataset; its cameras are {sorted(full)}")
    return [full.get(w, w) for w in wanted]


def preview_rows(src: str | Path, episode: int | None = None, times: int = 3, seed: int = 0,
                 cameras: Sequence[str] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Apply every registered augmentation (at its showcase strength, p = 1) to `times` frames of one episode."""
    ds = open_dataset(src)
    if not ds.camera_keys:
        raise DatasetError(f"{src} has no cameras; the preview shows augmented camera frames")
    shown = _pick_cameras(ds.camera_keys, cameras)
    ep = int(ds.episode_meta[0]["episode_index"]) if episode is None else episode
    arrays = ds.episode(ep, cameras=True)
    T = len(arrays["index"])
    ts = sorted(set(np.linspace(0, T - 1, max(1, times)).round().astype(int).tolist()))
    batch: dict[str, Any] = {c: torch.from_numpy(np.ascontiguousarray(arrays[c][ts].transpose(0, 3, 1, 2)))[None] for c in ds.camera_keys}
    for key in (STATE, ACTION):
        if key in arrays:
            batch[key] = torch.from_numpy(np.asarray(arrays[key][ts], np.float32))[None]  # (1, t, D)
    batch["task"] = [arrays["task"][0]]
    spec = DataSpec.from_dataset(ds)
    rows = [{"name": "original", "doc": f"episode {ep}, frames {ts}", "status": "", "params": {}, "frames": _frames(batch, shown),
             "task": batch["task"][0], "action": batch.get(ACTION), "state": batch.get(STATE), "refused": False}]
    for name in registered():
        cls = get(name)
        status = "default parameters accepted on this dataset"
        refused = False
        try:
            build_step(Step(name), spec)
        except AugmentRefused as e:
            status, refused = f"refused with default parameters: {e}", True
        row = {"name": name, "doc": (cls.__doc__ or "").strip().splitlines()[0], "status": status, "params": dict(cls.showcase), "refused": refused}
        try:
            ab = Pipeline(Recipe((Step(name, 1.0, dict(cls.showcase)),)), spec, record=True).run(batch, torch.Generator().manual_seed(seed))
            out = ab.result()
            row.update(frames=_frames(out, shown), task=out["task"][0], action=out.get(ACTION), state=out.get(STATE), drawn=ab.applied[0] if ab.applied else {})
        except AugmentRefused as e:
            row.update(frames=None, task=batch["task"][0], action=None, state=None, status=f"{status}; also refused at showcase strength: {e}")
        rows.append(row)
    return rows, [c.removeprefix("observation.images.") + f" t={t}" for c in shown for t in ts]


def write_preview(src: str | Path, out_dir: str | Path, episode: int | None = None, times: int = 3, seed: int = 0, cols: int = 2,
                  cameras: Sequence[str] | None = None) -> tuple[Path, Path]:
    """Write DIR/gallery.png and DIR/gallery.html (all cameras, or those named); returns their paths."""
    rows, columns = preview_rows(src, episode, times, seed, cameras)
    h = rows[0]["frames"][0].shape[0]
    width = sum(f.shape[1] for f in rows[0]["frames"]) + GAP * (len(rows[0]["frames"]) - 1)
    tiles, html_rows = [], []
    for r in rows:
        kind = get(r["name"]).kind if r["name"] != "original" else "image"
        label = r["name"] + (" (refused here)" if r["refused"] else "") + ("" if kind == "image" else f" ({kind} only)")
        tile = _tile(label, r["frames"], width, h, r["refused"])
        tiles.append(tile)
        html_rows.append(_html_row(r, rows[0], tile))
    out_dir = Path(out_dir)
    png, page = out_dir / "gallery.png", out_dir / "gallery.html"
    atomic_write_bytes(png, encode_png(_grid(tiles, cols)))
    atomic_write_text(page, _page(Path(src).name, columns, html_rows))
    return png, page


def _html_row(r: dict[str, Any], orig: dict[str, Any], tile: np.ndarray) -> str:
    uri = "data:image/png;base64," + base64.b64encode(encode_png(tile)).decode()
    facts = []
    if r["task"] != orig["task"] or r["name"] == "original":
        facts.append(f"instruction: <i>{html.escape(orig['task'])}</i>" + (f" → <b>{html.escape(r['task'])}</b>" if r["name"] != "original" else ""))
    for key, label in ((ACTION, "action[0]"), (STATE, "state[0]")):
        a, b = orig.get(key.split(".")[-1]), r.get(key.split(".")[-1])
        if a is not None and (r["name"] == "original" or (b is not None and not torch.equal(a, b))):
            facts.append(f"{label}: {_fmt(a[0, 0])}" + (f" → <b>{_fmt(b[0, 0])}</b>" if r["name"] != "original" else ""))
    params = ", ".join(f"{k}={v}" for k, v in r["params"].items()) or "defaults"
    drawn = r.get("drawn", {}).get(r["name"]) if r.get("drawn") else None
    cls = "refused" if r["refused"] else ""
    return (f"<tr class='{cls}'><td><b>{html.escape(r['name'])}</b><br><span class='muted'>{html.escape(r['doc'])}</span>"
            f"<br><span class='muted'>shown with: {html.escape(params)}" + (f"; drawn: {html.escape(str(drawn))}" if drawn else "") + "</span>"
            + (f"<br><span class='status'>{html.escape(r['status'])}</span>" if r["status"] else "")
            + f"</td><td><img src='{uri}' alt='{html.escape(r['name'])}'></td><td>{'<br>'.join(facts)}</td></tr>")


def _page(title: str, columns: list[str], rows: list[str]) -> str:
    css = ("body{font-family:system-ui,sans-serif;margin:24px;color:#222} table{border-collapse:collapse} "
           "td{border:1px solid #ddd;padding:6px;vertical-align:top;font-size:13px;max-width:420px} .muted{color:#666} "
           "tr.refused td:first-child{background:#fbeee6} .status{color:#a04000} img{image-rendering:pixelated}")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>vlaforge augment preview: " + html.escape(title)
            + f"</title><style>{css}</style></head><body><h1>Augmentations on {html.escape(title)}</h1>"
            + f"<p class='muted'>Each strip shows {html.escape(', '.join(columns))}: one draw of parameters per episode, the same on every "
            "frame and camera. Strength is exaggerated (the showcase parameters) so each effect is visible.</p><table>"
            + "".join(rows) + "</table></body></html>\n")
