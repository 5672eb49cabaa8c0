"""Training-loader throughput: batch 32, 2 cameras 96x96, history 1, chunk 16; cold vs warm, 0 vs 2 workers.

Cold = frames decoded from mp4 per sample (seek + decode); warm = frames from the memmap cache.
The decode-only limit is PyAV alone doing the same random-access decodes, no loader around it.
Usage: python benchmarks/loader.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import Contention, save
from vlaforge.data import open_dataset
from vlaforge.data.loader import TrainingDataset, make_dataloader
from vlaforge.data.sample import make_sample_dataset
from vlaforge.data.video import decode_at


CONTENTION: dict[str, dict[str, float]] = {}


def samples_per_s(td: TrainingDataset, workers: int, seconds: float, name: str) -> float:
    dl = make_dataloader(td, batch_size=32, shuffle=True, num_workers=workers, seed=0)
    n, t0 = 0, None
    while True:
        for batch in dl:
            if t0 is None:  # exclude worker start-up
                t0 = time.perf_counter()
                c = Contention().__enter__()
                continue
            n += len(batch["task"])
            if time.perf_counter() - t0 > seconds:
                c.__exit__()
                CONTENTION[name] = c.record()  # with workers, their CPU is not in own_cores (not waited for)
                return n / (time.perf_counter() - t0)


def decode_only(ds, seconds: float) -> float:
    rng = np.random.default_rng(0)
    n, t0 = 0, time.perf_counter()
    ep_col, ts_col = ds.column("episode_index"), ds.column("timestamp")
    with Contention() as c:
        while time.perf_counter() - t0 < seconds:
            r = int(rng.integers(ds.num_frames))
            ep = int(ep_col[r])
            for cam in ds.camera_keys:
                decode_at(ds.video_path(ep, cam), [ds.video_from(ep, cam) + float(ts_col[r])], ds.fps)
            n += 1
    CONTENTION["decode_only_limit_1proc"] = c.record()
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
            "warm_w0": samples_per_s(warm, 0, args.seconds, "warm_w0"),
            "warm_w2": samples_per_s(warm, 2, args.seconds, "warm_w2"),
            "cold_w0": samples_per_s(cold, 0, args.seconds, "cold_w0"),
            "cold_w2": samples_per_s(cold, 2, args.seconds, "cold_w2"),
            "decode_only_limit_1proc": decode_only(ds, args.seconds),
        }
    res["cold_w0_over_decode_limit"] = res["cold_w0"] / res["decode_only_limit_1proc"]
    res["contention"] = CONTENTION
    # Samples per CPU-second of this process: comparable across loads (workers' CPU is not counted, so w0 only).
    per_cpu = {k: res[k] / max(CONTENTION[k]["own_cores"], 1e-9) for k in ("warm_w0", "cold_w0", "decode_only_limit_1proc")}
    res["samples_per_cpu_s"] = per_cpu
    res["cold_w0_over_decode_limit_cpu"] = per_cpu["cold_w0"] / per_cpu["decode_only_limit_1proc"]
    # The first epoch pays for the cache: frames / (build + one pass at the warm rate).
    res["warm_w0_first_epoch"] = ds.num_frames / (cache_build_s + ds.num_frames / res["warm_w0"])
    other = [c["other_cores"] for c in CONTENTION.values()]
    # The peer comparison is measured in its own run, never from a stored file: benchmarks/loader_vs_lerobot.py.
    vs = f" Other work used {min(other):.2f}-{max(other):.2f} cores during the windows. LeRobot in the same run: the next line."
    line = (
        f"**Loader** (batch 32, 2 cams 96x96, chunk 16): warm {res['warm_w0']:,.0f} samples/s (0 workers), "
        f"{res['warm_w2']:,.0f} (2 workers), {res['warm_w0_first_epoch']:,.0f} over the first epoch with the cache build "
        f"({res['cache_build_s']:.1f} s for {ds.num_frames} frames); cold {res['cold_w0']:,.0f} (0 workers; {per_cpu['cold_w0']:,.0f} per CPU-second), "
        f"{res['cold_w2']:,.0f} (2 workers); PyAV decode-only limit {res['decode_only_limit_1proc']:,.0f} samples/s serial in 1 process "
        f"({per_cpu['decode_only_limit_1proc']:,.0f} per CPU-second); cold/limit {res['cold_w0_over_decode_limit']:.2f} by wall, "
        f"{res['cold_w0_over_decode_limit_cpu']:.2f} by CPU time. "
        f"Target warm >= 5,000.{vs} `python benchmarks/loader.py`"
    )
    save("loader", res, line)


if __name__ == "__main__":
    main()
