"""Run-time choices shared by every area: CPU cores, torch threads, device and autocast."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator


def available_cores() -> int:
    """Number of CPU cores this process may run on (respects affinity masks and cgroups)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def set_torch_threads(n: int | None = None) -> int:
    """Set torch intra-op threads to `n` (default: the cores we were given) and return it."""
    import torch

    n = n or available_cores()
    torch.set_num_threads(n)
    return n


def pick_device(name: str = "auto") -> "Any":
    """Return a torch.device: 'auto' picks CUDA when present, else CPU."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@contextlib.contextmanager
def autocast(device: "Any", enabled: bool = True) -> Iterator[None]:
    """bf16 autocast on CUDA; a no-op on CPU (fp32 there is both faster and exact)."""
    import torch

    if enabled and getattr(device, "type", str(device)) == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield
