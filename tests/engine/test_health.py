"""Dataset health check: planted problems are found, clean data raises no warnings, the CLI writes an offline report."""

import argparse
import io
import json

import numpy as np
import pytest

from vlaforge.data.features import Feature
from vlaforge.data.writer import DatasetWriter
from vlaforge.engine.health import HealthConfig, run_health
from vlaforge.engine.health.cli import add_health_parser
from vlaforge.engine.health.findings import SECTION_TITLES
from vlaforge.engine.health.motion import estimate_lag
from vlaforge.engine.health.png import encode_png
from vlaforge.errors import ConfigError, DatasetError

S = 32  # image size
TASKS = [("push the red block to the left", "push", (220, 40, 40)), ("put the blue cube in the bin", "pick_place", (40, 80, 220)),
         ("stack the green block on the yellow block", "stack", (40, 190, 60))]
FEATURES = {
    "observation.images.front": Feature("video", (S, S, 3)),
    "observation.images.wrist": Feature("video", (S, S, 3)),
    "observation.state": Feature("float32", (4,), ("x", "y", "z", "gripper")),
    "action": Feature("float32", (4,), ("dx", "dy", "dz", "gripper")),
}


def episode(seed: int, color: tuple[int, int, int], lag: int = 1, idle_prefix: int = 0) -> dict[str, np.ndarray]:
    """Smooth varied motion: sinusoidal velocity commands; the state integrates them `lag` frames later; a dot draws it."""
    rng = np.random.default_rng(seed)
    T = 30 + 2 * (seed % 5)
    t = np.arange(T)
    act = np.zeros((T, 4), np.float32)
    for d, amp in enumerate((0.03, 0.03, 0.006)):
        f, ph = rng.uniform(0.9, 1.2), rng.uniform(0, 2 * np.pi)
        act[:, d] = amp * (0.6 + 0.4 * rng.uniform()) * np.sin(2 * np.pi * f * t / T + ph)
    act[T // 3: 2 * T // 3, 3] = 1.0  # close once, open once
    state = np.zeros((T, 4), np.float32)
    state[0, :3] = rng.uniform(-0.1, 0.1, 3)
    for k in range(1, T):
        state[k] = state[k - 1]
        if k - lag >= 0:
            state[k, :3] += act[k - lag, :3]
            state[k, 3] = act[k - lag, 3]
    if idle_prefix:
        act = np.concatenate([np.zeros((idle_prefix, 4), np.float32), act])
        state = np.concatenate([np.repeat(state[:1], idle_prefix, axis=0), state])
    bright = rng.uniform(90, 140)
    yy, xx = np.mgrid[0:S, 0:S]
    frames = {}
    for ci, cam in enumerate(("front", "wrist")):
        f = np.empty((len(act), S, S, 3), np.uint8)
        for k in range(len(act)):
            img = np.full((S, S, 3), bright + 10 * ci, np.float32)
            img[(yy // 4 + xx // 4) % 2 == 0] += 14
            img[4:9, 22:27] = color
            px, py = np.clip(16 + 40 * state[k, :2], 2, S - 3)  # stays inside the image: the dot always shows the motion
            img[(yy - py) ** 2 + (xx - px) ** 2 <= 5] = 245
            f[k] = img.clip(0, 255)
        frames[f"observation.images.{cam}"] = f
    return {"observation.state": state, "action": act, **frames}


def make_dataset(root, idle_prefix=(), lag=1, dark_camera=False, rare_task=False, duplicate=False, chatter=(), frozen=(), per_task=5):
    """15 episodes over 3 balanced tasks, with the requested problems planted in the listed episodes."""
    with DatasetWriter.create(root, fps=10, features=FEATURES) as w:
        n = 0
        for rep in range(per_task):
            for ti, (task, family, color) in enumerate(TASKS):
                data = episode(100 * ti + rep, color, lag=lag, idle_prefix=8 if n in idle_prefix else 0)
                if n in chatter:
                    data["action"][::2, 3] = 1 - data["action"][::2, 3]  # the gripper flips every frame
                if n in frozen:  # the front camera stalls for 12 frames while the arm moves
                    data["observation.images.front"][10:22] = data["observation.images.front"][10]
                if dark_camera:
                    data["observation.images.wrist"] = (data["observation.images.wrist"] * 0.12).astype(np.uint8)
                w.add_episode(data, task, flags={"success": True, "family": family})
                n += 1
        if rare_task:
            w.add_episode(episode(999, (230, 200, 40)), "push the yellow block to the right", flags={"success": True, "family": "push_right"})
        if duplicate:
            w.add_episode(episode(0, TASKS[0][2]), TASKS[0][0], flags={"success": True, "family": TASKS[0][1]})
    return root


PLANTED = {
    "idle_prefix": ({"idle_prefix": (0, 4)}, "motion.idle_edges"),
    "rare_task": ({"rare_task": True}, "counts.rare_tasks"),
    "lagged_actions": ({"lag": 4}, "motion.lag"),
    "dark_camera": ({"dark_camera": True}, "images.dark.wrist"),
    "duplicate": ({"duplicate": True}, "episodes.duplicates"),
    "gripper_chatter": ({"chatter": (5,)}, "motion.gripper_chatter"),
    "frozen_camera": ({"frozen": (7,)}, "images.frozen.front"),
}


@pytest.fixture(scope="module")
def clean_report(tmp_path_factory):
    return run_health(make_dataset(tmp_path_factory.mktemp("health") / "clean"))


def test_clean_dataset_raises_no_warnings(clean_report):
    bad = [(f.id, f.detail) for f in clean_report.findings if f.severity != "info"]
    assert bad == []
    assert clean_report.sections["motion"].metrics["lag_frames"]["median"] == 1
    heat = clean_report.sections["heatmap"].metrics
    assert heat["close_events"] == 15
    assert heat["view"]["method"] == "fitted affine projection" and heat["view"]["r2"] > 0.9


@pytest.mark.parametrize("problem", list(PLANTED))
def test_planted_problem_is_found_and_absent_on_clean(problem, clean_report, tmp_path):
    kwargs, finding_id = PLANTED[problem]
    report = run_health(make_dataset(tmp_path / problem, **kwargs))
    assert finding_id in report.ids("warning"), [f.id for f in report.findings]
    assert finding_id not in clean_report.ids()
    f = next(f for f in report.findings if f.id == finding_id)
    assert f.recommendation.count("`vlaforge ") >= 1 and f.threshold is not None
    if problem == "idle_prefix":
        assert f.episodes == (0, 4)
        assert report.sections["motion"].metrics["idle"]["start_frames"] == {"0": 8, "4": 8}
    if problem == "duplicate":
        assert f.episodes == (15,)
    if problem in ("gripper_chatter", "frozen_camera"):
        assert f.episodes == kwargs[next(iter(kwargs))]
    if problem == "lagged_actions":
        assert f.value == 4


def test_estimate_lag_recovers_the_shift():
    t = np.arange(60)
    a = np.stack([np.sin(t / 5), np.cos(t / 7)], axis=1)  # (T, 2)
    for k in (0, 1, 3, 6):
        s = np.zeros_like(a)
        for i in range(1, len(t)):
            s[i] = s[i - 1] + (a[i - k] if i - k >= 0 else 0)
        assert estimate_lag(a, s, [(0, 0), (1, 1)], delta=True, max_lag=10)[0] == k


@pytest.mark.parametrize("shape", [(4, 5, 3), (4, 5)], ids=["rgb", "grey"])
def test_png_encoder_round_trips(shape):
    from PIL import Image

    img = (np.arange(np.prod(shape)) * 7 % 256).astype(np.uint8).reshape(shape)
    png = encode_png(img)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), img)
    with pytest.raises(ValueError, match="expected"):
        encode_png(np.zeros((4, 5, 4), np.uint8))


def _cli(argv):
    p = argparse.ArgumentParser()
    add_health_parser(p.add_subparsers())
    args = p.parse_args(["health", *argv])
    return args.func(args)


def test_cli_writes_offline_report(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rich folds long cells at the terminal width; CI has 80 columns
    ds = make_dataset(tmp_path / "ds", idle_prefix=(1,))
    out = tmp_path / "report"
    assert _cli([str(ds), "--out", str(out), "--no-progress"]) == 0
    page = (out / "health.html").read_text()
    for title in SECTION_TITLES.values():
        assert f">{title}</h2>" in page
    assert "http" not in page and "<script" not in page
    assert "data:image/png;base64," in page and "<svg" in page
    data = json.loads((out / "health.json").read_text())
    assert "motion.idle_edges" in {f["id"] for f in data["findings"]}
    assert set(data["sections"]) == set(SECTION_TITLES)
    printed = capsys.readouterr().out
    assert "trim-idle" in printed and "health.html" in printed
    assert _cli([str(ds), "--out", str(out), "--no-progress", "--fail-on", "warning", "--skip", "images"]) == 1


def test_cli_rejects_bad_input(tmp_path):
    with pytest.raises(DatasetError):
        _cli([str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    ds = make_dataset(tmp_path / "ds", per_task=1)
    with pytest.raises(ConfigError, match="idle_edge_frames"):
        _cli([str(ds), "--out", str(tmp_path / "o"), "--set", "idle_edge_frame=3"])


def test_thresholds_decide_findings(tmp_path):
    ds = make_dataset(tmp_path / "ds", idle_prefix=(2,), per_task=2)
    assert "motion.idle_edges" in run_health(ds, skip=("images", "heatmap")).ids()
    assert "motion.idle_edges" not in run_health(ds, HealthConfig(idle_edge_frames=9), skip=("images", "heatmap")).ids()
