"""Trainer: checkpoints, exact resume, 2-process DDP on CPU, and a head that actually learns."""

import json
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vlaforge.cli import main
from vlaforge.models import PolicyConfig, load_policy
from vlaforge.train.checkpoint import load_train_state
from vlaforge.train.config import TrainConfig
from vlaforge.train.trainer import RunConfig, train

TINY = PolicyConfig(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4)


def _cfg(ds, **train_kw):
    kw = dict(steps=8, batch_size=8, log_every=2, val_every=4, save_every=4, warmup_steps=2, threads=1)
    kw.update(train_kw)
    return RunConfig(str(ds.root), TINY, TrainConfig(**kw))


def _weights(run):
    """The raw (non-EMA) weights of the last checkpoint's resume state."""
    return load_train_state(run / "checkpoints" / "last")["model"]


def test_run_layout_and_checkpoint_loads(tiny_dataset, tmp_path):
    run = train(_cfg(tiny_dataset), tmp_path / "run", progress=False)
    assert (run / "config.json").exists() and (run / "metrics.jsonl").exists() and (run / "metrics.csv").exists()
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6, 8] and rows[1]["val_loss"] is not None
    assert all(r["other_cores"] >= 0 for r in rows)  # contention: the cores other work kept busy, per log interval
    assert {r["device"] for r in rows} == {"cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name(0)}  # what trained it
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["000004", "000008", "last"]
    policy = load_policy(run)  # EMA weights
    policy.check_compatible(tiny_dataset.features, tiny_dataset.fps)


def test_resumed_run_matches_uninterrupted(tiny_dataset, tmp_path):
    # Bit-exact is the CPU promise: on CUDA a resume restores the same state and data order, but GPU kernels
    # (cuDNN convolutions, atomic adds) need not sum in the same order twice.
    cfg = _cfg(tiny_dataset, device="cpu")
    full = train(cfg, tmp_path / "full", progress=False)

    def crash(row):
        if row["step"] == 6:  # after the step-4 checkpoint, before the end
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "part", progress=False, on_log=crash)
    assert (tmp_path / "part/checkpoints/last").resolve().name == "000004"
    train(cfg, tmp_path / "part", resume=True, progress=False)
    a, b = _weights(full), _weights(tmp_path / "part")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ema_a = load_file(str(full / "checkpoints/last/model.safetensors"))
    ema_b = load_file(str(tmp_path / "part/checkpoints/last/model.safetensors"))
    for k in ema_a:
        assert torch.equal(ema_a[k], ema_b[k]), k


def test_online_augmentation_hook_sees_every_batch(tiny_dataset, tmp_path):
    seen = []

    def darken(batch, gen):
        seen.append(batch["observation.images.front"].shape[0])
        for k in ("observation.images.front", "observation.images.wrist"):
            batch[k] = (batch[k].float() * 0.5).to(torch.uint8)
        return batch

    train(_cfg(tiny_dataset, steps=3, save_every=100), tmp_path / "aug", progress=False, augment=darken)
    assert seen == [8, 8, 8]


def test_cli_overrides_and_unknown_keys(tiny_dataset, tmp_path, capsys):
    rc = main(["train", "--dataset", str(tiny_dataset.root), "--out", str(tmp_path / "r"), "--no-progress",
               "--model.width", "32", "--model.depth", "1", "--model.head", "chunk", "--model.chunk", "8",
               "--train.steps", "2", "--train.batch_size", "4", "--train.warmup_steps", "1"])
    assert rc == 0
    assert json.loads((tmp_path / "r/config.json").read_text())["model"]["head"] == "chunk"
    assert main(["train", "--dataset", str(tiny_dataset.root), "--out", str(tmp_path / "x"), "--model.widht", "8"]) == 2
    assert "unknown config key" in capsys.readouterr().err
    assert main(["train", "--dataset", str(tiny_dataset.root), "--out", str(tmp_path / "y"), "--model.head", "diffusion"]) == 2
    assert "choose one of" in capsys.readouterr().err


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tiny_dataset, tmp_path):
    # Ranks must hold identical weights: compare each rank's own copy via a hash printed at the end of training.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as s:  # a free port: a fixed one collides with a run still winding down
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
                          "-m", "vlaforge", "train", "--dataset", str(tiny_dataset.root), "--out", str(tmp_path / "ddp"), "--no-progress",
                          "--model.width", "32", "--model.depth", "1", "--model.head_depth", "1", "--model.n_heads", "2",
                          "--model.chunk", "8", "--model.image_tokens", "4", "--train.steps", "4", "--train.batch_size", "4",
                          "--train.warmup_steps", "1", "--train.threads", "1", "--train.device", "cpu"],  # gloo, even where a GPU is
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    ranks = re.findall(r"weights-hash rank (\d): ([0-9a-f]{16})", out.stdout + out.stderr)
    assert sorted(r for r, _ in ranks) == ["0", "1"] and len({h for _, h in ranks}) == 1, ranks
    assert (tmp_path / "ddp/checkpoints/last/model.safetensors").exists()


def test_more_processes_than_gpus_is_a_clear_error(monkeypatch):
    from vlaforge.errors import ConfigError
    from vlaforge.train import distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(torch.cuda.device_count() + 1))
    with pytest.raises(ConfigError, match="--train.device cpu"):
        distributed.init(torch.device("cuda"))  # refused before any process group or CUDA call


@pytest.mark.slow
@pytest.mark.parametrize("head", ["chunk", "flow"])
def test_head_learns_well_below_mean_action_baseline(tmp_path, head):
    """On a language-conditioned sample task, validation action error falls far below predicting the mean action."""
    from vlaforge.data import open_dataset
    from vlaforge.data.loader import TrainingDataset, split_episodes
    from vlaforge.data.sample import make_sample_dataset

    ds = open_dataset(make_sample_dataset(tmp_path / "ds", episodes=24, length=30, image_size=32))
    cfg = RunConfig(str(ds.root), PolicyConfig(head=head, width=64, depth=2, head_depth=2, chunk=8, image_tokens=4),
                    TrainConfig(steps=400, batch_size=32, lr=1e-3, warmup_steps=20, val_fraction=0.25, log_every=100, val_every=400, save_every=1000, threads=1))
    run = train(cfg, tmp_path / "run", progress=False)
    policy = load_policy(run)
    _, val_eps = split_episodes(range(ds.num_episodes), 0.25, 0)
    td = TrainingDataset(ds, chunk=8, episodes=val_eps)
    mean_action = ds.stats["action"]["mean"]
    err_model, err_mean = [], []
    for i in range(0, len(td), 5):
        s = td[i]
        obs = {k: s[k][0].permute(1, 2, 0).numpy() for k in ("observation.images.front", "observation.images.wrist")}
        obs["observation.state"] = s["observation.state"][0].numpy()
        policy.reset()
        torch.manual_seed(0)
        pred = policy.predict_chunk(obs, s["task"])
        true = s["action"].numpy()
        err_model.append(np.mean((pred - true) ** 2))
        err_mean.append(np.mean((mean_action - true) ** 2))
    ratio = np.mean(err_model) / np.mean(err_mean)
    print(f"{head}: {ratio:.3f}")
    assert ratio < 0.6, f"{head} head MSE is {ratio:.2f} of the mean-action baseline (400 steps: flow ~0.38, chunk ~0.50)"


def test_budget_stops_the_run_on_time_and_ends_the_schedule(tiny_dataset, tmp_path):
    budget_s = 6.0  # the CI suite runs two workers on two cores: a few seconds more than a quiet machine needs
    run = train(_cfg(tiny_dataset, steps=1_000_000, budget_minutes=budget_s / 60, val_every=10_000, save_every=10_000, log_every=10),
                tmp_path / "run", progress=False)
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert 20 < rows[-1]["step"] < 1_000_000
    assert rows[-1]["elapsed_s"] < budget_s + 4  # one re-fit window (250 steps) of slack on busy cores
    peak = max(r["lr"] for r in rows)  # before the first re-fit (step 20) the schedule still spans 1,000,000 steps
    assert rows[-1]["lr"] < 0.2 * peak  # the cosine schedule was fitted to the budget and ran to its floor (0.1)


def test_another_robots_data_trains_without_the_tabletop_grounding_weights(tmp_path, capsys):
    """The shipped grounding weights know only vlaforge's tabletop: on another robot's frames the trainer turns grounding
    off (and says so), so every camera is CNN-encoded; grounding from the user's own init stays on."""
    import dataclasses

    from vlaforge.data import open_dataset
    from vlaforge.data.sample import make_sample_dataset
    from vlaforge.train.trainer import fit_grounding

    ds = open_dataset(make_sample_dataset(tmp_path / "koch", episodes=3, length=12, image_size=48, robot_type="koch"))
    cfg = RunConfig(str(ds.root), TINY, TrainConfig(steps=2, batch_size=4, threads=1, val_fraction=0))
    assert TINY.grounding and TINY.grounding_init == "pretrained"
    run = train(cfg, tmp_path / "run", progress=True)
    assert "grounding off" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["model"]["grounding"] is False
    policy = load_policy(run)
    assert policy.grounding is None and len(policy.cnn_cams) == 2
    own = dataclasses.replace(cfg, model=dataclasses.replace(TINY, grounding_init=""))
    assert fit_grounding(own, ds, say=lambda _: None).model.grounding is True
    tabletop = open_dataset(make_sample_dataset(tmp_path / "s", episodes=1, length=8, image_size=48))
    assert fit_grounding(dataclasses.replace(cfg, dataset=str(tabletop.root)), tabletop, say=lambda _: None).model.grounding is True


def test_a_continuation_says_what_it_changes_from_its_init_run(tiny_dataset, tmp_path, capsys):
    """--train.init starts from another run's weights with this run's recipe: a different batch or peak LR is said, not silent."""
    first = train(_cfg(tiny_dataset, steps=4, save_every=4), tmp_path / "first", progress=False)
    capsys.readouterr()
    train(_cfg(tiny_dataset, steps=2, batch_size=4, lr=1e-4, init=str(first)), tmp_path / "second", progress=False)
    out = capsys.readouterr().out
    assert "trained at batch 8; this run uses 4 (--train.batch_size 8 keeps its recipe)" in out
    assert "peaked at lr 0.0003; this run warms up to 0.0001" in out
    train(_cfg(tiny_dataset, steps=2, init=str(first / "checkpoints" / "last")), tmp_path / "same", progress=False)
    assert "note: --train.init" not in capsys.readouterr().out  # same recipe (a checkpoint dir finds its run's config too)
