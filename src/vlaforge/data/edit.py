"""Dataset edits that produce a new version atomically (this file grows with `vlaforge data edit`)."""

from __future__ import annotations

from pathlib import Path

from vlaforge.data import format as fmt
from vlaforge.data import stats as st
from vlaforge.data.features import camera_keys
from vlaforge.data.lineage import read_lineage, write_lineage
from vlaforge.io import atomic_write_json, staging_dir


def recompute_stats(root: str | Path) -> None:
    """Recompute per-episode tabular stats and meta/stats.json from the data; image stats are re-decoded."""
    import os

    from vlaforge.data.reader import open_dataset

    root = Path(root)
    ds = open_dataset(root)
    lineage = read_lineage(root)
    episodes = []
    for e in ds.episode_meta:
        i = int(e["episode_index"])
        arrays = ds.episode(i, cameras=True)
        ep_stats = {k: st.feature_stats(arrays[k]) for k, f in ds.features.items() if not f.is_visual}
        for cam in camera_keys(ds.features):
            frames = arrays[cam]
            step = max(1, -(-len(frames) // 32))
            ep_stats[cam] = st.feature_stats(frames[::step], is_image=True)
        episodes.append({**{k: v for k, v in e.items() if not k.startswith("meta/episodes/")}, "stats": ep_stats})
    with staging_dir(root) as tmp:
        for p in root.rglob("*"):
            if p.is_file():
                dst = tmp / p.relative_to(root)
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.link(p, dst)
        fmt.write_episodes(tmp, episodes)
        atomic_write_json(tmp / fmt.STATS_PATH, st.to_json(st.aggregate([e["stats"] for e in episodes])))
        parents = [{"fingerprint": lineage["fingerprint"], "path": str(root)}] if lineage.get("fingerprint") else []
        notes = {int(k): v for k, v in lineage.get("episodes", {}).items()}
        write_lineage(tmp, notes, parents, {"name": "restats"}, int(lineage.get("version", 0)) + 1)
