"""`vlaforge sim collect|play`: expert demonstrations (tabletop or Meta-World) and captioned rollout videos."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vlaforge.jobs import add_arguments as add_backend_arguments
from vlaforge.jobs import from_args as backend_from_args

SPLITS = ("seen", "heldout-wording", "heldout-combos", "val-wording")  # mirrors tasks.SPLITS without importing the sim at --help


def register(parser: argparse.ArgumentParser) -> None:
    """Add the sim sub-commands."""
    sub = parser.add_subparsers(dest="sim_command", metavar="<subcommand>")
    p = sub.add_parser("collect", help="run scripted experts in parallel and write a LeRobot v3.0 dataset",
                       description="Run scripted experts in parallel processes; write a LeRobot v3.0 dataset with subtask "
                                   "annotations and per-episode success flags.")
    p.add_argument("--suite", default="tabletop",
                   help="tabletop (default), metaworld-mt10, metaworld-mt50 or metaworld:TASK[,TASK] (needs pip install -e '.[metaworld]')")
    p.add_argument("--tasks", default=None, help="tabletop: family, comma-separated families, or 'all' (pick_place, push, stack, put_all, "
                                                 "sequence; default pick_place). Meta-World: 'all' (default), a difficulty group "
                                                 "(easy, medium, hard, very_hard) or task names, within --suite")
    p.add_argument("--episodes", type=int, default=10, help="episodes per family or task (seeds --seed, --seed+1, ...)")
    p.add_argument("--out", type=Path, required=True, help="dataset directory to create")
    p.add_argument("--workers", type=int, default=2, help="worker processes (one core each), local or on Ray (--backend)")
    p.add_argument("--split", default="seen", choices=SPLITS, help="Meta-World has seen and heldout-wording only")
    p.add_argument("--perturb", default="", help="comma-separated perturbations, NAME[@after_grasp|@STEP], or 'all' (tabletop only)")
    p.add_argument("--one-each", action="store_true", help="give each episode one of the --perturb list in turn, not all of them")
    p.add_argument("--perturb-fraction", type=float, default=1.0, help="share of episodes (evenly spread) that get perturbations")
    p.add_argument("--action-noise", type=float, default=0.0, metavar="M",
                   help="tabletop: Gaussian noise (std in metres per axis) added to the arm actions the env executes, not to "
                        "the recorded ones (DART-style: the closed-loop expert's corrections become data); default 0")
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-failures", action="store_true", help="also write episodes where the expert failed (flagged success=false)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    add_backend_arguments(p)
    p.set_defaults(func=_collect)

    q = sub.add_parser("play", help="render one expert episode to an mp4 with the instruction and subtask drawn on it")
    q.add_argument("--task", default="pick_place", help="task family")
    q.add_argument("--out", type=Path, required=True, help="video path (.mp4)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--size", type=int, default=256, help="camera image size in pixels")
    q.add_argument("--split", default="seen", choices=SPLITS)
    q.add_argument("--perturb", default="", help="comma-separated perturbations or 'all'")
    q.add_argument("--instruction", default=None, help="override the instruction text")
    q.add_argument("--camera", default="front", choices=["front", "wrist"])
    q.set_defaults(func=_play)


def _collect(args: argparse.Namespace) -> int:
    if args.suite != "tabletop":
        return _collect_metaworld(args)
    from vlaforge.sim.collect import all_families, collect

    tasks = args.tasks or "pick_place"
    fams = all_families() if tasks == "all" else [t for t in tasks.split(",") if t]
    summary = collect(args.out, fams, args.episodes, args.workers, args.split, args.perturb, args.image_size, args.seed,
                      args.overwrite, only_success=not args.keep_failures, one_each=args.one_each,
                      perturb_fraction=args.perturb_fraction, backend=backend_from_args(args), action_noise=args.action_noise)
    print(json.dumps(summary))
    return 0


def _collect_metaworld(args: argparse.Namespace) -> int:
    from vlaforge.errors import ConfigError
    from vlaforge.sim.metaworld.tasks import is_metaworld_suite, select_tasks

    if not is_metaworld_suite(args.suite):
        raise ConfigError(f"unknown suite {args.suite!r}; choose from tabletop, metaworld-mt10, metaworld-mt50, metaworld:TASK")
    tabletop_only = {"--perturb": args.perturb, "--one-each": args.one_each, "--perturb-fraction": args.perturb_fraction != 1.0,
                     "--action-noise": args.action_noise}
    used = [k for k, v in tabletop_only.items() if v]
    if used:
        raise ConfigError(f"{', '.join(used)} {'applies' if len(used) == 1 else 'apply'} to the tabletop suite only (Meta-World collection has no perturbations and no "
                          "action noise); drop them, or collect with --suite tabletop")
    from vlaforge.sim.metaworld.collect import collect

    summary = collect(args.out, select_tasks(args.suite, args.tasks), args.episodes, args.workers, args.split, args.image_size,
                      args.seed, args.overwrite, only_success=not args.keep_failures, suite=args.suite, backend=backend_from_args(args))
    print(json.dumps(summary))
    return 0


def _play(args: argparse.Namespace) -> int:
    from vlaforge.sim.play import play

    res = play(args.task, args.out, seed=args.seed, size=args.size, split=args.split, perturb=args.perturb,
               instruction=args.instruction, camera=args.camera)
    print(json.dumps({k: v for k, v in res.items() if k != "events"} | {"events": [e["name"] for e in res["events"]]}))
    return 0
