"""Where a policy checkpoint lives on disk and how it is found (DESIGN §3).

A checkpoint is a directory of `CHECKPOINT_FILES`; a run directory keeps its checkpoints under
`RUN/checkpoints/<step>/` with `checkpoints/last` pointing at the newest complete one. Loading
only needs this layout, so it lives with the models; writing and resuming are `vlaforge.train.checkpoint`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

from vlaforge.errors import CheckpointError

CHECKPOINT_FILES = ("model.safetensors", "config.json", "normalization.json", "dataset.json")


def checkpoints_dir(run: Path) -> Path:
    """RUN/checkpoints."""
    return Path(run) / "checkpoints"


def latest_checkpoint(run: Path) -> Path:
    """The checkpoint `last` points to (or the newest numbered one)."""
    ck = checkpoints_dir(run)
    last = ck / "last"
    if last.exists():
        return last.resolve()
    steps = sorted(p for p in ck.glob("[0-9]*") if p.is_dir()) if ck.exists() else []
    if not steps:
        raise CheckpointError(f"{run} has no checkpoints (expected {ck}/<step>/); was the run started?")
    return steps[-1]


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint dir, or a run dir (→ its checkpoints/last)."""
    p = Path(path)
    if (p / "checkpoints").exists():
        return latest_checkpoint(p)
    if any((p / f).exists() for f in CHECKPOINT_FILES):
        return p
    raise CheckpointError(f"{p} is neither a checkpoint (model.safetensors) nor a run directory (checkpoints/)")


def run_config(path: str | Path) -> dict[str, Any]:
    """The run config (RUN/config.json: dataset, model, train) of a run dir or of a checkpoint inside one; {} where there is
    none (a bare checkpoint) or it cannot be read."""
    import json

    try:
        cfg = json.loads((resolve_checkpoint(path).parent.parent / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


@contextlib.contextmanager
def weights_errors(path: str | Path) -> Iterator[None]:
    """Inside: a corrupt or truncated model.safetensors of checkpoint/run `path` raises a one-line CheckpointError."""
    from safetensors import SafetensorError

    try:
        yield
    except SafetensorError as e:
        raise CheckpointError(
            f"{path}: model.safetensors is corrupt or truncated ({str(e).splitlines()[0]}); "
            "copy the checkpoint again or point at another one (e.g. an earlier RUN/checkpoints/<step>)"
        ) from None
