"""Checkpoint directories (DESIGN §3) and exact resume.

RUN/
  config.json                 the full resolved run config
  metrics.jsonl, metrics.csv  one row per logged step
  checkpoints/000500/         model.safetensors (EMA weights), config.json, normalization.json,
                              dataset.json, train_state.safetensors + train_state.json (raw weights,
                              optimizer, scheduler, step, RNG; see `state_io`, never pickle)
  checkpoints/last -> 000500  symlink to the newest complete checkpoint
Each checkpoint is written to a staging dir and swapped in (`vlaforge.io.staging_dir`), and `last`
is swapped atomically, so a crash never leaves `last` pointing at a half-written checkpoint. The
layout itself (finding `last`, the checkpoint files) is `vlaforge.models.checkpoint`: loading needs it.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlaforge.errors import CheckpointError
from vlaforge.io import staging_dir
from vlaforge.models.checkpoint import checkpoints_dir, latest_checkpoint, weights_errors  # noqa: F401  (the layout lives in models)
from vlaforge.train import state_io

LEGACY_STATE = "train_state.pt"


def write_checkpoint(run: Path, step: int, save_model: Any, train_state: dict[str, Any] | None) -> Path:
    """Write checkpoint `step` atomically: `save_model(dir)` writes the policy files; then update `last`."""
    ck = checkpoints_dir(run)
    ck.mkdir(parents=True, exist_ok=True)
    final = ck / f"{step:06d}"
    with staging_dir(final) as tmp:
        save_model(tmp)
        if train_state is not None:
            state_io.save_state(train_state, tmp)
    link = ck / f".last.{os.getpid()}"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(final.name, link)
    os.replace(link, ck / "last")
    return final


def seed_all(seed: int) -> None:
    """Seed every RNG that `rng_state` saves (torch, numpy's and python's global ones), so a fresh run is reproducible."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG the training loop draws from."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` saved."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_train_state(checkpoint: Path) -> dict[str, Any]:
    """The resume state of a checkpoint (for --resume); a pickled train_state.pt is refused, never opened."""
    checkpoint = Path(checkpoint)
    legacy, path = checkpoint / LEGACY_STATE, checkpoint / state_io.JSON_NAME
    if legacy.exists() or legacy.is_symlink():
        if path.exists():
            raise CheckpointError(f"{legacy} is a pickle file and is never loaded (unpickling can run code); delete it to resume from {checkpoint}")
        raise CheckpointError(f"{legacy} is a pickle train state from an older vlaforge and is never loaded (unpickling can run code); start a new run, this checkpoint cannot be resumed")
    if not path.exists():
        raise CheckpointError(f"{path} is missing: this checkpoint cannot be resumed (it may be an export or EMA-only copy)")
    return state_io.load_state(checkpoint)


def init_weights(policy: torch.nn.Module, source: str | Path) -> Path:
    """Start `policy` from the weights of a checkpoint or run dir (fine-tuning); its normalizer keeps this run's stats.

    A policy that grounds every move (`--model.grounding_slots moves`) may start from one that grounds the current move:
    it keeps its own grounding module (from `--model.grounding_init`) and each move's keypoint tokens start as the
    current move's."""
    from safetensors.torch import load_file

    from vlaforge.models.policy import resolve_checkpoint

    d = resolve_checkpoint(source)
    if not (d / "model.safetensors").exists():
        raise CheckpointError(f"--train.init {source}: {d} has no model.safetensors")
    state = {k: v for k, v in load_file(str(d / "model.safetensors")).items() if not k.startswith("normalizer.")}
    own = policy.state_dict()
    if "kp_emb" in state and "kp_emb" in own and len(own["kp_emb"]) == 2 * len(state["kp_emb"]) and "grounding.slot" in own:
        state = {k: v for k, v in state.items() if not k.startswith("grounding.")} | {k: v for k, v in own.items() if k.startswith("grounding.")}
        state["kp_emb"] = state["kp_emb"].repeat(2, 1)
    try:
        missing, unexpected = policy.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise CheckpointError(f"--train.init {d} does not fit this model config (sizes differ): {str(e).splitlines()[1:2]}") from None
    missing = [k for k in missing if not k.startswith("normalizer.")]
    if missing or unexpected:
        raise CheckpointError(f"--train.init {d} does not fit this model config: missing {missing[:5]}, unexpected {unexpected[:5]}; "
                              "fine-tune with the model config the checkpoint was trained with")
    return d


def init_recipe_notes(source: str | Path, batch_size: int, lr: float) -> list[str]:
    """What a `--train.init` continuation changes from the run that wrote its weights (batch size, peak LR), one line each.

    A continuation takes this run's recipe, not the init run's: `vlaforge train`'s default batch (32) silently halves a
    `vlaforge demo` run's (64), and the schedule restarts its warmup and cosine at `--train.lr`. Empty when the init is a
    bare checkpoint (no run config beside it) or nothing differs.
    """
    from vlaforge.models.checkpoint import run_config

    theirs = run_config(source).get("train")
    if not isinstance(theirs, dict):
        return []
    notes = []
    if isinstance(theirs.get("batch_size"), int) and theirs["batch_size"] != batch_size:
        notes.append(f"--train.init {source} was trained at batch {theirs['batch_size']}; this run uses {batch_size} "
                     f"(--train.batch_size {theirs['batch_size']} keeps its recipe)")
    if isinstance(theirs.get("lr"), (int, float)) and theirs["lr"] != lr:
        notes.append(f"--train.init {source} peaked at lr {theirs['lr']:g}; this run warms up to {lr:g} and decays from there")
    return notes

