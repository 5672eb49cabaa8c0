"""Shared fixtures: small real datasets written to temp dirs; frame caches kept out of $HOME."""

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("VLAFORGE_CACHE", str(tmp_path_factory.getbasetemp() / "vlaforge-cache"))


@pytest.fixture(scope="session")
def sample_dataset_master(tmp_path_factory) -> Path:
    from vlaforge.data.sample import make_sample_dataset

    return make_sample_dataset(tmp_path_factory.mktemp("master") / "sample", episodes=5, length=30)


@pytest.fixture
def sample_dataset(sample_dataset_master, tmp_path) -> Path:
    """A private copy of a 5-episode sample dataset (tests may corrupt it)."""
    dst = tmp_path / "sample"
    shutil.copytree(sample_dataset_master, dst)
    return dst


@pytest.fixture(scope="session")
def labelled_dataset(tmp_path_factory) -> Path:
    """4 pick_place expert episodes from the sim (48 px) with the training-only `label.*` features."""
    from vlaforge.sim.collect import collect

    out = tmp_path_factory.mktemp("labelled") / "pp"
    collect(out, ["pick_place"], 4, workers=1, image_size=48, progress=False)
    return out


@pytest.fixture(scope="session")
def annotated_master(labelled_dataset, tmp_path_factory) -> Path:
    """The labelled sim episodes with pending instruction and subtask suggestions (`engine annotate --suggest all`)."""
    from vlaforge.engine.annotate.run import annotate_dataset

    out = tmp_path_factory.mktemp("annotated") / "pp"
    annotate_dataset(labelled_dataset, out, suggest="all")
    return out


@pytest.fixture
def annotated(annotated_master, tmp_path) -> Path:
    """A private copy in a folder of its own (`vlaforge ui` saves write NAME.vN beside it)."""
    dst = tmp_path / "data" / "pp"
    shutil.copytree(annotated_master, dst)
    return dst


def files_under(folder: Path) -> dict[str, bytes]:
    """{relative path: bytes} of every file under `folder` but lock files (to show that nothing changed)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


@pytest.fixture
def snapshot():
    """`snapshot(folder)` → {relative path: bytes} of its files, for "the request changed nothing" checks."""
    return files_under


@pytest.fixture(scope="session")
def queued_master(labelled_dataset, tmp_path_factory) -> Path:
    """One round of `vlaforge engine loop` (tiny flow policy, real mining and expert corrections): its new version
    holds the old episodes, the corrections, and meta/review_queue.json linking each mined moment to its correction."""
    import torch

    from vlaforge.data import open_dataset
    from vlaforge.engine.active.cli import recipe
    from vlaforge.engine.active.loop import LoopConfig, run_loop
    from vlaforge.models import FlowConfig, PolicyConfig, build_policy

    base = tmp_path_factory.mktemp("queued")
    torch.manual_seed(0)
    policy = build_policy(PolicyConfig(head="flow", width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4, flow=FlowConfig(steps=2)),
                          open_dataset(labelled_dataset), verbose=False).eval()
    ck = policy.save(base / "ck")
    run = recipe(labelled_dataset, str(ck), ["--train.steps", "2", "--train.batch_size", "4", "--train.val_fraction", "0",
                                             "--train.warmup_steps", "0", "--train.save_every", "100"])
    cfg = LoopConfig(str(labelled_dataset), str(base / "loop"), run, rounds=1, budget=150, init=str(ck), rollouts=1,
                     eval_episodes=1, workers=1, train_minutes=1.0, score_every=4, samples=4, min_gap=15)
    doc = run_loop(cfg, progress=lambda _: None, show_bars=False)
    return Path(doc["rounds"][-1]["dataset"])


@pytest.fixture
def queued(queued_master, tmp_path) -> Path:
    """A private copy of the loop's version in a folder of its own (`vlaforge ui` saves write NAME.vN beside it)."""
    dst = tmp_path / "data" / "pq"
    shutil.copytree(queued_master, dst)
    return dst

