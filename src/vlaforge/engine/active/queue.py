"""The review queue: the moments a loop chose, for people to look at and decide on in `vlaforge ui`.

Written as meta/review_queue.json inside the dataset version it belongs to (so the fingerprint in
meta/vlaforge.json covers it; LeRobot readers ignore the file). Format `vlaforge-review-queue/1`:

    {"format": "vlaforge-review-queue/1", "created": "2025-01-31T12:00:00", "source": "vlaforge engine loop",
     "round": 1, "policy": "runs/r0/checkpoints/last", "uncertainty": "flow", "labeler": "expert",
     "items": [{"id": "r1-0", "status": "corrected" | "pending" | "expert-failed",
                "kind": "uncertain" | "stuck" | "dropped" | "gripper_oscillation" | "timeout",
                "score": 0.41 | null, "tier": 0 | 1, "detail": "...",
                "family": "pick_place", "split": "seen", "seed": 500003, "instruction": "...",
                "step": 37, "rollout_success": false, "expert_success": true | null,
                "episode": 12 | null, "labelled_steps": 58}]}

`seed` + `family` + `split` replay the policy's rollout (`step` = the control step of the chosen moment);
`episode` is the index, in this version, of the expert correction that starts at that moment ("corrected"),
or null when a person should label it ("pending") or the expert failed from there too ("expert-failed").
A person's decision in `vlaforge ui` turns "corrected" into "accepted" (the correction is kept; `episode`
follows it into each saved version) or "rejected" (the correction is dropped: `episode` null,
`rejected_episode` its index in the version it was rejected on); decided items also carry `reviewed`
(time), `reviewer` and `reviewed_version` (the version the decision was made on).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

from vlaforge.errors import DatasetError
from vlaforge.io import atomic_write_json

FORMAT = "vlaforge-review-queue/1"
QUEUE_PATH = "meta/review_queue.json"
STATUSES = ("corrected", "pending", "expert-failed", "accepted", "rejected")
ITEM_KEYS = ("id", "status", "kind", "score", "tier", "detail", "family", "split", "seed", "instruction", "step",
             "rollout_success", "expert_success", "episode", "labelled_steps")


def make_queue(items: Sequence[dict[str, Any]], round_: int, policy: str, uncertainty: str, labeler: str) -> dict[str, Any]:
    """The queue document for one round's items (ids and statuses filled in)."""
    out = []
    for i, it in enumerate(items):
        status = "pending" if labeler == "people" else ("corrected" if it.get("episode") is not None else "expert-failed")
        row = {k: it.get(k) for k in ITEM_KEYS}
        row.update(id=f"r{round_}-{i}", status=status)
        out.append(row)
    return {"format": FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "source": "vlaforge engine loop", "round": round_,
            "policy": str(policy), "uncertainty": uncertainty, "labeler": labeler, "items": out}


def write_queue(root: Path, queue: dict[str, Any]) -> Path:
    """Write meta/review_queue.json under `root` (a staging dir before it is fingerprinted)."""
    check_queue(queue, "queue")
    path = Path(root) / QUEUE_PATH
    atomic_write_json(path, queue)
    return path


def read_queue(dataset: str | Path) -> dict[str, Any] | None:
    """The dataset's review queue, checked, or None when it has none."""
    path = Path(dataset) / QUEUE_PATH
    if not path.exists():
        return None
    try:
        queue = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path} is not valid JSON ({e})") from None
    check_queue(queue, str(path))
    return queue


def check_queue(queue: Any, where: str) -> None:
    """Raise DatasetError naming the first thing in `queue` that breaks the format."""
    if not isinstance(queue, dict) or queue.get("format") != FORMAT:
        raise DatasetError(f"{where}: format must be {FORMAT!r}")
    if not isinstance(queue.get("items"), list):
        raise DatasetError(f"{where}: 'items' must be a list")
    for it in queue["items"]:
        missing = [k for k in ITEM_KEYS if k not in it]
        if missing:
            raise DatasetError(f"{where}: item {it.get('id')!r} lacks {missing}")
        if it["status"] not in STATUSES:
            raise DatasetError(f"{where}: item {it['id']!r} status {it['status']!r} is not one of {list(STATUSES)}")
