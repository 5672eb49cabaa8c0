"""A run resumed after a crash logs each step once: metrics.jsonl/csv are cut back to the checkpoint first."""

import csv
import json

import pytest

from vlaforge.models import PolicyConfig
from vlaforge.train.config import TrainConfig
from vlaforge.train.trainer import RunConfig, train

TINY = PolicyConfig(width=32, depth=1, head_depth=1, n_heads=2, chunk=8, image_tokens=4)


def _cfg(ds):
    return RunConfig(str(ds.root), TINY, TrainConfig(steps=6, batch_size=4, log_every=1, val_every=3, val_batches=1,
                                                     save_every=3, warmup_steps=1, threads=1))


def _steps(run):
    jsonl = [json.loads(l)["step"] for l in (run / "metrics.jsonl").read_text().splitlines()]
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return jsonl, [int(r["step"]) for r in rows]


def test_resume_after_crash_logs_each_step_once(tiny_dataset, tmp_path):
    full = train(_cfg(tiny_dataset), tmp_path / "full", progress=False)

    def crash(row):
        if row["step"] == 5:  # rows 4 and 5 are logged after the step-3 checkpoint, then the run dies
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tiny_dataset), tmp_path / "part", progress=False, on_log=crash)
    with open(tmp_path / "part/metrics.jsonl", "a") as f:
        f.write('{"step": 6, "lo')  # a line torn by the crash
    train(_cfg(tiny_dataset), tmp_path / "part", resume=True, progress=False)
    jsonl, rows = _steps(tmp_path / "part")
    assert jsonl == rows == _steps(full)[0] == [1, 2, 3, 4, 5, 6]
