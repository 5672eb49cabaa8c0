"""Suggested labels from a segmentation: what moved where, phrased as an instruction and as subtask texts.

A grasp cycle picked the object nearest the hand when it closed and left it where it was when the
hand opened: in a bin, on another object, or somewhere on the table. A push moved the object that
travelled furthest while the hand pushed. Objects are named from the scene where it is known
(`scene.Scene`); otherwise by where the hand went.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vlaforge.engine.annotate.scene import Scene
from vlaforge.engine.annotate.signals import Signals

BIN_REACH = 0.08  # an object this close (xy) to a bin centre is in it
ON_TOP = 0.03  # an object this close (xy) to another and higher rests on it


def _cycles(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """[{kind: pick|push, start, grip (step the hand closed), end (release or push end), phases}] in order."""
    out: list[dict[str, Any]] = []
    for s in segments:
        p = s["phase"]
        if p == "grasp":
            out.append({"kind": "pick", "start": s["start"], "grip": s["start"], "end": s["end"]})
        elif p in ("lift", "move", "lower") and out and out[-1]["kind"] == "pick":
            out[-1]["end"] = s["end"]
        elif p == "push":
            out.append({"kind": "push", "start": s["start"], "grip": s["start"], "end": s["end"]})
    return out


def _region(xy: np.ndarray) -> str:
    """Coarse table region of a hand position, in robot-centred coordinates (x right, y away)."""
    side = "left" if xy[0] < -0.05 else "right" if xy[0] > 0.05 else "middle"
    depth = "back" if xy[1] > 0.05 else "front" if xy[1] < -0.05 else ""
    return f"{depth} {side}".strip() if side != "middle" else (depth or "middle")


def _direction(d: np.ndarray) -> str:
    """Direction words of a table displacement (x right, y away from the front camera)."""
    if abs(d[0]) >= abs(d[1]):
        return "to the right" if d[0] > 0 else "to the left"
    return "away" if d[1] > 0 else "closer"


def moves(segments: list[dict[str, Any]], sig: Signals, scene: Scene | None) -> list[dict[str, Any]]:
    """What moved where: [{kind, object, object_index, target, target_kind, start, end}] in order."""
    out = []
    T = sig.T
    for c in _cycles(segments):
        m: dict[str, Any] = {"kind": c["kind"], "start": int(c["start"]), "end": int(c["end"]), "object": "the object",
                             "object_index": None, "target": None, "target_kind": None}
        settle = min(c["end"] + 1, T - 1)  # the step after the release
        if scene is not None:
            if c["kind"] == "pick" and sig.xyz is not None:
                t = min(c["end"] - 1, max(c["grip"] + 1, 0))
                i = int(np.argmin(np.linalg.norm(scene.objects[t] - sig.xyz[t], axis=1)))
            else:
                travel = np.linalg.norm(scene.objects[c["end"] - 1 if c["end"] > 0 else 0, :, :2] - scene.objects[c["start"], :, :2], axis=1)
                i = int(np.argmax(travel))
            m["object_index"], m["object"], m["color"] = i, f"the {scene.names[i]}", scene.colors[i]
            at = scene.objects[settle, i]  # (3,)
            if c["kind"] == "push":
                m["target"], m["target_kind"] = _direction(at[:2] - scene.objects[c["start"], i, :2]), "direction"
            else:
                bins = {k: float(np.linalg.norm(v[settle, :2] - at[:2])) for k, v in scene.bins.items()}
                near = min(bins, key=lambda k: bins[k]) if bins else None
                under = [j for j in range(scene.objects.shape[1]) if j != i and np.linalg.norm(scene.objects[settle, j, :2] - at[:2]) < ON_TOP
                         and scene.objects[settle, j, 2] < at[2] - 0.01]
                if near is not None and bins[near] < BIN_REACH:
                    m["target"], m["target_kind"] = f"the {near} bin", "bin"
                elif under:
                    m["target"], m["target_kind"], m["target_index"] = f"the {scene.names[under[0]]}", "object", under[0]
        if m["target"] is None and sig.xyz is not None:
            if c["kind"] == "push":
                m["target"], m["target_kind"] = _direction(sig.xyz[c["end"] - 1, :2] - sig.xyz[c["start"], :2]), "direction"
            else:
                m["object"] = f"the object on the {_region(sig.xyz[c['grip'], :2])}"
                m["target"], m["target_kind"] = f"the {_region(sig.xyz[min(c['end'], T - 1), :2])}", "region"
        if out and m["kind"] == "push" and out[-1]["kind"] == "push" and out[-1]["object_index"] == m["object_index"]:
            first = out.pop()  # a second push of the same object carries on the first
            m = {**m, "start": first["start"], "target": _push_target(first, m, sig, scene)}
        out.append(m)
    return out


def _push_target(first: dict[str, Any], last: dict[str, Any], sig: Signals, scene: Scene | None) -> str | None:
    """The direction of a push carried over several segments, from the first one's start to the last one's end."""
    i, a, b = last["object_index"], first["start"], min(last["end"], sig.T - 1)
    if scene is not None and i is not None:
        return _direction(scene.objects[b, i, :2] - scene.objects[a, i, :2])
    return _direction(sig.xyz[b, :2] - sig.xyz[a, :2]) if sig.xyz is not None else last["target"]


def instruction(mv: list[dict[str, Any]], scene: Scene | None) -> str | None:
    """An instruction for the moves, or None when nothing was moved."""
    if not mv:
        return None
    picks = [m for m in mv if m["kind"] == "pick"]
    if len(picks) >= 2 and scene is not None and len({m["target"] for m in picks}) == 1 and picks[0]["target_kind"] == "bin":
        colors = {scene.colors[m["object_index"]] for m in picks if m["object_index"] is not None}
        color = next(iter(colors)) if len(colors) == 1 else None
        moved = {m["object_index"] for m in picks}
        if color and moved == {j for j, c in enumerate(scene.colors) if c == color}:
            return f"put all the {color} objects in {picks[0]['target']}"
    parts = []
    for k, m in enumerate(mv):
        if m["kind"] == "push":
            parts.append(f"push {m['object']} {m['target']}" if m["target"] else f"push {m['object']}")
        elif m["target_kind"] == "bin":
            parts.append(f"put {m['object']} in {m['target']}" if k == 0 else f"{m['object']} in {m['target']}")
        elif m["target_kind"] == "object":
            parts.append(f"put {m['object']} on {m['target']}" if k == 0 else f"{m['object']} on {m['target']}")
        elif m["target"]:
            parts.append(f"move {m['object']} to {m['target']}")
        else:
            parts.append(f"pick up and put down {m['object']}")
    return ", then ".join(parts)


def subtask_texts(segments: list[dict[str, Any]], mv: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Segments with a `text` per phase, naming the move's object and target where known."""
    out = []
    for s in segments:
        if s["phase"] in ("reach", "approach"):  # names the move it leads to
            m = next((x for x in mv if x["end"] > s["end"]), mv[-1] if mv else None)
        else:
            m = next((x for x in mv if x["start"] <= s["start"] < x["end"]), None)
        obj = m["object"] if m else "the object"
        tgt = m["target"] if m and m["target_kind"] in ("bin", "object") else None
        text = {
            "reach": f"reach {obj}", "grasp": f"grasp {obj}", "lift": "lift",
            "move": f"move over {tgt}" if tgt else "move", "lower": f"lower onto {tgt}" if tgt else "lower",
            "release": "release", "retreat": "retreat", "approach": f"move behind {obj}", "push": f"push {obj}",
        }.get(s["phase"], s["phase"])
        out.append({**s, "text": text})
    return out
