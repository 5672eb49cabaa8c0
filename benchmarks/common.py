"""Helpers shared by the benchmark scripts: machine facts, JSON results, the docs/benchmarks.md table."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "benchmarks.md"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}


def save(name: str, result: dict[str, Any], doc_line: str) -> None:
    """Write benchmarks/results/<name>.json and replace this benchmark's line in docs/benchmarks.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": name, "machine": machine(), **result}
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n\n"
    marker = f"<!-- {name} -->"
    line = f"{marker} {doc_line}"
    if marker in text:
        text = re.sub(re.escape(marker) + r".*", lambda _: line, text)
    else:
        text = text.rstrip("\n") + f"\n\n{line}\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)


class Contention:
    """Machine-wide busy CPU vs our own CPU (this process and its waited-for children) over a measurement.

    `with Contention() as c: ...` then `c.record()`: other_cores > 0.2 means other work shared the cores,
    so rates from that window are low by up to that share (our CPU-time rates are given beside them)."""

    @staticmethod
    def _now() -> tuple[float, float, float]:
        from vlaforge.runtime import cpu_seconds

        return (time.perf_counter(), *cpu_seconds(children=True))

    def __enter__(self) -> "Contention":
        self.start = self._now()
        self.end: tuple[float, float, float] | None = None
        return self

    def __exit__(self, *exc: Any) -> None:
        self.end = self._now()

    def record(self) -> dict[str, float]:
        """wall_s, machine_busy_cores, own_cores, other_cores (average cores busy over the window)."""
        end = self.end or self._now()
        wall = max(end[0] - self.start[0], 1e-9)
        busy, own = (end[1] - self.start[1]) / wall, (end[2] - self.start[2]) / wall
        return {"wall_s": round(wall, 1), "machine_busy_cores": round(busy, 2), "own_cores": round(own, 2),
                "other_cores": round(max(0.0, busy - own), 2), "cores": len(os.sched_getaffinity(0))}


class Parts:
    """Wall and CPU seconds spent in each named part of a loop: `with parts("forward"): ...`, then `parts.per_step(n)`.

    CPU time is the whole process's (every thread), so a part that decodes video on helper threads is charged in full."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        w, c = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - w
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - c

    def per_step(self, steps: int) -> dict[str, dict[str, float]]:
        """{part: {"wall_ms", "cpu_ms"}} per step."""
        n = max(steps, 1)
        return {k: {"wall_ms": round(1e3 * self.wall[k] / n, 1), "cpu_ms": round(1e3 * self.cpu[k] / n, 1)} for k in self.wall}


def train_rate(samples: int, steps: int, c: Contention, parts: Parts) -> dict[str, Any]:
    """One training window: samples/s by wall and by own CPU time, time per step by part, and the contention record."""
    rec = c.record()
    cpu = rec["own_cores"] * rec["wall_s"]
    return {"samples": samples, "steps": steps, "samples_per_s": samples / rec["wall_s"], "samples_per_cpu_s": samples / max(cpu, 1e-9),
            "per_step": parts.per_step(steps), "contention": rec}


def timed_steps(step: Any, seconds: float = 0.0, max_steps: int = 0) -> dict[str, Any]:
    """Call `step(parts)` (it returns the samples it trained on) for `seconds` or `max_steps` → `train_rate` of that window."""
    parts, n, steps = Parts(), 0, 0
    with Contention() as c:
        t0 = time.perf_counter()
        while True:
            n += step(parts)
            steps += 1
            if (max_steps and steps >= max_steps) or (seconds and time.perf_counter() - t0 > seconds):
                break
    return train_rate(n, steps, c, parts)


def profiled_steps(step: Any, steps: int) -> dict[str, Any]:
    """torch.profiler over `steps` calls of `step(parts)` → `top_ops` (the ops with the most self time, the dense-math share)."""
    import torch

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step(Parts())
    return top_ops(prof, steps)


DENSE_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::mkldnn_convolution", "aten::convolution_backward",
             "aten::_scaled_dot_product_flash_attention_for_cpu", "aten::_scaled_dot_product_flash_attention_for_cpu_backward")


def top_ops(prof: Any, steps: int, n: int = 8) -> dict[str, Any]:
    """A torch.profiler run of `steps` steps → the `n` ops with the most self time (ms per step, share) and the share of dense math.

    The profiler times ops by wall clock, so on a busy machine the ms are inflated; the shares compare."""
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in rows) or 1
    top = [{"op": e.key, "self_wall_ms_per_step": round(e.self_cpu_time_total / 1e3 / steps, 1), "share": round(e.self_cpu_time_total / total, 3)}
           for e in rows[:n]]
    dense = sum(e.self_cpu_time_total for e in rows if e.key in DENSE_OPS) / total
    return {"steps": steps, "top_ops": top, "dense_share": round(dense, 3)}
