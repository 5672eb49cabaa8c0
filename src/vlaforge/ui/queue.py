"""The review queue of a version (meta/review_queue.json, written by `vlaforge engine loop`) in the web app.

A person accepts or rejects each expert correction of the queue (items with status "corrected"). A save
carries the queue into the new version (the same save as every other edit, see `vlaforge.ui.edits`):
a rejected correction's episode is dropped and its item becomes "rejected" (episode null); an accepted
one stays and its item becomes "accepted"; every item's `episode` follows the new numbering. Dropping a
correction's episode (`drop`) rejects its item too, so the queue never points at an episode that is gone.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Mapping

from vlaforge.engine.active.queue import read_queue
from vlaforge.errors import ConfigError

VERDICTS = ("accept", "reject")
DECIDABLE = "corrected"  # only an expert correction not yet decided can be accepted or rejected
REVIEWER = "vlaforge ui"
MAX_DECISIONS = 10_000
_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
META_KEYS = ("created", "source", "round", "policy", "uncertainty", "labeler")


def queue_view(root: str | Path, lengths: Mapping[int, int]) -> dict[str, Any] | None:
    """The queue as the app lists it (None without one): each item plus `decidable` and `frame` (the moment's frame).

    A correction starts at the state the policy was in at the mined moment, so that moment is its frame 0."""
    queue = read_queue(root)
    if queue is None:
        return None
    items = []
    for it in queue["items"]:
        ep = it.get("episode")
        has_episode = ep is not None and int(ep) in lengths
        items.append({**it, "frame": 0 if has_episode else None, "decidable": it["status"] == DECIDABLE and has_episode})
    return {**{k: queue.get(k) for k in META_KEYS}, "items": items}


def parse_decisions(d: Any) -> dict[str, str]:
    """The save body's `queue` ({"<item id>": "accept"|"reject"}), types checked; ids are checked against the queue later."""
    if d is None:
        return {}
    if not isinstance(d, dict) or len(d) > MAX_DECISIONS:
        raise ConfigError(f'queue must be an object {{"<item id>": "accept" | "reject"}} of at most {MAX_DECISIONS} items')
    for k, v in d.items():
        if not _ID.fullmatch(k):
            raise ConfigError(f"queue item id {k[:40]!r} is not an id of the review queue (like 'r1-0')")
        if v not in VERDICTS:
            raise ConfigError(f"queue[{k}] must be 'accept' or 'reject', got {v!r}"[:200])
    return dict(d)


def check_decisions(queue: dict[str, Any] | None, decisions: Mapping[str, str], lengths: Mapping[int, int],
                    dropped: set[int], version: int) -> None:
    """Refuse decisions that do not fit this version's queue: no queue, unknown ids, items that are not an undecided correction."""
    if not decisions:
        return
    if queue is None:
        raise ConfigError(f"version {version} has no review queue (meta/review_queue.json); there is nothing to accept or reject")
    items = {it["id"]: it for it in queue["items"]}
    for item_id, verdict in decisions.items():
        it = items.get(item_id)
        if it is None:
            some = ", ".join(list(items)[:5]) + (", ..." if len(items) > 5 else "")
            raise ConfigError(f"queue item {item_id!r} is not in the review queue of version {version} ({len(items)} items: {some or 'none'})")
        if it["status"] != DECIDABLE:
            raise ConfigError(f"queue item {item_id!r} is {it['status']!r}: only an undecided correction (status {DECIDABLE!r}) "
                              "can be accepted or rejected")
        ep = it.get("episode")
        if ep is None or int(ep) not in lengths:
            raise ConfigError(f"queue item {item_id!r} names episode {ep}, which is not in version {version}; it cannot be decided")
        if verdict == "accept" and int(ep) in dropped:
            raise ConfigError(f"queue item {item_id!r} is accepted but its episode {ep} is dropped: reject the item instead")


def rejected_episodes(queue: dict[str, Any] | None, decisions: Mapping[str, str]) -> set[int]:
    """The episodes of the rejected corrections (a save drops them)."""
    if queue is None:
        return set()
    return {int(it["episode"]) for it in queue["items"] if decisions.get(it["id"]) == "reject"}


def carry(queue: dict[str, Any], decisions: Mapping[str, str], episode_map: Mapping[int, int], stamp: str, version: int) -> dict[str, Any]:
    """The queue of the new version: decisions recorded, episodes renumbered, items of dropped episodes rejected."""
    out = copy.deepcopy(queue)
    for it in out["items"]:
        ep = it.get("episode")
        if ep is None:
            continue
        review = {"reviewed": stamp, "reviewer": REVIEWER, "reviewed_version": version}
        if int(ep) not in episode_map:  # rejected, or its episode dropped: the correction is gone
            it.update(status="rejected", episode=None, rejected_episode=int(ep), **review)
            continue
        if decisions.get(it["id"]) == "accept":
            it.update(status="accepted", **review)
        it["episode"] = episode_map[int(ep)]
    return out
