"""Cold loader, vlaforge vs LeRobot 0.6.1 in the same run: interleaved rounds, same dataset, same samples.

Dataset: `make_sample_dataset` (20 episodes x 100 frames, 2 cameras 96x96 h264 yuv444p g=2), written
by vlaforge. Sampling: every frame is a sample: both cameras and the state at t, a 10-step action
chunk; batch 8, 0 workers, 1 torch thread; both libraries read the same rows in the same order.
Cold = camera frames decoded from the mp4 files (LeRobot always decodes; vlaforge with cache=False).
Each round measures, in alternating order, vlaforge, LeRobot (a subprocess in its own venv, built by
benchmarks/lerobot_env.sh) and the decode-only limit (PyAV alone doing the same random-access decodes
serially, no loader around it), each with wall time, CPU time and the contention record.

    bash benchmarks/lerobot_env.sh      # once
    python benchmarks/loader_vs_lerobot.py [--rounds 3] [--seconds 6] [--lerobot-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common import ROOT, Contention, save
from vlaforge.data import open_dataset
from vlaforge.data.keyframes import FramePool, default_threads
from vlaforge.data.loader import TrainingDataset, make_dataloader
from vlaforge.data.sample import make_sample_dataset
from vlaforge.data.video import decode_at

DEFAULT_LEROBOT = Path.home() / ".cache" / "vlaforge" / "lerobot-0.6.1" / "bin" / "lerobot-python"  # see lerobot_env.sh


def rate(n: int, c: Contention) -> dict[str, Any]:
    """Samples/s by wall and by our own CPU time, with the window's contention record."""
    rec = c.record()
    cpu = rec["own_cores"] * rec["wall_s"]
    return {"samples": n, "samples_per_s": n / rec["wall_s"], "samples_per_cpu_s": n / max(cpu, 1e-9), "contention": rec}


def vlaforge_cold(td: TrainingDataset, order: list[int], batch: int, seconds: float) -> dict[str, Any]:
    """vlaforge's training loader, cache off, over `order`."""
    dl = make_dataloader(td, batch_size=batch, shuffle=False, sampler=order, num_workers=0)
    n = 0
    with Contention() as c:
        t0 = time.perf_counter()
        for b in dl:
            n += len(b["task"])
            if time.perf_counter() - t0 > seconds:
                break
    return rate(n, c)


def _decode_each(ds: Any, order: list[int], seconds: float, decode: Any) -> dict[str, Any]:
    """`decode(path, [timestamp], fps)` each sample's camera frames, one after another, for at most `seconds`."""
    ep_col, ts_col = ds.column("episode_index"), ds.column("timestamp")
    n = 0
    with Contention() as c:
        t0 = time.perf_counter()
        for r in order:
            ep = int(ep_col[r])
            for cam in ds.camera_keys:
                decode(ds.video_path(ep, cam), [ds.video_from(ep, cam) + float(ts_col[r])], ds.fps)
            n += 1
            if time.perf_counter() - t0 > seconds:
                break
    return rate(n, c)


def decode_only(ds: Any, order: list[int], seconds: float) -> dict[str, Any]:
    """PyAV alone: each sample's camera frames by seek + decode, one after another."""
    return _decode_each(ds, order, seconds, decode_at)


def decode_only_packets(ds: Any, order: list[int], seconds: float) -> dict[str, Any]:
    """vlaforge's own decoder alone (in-memory packets, seek by keyframe), one frame after another on one thread."""
    pool = FramePool(1)
    decode = lambda path, ts, fps: pool.decode(path, ts, fps, fallback=decode_at)  # noqa: E731
    for cam in ds.camera_keys:  # index the files outside the window, as a loader has after its first batch
        decode(ds.video_path(0, cam), [ds.video_from(0, cam)], ds.fps)
    return _decode_each(ds, order, seconds, decode)


class LeRobotSide:
    """benchmarks/lerobot_loader_side.py running in LeRobot's venv, one request per measurement."""

    def __init__(self, python: Path, root: Path, chunk: int, batch: int, backend: str | None = None):
        if not python.exists():
            raise SystemExit(f"{python} does not exist: build LeRobot's venv first with `bash benchmarks/lerobot_env.sh`")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        self.log = tempfile.TemporaryFile(mode="w+")  # LeRobot's warnings (e.g. torchcodec without FFmpeg), shown on failure
        self.proc = subprocess.Popen(
            [str(python), str(ROOT / "benchmarks" / "lerobot_loader_side.py"), "--root", str(root), "--chunk", str(chunk), "--batch", str(batch),
             *(["--backend", backend] if backend else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env,
        )
        self.ready = self._read()["ready"]

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            self.log.seek(0)
            raise SystemExit(f"LeRobot's side exited with code {self.proc.wait()}; its stderr ends:\n{self.log.read()[-3000:]}")
        return json.loads(line)

    def measure(self, order: list[int], seconds: float) -> dict[str, Any]:
        """One timed window on LeRobot's side."""
        self.proc.stdin.write(json.dumps({"seconds": seconds, "order": order}) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return self._read()

    def close(self) -> None:
        """End the subprocess."""
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(timeout=30)


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per measurement, and ratios taken within each round (both sides saw the same load) as [min, median, max]."""
    def spread(f: Any) -> list[float]:
        v = [f(r) for r in rounds]
        return [min(v), statistics.median(v), max(v)]

    out: dict[str, Any] = {}
    for side in rounds[0]:
        for key in ("samples_per_s", "samples_per_cpu_s"):
            out[f"{side}_{key}"] = statistics.median(r[side][key] for r in rounds)
        out[f"{side}_own_cores"] = statistics.median(r[side]["contention"]["own_cores"] for r in rounds)
    for key, tag in (("samples_per_s", "wall"), ("samples_per_cpu_s", "cpu")):
        out[f"x_lerobot_{tag}"] = spread(lambda r: r["vlaforge"][key] / max(r[k][key] for k in r if k.startswith("lerobot")))
        out[f"of_decode_limit_{tag}"] = spread(lambda r: r["vlaforge"][key] / r["decode_only"][key])
        out[f"1thread_of_packet_limit_{tag}"] = spread(lambda r: r["vlaforge_1thread"][key] / r["decode_only_packets"][key])
    other = [m["contention"]["other_cores"] for r in rounds for m in r.values()]
    out["other_cores"] = [min(other), max(other)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=6.0, help="per measurement window")
    ap.add_argument("--chunk", type=int, default=10)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lerobot-python", type=Path, default=Path(os.environ.get("LEROBOT_PYTHON", DEFAULT_LEROBOT)))
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = make_sample_dataset(Path(tmp) / "vf_bench", episodes=20, length=100)
        ds = open_dataset(root)
        td = TrainingDataset(ds, n_obs=1, chunk=args.chunk, cache=False)
        td1 = TrainingDataset(ds, n_obs=1, chunk=args.chunk, cache=False, decode_threads=1)
        lr = LeRobotSide(args.lerobot_python, root, args.chunk, args.batch)  # LeRobot's default video backend
        # LeRobot's other backend too, when the default is torchcodec: the ratio is given against the faster one.
        lr_pyav = LeRobotSide(args.lerobot_python, root, args.chunk, args.batch, "pyav") if lr.ready["video_backend"] != "pyav" else None
        if lr.ready["frames"] != len(td):
            raise SystemExit(f"LeRobot sees {lr.ready['frames']} frames, vlaforge {len(td)}")
        rounds = []
        try:
            for i in range(args.rounds):
                order = [int(r) for r in np.random.default_rng(i).permutation(len(td))]
                r: dict[str, Any] = {}
                sides = ["vlaforge", "lerobot", *(["lerobot_pyav"] if lr_pyav else [])]
                sides = sides if i % 2 == 0 else sides[::-1]
                for side in sides + ["vlaforge_1thread", "decode_only", "decode_only_packets"]:
                    if side == "vlaforge":
                        r[side] = vlaforge_cold(td, order, args.batch, args.seconds)
                    elif side == "vlaforge_1thread":
                        r[side] = vlaforge_cold(td1, order, args.batch, args.seconds)
                    elif side == "lerobot":
                        r[side] = lr.measure(order, args.seconds)
                    elif side == "lerobot_pyav":
                        r[side] = lr_pyav.measure(order, args.seconds)  # type: ignore[union-attr]
                    elif side == "decode_only":
                        r[side] = decode_only(ds, order, args.seconds)
                    else:
                        r[side] = decode_only_packets(ds, order, args.seconds)
                rounds.append(r)
                print(json.dumps({"round": i, **{k: round(v["samples_per_s"], 1) for k, v in r.items()}}), flush=True)
        finally:
            lr.close()
            if lr_pyav:
                lr_pyav.close()
    s = summarize(rounds)
    threads = td._pool.threads if td._pool is not None else 0
    res = {"dataset": {"episodes": 20, "frames": len(td), "cameras": 2, "image": "96x96", "codec": "h264 yuv444p g=2", "writer": "vlaforge"},
           "sampling": {"chunk": args.chunk, "batch": args.batch, "workers": 0, "torch_threads": 1, "cold": "video decode", "same_rows_same_order": True,
                        "vlaforge_decode_threads": threads, "default_decode_threads": default_threads()},
           "lerobot": lr.ready, "lerobot_pyav": lr_pyav.ready if lr_pyav else None, "rounds": rounds, "summary": s}
    f = lambda k: s[k][1]  # noqa: E731  (median of the per-round ratios)
    line = (
        f"**Loader vs LeRobot, same run** (cold = video decode, chunk {args.chunk}, batch {args.batch}, 0 workers, 2 cams 96x96, "
        f"{args.rounds} interleaved rounds of {args.seconds:.0f} s, same rows in the same order; median, per-round ratios): "
        f"LeRobot {lr.ready['lerobot']} (its own venv) with its default video backend {lr.ready['video_backend']} "
        f"{s['lerobot_samples_per_s']:.0f} samples/s ({s['lerobot_samples_per_cpu_s']:.0f} per CPU-second)"
        + (f", with pyav {s['lerobot_pyav_samples_per_s']:.0f} ({s['lerobot_pyav_samples_per_cpu_s']:.0f})" if "lerobot_pyav_samples_per_s" in s else "")
        + f"; vlaforge {s['vlaforge_samples_per_s']:.0f} "
        f"({s['vlaforge_samples_per_cpu_s']:.0f} per CPU-second, {threads} decode threads using {s['vlaforge_own_cores']:.2f} cores): "
        f"{f('x_lerobot_wall'):.1f}x LeRobot's faster backend by wall (rounds {s['x_lerobot_wall'][0]:.1f}-{s['x_lerobot_wall'][2]:.1f}), "
        f"{f('x_lerobot_cpu'):.1f}x by CPU time. Against the PyAV decode-only limit (seek + decode per frame, serial: "
        f"{s['decode_only_samples_per_s']:.0f} samples/s, {s['decode_only_samples_per_cpu_s']:.0f} per CPU-second): "
        f"{f('of_decode_limit_wall'):.0%} by wall, {f('of_decode_limit_cpu'):.0%} by CPU time; on 1 thread vlaforge's loader is "
        f"{f('1thread_of_packet_limit_cpu'):.0%} of its own decoder alone by CPU time ({s['decode_only_packets_samples_per_cpu_s']:.0f} per CPU-second). "
        f"Other work used {s['other_cores'][0]:.2f}-{s['other_cores'][1]:.2f} of {rounds[0]['vlaforge']['contention']['cores']} cores during the windows. "
        f"Targets >= 5x LeRobot, >= 80% of the decode-only limit. `bash benchmarks/lerobot_env.sh && python benchmarks/loader_vs_lerobot.py`"
    )
    save("loader_vs_lerobot", res, line)


if __name__ == "__main__":
    main()
