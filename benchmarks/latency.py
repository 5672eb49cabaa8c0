"""`predict_chunk` latency of the default-size policy for each head, on 1 and 2 CPU threads.

2 cameras 96x96, chunk 16, action dim 4; the instruction's embedding is cached after the first
call (as in a control loop). Usage: python benchmarks/latency.py [--iters 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import save
from vlaforge.data import open_dataset
from vlaforge.data.sample import make_sample_dataset
from vlaforge.models import PolicyConfig, build_policy
from vlaforge.models.registry import names


def measure(policy, obs, iters: int) -> dict[str, float]:
    for _ in range(5):
        policy.predict_chunk(obs, "move to the red block")
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        policy.predict_chunk(obs, "move to the red block")
        ts.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": float(np.median(ts)), "p99_ms": float(np.quantile(ts, 0.99))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ds = open_dataset(make_sample_dataset(Path(tmp) / "ds", episodes=2, length=20))
        item = ds[3]
        obs = {k: item[k] for k in ("observation.images.front", "observation.images.wrist", "observation.state")}
        res: dict = {"heads": {}}
        for head in names("head"):
            policy = build_policy(PolicyConfig(head=head), ds, verbose=False).eval()
            res["heads"][head] = {"params_m": policy.num_params() / 1e6}
            for threads in (1, 2):
                torch.set_num_threads(threads)
                iters = args.iters if head != "tokens" else max(10, args.iters // 10)
                res["heads"][head][f"{threads}_thread"] = measure(policy, obs, iters)
    h = res["heads"]
    line = "**predict_chunk latency** (default size, 2 cams 96x96, chunk 16): " + "; ".join(
        f"{k} ({v['params_m']:.2f}M params) p50 {v['1_thread']['p50_ms']:.1f} / p99 {v['1_thread']['p99_ms']:.1f} ms on 1 thread, "
        f"p50 {v['2_thread']['p50_ms']:.1f} ms on 2" for k, v in h.items()
    ) + ". Target: default (flow) p50 <= 10 ms on 1 thread. `python benchmarks/latency.py`"
    save("latency", res, line)


if __name__ == "__main__":
    main()
