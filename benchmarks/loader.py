"""Training-loader throughput: batch 32, 2 cameras 96x96, history 1, chunk 16; cold vs warm, 0 vs 2 workers.

Cold = frames decoded from mp4 per sample (seek + decode); warm = frames from the memmap cache.
The decode-only limit is PyAV alone doing the same random-access decodes, no loader around it.
Usage: python benchmarks/loader.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import save
from vlaforge.data import open_dataset
from vlaforge.data.loader import TrainingDataset, make_dataloader
from vlaforge.data.sample import make_sample_dataset
from vlaforge.data.video import decode_at


def samples_per_s(td: TrainingDataset, workers: int, seconds: float) -> float:
    dl = make_dataloader(td, batch_size=32, shuffle=True, num_workers=workers, seed=0)
    n, t0 = 0, None
    while True:
        for batch in dl:
            if t0 is None:  # exclude worker start-up
                t0 = time.perf_counter()
                continue
            n += len(batch["task"])
            if time.perf_counter() - t0 > seconds:
                return n / (time.perf_counter() - t0)


def decode_only(ds, seconds: float) -> float:
    rng = np.random.default_rng(0)
    n, t0 = 0, time.perf_counter()
    ep_col, ts_col = ds.column("episode_index"), ds.column("timestamp")
    while time.perf_counter() - t0 < seconds:
        r = int(rng.integers(ds.num_frames))
        ep = int(ep_col[r])
        for cam in ds.camera_keys:
            decode_at(ds.video_path(ep, cam), [ds.video_from(ep, cam) + float(ts_col[r])], ds.fps)
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VLAFORGE_CACHE"] = str(Path(tmp) / "cache")
        root = make_sample_dataset(Path(tmp) / "bench", episodes=20, length=100)
        ds = open_dataset(root)
        t = time.perf_counter()
        warm = TrainingDataset(ds, n_obs=1, chunk=16)
        cache_build_s = time.perf_counter() - t
        cold = TrainingDataset(ds, n_obs=1, chunk=16, cache=False)
        res = {
            "dataset": {"episodes": ds.num_episodes, "frames": ds.num_frames, "cameras": 2, "image": "96x96", "codec": "h264 yuv444p g=2"},
            "cache_build_s": cache_build_s,
            "warm_w0": samples_per_s(warm, 0, args.seconds),
            "warm_w2": samples_per_s(warm, 2, args.seconds),
            "cold_w0": samples_per_s(cold, 0, args.seconds),
            "cold_w2": samples_per_s(cold, 2, args.seconds),
            "decode_only_limit_1proc": decode_only(ds, args.seconds),
        }
    res["cold_w0_over_decode_limit"] = res["cold_w0"] / res["decode_only_limit_1proc"]
    base_file = Path(__file__).parent / "results" / "lerobot_loader_baseline.json"
    vs = ""
    if base_file.exists():  # written by benchmarks/lerobot_loader_baseline.py in a venv with LeRobot
        base = json.loads(base_file.read_text())
        lr0, lr2 = base["w0"]["samples_per_s"], base["w2"]["samples_per_s"]
        res["vs_lerobot"] = {"lerobot": base["lerobot"], "lerobot_w0": lr0, "lerobot_w2": lr2,
                             "warm_w0_x": res["warm_w0"] / lr0, "warm_w2_x": res["warm_w2"] / lr2,
                             "cold_w0_x": res["cold_w0"] / lr0, "cold_w2_x": res["cold_w2"] / lr2}
        v = res["vs_lerobot"]
        vs = (f" LeRobot {base['lerobot']} on the same dataset and sampling: {lr0:,.0f} / {lr2:,.0f} samples/s (0 / 2 workers), "
              f"so warm is {v['warm_w0_x']:,.0f}x / {v['warm_w2_x']:.1f}x and cold {v['cold_w0_x']:.2f}x / {v['cold_w2_x']:.2f}x (target 5x).")
    line = (
        f"**Loader** (batch 32, 2 cams 96x96, chunk 16): warm {res['warm_w0']:,.0f} samples/s (0 workers), "
        f"{res['warm_w2']:,.0f} (2 workers); cold {res['cold_w0']:,.0f} (0 workers), {res['cold_w2']:,.0f} (2 workers); "
        f"PyAV decode-only limit {res['decode_only_limit_1proc']:,.0f} samples/s in 1 process "
        f"(cold/limit {res['cold_w0_over_decode_limit']:.2f}); cache build {res['cache_build_s']:.1f} s for {ds.num_frames} frames. "
        f"Target warm >= 5,000.{vs} `python benchmarks/loader.py`"
    )
    save("loader", res, line)


if __name__ == "__main__":
    main()
