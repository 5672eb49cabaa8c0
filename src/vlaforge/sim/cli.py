"""`vlaforge sim collect`: expert demonstrations from the built-in tabletop suite."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    """Add the sim sub-commands."""
    sub = parser.add_subparsers(dest="sim_command", metavar="<subcommand>")
    p = sub.add_parser("collect", help="run scripted experts in parallel and write a LeRobot v3.0 dataset")
    p.add_argument("--tasks", default="pick_place", help="family name, comma-separated list, or 'all'")
    p.add_argument("--episodes", type=int, default=10, help="episodes per family")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--split", default="seen", choices=["seen", "heldout-wording", "heldout-combos"])
    p.add_argument("--perturb", default="", help="comma-separated perturbations (move_object, move_bin, grasp_slip, ...)")
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-failures", action="store_true", help="also write episodes where the expert failed")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_collect)


def _collect(args: argparse.Namespace) -> int:
    from vlaforge.sim.collect import collect
    from vlaforge.sim.tasks import FAMILIES

    fams = list(FAMILIES) if args.tasks == "all" else [t for t in args.tasks.split(",") if t]
    perturb = [p for p in args.perturb.split(",") if p]
    collect(args.out, fams, args.episodes, args.workers, args.split, perturb, args.image_size, args.seed,
            args.overwrite, only_success=not args.keep_failures)
    return 0
