"""LeRobot's side of benchmarks/loader_vs_lerobot.py: runs in LeRobot's own venv, driven over stdin/stdout.

    <lerobot venv>/bin/python benchmarks/lerobot_loader_side.py --root DATASET --chunk 10 --batch 8

Opens the dataset with LeRobot's LeRobotDataset (actions as a `chunk`-step delta_timestamps window,
cameras at t), prints one JSON line {"ready": ...}, then answers each stdin line
`{"seconds": S, "order": [row, ...]}` with one JSON line: samples, wall and CPU time, and the
contention record of the window (benchmarks/common.py Contention, measured in this process).
Batches come from a torch DataLoader with 0 workers over exactly the rows in `order`, so both
libraries read the same samples in the same order. Needs only LeRobot's venv plus vlaforge's
stdlib-only `vlaforge.runtime` (put on sys.path from this checkout).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "benchmarks")]

from common import Contention  # noqa: E402  (stdlib only; vlaforge.runtime reads /proc)


def open_lerobot(root: Path, chunk: int, backend: str | None) -> Any:
    """LeRobotDataset over a local v3.0 directory, offline."""
    import os

    os.environ["HF_HUB_OFFLINE"] = "1"
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    info = json.loads((root / "meta" / "info.json").read_text())
    fps = int(info["fps"])
    return LeRobotDataset(repo_id="local/" + root.name, root=root, video_backend=backend, delta_timestamps={"action": [i / fps for i in range(chunk)]})


def open_decodable(root: Path, chunk: int, backend: str | None) -> tuple[Any, str | None]:
    """`open_lerobot`, falling back to pyav when LeRobot's default backend cannot decode here → (dataset, that error or None)."""
    ds = open_lerobot(root, chunk, backend)
    try:
        ds[0]
    except Exception as e:  # torchcodec installed but without FFmpeg libraries it can load
        if backend is not None:
            raise
        ds = open_lerobot(root, chunk, "pyav")
        ds[0]
        return ds, f"{type(e).__name__}: {e}"[:300]
    return ds, None


def describe(ds: Any, first_error: str | None) -> dict[str, Any]:
    """The "ready" line's facts about this side: versions, the video backend in use and why, the dataset's frames."""
    import torch
    from importlib.metadata import version

    return {"lerobot": version("lerobot"), "torch": torch.__version__, "python": sys.version.split()[0],
            "video_backend": getattr(ds, "video_backend", None) or getattr(ds, "_video_backend", None), "frames": len(ds),
            "default_backend_error": first_error}


def measure(ds: Any, order: list[int], batch: int, seconds: float) -> dict[str, Any]:
    """Batches over `order` for about `seconds` → samples/s by wall and by CPU time, with contention."""
    import torch

    dl = torch.utils.data.DataLoader(ds, batch_size=batch, sampler=order, num_workers=0, drop_last=True)
    n = 0
    with Contention() as c:
        t0 = time.perf_counter()
        for b in dl:
            n += len(b["index"])
            if time.perf_counter() - t0 > seconds:
                break
    rec = c.record()
    cpu = rec["own_cores"] * rec["wall_s"]
    return {"samples": n, "samples_per_s": n / rec["wall_s"], "samples_per_cpu_s": n / max(cpu, 1e-9), "contention": rec}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--chunk", type=int, default=10)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--backend", default=None, help="LeRobot video_backend (default: LeRobot's, pyav if torchcodec cannot decode here)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    ds, first_error = open_decodable(args.root, args.chunk, args.backend)
    ready = describe(ds, first_error)
    print(json.dumps({"ready": ready}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        print(json.dumps(measure(ds, req["order"], args.batch, float(req["seconds"]))), flush=True)


if __name__ == "__main__":
    main()
