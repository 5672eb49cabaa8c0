"""`vlaforge eval compare A B`: a paired test on the episodes both evaluations share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlaforge.errors import VlaforgeError
from vlaforge.eval.records import EpisodeRecord, load_records
from vlaforge.eval.stats import mcnemar, verdict, wilson


def compare_records(a: list[EpisodeRecord], b: list[EpisodeRecord], a_name: str = "A", b_name: str = "B") -> dict[str, Any]:
    """McNemar on shared (family, split, seed) episodes, overall and per split, with a verdict in words."""
    ka, kb = {r.key: r for r in a}, {r.key: r for r in b}
    shared = sorted(set(ka) & set(kb))
    if not shared:
        raise VlaforgeError("the two evaluations share no episodes (same suite, splits and seeds are needed for a paired test)")
    result: dict[str, Any] = {"shared_episodes": len(shared), "only_in_a": len(set(ka) - set(kb)), "only_in_b": len(set(kb) - set(ka))}

    def block(keys: list[tuple[str, str, int]]) -> dict[str, Any]:
        sa, sb = [ka[k].success for k in keys], [kb[k].success for k in keys]
        t = mcnemar(sa, sb)
        ra, rb = wilson(sum(sa), len(sa)), wilson(sum(sb), len(sb))
        return {"n": len(keys), "a": {"rate": ra[0], "ci95": ra[1:]}, "b": {"rate": rb[0], "ci95": rb[1:]}, **t, "verdict": verdict(a_name, b_name, ra[0], rb[0], t["p_value"])}

    result["overall"] = block(shared)
    result["by_split"] = {s: block([k for k in shared if k[1] == s]) for s in sorted({k[1] for k in shared})}
    return result


def compare_dirs(dir_a: Path, dir_b: Path) -> dict[str, Any]:
    """Compare two `vlaforge eval` output directories (their records.jsonl)."""
    for d in (dir_a, dir_b):
        if not (Path(d) / "records.jsonl").exists():
            raise VlaforgeError(f"{d}/records.jsonl is missing: point at a `vlaforge eval --out` directory")
    return compare_records(load_records(Path(dir_a) / "records.jsonl"), load_records(Path(dir_b) / "records.jsonl"), Path(dir_a).name, Path(dir_b).name)
