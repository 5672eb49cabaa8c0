"""Aggregation and paired comparison of evaluation records."""

import pytest

from vlaforge.errors import VlaforgeError
from vlaforge.eval.compare import compare_records
from vlaforge.eval.records import EpisodeRecord, load_records, save_records, summarize


def _recs(successes, split="seen", family="pick_place", perturbed=False):
    return [
        EpisodeRecord(family, split, seed, "put the red block in the blue bin", bool(s), 40,
                      perturbations=["move_bin"] if perturbed else [], recover_steps=12 if perturbed and s else None, inference_ms=5.0)
        for seed, s in enumerate(successes)
    ]


def test_summary_intervals_and_recovery(tmp_path):
    recs = _recs([1] * 8 + [0] * 2) + _recs([1] * 3 + [0] * 7, split="perturbed", perturbed=True)
    s = summarize(recs)
    assert s["by_split"]["seen"]["rate"] == 0.8
    assert s["by_split"]["seen"]["ci95"] == pytest.approx([0.4901624, 0.9433178], abs=1e-6)
    assert s["recovery"]["n"] == 10 and s["recovery"]["rate"] == 0.3 and s["recovery"]["mean_recover_steps"] == 12
    save_records(recs, tmp_path / "r.jsonl")
    assert load_records(tmp_path / "r.jsonl") == recs


def test_compare_finds_planted_difference_and_none_between_identical():
    a = _recs([1] * 10 + [0] * 30)
    b = _recs([1] * 10 + [1] * 20 + [0] * 10)  # B fixes 20 of A's failures on the same seeds
    r = compare_records(a, b)
    assert r["overall"]["b_only"] == 20 and r["overall"]["p_value"] < 1e-5
    assert r["overall"]["verdict"].startswith("B is better than A")
    same = compare_records(a, a)
    assert same["overall"]["p_value"] == 1.0 and same["overall"]["verdict"].startswith("No significant difference")
    with pytest.raises(VlaforgeError, match="share no episodes"):
        compare_records(a, _recs([1], split="heldout-wording"))
