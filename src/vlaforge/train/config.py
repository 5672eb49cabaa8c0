"""Training configuration: one frozen dataclass, every field settable as `--train.<name> value`."""

from __future__ import annotations

import dataclasses


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
