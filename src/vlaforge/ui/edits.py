"""What a save from the web app may change, checked strictly, and how it becomes a new dataset version.

A save body is `{"base": N, "edits": {"<episode>": {...}}}`; per episode, any of:
`instruction` (text), `subtasks` ([{start, end, text}] in the episode's frames before any trim),
`trim` ([start, end): the frames kept), `flag` (bool) and `flag_note` (text), `drop` (bool), and
`suggestions` ({"instruction"|"subtasks": "accept"|"reject"}, only for pending ones).
Per episode they apply in this order: decisions on suggestions, the instruction, the subtasks, the
flag, the trim (which re-encodes that episode's frames and drops its suggestions, as `trim-idle` does).
An optional `"queue": {"<item id>": "accept"|"reject"}` decides on the review queue's corrections
(`vlaforge.ui.queue`): a rejected correction's episode is dropped like `drop`, and the new version's
queue records every decision. Anything else in the body is refused before anything is written.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from vlaforge.engine.active.queue import read_queue, write_queue
from vlaforge.errors import ConfigError, DatasetError, VersionConflict
from vlaforge.ui.queue import carry, check_decisions, rejected_episodes
from vlaforge.ui.versions import VersionChain

MAX_TEXT = 500  # characters in an instruction or a subtask text
MAX_SUBTASKS = 500
EPISODE_KEYS = ("instruction", "subtasks", "trim", "flag", "flag_note", "drop", "suggestions")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class EpisodeEdit:
    """The checked changes to one episode (None = leave as it is)."""

    instruction: str | None = None
    subtasks: tuple[tuple[int, int, str], ...] | None = None
    trim: tuple[int, int] | None = None
    flag: bool | None = None
    flag_note: str | None = None
    drop: bool = False
    suggestions: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The edit as recorded in the new version's lineage (only what it changes)."""
        d = asdict(self)
        d["subtasks"] = None if self.subtasks is None else [{"start": a, "end": b, "text": t} for a, b, t in self.subtasks]
        d["suggestions"] = dict(self.suggestions) or None
        return {k: v for k, v in d.items() if v not in (None, False)}


def _text(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise ConfigError(f"{where} must be a string, got {type(v).__name__}")
    v = v.strip()
    if not v or len(v) > MAX_TEXT or _CONTROL.search(v):
        raise ConfigError(f"{where} must be 1-{MAX_TEXT} characters without control characters (newlines, tabs)")
    return v


def _int(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{where} must be an integer, got {v!r}"[:200])
    return v


def _bool(v: Any, where: str) -> bool:
    if not isinstance(v, bool):
        raise ConfigError(f"{where} must be true or false, got {v!r}"[:200])
    return v


def parse_episode_edit(ep: str, d: Any) -> EpisodeEdit:
    """One episode's edits from JSON, types and keys checked (frame ranges are checked against the data later)."""
    where = f"edits[{ep}]"
    if not isinstance(d, dict):
        raise ConfigError(f"{where} must be an object")
    unknown = sorted(set(d) - set(EPISODE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown fields {unknown}; allowed: {list(EPISODE_KEYS)}"[:300])
    kw: dict[str, Any] = {}
    if "instruction" in d:
        kw["instruction"] = _text(d["instruction"], f"{where}.instruction")
    if "subtasks" in d:
        subs = d["subtasks"]
        if not isinstance(subs, list) or len(subs) > MAX_SUBTASKS:
            raise ConfigError(f"{where}.subtasks must be a list of at most {MAX_SUBTASKS} {{start, end, text}} objects")
        out = []
        for i, s in enumerate(subs):
            if not isinstance(s, dict) or set(s) != {"start", "end", "text"}:
                raise ConfigError(f"{where}.subtasks[{i}] must be an object with exactly start, end and text")
            out.append((_int(s["start"], f"{where}.subtasks[{i}].start"), _int(s["end"], f"{where}.subtasks[{i}].end"),
                        _text(s["text"], f"{where}.subtasks[{i}].text")))
        kw["subtasks"] = tuple(out)
    if "trim" in d:
        t = d["trim"]
        if not isinstance(t, list) or len(t) != 2:
            raise ConfigError(f"{where}.trim must be [start, end]")
        kw["trim"] = (_int(t[0], f"{where}.trim[0]"), _int(t[1], f"{where}.trim[1]"))
    if "flag" in d:
        kw["flag"] = _bool(d["flag"], f"{where}.flag")
    if "flag_note" in d:
        kw["flag_note"] = _text(d["flag_note"], f"{where}.flag_note")
    if "drop" in d:
        kw["drop"] = _bool(d["drop"], f"{where}.drop")
    if "suggestions" in d:
        s = d["suggestions"]
        if not isinstance(s, dict) or not set(s) <= {"instruction", "subtasks"} or not all(v in ("accept", "reject") for v in s.values()):
            raise ConfigError(f'{where}.suggestions must look like {{"instruction": "accept", "subtasks": "reject"}}')
        kw["suggestions"] = tuple(sorted(s.items()))
    return EpisodeEdit(**kw)


def parse_save(body: Any) -> tuple[int, dict[int, EpisodeEdit]]:
    """A save body → (base version, {episode: edit}); raises ConfigError naming the first bad field.

    Its `queue` decisions are read by `vlaforge.ui.queue.parse_decisions`; with some, `edits` may be empty."""
    if not isinstance(body, dict) or not {"base", "edits"} <= set(body) <= {"base", "edits", "queue"}:
        raise ConfigError('the body must be {"base": <version number>, "edits": {"<episode>": {...}}, "queue": {"<item id>": "accept"}}'
                          ' ("queue" optional)')
    base = _int(body["base"], "base")
    if not isinstance(body["edits"], dict) or not (body["edits"] or body.get("queue")):
        raise ConfigError("edits must be a non-empty object {episode: changes}; there is nothing to save")
    edits = {}
    for k, v in body["edits"].items():
        if not re.fullmatch(r"\d{1,9}", k):
            raise ConfigError(f"edits key {k[:40]!r} is not an episode index")
        edits[int(k)] = parse_episode_edit(k, v)
    return base, edits


def check_against(ds: Any, edits: dict[int, EpisodeEdit]) -> None:
    """Refuse edits that do not fit the dataset: unknown episodes, frames out of range, suggestions not pending."""
    lengths = {int(e["episode_index"]): int(e["length"]) for e in ds.episode_meta}
    for ep, e in edits.items():
        if ep not in lengths:
            raise ConfigError(f"episode {ep} is not in this version ({len(lengths)} episodes)")
        T = lengths[ep]
        prev_end = 0
        for a, b, _ in e.subtasks or ():
            if not (0 <= a < b <= T) or a < prev_end:
                raise ConfigError(f"episode {ep}: subtasks must be ordered, not overlap, and have 0 <= start < end <= {T}; got [{a}, {b})")
            prev_end = b
        if e.trim is not None and not (0 <= e.trim[0] and e.trim[0] + 2 <= e.trim[1] <= T):
            raise ConfigError(f"episode {ep}: trim {list(e.trim)} must keep at least 2 of its {T} frames: 0 <= start, start + 2 <= end <= {T}")
        for kind, verdict in e.suggestions:
            s = ds.suggestions(ep).get(kind)
            if not s or s.get("status") != "pending":
                raise ConfigError(f"episode {ep} has no pending {kind} suggestion to {verdict}")
    if all(e.drop for e in edits.values()) and len(edits) == len(lengths):
        raise ConfigError("the save drops every episode; a dataset needs at least one")


def apply_edit(ds: Any, ep: int, e: dict[str, Any], edit: EpisodeEdit, stamp: str) -> dict[str, Any] | None:
    """One episode as `rewrite` carries it, with `edit` applied (None when dropped)."""
    from vlaforge.data.edit import _slice, frames_of

    if edit.drop:
        return None
    e = dict(e)
    sugg = {k: dict(v) for k, v in (e.get("suggestions") or {}).items()}
    for kind, verdict in edit.suggestions:  # as `vlaforge engine review` records them
        sugg[kind].update(status=verdict + "ed", reviewed=stamp, reviewer="vlaforge ui")
        if verdict == "accept" and kind == "instruction":
            sugg[kind]["replaced"] = e["task"]
            e["task"] = sugg[kind]["text"]
        elif verdict == "accept":
            e["subtasks"] = [{"start": s["start"], "end": s["end"], "text": s["text"]} for s in sugg[kind]["segments"]]
    e["suggestions"] = sugg or None
    if edit.instruction is not None:
        e["task"] = edit.instruction
    if edit.subtasks is not None:
        e["subtasks"] = [{"start": a, "end": b, "text": t} for a, b, t in edit.subtasks] or None
    if edit.flag is not None or edit.flag_note is not None:
        flags = dict(e.get("flags") or {})
        if edit.flag is False:
            flags.pop("flagged", None)
            flags.pop("flag_note", None)
        else:
            flags["flagged"] = True
            if edit.flag_note is not None:
                flags["flag_note"] = edit.flag_note
        e["flags"] = flags or None
    if edit.trim is not None and edit.trim != (0, len(next(iter(e["data"].values())))):
        a, b = edit.trim
        e = _slice(e, a, b, frames_of(ds, ep, e))
    return e


def save(chain: VersionChain, base: int, edits: dict[int, EpisodeEdit], queue: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Write the latest version plus `edits` (and review-queue decisions) as the next version, if `base` is the latest.

    Else VersionConflict. The check and the write happen under the chain's lock, so of two saves based on the
    same version exactly one is written; the other is refused and writes nothing."""
    from vlaforge.data.edit import rewrite
    from vlaforge.data.reader import open_dataset

    edits, decisions = dict(edits), dict(queue or {})
    with chain.locked():
        latest = chain.latest()
        if base != latest.number:
            raise VersionConflict(
                f"not saved: these edits are based on version {base}, but the latest version is {latest.number} "
                f"({latest.path.name}), saved after this page loaded version {base}; a save must be based on the latest "
                f"version. Open version {latest.number} and make the edits there (nothing was written)"
            )
        ds = open_dataset(latest.path)
        check_against(ds, edits)
        lengths = {int(e["episode_index"]): int(e["length"]) for e in ds.episode_meta}
        review_queue = read_queue(ds.root)
        check_decisions(review_queue, decisions, lengths, {ep for ep, e in edits.items() if e.drop}, base)
        for ep in rejected_episodes(review_queue, decisions):  # a rejected correction leaves the dataset
            edits[ep] = replace(edits.get(ep, EpisodeEdit()), drop=True)
        if len(edits) == len(lengths) and all(e.drop for e in edits.values()):
            raise ConfigError("the save drops every episode; a dataset needs at least one")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        out = chain.next_path()
        kept = [ep for ep in lengths if not edits.get(ep, EpisodeEdit()).drop]
        op = {"name": "ui", "base_version": base, "created": stamp, "episodes_edited": len(edits),
              "episodes_dropped": sum(e.drop for e in edits.values()),
              "edits": {str(k): v.to_json() for k, v in sorted(edits.items())}}
        if decisions:
            op["queue"] = dict(sorted(decisions.items()))
        new_queue = carry(review_queue, decisions, {old: new for new, old in enumerate(kept)}, stamp, base) if review_queue else None

        def transform(d: Any, ep: int, e: dict[str, Any]) -> dict[str, Any] | None:
            return apply_edit(d, ep, e, edits[ep], stamp) if ep in edits else e

        try:
            rewrite([ds], out, op, transform=transform, extra=None if new_queue is None else lambda staging: write_queue(staging, new_queue))
        except DatasetError as err:
            raise DatasetError(f"not saved: {err}") from None
    return {"version": latest.number + 1, "path": str(Path(out)), "name": Path(out).name,
            "episode_map": {str(old): new for new, old in enumerate(kept)}}
