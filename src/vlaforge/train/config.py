"""Training configuration: one frozen dataclass, every field settable as `--train.<name> value`."""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to optimize. `batch_size` is per process (global batch = batch_size x processes)."""

    steps: int = 3000
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    lr_floor: float = 0.1  # cosine decays to lr * lr_floor
    grad_clip: float = 1.0
    ema_decay: float = 0.995  # 0 disables EMA
    val_fraction: float = 0.1
    val_every: int = 500
    val_batches: int = 8
    save_every: int = 1000
    log_every: int = 25
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:1
    num_workers: int = 0  # the frame cache makes 0 the fastest on CPU
    threads: int = 0  # torch threads per process; 0 = the cores other work leaves free / processes (re-checked every 250 steps)
    budget_minutes: float = 0.0  # > 0: stop (and shorten the schedule) to fit this wall-clock budget
    augment: str = ""  # online augmentation recipe: a JSON/YAML file or a built-in name ("default"); "" = none
    init: str = ""  # a checkpoint or run dir whose weights start this run (fine-tuning; normalization from this data); "" = fresh

    def __post_init__(self) -> None:
        """Reject values that would crash later or silently train nothing, naming the flag and the fix."""
        from vlaforge.errors import ConfigError

        at_least_1 = ("steps", "batch_size", "val_every", "val_batches", "save_every", "log_every")
        bad = [f"--train.{k} {getattr(self, k)} (must be >= 1)" for k in at_least_1 if getattr(self, k) < 1]
        at_least_0 = ("weight_decay", "warmup_steps", "grad_clip", "num_workers", "threads", "budget_minutes")
        bad += [f"--train.{k} {getattr(self, k)} (must be >= 0)" for k in at_least_0 if not getattr(self, k) >= 0]
        if not (math.isfinite(self.lr) and self.lr > 0):
            bad.append(f"--train.lr {self.lr} (must be a finite number > 0, e.g. 3e-4)")
        if not 0 <= self.ema_decay < 1:
            bad.append(f"--train.ema_decay {self.ema_decay} (must be in [0, 1); 0 disables EMA, 0.995 is typical)")
        if not 0 <= self.lr_floor <= 1:
            bad.append(f"--train.lr_floor {self.lr_floor} (must be in [0, 1], a fraction of --train.lr)")
        if not 0 <= self.val_fraction < 1:
            bad.append(f"--train.val_fraction {self.val_fraction} (must be in [0, 1); 0 disables validation)")
        if bad:
            raise ConfigError("bad training config: " + "; ".join(bad))
