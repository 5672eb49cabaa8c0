"""Baseline for the loader target: LeRobot's own LeRobotDataset samples/s on the benchmark dataset.

DESIGN target: vlaforge's training loader >= 5x LeRobot's LeRobotDataset on the same v3.0 dataset
with the same sampling. This script measures the LeRobot side. It runs under a Python that has
LeRobot installed (not vlaforge's venv) and builds the dataset with vlaforge's CLI:

    /work/lerobot-venv/bin/python benchmarks/lerobot_loader_baseline.py [--seconds 20]

Dataset: `vlaforge data sample --episodes 20 --length 100` (2 cameras 96x96 h264, 20 fps; the
same one benchmarks/loader.py uses). Sampling: every frame is a sample with its two camera frames,
state, and a 16-step action chunk via delta_timestamps={"action": [i/20 for i in range(16)]};
torch DataLoader, batch 32, shuffle, num_workers 0 and 2. Time from the first batch on (worker
start-up excluded), torch.set_num_threads(1) as in benchmarks/loader.py. Prints JSON and writes benchmarks/results/lerobot_loader_baseline.json, with
the ratio to vlaforge's numbers from benchmarks/results/loader.json when that file exists.

Environment (LeRobot 0.4.4 beside torch 2.14.1, torchcodec with Debian's FFmpeg 5.1 libraries):
see the docstring of tests/data/fixtures/make_lerobot_fixtures.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULT = REPO / "benchmarks" / "results" / "lerobot_loader_baseline.json"
VF_RESULT = REPO / "benchmarks" / "results" / "loader.json"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def samples_per_s(ds: Any, workers: int, seconds: float) -> dict[str, float]:
    import torch

    # LeRobot keeps a process-wide cache of open torchcodec decoders (and their file handles).
    # Decoders opened in this process before the fork are shared by the forked workers, whose reads
    # then corrupt each other ("Could not push packet to decoder: Invalid data found when processing
    # input"). Start every run with an empty cache, as a fresh training process would.
    try:
        from lerobot.datasets.video_utils import _default_decoder_cache

        _default_decoder_cache.clear()
    except ImportError:
        pass
    g = torch.Generator().manual_seed(0)
    dl = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True, num_workers=workers, generator=g, persistent_workers=workers > 0)
    n, batches, t0 = 0, 0, None
    t_start = time.perf_counter()
    first_batch_s = None
    while True:
        for batch in dl:
            if t0 is None:  # exclude worker start-up and the first batch
                first_batch_s = time.perf_counter() - t_start
                t0 = time.perf_counter()
                continue
            n += len(batch["index"])
            batches += 1
            if time.perf_counter() - t0 > seconds:
                el = time.perf_counter() - t0
                return {"samples_per_s": n / el, "samples": n, "seconds": el, "first_batch_s": first_batch_s}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--vlaforge", default=str(REPO / ".venv" / "bin" / "vlaforge"), help="vlaforge CLI used to build the dataset")
    ap.add_argument("--backend", default=None, help="LeRobot video_backend (default: LeRobot's own default)")
    ap.add_argument("--torch-threads", type=int, default=1, help="torch.set_num_threads in the main process (benchmarks/loader.py uses 1)")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()

    import lerobot
    import torch
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    torch.set_num_threads(args.torch_threads)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("HF_LEROBOT_HOME", str(Path(tmp) / "hf_lerobot_home"))
        os.environ["HF_HUB_OFFLINE"] = "1"
        root = Path(tmp) / "vf_bench"
        subprocess.run([args.vlaforge, "data", "sample", "--out", str(root), "--episodes", "20", "--length", "100", "--overwrite"], check=True, capture_output=True)
        info = json.loads((root / "meta" / "info.json").read_text())
        fps = int(info["fps"])
        t = time.perf_counter()
        ds = LeRobotDataset(
            repo_id="local/vf_bench", root=root, video_backend=args.backend, delta_timestamps={"action": [i / fps for i in range(16)]}
        )
        open_s = time.perf_counter() - t
        item = ds[0]
        res: dict[str, Any] = {
            "benchmark": "lerobot_loader_baseline",
            "machine": {"cpu": cpu_name(), "cores": len(os.sched_getaffinity(0)), "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d")},
            "lerobot": getattr(lerobot, "__version__", "unknown"),
            "video_backend": ds.video_backend,
            "dataset": {
                "episodes": ds.meta.total_episodes,
                "frames": len(ds),
                "cameras": len(ds.meta.video_keys),
                "image": "x".join(str(s) for s in info["features"][ds.meta.video_keys[0]]["shape"][:2]),
                "codec": f"{info['features'][ds.meta.video_keys[0]]['info']['video.codec']} {info['features'][ds.meta.video_keys[0]]['info']['video.pix_fmt']}",
                "fps": fps,
            },
            "sample": {k: list(v.shape) for k, v in item.items() if hasattr(v, "shape")},
            "sampling": "batch 32, shuffle, delta_timestamps action 16 steps, cameras at t only",
            "open_s": open_s,
        }
        for w in (0, 2):
            res[f"w{w}"] = samples_per_s(ds, w, args.seconds)

    if VF_RESULT.exists():
        vf = json.loads(VF_RESULT.read_text())
        ratios = {}
        for k in ("warm_w0", "warm_w2", "cold_w0", "cold_w2"):
            if k in vf:
                lr = res["w" + k[-1]]["samples_per_s"]
                ratios[f"vlaforge_{k}_over_lerobot_w{k[-1]}"] = vf[k] / lr
        res["vs_vlaforge_loader_json"] = {"vlaforge": {k: vf.get(k) for k in ("warm_w0", "warm_w2", "cold_w0", "cold_w2")}, "vlaforge_machine": vf.get("machine"), **ratios}

    text = json.dumps(res, indent=2)
    print(text)
    if not args.no_save:
        RESULT.parent.mkdir(parents=True, exist_ok=True)
        RESULT.write_text(text + "\n")


if __name__ == "__main__":
    main()
