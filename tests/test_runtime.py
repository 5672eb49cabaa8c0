"""Run-time choices: background (niced) work does not count as taking our cores."""

import subprocess
import sys
import time

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
