"""A new dataset version: the old episodes (videos referenced, not re-encoded) plus new ones, and a review queue.

Written atomically by `DatasetWriter` (staging dir, then one rename); meta/vlaforge.json names the
parent, the operation (round, strategy, labelled steps) and notes each new episode's provenance in its
flags (`source`, `round`, `start_step`, `moment`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from vlaforge.data.edit import linked_videos, load_episode
from vlaforge.data.features import user_features
from vlaforge.data.reader import open_dataset
from vlaforge.data.writer import DatasetWriter, _video_config_from
from vlaforge.engine.active.queue import write_queue
from vlaforge.errors import DatasetError, FeatureMismatch


def write_version(src: str | Path, out: str | Path, new: Sequence[dict[str, Any]], operation: dict[str, Any],
                  queue: dict[str, Any] | None = None, overwrite: bool = False) -> Path:
    """`src`'s episodes followed by `new` ({data, task, subtasks, flags}) as a new version at `out`; returns `out`.

    Queue items whose `episode` counts among `new` are renumbered to their index in the written dataset."""
    ds = open_dataset(src)
    out = Path(out)
    if Path(ds.root).resolve() == out.resolve():
        raise DatasetError(f"--out {out} is the source dataset; a new version is written elsewhere")
    feats = user_features(ds.features)
    wanted = {k for k, f in feats.items() if not f.is_visual} | set(ds.camera_keys)
    for e in new:
        missing = sorted(wanted - set(e["data"]))
        if missing:
            raise FeatureMismatch(f"new episodes lack the dataset's features {missing}; collect the dataset with `vlaforge sim collect`")
    w = DatasetWriter.create(out, fps=ds.fps, features=feats, robot_type=ds.info.get("robot_type"),
                             video=_video_config_from(ds.features), overwrite=overwrite)
    parent = {"fingerprint": ds.lineage.get("fingerprint"), "path": str(ds.root)}
    w.set_lineage({**operation, "episodes_added": len(new), "labelled_steps": sum(len(e["data"]["action"]) for e in new)},
                  [parent], int(ds.lineage.get("version", 0)) + 1)
    with w:
        for e in ds.episode_meta:
            ep = int(e["episode_index"])
            old = load_episode(ds, ep)
            T = len(old["data"]["action"])
            w.add_episode(old["data"], old["task"], flags=old["flags"], subtasks=old["subtasks"], videos=linked_videos(ds, ep, T),
                          suggestions=old.get("suggestions"))
        first_new = len(w.episodes)
        for e in new:
            w.add_episode({k: e["data"][k] for k in wanted}, e["task"], flags=e["flags"], subtasks=e["subtasks"] or None)
        if queue is not None:
            for it in queue["items"]:
                if it.get("episode") is not None:
                    it["episode"] = first_new + int(it["episode"])
            write_queue(w.staging, queue)  # inside the staging dir: fingerprinted and swapped in with the rest
    return out
