"""Bounded load test of `vlaforge serve` on loopback: N concurrent clients for a fixed duration, for each N, one server.

Serves the default-size policy (PyTorch) or an ONNX export (dynamic batch: one session call per server
batch), over real HTTP with auth on. Each client is a thread posting one pre-encoded msgpack body back to back on a
keep-alive socket (--client httpx: the heavier httpx client of older results). Reports per client count: requests/s,
client-side p50/p99 latency, errors, the server's mean batch, CPU per request (server, its event loop, the clients),
and the CPU of the server and the clients against the whole machine.
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
from typing import Any, Callable

import numpy as np

from common import Contention, save


def proc_cpu_s(pid: int, thread: int | None = None) -> float:
    """CPU seconds (user + system) a running process (or one of its threads) has used so far; Linux /proc."""
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = {"raw": "keep-alive socket clients posting one pre-encoded body", "httpx": "httpx clients"}


def read_response(f: Any) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 response from a buffered socket reader → (status, body, server closes the connection)."""
    status = int(f.readline().split(b" ", 2)[1])
    length, close = 0, False
    while (line := f.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    return status, f.read(length), close


def raw_client(host: str, port: int, request: bytes, stop: float, record: Callable[[int, float, bytes], None]) -> None:
    """Post the pre-built `request` back to back on one keep-alive connection until `stop` (perf_counter time).

    A plain blocking socket costs the load generator ~0.1 ms of CPU per request; httpx costs ~1 ms, and its
    16-64 threads then compete with the server for the same 2 cores (and the GIL), so it measured itself."""
    sock = None
    try:
        while time.perf_counter() < stop:
            if sock is None:
                sock = socket.create_connection((host, port), timeout=10)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                f = sock.makefile("rb")
            t = time.perf_counter()
            sock.sendall(request)
            status, body, close = read_response(f)
            record(status, (time.perf_counter() - t) * 1000, body)
            if close:
                sock.close()
                sock = None
    finally:
        if sock is not None:
            sock.close()


def httpx_client(url: str, body: bytes, headers: dict[str, str], stop: float, record: Callable[[int, float, bytes], None]) -> None:
    """The same loop with httpx (a connection-reusing client; heavier per request than `raw_client`)."""
    import httpx

    with httpx.Client(timeout=10) as c:
        while time.perf_counter() < stop:
            t = time.perf_counter()
            r = c.post(f"{url}/act", content=body, headers=headers)
            record(r.status_code, (time.perf_counter() - t) * 1000, r.content)


def load(url: str, body: bytes, headers: dict[str, str], clients: int, seconds: float, client: str = "raw") -> tuple[list[float], int, float, bytes]:
    """`clients` threads posting /act back to back for `seconds` → (latencies ms, errors, wall s, one 200 answer's body)."""
    lat: list[float] = []
    errors = [0]
    sample: list[bytes] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def record(status: int, ms: float, answer: bytes) -> None:
        with lock:
            if status == 200:
                lat.append(ms)
                if not sample:
                    sample.append(answer)
            else:
                errors[0] += 1

    host, port = url.removeprefix("http://").rsplit(":", 1)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"POST /act HTTP/1.1\r\nhost: {host}:{port}\r\n{head}content-length: {len(body)}\r\n\r\n".encode() + body
    if client == "raw":
        target, args = raw_client, (host, int(port), request, stop, record)
    else:
        target, args = httpx_client, (url, body, headers, stop, record)
    threads = [threading.Thread(target=target, args=args) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, errors[0], time.perf_counter() - t0, sample[0] if sample else b""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", default="1,4,16,64", help="comma-separated client counts, measured one after another")
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--runtime", choices=["onnx", "pytorch"], default="onnx")
    ap.add_argument("--client", choices=["raw", "httpx"], default="raw",
                    help="load generator: keep-alive sockets posting one pre-built request (default), or httpx (heavier; older results)")
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
            action = httpx.get(f"{url}/spec", headers=headers).json()["spec"]["action"]
            expected = (action["chunk"], action["dim"])  # every run checks one answer against it
            runs = []
            for n in [int(c) for c in args.clients.split(",")]:
                before = httpx.get(f"{url}/metrics", headers=headers).json()
                cpu0, loop0 = proc_cpu_s(srv.pid), proc_cpu_s(srv.pid, srv.pid)  # the main thread runs the event loop
                with Contention() as window:
                    lat, errors, wall, answer = load(url, body, headers, n, args.seconds, args.client)
                cpu, loop_cpu = proc_cpu_s(srv.pid) - cpu0, proc_cpu_s(srv.pid, srv.pid) - loop0
                after = httpx.get(f"{url}/metrics", headers=headers).json()
                chunk = codec.loads(answer, codec.MSGPACK)["action"] if answer else None
                if chunk is None or chunk.shape != expected:
                    raise SystemExit(f"{n} clients: a 200 answer carried no {expected} action chunk")
                rec = window.record()
                server_cores = cpu / rec["wall_s"]
                rec["server_cores"] = round(server_cores, 2)
                rec["other_cores"] = round(max(0.0, rec["machine_busy_cores"] - rec["own_cores"] - server_cores), 2)
                batches = after.get("batches", 0) - before.get("batches", 0)
                items = after.get("batched_items", 0) - before.get("batched_items", 0)
                runs.append({"clients": n, "seconds": wall, "requests": len(lat), "errors": errors, "requests_per_s": len(lat) / wall,
                             "p50_ms": float(np.median(lat)), "p99_ms": float(np.quantile(lat, 0.99)),
                             "server_mean_batch": items / batches if batches else None,
                             # where the CPU went, per answered request: the server (its event loop apart) and the load generator
                             "cpu_ms_per_request": {"server": 1000 * cpu / max(1, len(lat)), "server_event_loop": 1000 * loop_cpu / max(1, len(lat)),
                                                    "clients": 1000 * rec["own_cores"] * rec["wall_s"] / max(1, len(lat))},
                             "contention": rec})
                print(runs[-1], flush=True)
        finally:
            srv.terminate()
            srv.wait(timeout=10)
    by = {r["clients"]: r for r in runs}
    res = {"runtime": args.runtime, "client": args.client, "runs": runs}
    ceiling = ""
    if 1 in by and 16 in by:
        res["x_16_vs_1"] = by[16]["requests_per_s"] / by[1]["requests_per_s"]
        # One inference thread bounds the rate: at most 1 / (its CPU per request) however many clients wait
        cpu16 = by[16]["cpu_ms_per_request"]
        infer_ms = cpu16["server"] - cpu16["server_event_loop"]
        res["ceiling_16_req_per_s"] = 1000 / infer_ms
        ceiling = (f"The server's CPU per request outside its event loop (the inference thread) at 16 clients is {infer_ms:.2f} ms, so one "
                   f"inference thread caps 16 clients at ~{res['ceiling_16_req_per_s']:.0f} req/s = "
                   f"{res['ceiling_16_req_per_s'] / by[1]['requests_per_s']:.1f}x the 1-client rate: batching shares little of a small "
                   "conv net's per-item work on a CPU, so what is left to gain at 16 vs 1 is bounded by that, not by request overhead. ")
    parts = [f"{r['clients']} clients {r['requests_per_s']:.0f} req/s (p50 {r['p50_ms']:.1f} / p99 {r['p99_ms']:.1f} ms, "
             f"batch {r['server_mean_batch'] or 0:.1f}, {r['errors']} errors)" for r in runs]
    other = [r["contention"]["other_cores"] for r in runs]
    line = (f"**Server load** (loopback, default policy as {args.runtime} with a dynamic batch axis, one session call per server batch, "
            f"1 inference thread, auth on, {CLIENTS[args.client]}, {args.seconds:.0f} s per client count): " + "; ".join(parts) + ". "
            + (f"16 clients vs 1: {res['x_16_vs_1']:.2f}x requests/s (target >= 3x). " if "x_16_vs_1" in res else "")
            + "".join(f"CPU per request at {n} client{'s' if n > 1 else ''}: server {by[n]['cpu_ms_per_request']['server']:.2f} ms "
                      f"(its event loop {by[n]['cpu_ms_per_request']['server_event_loop']:.2f}), load generator {by[n]['cpu_ms_per_request']['clients']:.2f}. "
                      for n in (1, 16) if n in by)
            + ceiling + f"Other work used {min(other):.2f}-{max(other):.2f} cores (server and clients excluded). "
            "Targets: >= 200 requests/s, p99 <= 25 ms. `python benchmarks/serve_load.py`")
    save("serve_load", res, line)


if __name__ == "__main__":
    main()
