"""`vlaforge train`: train a policy on a dataset; `--resume RUN` continues a run exactly."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = """Train a VLA policy on a LeRobot dataset.

Any config field can be set with a flag: --model.<field> VALUE or --train.<field> VALUE
(e.g. --model.head tokens --model.width 256 --train.steps 2000 --train.batch_size 64).
A head's own settings are a nested section: --model.flow.steps 5, --model.tokens.n_bins 128.
Unknown fields are errors that list the valid ones.

examples:
  vlaforge train --dataset outputs/demos --out runs/flow
  vlaforge train --dataset outputs/demos --out runs/chunk --model.head chunk --train.steps 500
  vlaforge train --resume runs/flow                       continue exactly where it stopped
  torchrun --nproc_per_node 2 -m vlaforge train --dataset outputs/demos --out runs/ddp
"""


def fields_help(width: int = 100) -> str:
    """The fields `--model.<field>` and `--train.<field>` can set (head sections nested), as help text."""
    import textwrap

    from vlaforge.config import field_paths
    from vlaforge.models.config import PolicyConfig
    from vlaforge.train.config import TrainConfig

    lines = ["config fields:"]
    for section, cls in (("model", PolicyConfig), ("train", TrainConfig)):
        lines.append(textwrap.fill(", ".join(field_paths(cls)), width, initial_indent=f"  --{section}.<field>: ",
                                   subsequent_indent="      "))
    return "\n".join(lines)


def register(parser: argparse.ArgumentParser) -> None:
    """Add the train options."""
    parser.description = HELP + "\n" + fields_help()
    parser.add_argument("--dataset", type=Path, help="dataset directory (LeRobot v3.0 or v2.1)")
    parser.add_argument("--out", type=Path, help="run directory to create")
    parser.add_argument("--config", type=Path, help="JSON/YAML file with {dataset, model, train} sections")
    parser.add_argument("--resume", type=Path, metavar="RUN", help="continue the run in RUN from its last checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to RUN/metrics.jsonl)")
    parser.set_defaults(func=run, accepts_overrides=True)


def run(args: argparse.Namespace, overrides: list[str]) -> int:
    """Build the run config from file + flags and train."""
    from vlaforge.config import apply_overrides, load_file
    from vlaforge.errors import ConfigError
    from vlaforge.models import PolicyConfig
    from vlaforge.train.config import TrainConfig
    from vlaforge.train.trainer import RunConfig, train

    if args.resume:
        cfg_path = args.resume / "config.json"
        if not cfg_path.exists():
            raise ConfigError(f"{cfg_path} is missing: {args.resume} is not a run directory")
        cfg = RunConfig.from_json(json.loads(cfg_path.read_text()))
        if overrides or args.dataset or args.config:
            raise ConfigError("--resume continues a run exactly as configured; drop the other options")
        out = args.resume
    else:
        if args.config:
            cfg = RunConfig.from_json(load_file(args.config))
        else:
            if args.dataset is None:
                raise ConfigError("--dataset is required (or --config FILE with a dataset field, or --resume RUN)")
            cfg = RunConfig(str(args.dataset), PolicyConfig(), TrainConfig())
        if args.dataset is not None:
            cfg = apply_overrides(cfg, ["dataset", str(args.dataset)])
        cfg = apply_overrides(cfg, overrides)
        if args.out is None:
            raise ConfigError("--out RUN is required")
        out = args.out
    train(cfg, out, resume=bool(args.resume), progress=not args.no_progress)
    print(f"run written to {out} (checkpoint: {out}/checkpoints/last)")
    return 0
