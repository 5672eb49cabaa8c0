"""`vlaforge engine annotate`: segment every episode, suggest instructions, write both into a new dataset version.

Suggestions live in meta/vlaforge.json under each episode's `suggestions` with status "pending"; the
instruction and any existing subtasks stay as they are until a person accepts a suggestion
(`review`), which writes another version. Data and video files are hard-linked, never rewritten.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from vlaforge.data import format as fmt
from vlaforge.data.lineage import read_lineage, write_lineage
from vlaforge.data.reader import LeRobotDataset, open_dataset
from vlaforge.data.writer import _link_or_copy
from vlaforge.engine.annotate.scene import episode_scene
from vlaforge.engine.annotate.segment import SegmentConfig, segment
from vlaforge.engine.annotate.signals import episode_signals
from vlaforge.engine.annotate.suggest import instruction, moves, subtask_texts
from vlaforge.errors import ConfigError, DatasetError
from vlaforge.io import staging_dir

SOURCE = "vlaforge engine annotate"
KINDS = ("instruction", "subtasks")
DECISIONS = ("accept", "reject")
# Instructions that mean "nobody wrote one" (compared lower-case, stripped).
PLACEHOLDERS = ("", "unlabelled", "unlabeled", "unknown", "none", "todo", "n/a", "no instruction", "task")


def is_unlabelled(task: str, placeholders: Sequence[str] = PLACEHOLDERS) -> bool:
    """True when an episode's instruction is a placeholder, not a real instruction."""
    return task.strip().lower() in {p.strip().lower() for p in placeholders}


def annotate_episode(ds: LeRobotDataset, ep: int, cfg: SegmentConfig | None = None, images: bool = True) -> dict[str, Any]:
    """One episode → {"segments": [{start, end, phase, text}], "moves": [...], "instruction": str | None}."""
    sig = episode_signals(ds, ep, images=images)
    front = "observation.images.front"
    frames = None
    if images and front in ds.features:
        frames = ds.episode_frames(ep, front)  # the camera the `label.*_uv` positions are projected on
    scene = episode_scene(ds, ep, frames)
    segs = segment(sig, cfg)
    mv = moves(segs, sig, scene)
    return {"segments": subtask_texts(segs, mv), "moves": mv, "instruction": instruction(mv, scene)}


def annotate_dataset(
    src: str | Path,
    out: str | Path,
    cfg: SegmentConfig | None = None,
    suggest: str = "unlabelled",
    placeholders: Sequence[str] = PLACEHOLDERS,
    images: bool = True,
    overwrite: bool = False,
    on_episode: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write `out`: `src` plus pending suggestions per episode (subtask segments for all; instructions for the
    unlabelled ones, or for all with suggest="all"). Returns a summary."""
    if suggest not in ("unlabelled", "all", "none"):
        raise ConfigError(f"suggest must be unlabelled, all or none; got {suggest!r}")
    cfg = cfg or SegmentConfig()
    ds = open_dataset(src)
    out = Path(out)
    if Path(ds.root).resolve() == out.resolve():
        raise DatasetError(f"--out {out} is the source dataset; annotation writes a new version elsewhere")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise DatasetError(f"{out} already exists; pass --overwrite to replace it")
    lineage = read_lineage(ds.root)
    notes = {int(k): dict(v) for k, v in lineage.get("episodes", {}).items()}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    counts = {"episodes": 0, "segments": 0, "instructions": 0, "unlabelled": 0}
    for e in ds.episode_meta:
        ep = int(e["episode_index"])
        task = e["tasks"][0] if e.get("tasks") else ""
        res = annotate_episode(ds, ep, cfg, images)
        note = notes.setdefault(ep, {})
        sugg = dict(note.get("suggestions", {}))
        sugg["subtasks"] = {"segments": [{k: s[k] for k in ("start", "end", "text", "phase")} for s in res["segments"]],
                            "status": "pending", "source": SOURCE, "created": stamp}
        unlabelled = is_unlabelled(task, placeholders)
        counts["unlabelled"] += unlabelled
        if res["instruction"] and (suggest == "all" or (suggest == "unlabelled" and unlabelled)):
            sugg["instruction"] = {"text": res["instruction"], "status": "pending", "source": SOURCE, "created": stamp,
                                   "moves": [_jsonable(m) for m in res["moves"]]}
            counts["instructions"] += 1
        note["suggestions"] = sugg
        counts["episodes"] += 1
        counts["segments"] += len(res["segments"])
        if on_episode:
            on_episode(ep)
    op = {"name": "annotate", "segment_config": cfg.to_dict(), "suggest": suggest, "images": images, **counts}
    _write_notes(ds, out, notes, op)
    return {"out": str(out), **counts}


def _jsonable(m: dict[str, Any]) -> dict[str, Any]:
    return {k: (int(v) if hasattr(v, "__index__") and not isinstance(v, bool) else v) for k, v in m.items()}


def _write_notes(ds: LeRobotDataset, out: Path, notes: dict[int, dict[str, Any]], op: dict[str, Any],
                 tasks: list[str] | None = None) -> None:
    """A new version of `ds` at `out`: same files (hard-linked), new meta/vlaforge.json (and tasks when given)."""
    lineage = read_lineage(ds.root)
    parents = [{"fingerprint": lineage.get("fingerprint"), "path": str(ds.root)}]
    with staging_dir(out) as tmp:
        for p in Path(ds.root).rglob("*"):
            rel = p.relative_to(ds.root)
            if p.is_file() and not any(part.startswith(".") for part in rel.parts) and rel.as_posix() != fmt.VLAFORGE_PATH:
                _link_or_copy(p, tmp / rel)
        write_lineage(tmp, notes, parents, op, int(lineage.get("version", 0)) + 1)


def review(
    src: str | Path,
    out: str | Path,
    decisions: dict[int, dict[str, str]],
    overwrite: bool = False,
) -> dict[str, Any]:
    """Apply a person's decisions {episode: {"instruction"|"subtasks": "accept"|"reject"}} as a new version at `out`.

    Accepting an instruction makes it the episode's task; accepting subtasks makes them the episode's
    subtasks (replacing earlier ones). Either way the suggestion stays, with its status, for the record."""
    from vlaforge.data.edit import rewrite

    ds = open_dataset(src)
    for ep, d in decisions.items():
        if int(ep) not in {int(e["episode_index"]) for e in ds.episode_meta}:
            raise DatasetError(f"episode {ep} is not in {src} ({ds.num_episodes} episodes)")
        for kind, verdict in d.items():
            if kind not in KINDS or verdict not in DECISIONS:
                raise ConfigError(f"episode {ep}: decision {kind}={verdict!r}; use one of {KINDS} = one of {DECISIONS}")
            if kind not in ds.suggestions(int(ep)):
                raise DatasetError(f"episode {ep} has no {kind} suggestion to {verdict}; run `vlaforge engine annotate` first")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")

    def apply(_: LeRobotDataset, ep: int, e: dict[str, Any]) -> dict[str, Any]:
        d = decisions.get(ep, {})
        sugg = {k: dict(v) for k, v in (e.get("suggestions") or {}).items()}
        for kind, verdict in d.items():
            sugg[kind].update(status=verdict + "ed", reviewed=stamp)
            if verdict == "accept" and kind == "instruction":
                sugg[kind]["replaced"] = e["task"]
                e = {**e, "task": sugg[kind]["text"]}
            elif verdict == "accept":
                e = {**e, "subtasks": [{"start": s["start"], "end": s["end"], "text": s["text"]} for s in sugg[kind]["segments"]]}
        return {**e, "suggestions": sugg or None}

    n = {v: sum(1 for d in decisions.values() for x in d.values() if x == v) for v in DECISIONS}
    op = {"name": "review", "accepted": n["accept"], "rejected": n["reject"],
          "decisions": {str(k): v for k, v in sorted(decisions.items())}}
    return {"out": str(rewrite([ds], out, op, transform=apply, overwrite=overwrite)), **n}


def parse_decisions(spec: str, ds: LeRobotDataset, verdict: str, kinds: Sequence[str]) -> dict[int, dict[str, str]]:
    """'all' or '0,3,5-7' → {episode: {kind: verdict}} for the episodes that have those suggestions."""
    eps = [int(e["episode_index"]) for e in ds.episode_meta]
    known = set(eps)
    if spec != "all":
        if not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", spec):
            raise ConfigError(f"--episodes {spec!r}: use 'all' or a list like 0,3,5-7")
        chosen: list[int] = []
        for part in spec.split(","):
            a, _, b = part.partition("-")
            chosen.extend(range(int(a), int(b or a) + 1))
        missing = sorted(set(chosen) - known)
        if missing:
            raise DatasetError(f"episodes {missing} are not in {ds.root} ({len(known)} episodes)")
        eps = chosen
    out = {ep: {k: verdict for k in kinds if k in ds.suggestions(ep)} for ep in eps}
    return {ep: d for ep, d in out.items() if d}
