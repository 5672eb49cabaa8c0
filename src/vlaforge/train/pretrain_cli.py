"""`vlaforge pretrain grounding`: stage 1, the grounding module alone on labelled sim frames, in one command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# Seeds of the frames the shipped weights learn from: far from `sim collect`'s defaults (0, 1, ...) and from
# evaluation's (1,000,000 and up), so neither demos nor evaluation episodes are ever pretraining frames.
PRETRAIN_SEED = 5_000_000
HELDOUT_SEED = 6_000_000

EPILOG = """examples:
  vlaforge pretrain grounding --out outputs/grounding                  collect sim frames, then train (~40 min on 2 cores)
  vlaforge pretrain grounding --dataset outputs/demo/data --out g      train on an existing labelled dataset
  vlaforge train --dataset D --out RUN --model.grounding_init g/grounding.safetensors
  vlaforge pretrain grounding --dataset D --out g4 --slots moves --init pretrained --budget-minutes 22
                                                                       every move's keypoints (two-move tasks), from the shipped weights
  vlaforge train --dataset D --out RUN --model.grounding_slots moves --model.grounding_init g4/grounding.safetensors

The shipped weights (vlaforge/models/pretrained/grounding.safetensors) were made by
  vlaforge pretrain grounding --out outputs/grounding
  cp outputs/grounding/grounding.* src/vlaforge/models/pretrained/
(the exact arguments, seed, metrics and time are in grounding.json beside them)."""


def register(parser: argparse.ArgumentParser) -> None:
    """Add the pretrain sub-commands."""
    sub = parser.add_subparsers(dest="pretrain_command", metavar="<subcommand>")
    p = sub.add_parser("grounding", help="train the grounding module (find the named object and its goal) on sim frames",
                       description="Stage 1: train the grounding module alone on frames labelled by the simulator; "
                                   "writes grounding.safetensors + grounding.json (recipe, seed, metrics, minutes).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="directory for grounding.safetensors, grounding.json (and the collected data)")
    p.add_argument("--dataset", type=Path, help="a labelled dataset (from `vlaforge sim collect`); default: collect one into OUT/data")
    p.add_argument("--tasks", default="all", help="families to collect when no --dataset is given")
    p.add_argument("--episodes", type=int, default=300, help="episodes per family to collect when no --dataset is given")
    p.add_argument("--camera", default="front", help="camera the grounding module looks at")
    p.add_argument("--steps", type=int, default=20000, help="optimizer steps (an upper bound with --budget-minutes)")
    p.add_argument("--budget-minutes", type=float, default=35.0, help="> 0: fit the schedule to this many minutes of training (the shipped weights: 35)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--width", type=int, default=32, help="channels of the stride-4 features (policies must use the same --model.grounding_width)")
    p.add_argument("--augment", default="fixed_camera", help="augmentation recipe without geometric steps ('' for none)")
    p.add_argument("--slots", default="current", choices=["current", "moves"],
                   help="keypoints: the move under way's object and goal (current), or each move's for the whole episode (moves; "
                        "policies must use the same --model.grounding_slots)")
    p.add_argument("--init", default="", help="start from grounding weights: 'pretrained' (shipped) or a grounding.safetensors path")
    p.add_argument("--eval-dataset", type=Path, action="append", default=[], help="extra labelled dataset to score (repeatable)")
    p.add_argument("--workers", type=int, default=2, help="collection processes")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_grounding)


def _grounding(args: argparse.Namespace) -> int:
    from vlaforge.sim.collect import collect
    from vlaforge.train.pretrain import pretrain_grounding

    evals = [str(p) for p in args.eval_dataset]
    opts = {k: v for k, v in vars(args).items() if k not in ("command", "pretrain_command", "func") and v not in (None, [])}
    flags = " ".join(f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in opts.items())
    meta: dict = {"command": f"vlaforge pretrain grounding {flags}"}
    data = args.dataset
    if data is None:
        from vlaforge.sim.tasks import parse_families

        fams = parse_families(args.tasks)
        data = args.out / "data"
        meta["collect"] = collect(data, fams, args.episodes, args.workers, perturb=["all"], one_each=True, perturb_fraction=0.25,
                                  seed=PRETRAIN_SEED + args.seed, overwrite=True)
        for split in ("heldout-combos", "val-wording"):  # scored while training; the test wording is left for evaluation
            collect(args.out / split, fams, max(10, args.episodes // 10), args.workers, split=split, seed=HELDOUT_SEED + args.seed,
                    overwrite=True)
            evals.append(str(args.out / split))
    recipe = pretrain_grounding(data, args.out, camera=args.camera, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                width=args.width, budget_minutes=args.budget_minutes, eval_datasets=evals, seed=args.seed, meta=meta,
                                augment=args.augment, slots=args.slots, init=args.init)
    print(json.dumps({"out": str(args.out), "minutes": recipe["minutes"], "steps": recipe["steps"], **recipe["final"]}))
    return 0
