"""`kill -9` at a random step, then `vlaforge train --resume`, ends bit-identical to an uninterrupted run, for every head.

Each run is a fresh process (a new PYTHONHASHSEED, an empty text-embedding cache, RNGs seeded anew), as after a
real crash. The killed process dies by SIGKILL right after logging step K (K drawn at random after the first
checkpoint), so nothing of it is flushed or cleaned up; the resume is the real CLI. The reference runs of all heads
share one process, so embeddings computed in another order (a warm cache) must not change a bit either.
Set VLAFORGE_KILL_SEED to replay a failure: the seed is in every assertion message.
"""

import json
import os
import random
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from vlaforge.models import registry

STEPS, SAVE_EVERY = 30, 4
MODEL = {"width": 32, "depth": 1, "head_depth": 1, "n_heads": 2, "chunk": 8, "image_tokens": 4}
TRAIN = {"steps": STEPS, "batch_size": 4, "log_every": 1, "val_every": 8, "val_batches": 1, "save_every": SAVE_EVERY,
         "warmup_steps": 3, "threads": 1, "device": "cpu"}  # EMA (0.995), warmup + cosine and validation all on
TIMING = ("samples_per_s", "elapsed_s", "other_cores")  # the only fields of a metrics row allowed to differ

# Child processes. The reference trains every head in turn; the victim SIGKILLs itself once step K is logged.
REFERENCE = """
import json, sys
from vlaforge.train.trainer import RunConfig, train
for cfg, out in json.loads(sys.argv[1]):
    train(RunConfig.from_json(cfg), out, progress=False)
"""
VICTIM = """
import json, os, signal, sys
from vlaforge.train.trainer import RunConfig, train
cfg, out, kill_at = json.loads(sys.argv[1])
def die(row):
    if row["step"] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
train(RunConfig.from_json(cfg), out, progress=False, on_log=die)
raise SystemExit("not killed")
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}  # every process hashes strings differently
    return {**env, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "MUJOCO_GL": "egl"}


def _python(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=_env(), timeout=300)


def _run_cfg(ds_root, head: str) -> dict:
    return {"dataset": str(ds_root), "model": {**MODEL, "head": head}, "train": TRAIN}


@pytest.fixture(scope="module")
def reference_runs(tiny_dataset, tmp_path_factory):
    """head → run directory of the uninterrupted run, all trained in one process."""
    root = tmp_path_factory.mktemp("reference")
    runs = {h: root / h for h in registry.names("head")}
    out = _python("-c", REFERENCE, json.dumps([[_run_cfg(tiny_dataset.root, h), str(d)] for h, d in runs.items()]))
    assert out.returncode == 0, out.stderr[-3000:]
    return runs


def _rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _tensors(run):
    """Everything the last checkpoint holds as tensors: EMA weights, raw weights, optimizer moments, RNG states."""
    ck = run / "checkpoints" / "last"
    return {**{f"ema/{k}": v for k, v in load_file(str(ck / "model.safetensors")).items()},
            **load_file(str(ck / "train_state.safetensors"))}


def _state_json(run):
    """The non-tensor resume state (step, epoch, scheduler, python's RNG...) without the wall-clock time."""
    state = json.loads((run / "checkpoints" / "last" / "train_state.json").read_text())
    state.pop("elapsed_s")
    return state


@pytest.mark.slow
@pytest.mark.parametrize("head", registry.names("head"))
def test_kill_9_then_resume_is_bit_exact(head, reference_runs, tiny_dataset, tmp_path):
    seed = int(os.environ.get("VLAFORGE_KILL_SEED", random.SystemRandom().randrange(2**32)))
    kill_at = random.Random(seed).randint(SAVE_EVERY + 1, STEPS - 1)  # after the first checkpoint, before the end
    why = f"head {head}, killed after step {kill_at} (VLAFORGE_KILL_SEED={seed})"
    run = tmp_path / "run"

    victim = _python("-c", VICTIM, json.dumps([_run_cfg(tiny_dataset.root, head), str(run), kill_at]))
    assert victim.returncode == -9, f"{why}: the victim was not killed: {victim.stderr[-2000:]}"
    saved = (kill_at - 1) // SAVE_EVERY * SAVE_EVERY  # step K is logged before its own checkpoint would be written
    assert (run / "checkpoints" / "last").resolve().name == f"{saved:06d}", why
    assert _rows(run)[-1]["step"] == kill_at, why

    resumed = _python("-m", "vlaforge", "train", "--resume", str(run), "--no-progress")
    assert resumed.returncode == 0, f"{why}: {resumed.stderr[-3000:]}"

    want, got = _tensors(reference_runs[head]), _tensors(run)
    assert sorted(want) == sorted(got), why
    differ = [k for k in want if not (want[k].dtype == got[k].dtype and want[k].shape == got[k].shape and bool((want[k] == got[k]).all()))]
    assert not differ, f"{why}: {len(differ)} tensors differ, e.g. {differ[:5]}"

    assert _state_json(run) == _state_json(reference_runs[head]), f"{why}: train_state.json differs (step, epoch, scheduler, python RNG...)"

    rows, ref_rows = _rows(run), _rows(reference_runs[head])
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1)), f"{why}: steps logged {[r['step'] for r in rows]}"
    strip = [{k: v for k, v in r.items() if k not in TIMING} for r in rows]
    assert strip == [{k: v for k, v in r.items() if k not in TIMING} for r in ref_rows], f"{why}: logged metrics differ"
