"""Both HTML reports (evaluation and dataset health) rendered in headless Chromium: no chart text outside its chart.

The data is chosen to provoke what clipped before: every task family x split (long rotated category names),
inference times in the thousands of ms (tick labels like "2.16e+03"), histograms with threshold labels and
long task names. Chromium is Debian's package (`.ci/run` installs it), driven by Playwright.
"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]

# For every inline <svg>: each <text> with a box must lie inside the chart's box, and the chart inside the page.
OVERFLOW_JS = """() => {
  const page = document.documentElement.clientWidth, bad = [];
  let texts = 0;
  const svgs = [...document.querySelectorAll('svg')];
  for (const svg of svgs) {
    const box = svg.getBoundingClientRect();
    const name = [...svg.querySelectorAll('text')].map(t => t.textContent).find(s => s.trim()) || '(no text)';
    if (box.left < -0.5 || box.right > page + 0.5) bad.push({chart: name, text: '(the chart itself)', px: Math.max(-box.left, box.right - page)});
    for (const t of svg.querySelectorAll('text')) {
      const r = t.getBoundingClientRect();
      if (!t.textContent.trim() || (r.width === 0 && r.height === 0)) continue;
      texts += 1;
      const px = Math.max(box.left - r.left, r.right - box.right, box.top - r.top, r.bottom - box.bottom);
      if (px > 0.5) bad.push({chart: name, text: t.textContent, px: Math.round(px * 10) / 10});
    }
  }
  return {charts: svgs.length, texts, bad};
}"""

LONG_TASKS = ["stack the green block on the yellow block, then push the stack to the far left corner of the table",
              "put the blue cube in the bin", "put every red object into the bin that is closest to the robot base"]


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return path


@pytest.fixture(scope="module")
def page():
    """A Playwright page in Debian's headless Chromium, 1280 px wide like a laptop screen."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 900})
        finally:
            browser.close()


def _layout(page, html_file: Path, screenshot: Path) -> dict:
    """The overflow check's answer, plus every URL the page asked for besides itself (an offline page asks for none)."""
    fetched: list[str] = []

    def record(request) -> None:
        fetched.append(request.url)

    page.on("request", record)
    try:
        page.goto(html_file.resolve().as_uri())
        page.screenshot(path=str(screenshot), full_page=True)  # kept in tmp for a person to look at
        got = page.evaluate(OVERFLOW_JS)
    finally:
        page.remove_listener("request", record)
    got["fetched"] = [u for u in fetched if u != html_file.resolve().as_uri() and not u.startswith("data:")]
    return got


def _eval_html(tmp_path: Path) -> Path:
    from vlaforge.eval.records import EpisodeRecord, summarize
    from vlaforge.eval.report import render_html
    from vlaforge.eval.suite import EVAL_SPLITS
    from vlaforge.sim.tasks import FAMILIES

    rng = np.random.default_rng(0)
    records = []
    for family in FAMILIES:
        for split in EVAL_SPLITS:
            for seed in range(4):
                perturbed = split == "perturbed"
                ok = bool(rng.random() < 0.6)
                records.append(EpisodeRecord(
                    family, split, seed, LONG_TASKS[seed % 3], ok, int(rng.integers(40, 300)),
                    perturbations=["move_bin"] if perturbed else [], recover_steps=12 if perturbed and ok else None,
                    failures=[] if ok else ["gripper_oscillation"], inference_ms=float(rng.choice([4.2, 35.0, 2160.0, 980.5])),
                    jerk=float(rng.uniform(0.001, 40.0))))
    meta = {"title": "evaluation of runs/a-run-with-a-rather-long-name/checkpoints/last", "suite": "tabletop", "tasks": list(FAMILIES),
            "episodes_per_split_and_task": 4, "seconds": 12.3, "workers": 2}
    path = tmp_path / "report.html"
    path.write_text(render_html(meta, summarize(records), records, [], tmp_path))
    return path


def _health_html(tmp_path: Path) -> Path:
    from vlaforge.data.sample import sample_episode, sample_features
    from vlaforge.data.writer import DatasetWriter
    from vlaforge.engine.health import run_health
    from vlaforge.engine.health.report import render_html

    root = tmp_path / "ds"
    with DatasetWriter.create(root, fps=10, features=sample_features(32)) as w:
        for i in range(9):
            data, _ = sample_episode(i, length=24 + 3 * i, image_size=32)
            w.add_episode(data, LONG_TASKS[i % 3], flags={"success": i % 4 != 0, "family": "pick_place"})
    path = tmp_path / "health.html"
    path.write_text(render_html(run_health(root)))
    return path


@pytest.mark.parametrize("report", ["eval", "health"])
def test_no_chart_text_overflows_its_chart(report, page, tmp_path):
    html_file = (_eval_html if report == "eval" else _health_html)(tmp_path)
    got = _layout(page, html_file, tmp_path / f"{report}.png")
    assert got["charts"] >= (4 if report == "eval" else 8) and got["texts"] > 3 * got["charts"], got  # the check saw real charts
    assert got["bad"] == [], f"{len(got['bad'])} labels overflow their chart, e.g. {got['bad'][:8]} (screenshot: {tmp_path / report}.png)"
    assert got["fetched"] == [], f"the report is not self-contained: it asked for {got['fetched'][:5]}"
