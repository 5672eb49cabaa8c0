"""`vlaforge bench latency RUN`: p50/p99 wall and p50 CPU time per chunk for PyTorch fp32, ONNX fp32 and ONNX int8
(the export's default method, serve/quantize.py) on 1 and 2 threads. Where int8 time goes, op by op: benchmarks/int8_profile.py."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np


def _time(fn: Callable[[], Any], iters: int) -> dict[str, float]:
    for _ in range(5):
        fn()
    ts, cpu = [], []
    for _ in range(iters):
        t, tc = time.perf_counter(), time.process_time()
        fn()
        cpu.append((time.process_time() - tc) * 1000)  # every thread of the call: on shared cores wall time also counts waiting
        ts.append((time.perf_counter() - t) * 1000)
    p50, p99 = float(np.median(ts)), float(np.quantile(ts, 0.99))
    return {"p50_ms": p50, "p99_ms": p99, "cpu_p50_ms": float(np.median(cpu))}


def latency_table(run: str | Path, iters: int = 100) -> dict[str, Any]:
    """Measure every runtime x thread count on a real observation from the training dataset."""
    import torch

    from vlaforge.data import open_dataset
    from vlaforge.models import load_policy
    from vlaforge.serve.export import export_onnx
    from vlaforge.serve.onnx_policy import OnnxPolicy
    from vlaforge.serve.quantize import DEFAULT_METHOD

    policy = load_policy(run)
    ds = open_dataset(policy.dataset_info["path"])
    item = ds[ds.num_frames // 2]
    obs = {k: item[k] for k in [*policy.cameras, "observation.state"]}
    task = item["task"]
    out: dict[str, Any] = {"run": str(run), "head": policy.cfg.head, "n_action_steps": policy.cfg.n_action_steps, "fps": ds.fps, "rows": {}}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for int8 in (False, True):
            p = Path(tmp) / f"p{int(int8)}.onnx"
            name = f"onnx int8 ({DEFAULT_METHOD})" if int8 else "onnx fp32"
            try:
                export_onnx(run, p, int8=int8, samples=8)  # int8 calibrates on the run's dataset, as `vlaforge export --int8` does
                paths[name] = p
            except Exception as e:  # noqa: BLE001 - report what could not be measured
                out["rows"][name] = {"error": str(e)}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out["rows"].setdefault("pytorch fp32", {})[f"{threads}t"] = _time(lambda: policy.predict_chunk(obs, task), iters)
            for name, p in paths.items():
                op = OnnxPolicy(p, threads=threads)
                out["rows"].setdefault(name, {})[f"{threads}t"] = _time(lambda: op.predict_chunk(obs, task), iters)
    for row in out["rows"].values():
        for k, v in list(row.items()):
            if isinstance(v, dict) and "p99_ms" in v:
                # A chunk covers n_action_steps control steps, so the loop sustains this many Hz if inference is the bottleneck.
                v["max_control_hz"] = 1000.0 / v["p99_ms"] * out["n_action_steps"]
    return out


def register(parser: argparse.ArgumentParser) -> None:
    """Add `bench latency`."""
    sub = parser.add_subparsers(dest="bench_command", metavar="<benchmark>")
    p = sub.add_parser("latency", help="p50/p99 (and CPU time) per chunk: PyTorch fp32, ONNX fp32, ONNX int8 on 1 and 2 threads")
    p.add_argument("run", type=Path)
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--json", type=Path, help="also write the table as JSON here")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    res = latency_table(args.run, args.iters)
    t = Table(title=f"predict_chunk latency — {args.run} ({res['head']} head)")
    for c in ("runtime", "threads", "p50 ms", "p99 ms", "CPU p50 ms", f"control Hz (p99, {res['n_action_steps']} actions/chunk)"):
        t.add_column(c)
    for name, row in res["rows"].items():
        if "error" in row:
            t.add_row(name, "-", "-", "-", "-", row["error"][:60])
            continue
        for th, v in row.items():
            t.add_row(name, th.rstrip("t"), f"{v['p50_ms']:.2f}", f"{v['p99_ms']:.2f}", f"{v['cpu_p50_ms']:.2f}", f"{v['max_control_hz']:.0f}")
    Console().print(t)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0
