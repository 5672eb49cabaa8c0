"""Bounded load test of `vlaforge serve` on loopback: N concurrent clients for a fixed duration, then stop.

Serves the default-size policy (PyTorch) or an ONNX export, over real HTTP with auth on.
Reports requests/s, client-side p50/p99 latency and errors. Usage: python benchmarks/serve_load.py [--clients 4 --seconds 15]
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

from common import save

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=15)
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
            lat: list[float] = []
            errors = [0]
            stop = time.perf_counter() + args.seconds
            lock = threading.Lock()

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

            threads = [threading.Thread(target=client) for _ in range(args.clients)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            metrics = httpx.get(f"{url}/metrics", headers=headers).json()
        finally:
            srv.terminate()
            srv.wait(timeout=10)
    res = {
        "runtime": args.runtime, "clients": args.clients, "seconds": wall, "requests": len(lat), "errors": errors[0],
        "requests_per_s": len(lat) / wall, "p50_ms": float(np.median(lat)), "p99_ms": float(np.quantile(lat, 0.99)),
        "server_mean_batch": metrics.get("mean_batch_size"),
    }
    line = (f"**Server load** (loopback, {args.clients} concurrent clients, {wall:.0f} s, default policy as {args.runtime}, 1 inference thread, "
            f"auth on): {res['requests_per_s']:.0f} requests/s, p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms, "
            f"{res['errors']} errors, mean server batch {res['server_mean_batch'] or 0:.1f}. Targets: >= 200 requests/s, p99 <= 25 ms. "
            "`python benchmarks/serve_load.py`")
    save("serve_load", res, line)


if __name__ == "__main__":
    main()
