"""`vlaforge demo --quick`: every stage of the main job, end to end, through the real CLI."""

import json

import pytest

from vlaforge.cli import main
from vlaforge.engine.health.findings import SECTION_TITLES
from vlaforge.eval.report import SECTIONS


@pytest.mark.slow
def test_quick_demo_runs_every_stage_and_writes_both_reports(tmp_path, capsys):
    out = tmp_path / "demo"
    (out / "run").mkdir(parents=True)
    (out / "run" / "config.json").write_text("{}")  # a previous demo's run: a rerun replaces it instead of failing in training
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "report:" in printed and "heldout-combos" in printed and "replacing the previous demo run" in printed
    res = json.loads((out / "demo.json").read_text())
    assert set(res["seconds"]) == {"collect", "check", "health", "train", "eval", "total"}
    assert res["data"]["episodes"] == 6 and res["train"]["steps"] == 40
    page = (out / "eval" / "report.html").read_text()
    for title in SECTIONS.values():
        assert f">{title}</h2>" in page
    assert "data:video/mp4;base64," in page
    summary = res["eval"]["summary"]
    assert list(summary["by_split"]) == ["seen", "heldout-wording", "heldout-combos", "perturbed"]
    assert summary["overall"]["n"] == 8
    health = (out / "health" / "health.html").read_text()
    assert all(f">{t}</h2>" in health for t in SECTION_TITLES.values())
