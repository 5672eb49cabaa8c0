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
    assert res["data"]["episodes"] == 6 and res["train"]["steps"] == 40 and res["train"]["device"]  # what trained it (cpu or the GPU)
    page = (out / "eval" / "report.html").read_text()
    for title in SECTIONS.values():
        assert f">{title}</h2>" in page
    assert "data:video/mp4;base64," in page
    summary = res["eval"]["summary"]
    assert list(summary["by_split"]) == ["seen", "heldout-wording", "heldout-combos", "perturbed"]
    assert summary["overall"]["n"] == 8
    health = (out / "health" / "health.html").read_text()
    assert all(f">{t}</h2>" in health for t in SECTION_TITLES.values())


def test_a_negative_step_budget_is_refused_before_anything_runs(tmp_path, capsys):
    assert main(["demo", "--budget-steps", "-1", "--out", str(tmp_path / "demo"), "--no-progress"]) != 0
    assert "--budget-steps must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()


@pytest.mark.slow
def test_a_step_budget_trains_exactly_that_many_steps(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--episodes", "4", "--budget-steps", "12", "--budget-minutes", "0.01", "--eval-episodes", "1",
                 "--splits", "seen", "--out", str(out), "--no-progress"]) == 0
    res = json.loads((out / "demo.json").read_text())
    assert res["train"]["steps"] == 12  # the step budget wins over a minutes budget too short for it
