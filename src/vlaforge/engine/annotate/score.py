"""Boundary F1: how well predicted subtask boundaries match reference ones within a tolerance in steps."""

from __future__ import annotations

from typing import Any, Iterable, Sequence


def boundaries(segments: Iterable[dict[str, Any]], length: int) -> list[int]:
    """Steps where one subtask ends or another starts, excluding the episode's own start 0 and end `length`."""
    out = set()
    for s in segments:
        out.update((int(s["start"]), int(s["end"])))
    return sorted(b for b in out if 0 < b < length)


def match(pred: Sequence[int], ref: Sequence[int], tol: int = 2) -> int:
    """Most one-to-one pairs with |p - r| <= tol (a two-pointer sweep is optimal for points on a line)."""
    p, r = sorted(pred), sorted(ref)
    i = j = n = 0
    while i < len(p) and j < len(r):
        if abs(p[i] - r[j]) <= tol:
            n, i, j = n + 1, i + 1, j + 1
        elif p[i] < r[j]:
            i += 1
        else:
            j += 1
    return n


def counts(pred: Sequence[int], ref: Sequence[int], tol: int = 2) -> dict[str, int]:
    """{"tp", "fp", "fn"} of one episode."""
    tp = match(pred, ref, tol)
    return {"tp": tp, "fp": len(pred) - tp, "fn": len(ref) - tp}


def f1(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall and F1 from summed counts (1.0 when there is nothing to find and nothing was found)."""
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}
