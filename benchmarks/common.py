"""Helpers shared by the benchmark scripts: machine facts, JSON results, the docs/benchmarks.md table."""

from __future__ import annotations

import json
import os
import platform
import re
import time
from pathlib import Path
from typing import Any

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
