"""Run-time choices: background (niced) work does not count as taking our cores."""

import subprocess
import sys
import time
from pathlib import Path

from vlaforge.runtime import cpu_seconds


def test_niced_background_work_is_counted_apart_and_leaves_cores_free():
    spin = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        all0, fg0 = cpu_seconds()[0], cpu_seconds(niced=False)[0]
        time.sleep(1.0)
        all1, fg1 = cpu_seconds()[0], cpu_seconds(niced=False)[0]
    finally:
        spin.kill()
        spin.wait()
    assert (all1 - all0) - (fg1 - fg0) > 0.5  # the spinner's second is niced time, which free_cores leaves out


def test_niced_work_in_another_session_takes_our_cores_when_the_scheduler_shares_by_session():
    """With autogroup scheduling, a niced job in another session still gets its fair share, so free_cores counts it."""
    from vlaforge.runtime import available_cores, free_cores, nice_yields

    spin = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        time.sleep(0.3)
        free = free_cores(window_s=1.0)
    finally:
        spin.kill()
        spin.wait()
    autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled")
    assert nice_yields() == (not autogroup.exists() or autogroup.read_text().strip() == "0")
    if not nice_yields():
        assert free <= available_cores() - 0.5  # the spinner's core is not ours to use


def test_thread_retune_follows_the_free_cores_only_when_due_and_enabled():
    import torch

    from vlaforge.runtime import ThreadRetune, available_cores

    before = torch.get_num_threads()
    try:
        fixed = ThreadRetune(3, enabled=False)
        assert fixed(force=True) == 3 and torch.get_num_threads() == before  # threads asked for: never touched
        torch.set_num_threads(1)
        auto = ThreadRetune(1, enabled=True, every_s=3600)
        assert auto() == 1 and torch.get_num_threads() == 1  # not due yet
        n = auto(force=True)
        assert 1 <= n <= available_cores() and torch.get_num_threads() == n and auto() == n
        due = ThreadRetune(1, enabled=True, every_s=0.0)
        torch.set_num_threads(1)
        assert due() == torch.get_num_threads() >= 1
    finally:
        torch.set_num_threads(before)
