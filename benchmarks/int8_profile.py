"""ONNX int8 vs fp32 for the default policy: latency ratios, parity, and where the time goes op by op.

Trains the default policy briefly on the sample data (or takes --run), exports it in fp32 and with every int8
method of vlaforge.serve.quantize (each with the export's own parity check), then on 1 onnxruntime thread:
  - times `OnnxPolicy.predict_chunk` for all exports interleaved, round by round (p50 wall and CPU time per call,
    ratios to fp32 from the same rounds, the window's contention record);
  - profiles each session (SessionOptions.enable_profiling, also interleaved) and sums node time by op type and by
    group: convolutions, NCHWc layout reorders (fp32 convs), matmuls, (de)quantization, the rest (each op type's fastest run).
Usage: python benchmarks/int8_profile.py [--steps 300] [--run RUN] [--rounds 20] [--calls 10] [--profile-runs 40]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Contention, save  # noqa: E402

GROUPS = {  # onnxruntime kernel names (after its graph fusions) -> what they do
    "conv": {"Conv", "FusedConv", "QLinearConv", "ConvInteger", "NhwcConv"},
    "layout": {"ReorderInput", "ReorderOutput"},  # fp32 Conv runs in NCHWc blocks; these convert in and out
    "matmul": {"MatMul", "FusedMatMul", "Gemm", "MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "QLinearMatMul", "QGemm"},
    "quantize": {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"},
}


def group_of(op: str) -> str:
    """The GROUPS key an op type belongs to ('other' if none)."""
    return next((g for g, ops in GROUPS.items() if op in ops), "other")


def profile(paths: dict[str, Path], feed: dict[str, np.ndarray], runs: int, tmp: Path) -> dict[str, dict[str, Any]]:
    """Node time per session run by op type and group (us), each variant profiled in interleaved blocks of 5 runs.

    Node durations are wall time, so a run in which the thread was preempted inflates whatever op was running, and
    on shared cores most runs are: each op type's figure is its fastest run (the closest to its uncontended time),
    a group's and the total are sums of those."""
    import bisect

    import onnxruntime as ort

    sessions = {}
    for name, p in paths.items():
        o = ort.SessionOptions()
        o.intra_op_num_threads, o.inter_op_num_threads = 1, 1
        o.enable_profiling, o.profile_file_prefix = True, str(tmp / f"prof_{name}")
        sessions[name] = ort.InferenceSession(str(p), o, providers=["CPUExecutionProvider"])
        for _ in range(3):  # warm-up, profiled too: only the last `runs` model_run events count below
            sessions[name].run(None, feed)
    for _ in range(0, runs, 5):
        for s in sessions.values():
            for _ in range(5):
                s.run(None, feed)
    out = {}
    for name, s in sessions.items():
        events = json.loads(Path(s.end_profiling()).read_text())
        starts = sorted(e["ts"] for e in events if e.get("cat") == "Session" and e["name"] == "model_run")[-runs:]
        per_run: list[dict[str, float]] = [collections.defaultdict(float) for _ in starts]
        for e in events:
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= starts[0]:
                per_run[bisect.bisect_right(starts, e["ts"]) - 1][e["args"]["op_name"]] += e["dur"]
        ops = {op for r in per_run for op in r}
        by_op = {op: float(min(r.get(op, 0.0) for r in per_run)) for op in ops}
        groups = {g: sum(us for op, us in by_op.items() if group_of(op) == g) for g in [*GROUPS, "other"]}
        out[name] = {"node_us_per_run": sum(by_op.values()), "groups_us": groups,
                     "top_ops_us": dict(sorted(by_op.items(), key=lambda kv: -kv[1])[:8]), "runs": len(per_run)}
    return out


def time_interleaved(policies: dict[str, Any], obs: dict[str, np.ndarray], task: str, rounds: int, calls: int) -> dict[str, Any]:
    """p50 wall / CPU ms per predict_chunk for each policy, measured round by round in turn, and ratios to the first."""
    wall: dict[str, list[float]] = {n: [] for n in policies}
    cpu: dict[str, list[float]] = {n: [] for n in policies}
    ratios: dict[str, list[float]] = {n: [] for n in policies}
    base = next(iter(policies))
    with Contention() as c:
        for _ in range(rounds):
            p50 = {}
            for name, pol in policies.items():
                for _ in range(3):
                    pol.predict_chunk(obs, task)
                w = []
                for _ in range(calls):
                    t, tc = time.perf_counter(), time.thread_time()
                    pol.predict_chunk(obs, task)
                    cpu[name].append((time.thread_time() - tc) * 1000)
                    w.append((time.perf_counter() - t) * 1000)
                wall[name] += w
                p50[name] = float(np.median(w))
            for name in policies:
                ratios[name].append(p50[name] / p50[base])
    rows = {n: {"p50_ms": float(np.median(wall[n])), "p99_ms": float(np.quantile(wall[n], 0.99)), "cpu_p50_ms": float(np.median(cpu[n])),
                "cpu_ratio_to_fp32": float(np.median(cpu[n]) / np.median(cpu[base])), "wall_ratio_to_fp32_median_of_rounds": float(np.median(ratios[n])),
                "calls": len(wall[n])} for n in policies}
    return {"rows": rows, "contention": c.record()}


def frame_errors(policies: dict[str, Any], ds: Any, scale: np.ndarray) -> dict[str, dict[str, float]]:
    """Per frame of `ds`: max |action - fp32 action| over the chunk as a fraction of each dim's range; p50/p90/max over frames."""
    items = [ds[i] for i in range(ds.num_frames)]
    obs = [{k: it[k] for k in next(iter(policies.values())).spec.observation} for it in items]
    tasks = [it["task"] for it in items]
    outs = {n: np.concatenate([p.predict_batch(obs[i : i + 16], tasks[i : i + 16]) for i in range(0, len(obs), 16)])
            for n, p in policies.items()}  # (N, H, A); same seed per policy: the same noise for every export
    ref = outs["fp32"]
    res = {}
    for n, a in outs.items():
        e = (np.abs(a - ref) / scale).max(axis=(1, 2))  # (N,)
        res[n] = {"p50": float(np.median(e)), "p90": float(np.quantile(e, 0.9)), "max": float(e.max()), "frames": len(e)}
    return res


def train_default(data: Path, out: Path, steps: int) -> Path:
    """The default policy trained `steps` steps on `data` (1 thread) -> run directory."""
    from vlaforge.models import PolicyConfig
    from vlaforge.train.config import TrainConfig
    from vlaforge.train.trainer import RunConfig, train

    return train(RunConfig(str(data), PolicyConfig(), TrainConfig(steps=steps, threads=1, val_every=steps, save_every=steps)), out, progress=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, help="a trained run (default: train the default policy --steps on the sample data)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--calls", type=int, default=10, help="timed calls per variant per round")
    ap.add_argument("--profile-runs", type=int, default=40)
    args = ap.parse_args()
    import contextlib
    import io

    from vlaforge.data import open_dataset
    from vlaforge.data.sample import make_sample_dataset
    from vlaforge.models import load_policy
    from vlaforge.serve.export import FP32_TOLERANCE, INT8_TOLERANCE, export_onnx
    from vlaforge.serve.onnx_policy import OnnxPolicy
    from vlaforge.serve.quantize import DEFAULT_METHOD, METHODS

    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        if args.run:
            run, steps = args.run, None
        else:
            run, steps = train_default(make_sample_dataset(tmp / "ds"), tmp / "run", args.steps), args.steps
            # episodes of other seeds: frames neither training, calibration nor the export's parity check saw
            heldout = open_dataset(make_sample_dataset(tmp / "heldout", episodes=2, seed=100))
        policy = load_policy(run)
        ds = open_dataset(policy.dataset_info["path"])
        item = ds[ds.num_frames // 2]
        obs = {k: item[k] for k in [*policy.cameras, "observation.state"]}
        res: dict[str, Any] = {"run": str(args.run) if args.run else f"default policy, {steps} steps on the sample data",
                               "head": policy.cfg.head, "params_m": policy.num_params() / 1e6, "default_method": DEFAULT_METHOD,
                               "methods": METHODS, "parity": {}}
        paths = {}
        for name in ["fp32", *METHODS]:
            p = tmp / f"{name}.onnx"
            with contextlib.redirect_stdout(io.StringIO()):  # tolerance inf: a method that fails parity is still timed, and marked
                meta = export_onnx(run, p, int8=name != "fp32", int8_method=name if name != "fp32" else DEFAULT_METHOD, samples=32,
                                   tolerance=float("inf"))
            paths[name] = p
            err, tol = max(meta["parity"]["max_rel_err_per_dim"]), FP32_TOLERANCE if name == "fp32" else INT8_TOLERANCE
            res["parity"][name] = {"max_rel_err": err, "tolerance_rel": tol, "passes": err <= tol,
                                   "calibration_frames": (meta["quantization"] or {}).get("calibration_frames", 0)}
        policies = {n: OnnxPolicy(p, threads=1) for n, p in paths.items()}
        scale = np.maximum((policy.normalizer.action_max - policy.normalizer.action_min).numpy(), 1e-6)  # (A,)
        res["frame_errors"] = frame_errors({n: OnnxPolicy(p, threads=1) for n, p in paths.items()}, heldout if not args.run else ds, scale)
        res["frame_errors_on"] = "held-out sample episodes (seeds 100, 101)" if not args.run else "the run's dataset (calibration frames included)"
        res["latency_1_thread"] = time_interleaved(policies, obs, item["task"], args.rounds, args.calls)
        with Contention() as c:
            res["profile_1_thread"] = profile(paths, policies["fp32"].feed([obs], [item["task"]]), args.profile_runs, tmp)
        res["profile_contention"] = c.record()
    save("int8_profile", res, doc_line(res))


def doc_line(res: dict[str, Any]) -> str:
    """The docs/benchmarks.md line: ratios, parity, and the op groups that explain them."""
    lat, prof, par = res["latency_1_thread"]["rows"], res["profile_1_thread"], res["parity"]
    d = res["default_method"]
    g = {n: v["groups_us"] for n, v in prof.items()}

    def conv(n: str) -> float:
        return g[n]["conv"] + g[n]["layout"]

    fe = res["frame_errors"]
    return ("**ONNX int8 vs fp32** (default policy, " + f"{res['params_m']:.2f}M params, {res['head']} head; 1 thread, all exports timed interleaved; "
            "p50 wall / p50 CPU ms per chunk, CPU ratio to fp32, the export's parity max error as % of the action range): "
            + "; ".join(f"{n} {v['p50_ms']:.2f} / {v['cpu_p50_ms']:.2f} ms ({v['cpu_ratio_to_fp32']:.2f}x, {par[n]['max_rel_err']:.1%}"
                        + ("" if par[n]["passes"] else f", fails the {par[n]['tolerance_rel']:.0%} parity tolerance") + ")" for n, v in lat.items())
            + f". Default `--int8` = {d}. Error per frame vs fp32 on {fe[d]['frames']} {res['frame_errors_on']}, p50 / p90 / max: "
            + "; ".join(f"{n} {v['p50']:.1%} / {v['p90']:.1%} / {v['max']:.1%}" for n, v in fe.items() if n != "fp32")
            + f". Profile (node time per run, each op type's fastest of the profiled runs): convolutions incl. NCHWc reorders fp32 {conv('fp32'):.0f} us, "
            f"dynamic-all (ConvInteger) {conv('dynamic-all'):.0f} us, {d} (QLinearConv) {conv(d):.0f} us; matmuls fp32 {g['fp32']['matmul']:.0f} us, "
            f"{d} {g[d]['matmul']:.0f} us; (de)quantize ops: {d} {g[d]['quantize']:.0f} us, static {g['static']['quantize']:.0f} us; "
            f"the rest (norms, GELU, reshapes, ...) fp32 {g['fp32']['other']:.0f} us, {d} {g[d]['other']:.0f} us. Other work used "
            f"{res['latency_1_thread']['contention']['other_cores']:.2f} of {res['latency_1_thread']['contention']['cores']} cores while timing. "
            "`python benchmarks/int8_profile.py`")


if __name__ == "__main__":
    main()
