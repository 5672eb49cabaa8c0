"""CUDA check and speed: the trainer, a trained policy's predictions and its latency on a GPU against the same machine's CPU.

Needs a CUDA device (stops with a clear message without one). In one run, on one machine:
1. `vlaforge train` end to end on the GPU (bf16 autocast), 300 steps: the losses must be finite and the checkpoint must load
   on the CPU (resuming is tested on CPU, where it is bit-exact: tests/train/test_kill_resume.py).
2. Agreement: that checkpoint's chunks for the same 32 dataset observations on the CPU and on the GPU (max |difference|
   in the action's own units), and one batch's training loss in fp32 on the CPU vs bf16 autocast on the GPU.
3. Training samples/s of benchmarks/train.py's step (frame cache, frozen keypoints, AdamW, EMA), GPU and CPU interleaved
   (GPU, CPU, GPU, CPU; the best of each), for the default policy at batch 64 and 256 and ACT's layout at batch 64.
4. Inference: `predict_chunk` latency per observation, GPU vs CPU (all cores and 1 thread), median of 50.
Usage: python benchmarks/gpu.py [--seconds 15] [--device cpu: a dry run of this script on a machine without a GPU]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import Contention, save
from train import ACT_LAYOUT, samples_per_s
from vlaforge.data import open_dataset
from vlaforge.data.loader import TrainingDataset
from vlaforge.data.sample import make_sample_dataset
from vlaforge.models import PolicyConfig, build_policy
from vlaforge.models.policy import load_policy
from vlaforge.runtime import autocast, available_cores
from vlaforge.train.trainer import keypoint_lookup, to_device


def train_cli(dataset: Path, out: Path, steps: int, device: str) -> list[dict]:
    """Run `vlaforge train` on `device`; return its metrics rows."""
    subprocess.run([sys.executable, "-m", "vlaforge", "train", "--no-progress", "--dataset", str(dataset), "--out", str(out),
                    "--train.device", device, "--train.steps", str(steps), "--train.log_every", "50", "--train.save_every", "100"],
                   check=True)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]


def observations(ds, td: TrainingDataset, n: int) -> tuple[list[dict[str, np.ndarray]], list[str]]:
    """`n` raw one-step observations and their instructions from the dataset."""
    b = td.__getitems__(list(range(0, len(td), max(1, len(td) // n)))[:n])
    cams = [k for k in b if k.startswith("observation.images.") and not k.endswith("_is_pad")]
    obs = [{**{c: b[c][i, 0].permute(1, 2, 0).numpy() for c in cams}, "observation.state": b["observation.state"][i, 0].numpy()}
           for i in range(len(b["task"]))]
    return obs, list(b["task"])


def latency_ms(policy, obs: list[dict[str, np.ndarray]], tasks: list[str], n: int = 50) -> float:
    """Median wall ms of one `predict_chunk` (after 5 warm-up calls)."""
    times = []
    for i in range(n + 5):
        policy.reset()
        t = time.perf_counter()
        policy.predict_chunk(obs[i % len(obs)], tasks[i % len(tasks)])  # returns numpy: the GPU's work is done
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times[5:])


def loss_agreement(ds, td: TrainingDataset, gpu: str) -> dict[str, float]:
    """One batch's training loss from the same weights: fp32 on the CPU vs bf16 autocast on the GPU."""
    torch.manual_seed(0)
    policy = build_policy(PolicyConfig(), ds, verbose=False)
    add = keypoint_lookup(policy, ds, progress=False)
    batch = add(td.__getitems__(list(range(0, 64))))
    out = {}
    for dev in ("cpu", gpu):
        policy.to(dev).eval()  # eval: no dropout, so both see the same function
        torch.manual_seed(1)  # the same noise draws where a head samples any
        with torch.no_grad(), autocast(torch.device(dev)):
            out[dev] = float(policy(to_device(batch, torch.device(dev)))[0])
    return {"cpu_fp32": out["cpu"], "gpu_bf16": out[gpu], "rel_diff": abs(out[gpu] - out["cpu"]) / abs(out["cpu"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15, help="timed seconds per throughput measurement")
    ap.add_argument("--device", default="cuda", help="the accelerator to check (cpu: a dry run of the script itself)")
    args = ap.parse_args()
    dev = args.device
    if dev.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("benchmarks/gpu.py needs a CUDA device; none is visible to torch here (--device cpu runs the script as a dry run)")
    cores = available_cores()
    gpu = torch.cuda.get_device_name(0) if dev.startswith("cuda") else f"dry run on {dev}"
    res: dict = {"gpu": gpu, "cuda": torch.version.cuda, "cpu_cores": cores}
    with tempfile.TemporaryDirectory() as tmp, Contention() as c:
        os.environ["VLAFORGE_CACHE"] = str(Path(tmp) / "cache")
        path = make_sample_dataset(Path(tmp) / "ds", episodes=10, length=60)
        ds = open_dataset(path)
        td = TrainingDataset(ds, n_obs=1, chunk=16)

        run = Path(tmp) / "run"
        rows = train_cli(path, run, 300, dev)
        losses = [r["loss"] for r in rows if "loss" in r]
        res["train_cli"] = {"device": dev, "steps": max(r.get("step", 0) for r in rows), "losses": losses,
                            "finite": bool(np.isfinite(losses).all())}

        obs, tasks = observations(ds, td, 32)
        on_cpu, on_gpu = load_policy(run, "cpu"), load_policy(run, dev)
        a, b = on_cpu.predict_batch(obs, tasks), on_gpu.predict_batch(obs, tasks)
        res["predict_agreement"] = {"max_abs_diff": float(np.abs(a - b).max()), "action_range": float(np.ptp(a))}
        res["loss_agreement"] = loss_agreement(ds, td, dev)

        res["latency_ms"] = {"gpu": latency_ms(on_gpu, obs, tasks), f"cpu_{cores}_threads": latency_ms(on_cpu, obs, tasks)}
        torch.set_num_threads(1)
        res["latency_ms"]["cpu_1_thread"] = latency_ms(on_cpu, obs, tasks)
        torch.set_num_threads(cores)

        models = {"default": (PolicyConfig(), [64, 256]),
                  "ACT layout (width 512, 4+1 blocks)": (ACT_LAYOUT, [64])}
        speed = {}
        for name, (cfg, batches) in models.items():
            for batch in batches:
                got: dict[str, list[float]] = {"gpu": [], "cpu": []}
                for _ in range(2):
                    for key, d in (("gpu", dev), ("cpu", "cpu")):
                        got[key].append(samples_per_s(cfg, td, ds, args.seconds, device=d, batch=batch)[0])
                speed[f"{name}, batch {batch}"] = {k: max(v) for k, v in got.items()} | {"runs": got}
        res["train_samples_per_s"] = speed
    res["contention"] = c.record()
    tput = "; ".join(f"{k}: {v['gpu']:.0f} vs {v['cpu']:.0f} ({v['gpu'] / v['cpu']:.1f}x)" for k, v in speed.items())
    lat = res["latency_ms"]
    line = (f"**CUDA check** ({gpu}, CUDA {torch.version.cuda}, torch {torch.__version__}, {cores} CPU cores; sample dataset, 2 cams "
            f"96x96, chunk 16): `vlaforge train` on the GPU (bf16 autocast), {res['train_cli']['steps']} steps, "
            f"losses finite: {res['train_cli']['finite']}; its checkpoint's chunks on GPU vs CPU differ by at most "
            f"{res['predict_agreement']['max_abs_diff']:.2g} (action range {res['predict_agreement']['action_range']:.2g}); one batch's "
            f"loss bf16-GPU vs fp32-CPU differs by {100 * res['loss_agreement']['rel_diff']:.2f}%. Training samples/s GPU vs CPU "
            f"(same run, interleaved, best of 2): {tput}. Inference per chunk: GPU {lat['gpu']:.1f} ms, CPU {lat[f'cpu_{cores}_threads']:.1f} ms "
            f"({cores} threads), {lat['cpu_1_thread']:.1f} ms (1 thread). Other work on the CPUs: {res['contention']['other_cores']:.2f} cores. "
            "`python benchmarks/gpu.py`")
    save("gpu" if dev.startswith("cuda") else f"gpu_dry_run_{dev}", res, line)


if __name__ == "__main__":
    main()
