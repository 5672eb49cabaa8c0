"""The real LeRobot reads vlaforge datasets bit-exactly and vlaforge reads LeRobot's (benchmarks/lerobot_interop.py).

Needs LeRobot's own venv (`bash benchmarks/lerobot_env.sh`, or LEROBOT_PYTHON=...); skipped without it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LEROBOT = Path(os.environ.get("LEROBOT_PYTHON", Path.home() / ".cache" / "vlaforge" / "lerobot-0.6.1" / "bin" / "lerobot-python"))


@pytest.fixture(scope="module")
def interop() -> dict:
    if not LEROBOT.exists():
        pytest.skip(f"no LeRobot venv at {LEROBOT}: build it with `bash benchmarks/lerobot_env.sh`")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    p = subprocess.run([str(LEROBOT), str(ROOT / "benchmarks" / "lerobot_interop.py"), "--no-save", "--vlaforge-python", sys.executable],
                       capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout[p.stdout.index("{"):])


def _backend(entry: dict) -> dict:
    ok = [entry[b] for b in ("torchcodec", "pyav") if "error" not in entry[b]]
    assert ok, {b: entry[b].get("error") for b in ("torchcodec", "pyav")}
    return ok[0]


@pytest.mark.parametrize("variant", ["vf_sample", "vf_sample_lossless"])
def test_lerobot_reads_vlaforge_exactly(interop, variant):
    r = _backend(interop[variant])
    assert r["all_exact"] and r["tasks_equal"]
    for cam, p in r["pixels"].items():
        assert p["lerobot_vs_vlaforge"]["max"] == 0 and p["lerobot_vs_vlaforge_getitem"]["max"] == 0, cam
    assert interop[variant]["delta_timestamps_action16"]["ok"]


def test_vlaforge_reads_lerobot_written_fixtures_exactly(interop):
    for name, r in interop["vlaforge_reads_lerobot_fixtures"].items():
        assert r.get("all_exact"), (name, r.get("error"))
        assert all(r["vlaforge_vs_expected_exact"].values()), name
        for cam, p in r["pixels"].items():
            assert p["lerobot_vs_vlaforge"]["max"] == 0, (name, cam)


def test_lerobot_tools_output_opens_in_vlaforge(interop):
    for tool, r in interop["lerobot_tools_on_vlaforge"].items():
        assert r["ok"] and r["vlaforge"]["check_rc"] == 0 and r["vlaforge"]["open_ok"], tool
