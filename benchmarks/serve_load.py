"""Bounded load test of `vlaforge serve` on loopback: N concurrent clients for a fixed duration, for each N, one server.

Serves the default-size policy (PyTorch) or an ONNX export (dynamic batch: one session call per server
batch), over real HTTP with auth on. Reports per client count: requests/s, client-side p50/p99 latency,
errors, the server's mean batch, and the CPU of the server and the clients against the whole machine.
Usage: python benchmarks/serve_load.py [--clients 1,4,16,64 --seconds 6]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from common import Contention, save


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far; Linux /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

ROOT = Path(__file__).resolve().parent.parent


def load(url: str, body: bytes, headers: dict[str, str], clients: int, seconds: float) -> tuple[list[float], int, float]:
    """`clients` threads posting /act back to back for `seconds` → (latencies ms, errors, wall s)."""
    import httpx

    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client() -> None:
        with httpx.Client(timeout=10) as c:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = c.post(f"{url}/act", content=body, headers=headers)
                ms = (time.perf_counter() - t) * 1000
                with lock:
                    if r.status_code == 200:
                        lat.append(ms)
                    else:
                        errors[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, errors[0], time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", default="1,4,16,64", help="comma-separated client counts, measured one after another")
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--runtime", choices=["onnx", "pytorch"], default="onnx")
    args = ap.parse_args()
    import httpx

    from vlaforge.data import open_dataset
    from vlaforge.data.sample import make_sample_dataset
    from vlaforge.models import PolicyConfig, build_policy
    from vlaforge.serve import codec
    from vlaforge.serve.export import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        ds = open_dataset(make_sample_dataset(Path(tmp) / "ds", episodes=2, length=20))
        ck = build_policy(PolicyConfig(), ds, verbose=False).save(Path(tmp) / "ck")
        target = ck
        if args.runtime == "onnx":
            target = Path(tmp) / "p.onnx"
            export_onnx(ck, target, samples=4)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "VLAFORGE_TOKEN": "bench"}
        srv = subprocess.Popen([sys.executable, "-m", "vlaforge", "serve", str(target), "--port", str(port), "--threads", "1"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{url}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            item = ds[5]
            obs = {k: item[k] for k in ("observation.images.front", "observation.images.wrist", "observation.state")}
            body = codec.dumps({"observation": obs, "instruction": item["task"]})
            headers = {"authorization": "Bearer bench", "content-type": codec.MSGPACK}
            runs = []
            for n in [int(c) for c in args.clients.split(",")]:
                before = httpx.get(f"{url}/metrics", headers=headers).json()
                cpu0 = proc_cpu_s(srv.pid)
                with Contention() as window:
                    lat, errors, wall = load(url, body, headers, n, args.seconds)
                cpu = proc_cpu_s(srv.pid) - cpu0
                after = httpx.get(f"{url}/metrics", headers=headers).json()
                rec = window.record()
                server_cores = cpu / rec["wall_s"]
                rec["server_cores"] = round(server_cores, 2)
                rec["other_cores"] = round(max(0.0, rec["machine_busy_cores"] - rec["own_cores"] - server_cores), 2)
                batches = after.get("batches", 0) - before.get("batches", 0)
                items = after.get("batched_items", 0) - before.get("batched_items", 0)
                runs.append({"clients": n, "seconds": wall, "requests": len(lat), "errors": errors, "requests_per_s": len(lat) / wall,
                             "p50_ms": float(np.median(lat)), "p99_ms": float(np.quantile(lat, 0.99)),
                             "server_mean_batch": items / batches if batches else None, "contention": rec})
                print(runs[-1], flush=True)
        finally:
            srv.terminate()
            srv.wait(timeout=10)
    by = {r["clients"]: r for r in runs}
    res = {"runtime": args.runtime, "runs": runs}
    if 1 in by and 16 in by:
        res["x_16_vs_1"] = by[16]["requests_per_s"] / by[1]["requests_per_s"]
    parts = [f"{r['clients']} clients {r['requests_per_s']:.0f} req/s (p50 {r['p50_ms']:.1f} / p99 {r['p99_ms']:.1f} ms, "
             f"batch {r['server_mean_batch'] or 0:.1f}, {r['errors']} errors)" for r in runs]
    other = [r["contention"]["other_cores"] for r in runs]
    line = (f"**Server load** (loopback, default policy as {args.runtime} with a dynamic batch axis, one session call per server batch, "
            f"1 inference thread, auth on, {args.seconds:.0f} s per client count): " + "; ".join(parts) + ". "
            + (f"16 clients vs 1: {res['x_16_vs_1']:.2f}x requests/s (target >= 3x). " if "x_16_vs_1" in res else "")
            + f"Other work used {min(other):.2f}-{max(other):.2f} cores (server and clients excluded). "
            "Targets: >= 200 requests/s, p99 <= 25 ms. `python benchmarks/serve_load.py`")
    save("serve_load", res, line)


if __name__ == "__main__":
    main()
