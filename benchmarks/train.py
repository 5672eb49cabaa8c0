"""Training throughput (samples/s): batch 32, 2 cameras 96x96, chunk 16, warm frame cache, an AdamW step.

The trainer's data path (frame cache, frozen grounding keypoints looked up per batch) and the trainer's
update (AdamW with its parameter groups, gradient clipping, the warmup-cosine schedule, EMA). Models: the default policy and
one with ACT's transformer layout (width 512, 8 heads, 4 trunk + 1 head blocks, chunk head) on the
small CNN: 17.7M parameters, a third of LeRobot's ACT (51.6M: ResNet18, 3200-wide feed-forward, a
4-layer CVAE encoder). benchmarks/train_vs_lerobot.py compares against ACT itself at equal parameter
count. Usage: python benchmarks/train.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from common import Contention, save
from vlaforge.data import open_dataset
from vlaforge.data.loader import TrainingDataset
from vlaforge.data.sample import make_sample_dataset
from vlaforge.models import PolicyConfig, build_policy
from vlaforge.runtime import autocast, available_cores
from vlaforge.train.config import TrainConfig
from vlaforge.train.ema import EMA
from vlaforge.train.schedule import warmup_cosine
from vlaforge.train.trainer import _param_groups, keypoint_lookup, to_device


ACT_LAYOUT = PolicyConfig(head="chunk", width=512, depth=4, head_depth=1, n_heads=8)  # ACT's trunk shape on the small CNN


def samples_per_s(cfg: PolicyConfig, td: TrainingDataset, ds, seconds: float, device: str = "cpu",
                  batch: int = 32) -> tuple[float, float, float]:
    """(steady samples/s, parameters in millions, seconds to build the frozen grounding's keypoint table).

    On CUDA the step runs as the trainer's does (batch moved non-blocking, bf16 autocast) and is timed to the GPU's end."""
    torch.manual_seed(0)
    dev = torch.device(device)
    policy = build_policy(cfg, ds, verbose=False).to(dev)
    t_table = time.perf_counter()
    add_keypoints = keypoint_lookup(policy, ds, progress=False)  # what the trainer does before its first step
    t_table = time.perf_counter() - t_table
    tc = TrainConfig()
    opt = torch.optim.AdamW(_param_groups(policy, tc.weight_decay), lr=tc.lr, betas=(0.9, 0.95))  # as the trainer builds it
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, tc.steps, tc.warmup_steps, tc.lr_floor))
    ema = EMA(policy, tc.ema_decay)
    g = torch.Generator().manual_seed(0)
    n, t0, step = 0, None, 0
    while True:
        idx = torch.randint(len(td), (batch,), generator=g).tolist()
        with autocast(dev):
            loss, _ = policy(to_device(add_keypoints(td.__getitems__(idx)), dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), tc.grad_clip)
        opt.step()
        sched.step()
        step += 1
        ema.update(policy, step)
        if step == 3:  # skip warm-up steps
            _sync(dev)
            t0 = time.perf_counter()
        elif t0 is not None:
            n += batch
            if time.perf_counter() - t0 > seconds:
                _sync(dev)
                return n / (time.perf_counter() - t0), policy.num_params() / 1e6, t_table


def _sync(dev: torch.device) -> None:
    """Wait for the GPU's queued work (a no-op on CPU), so a timer reads what ran."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    torch.set_num_threads(available_cores())
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VLAFORGE_CACHE"] = str(Path(tmp) / "cache")
        ds = open_dataset(make_sample_dataset(Path(tmp) / "ds", episodes=10, length=60))
        td = TrainingDataset(ds, n_obs=1, chunk=16)
        models = {
            f"default (cnn + {PolicyConfig().head})": PolicyConfig(),
            "ACT layout (cnn + chunk, width 512, 4+1 blocks)": ACT_LAYOUT,
        }
        res = {}
        for name, cfg in models.items():
            with Contention() as c:
                sps, params, t_table = samples_per_s(cfg, td, ds, args.seconds)
            res[name] = {"samples_per_s": sps, "params_m": params, "keypoint_table_s": t_table, "frames": ds.num_frames,
                         "contention": c.record()}
    line = "**Training** (batch 32, 2 cams 96x96, chunk 16, %d CPU threads, the trainer's path: frozen grounding keypoints " \
           "looked up per batch): " % available_cores() + "; ".join(
        f"{k}: {v['samples_per_s']:.0f} samples/s ({v['params_m']:.1f}M params; keypoint table {v['keypoint_table_s']:.1f} s "
        f"for {v['frames']} frames; other work {v['contention']['other_cores']:.2f} cores)" for k, v in res.items()
    ) + ". Target: default >= 150 samples/s. `python benchmarks/train.py`"
    save("train", {"models": res}, line)


if __name__ == "__main__":
    main()
