"""`vlaforge engine annotate DATASET --out NEW` and `vlaforge engine review DATASET --out NEW --accept ...`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EPILOG = """examples:
  vlaforge engine annotate data/teleop --out data/teleop_v2                 segments for every episode, instructions for unlabelled ones
  vlaforge engine annotate data/sim --out data/sim_v2 --suggest all         suggest an instruction for every episode
  vlaforge engine review data/teleop_v2 --out data/teleop_v3 --accept instruction --episodes 0,2-4
  vlaforge engine review data/teleop_v2 --out data/teleop_v3 --reject subtasks --episodes all"""


def add_annotate_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the `annotate` and `review` sub-commands to an `engine` sub-parser group."""
    p = subparsers.add_parser(
        "annotate", help="segment episodes into subtasks and suggest instructions, as pending suggestions in a new version",
        description="Segments every episode into subtasks from its own signals (gripper events, velocity, height, contact, "
        "image change) and suggests an instruction for unlabelled episodes from what moved where (objects named from the "
        "scene where the dataset knows it). Writes a NEW dataset version whose meta/vlaforge.json holds the suggestions "
        "with status 'pending'; instructions and existing subtasks are unchanged until `vlaforge engine review` accepts them.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dataset", type=Path, help="dataset directory (LeRobot v3.0 or v2.1)")
    p.add_argument("--out", type=Path, required=True, help="new dataset directory (data and videos are hard-linked, not copied)")
    p.add_argument("--suggest", choices=("unlabelled", "all", "none"), default="unlabelled",
                   help="episodes that get an instruction suggestion (default: unlabelled, i.e. a placeholder instruction)")
    p.add_argument("--placeholder", action="append", default=[], metavar="TEXT",
                   help="an instruction that means 'unlabelled' (repeatable; added to: unlabelled, unknown, none, todo, n/a, ...)")
    p.add_argument("--no-images", action="store_true", help="do not decode video (no image change, objects not named by color)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=_annotate)

    r = subparsers.add_parser(
        "review", help="accept or reject pending suggestions; writes a new version",
        description="Applies review decisions to the suggestions `vlaforge engine annotate` wrote: an accepted instruction "
        "becomes the episode's task, accepted subtasks become its subtasks. Writes a NEW dataset version; every suggestion "
        "keeps its status (accepted/rejected) for the record.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("dataset", type=Path, help="an annotated dataset directory")
    r.add_argument("--out", type=Path, required=True, help="new dataset directory")
    g = r.add_mutually_exclusive_group(required=True)
    g.add_argument("--accept", choices=("instruction", "subtasks", "both"), help="accept these suggestions")
    g.add_argument("--reject", choices=("instruction", "subtasks", "both"), help="reject these suggestions")
    r.add_argument("--episodes", default="all", help="'all' or a list like 0,3,5-7 (default: all)")
    r.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    r.set_defaults(func=_review)


def _annotate(args: argparse.Namespace) -> int:
    from rich.progress import track

    from vlaforge.engine.annotate.run import PLACEHOLDERS, annotate_dataset
    from vlaforge.errors import DatasetError

    if not (args.dataset / "meta" / "info.json").is_file():
        raise DatasetError(f"{args.dataset} is not a dataset directory (expected meta/info.json inside)")
    from vlaforge.data.reader import open_dataset

    n = open_dataset(args.dataset).num_episodes
    ticks = iter(track(range(n), description=f"annotating {n} episodes", transient=True))
    summary = annotate_dataset(args.dataset, args.out, suggest=args.suggest, placeholders=(*PLACEHOLDERS, *args.placeholder),
                               images=not args.no_images, overwrite=args.overwrite, on_episode=lambda _: next(ticks, None))
    for _ in ticks:
        pass
    print(json.dumps(summary))
    return 0


def _review(args: argparse.Namespace) -> int:
    from vlaforge.data.reader import open_dataset
    from vlaforge.engine.annotate.run import KINDS, parse_decisions, review
    from vlaforge.errors import DatasetError

    ds = open_dataset(args.dataset)
    what = args.accept or args.reject
    kinds = KINDS if what == "both" else (what,)
    decisions = parse_decisions(args.episodes, ds, "accept" if args.accept else "reject", kinds)
    if not decisions:
        raise DatasetError(f"no {'/'.join(kinds)} suggestions in {args.dataset} for episodes {args.episodes}; run `vlaforge engine annotate` first")
    print(json.dumps(review(args.dataset, args.out, decisions, overwrite=args.overwrite)))
    return 0
