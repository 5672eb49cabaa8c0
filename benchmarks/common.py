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
