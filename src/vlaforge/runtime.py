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


def cpu_seconds(children: bool = False, niced: bool = True) -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, CPU seconds of this process [+ its waited-for children]) so far; Linux /proc.

    `niced=False` leaves out time spent at a positive nice value (background work that yields its core to ours)."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]  # user nice system idle iowait irq softirq steal guest guest_nice
    busy = sum(vals) - vals[3] - (vals[4] if len(vals) > 4 else 0)  # all but idle and iowait
    if not niced:
        busy -= vals[1]
    t = os.times()
    return busy / ticks, t.user + t.system + (t.children_user + t.children_system if children else 0.0)


def nice_yields() -> bool:
    """Whether other sessions' niced work yields its core to ours: not with Linux's autogroup scheduling, which shares the
    CPU fairly between sessions whatever their nice values (/proc/sys/kernel/sched_autogroup_enabled)."""
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as f:
            return f.read().strip() == "0"
    except OSError:  # no autogroup in this kernel (or not Linux)
        return True


def free_cores(window_s: float = 0.3) -> float:
    """Cores of ours that other processes left idle over the last `window_s` (our own use counts as free). Work at a positive
    nice value counts as free too when the scheduler gives its core to us (`nice_yields`; at nice 19 it keeps about 1.5%)."""
    import time

    cores = available_cores()
    niced = not nice_yields()
    try:
        b0, m0 = cpu_seconds(niced=niced)
        time.sleep(window_s)
        b1, m1 = cpu_seconds(niced=niced)
    except (OSError, ValueError, IndexError):  # not Linux: assume the cores are ours
        return float(cores)
    others = max(0.0, (b1 - b0) - (m1 - m0)) / window_s
    return max(0.0, cores - others)


def auto_threads(processes: int = 1) -> int:
    """Torch threads per process when none are asked for: the cores other work leaves free, split over our processes.

    Intra-op threads wait for each other at every op, so one thread that shares its core with another
    job stalls them all (2 threads on 2 busy cores ran ~8x slower than 1); fewer threads degrade gracefully."""
    return max(1, int(free_cores() + 0.25) // max(1, processes))


def set_torch_threads(n: int | None = None) -> int:
    """Set torch intra-op threads to `n` (default: the cores we were given) and return it."""
    import torch

    n = n or available_cores()
    torch.set_num_threads(n)
    return n


class ThreadRetune:
    """Call it often: every `every_s` seconds (or when forced) it sets torch's threads to the cores other work leaves free.

    For long work (training, and the preparation before it) under the default threads on a CPU; `enabled=False` (threads
    asked for, or a GPU) keeps the count fixed."""

    def __init__(self, threads: int, enabled: bool, processes: int = 1, every_s: float = 60.0):
        import time

        self.threads, self.enabled, self.processes, self.every_s = threads, enabled, processes, every_s
        self._last = time.perf_counter()

    def __call__(self, force: bool = False) -> int:
        """The thread count now (re-checked when due)."""
        import time

        if self.enabled and (force or time.perf_counter() - self._last > self.every_s):
            self.threads = set_torch_threads(auto_threads(self.processes))  # other work may have started or stopped
            self._last = time.perf_counter()
        return self.threads


def pick_device(name: str = "auto") -> "Any":
    """Return a torch.device: 'auto' picks CUDA when present, else CPU."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def device_label(device: "Any") -> str:
    """What trained or ran: 'cpu', or the GPU's name (e.g. 'NVIDIA H200')."""
    import torch

    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


@contextlib.contextmanager
def autocast(device: "Any", enabled: bool = True) -> Iterator[None]:
    """bf16 autocast on CUDA; a no-op on CPU (fp32 there is both faster and exact)."""
    import torch

    if enabled and getattr(device, "type", str(device)) == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield
