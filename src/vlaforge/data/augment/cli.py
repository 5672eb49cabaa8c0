"""`vlaforge engine augment DATASET --recipe FILE --out NEW` (offline) and `... --preview --out DIR` (gallery)."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """examples:
  vlaforge engine augment data/sim --out data/sim_aug                       default recipe, 1 copy per episode
  vlaforge engine augment data/sim --recipe my.yaml --copies 3 --out data/sim_x4
  vlaforge engine augment data/sim --preview --out reports/augment          gallery.png + gallery.html
  vlaforge engine augment --list                                            every augmentation and its parameters
  vlaforge train --dataset data/sim --out runs/aug --train.augment default  the same recipes, online"""


def add_augment_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `augment` sub-command to an `engine` sub-parser group."""
    p = subparsers.add_parser(
        "augment", help="time-consistent, action-aware augmentation: write augmented copies, or --preview a gallery",
        description="Augments whole episodes with parameters drawn once per episode (the same on every frame and camera). "
        "Flips mirror the lateral action/state axes and swap left/right in the instruction; transforms with no consistent "
        "action change are refused with the reason. Writes a new dataset version (lineage in meta/vlaforge.json).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dataset", type=Path, nargs="?", help="dataset directory (LeRobot v3.0 or v2.1)")
    p.add_argument("--out", type=Path, help="new dataset directory (or, with --preview, the gallery directory)")
    p.add_argument("--recipe", default="default", help="JSON/YAML recipe file or a built-in name: default, photometric (default: default)")
    p.add_argument("--copies", type=int, default=1, help="augmented copies of each episode (default 1)")
    p.add_argument("--no-originals", action="store_true", help="write only the augmented copies, not the source episodes")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-episode parameter draws")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--preview", action="store_true", help="render every augmentation on real frames to OUT/gallery.png + OUT/gallery.html")
    p.add_argument("--episode", type=int, default=None, help="episode shown by --preview (default: the first)")
    p.add_argument("--times", type=int, default=3, help="frames per camera shown by --preview (default 3)")
    p.add_argument("--camera", action="append", default=[], help="camera shown by --preview, e.g. front (repeatable; default: all)")
    p.add_argument("--columns", type=int, default=2, help="augmentations per row of the --preview gallery (default 2)")
    p.add_argument("--list", action="store_true", help="list the registered augmentations and their parameters")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_augment_cli)
    return p


def list_augmentations() -> list[tuple[str, str, str, str]]:
    """(name, kind, one-line doc, default parameters) of every registered augmentation."""
    import dataclasses

    from vlaforge.data.augment.base import get, registered

    rows = []
    for name in registered():
        cls = get(name)
        params = ", ".join(f"{f.name}={getattr(cls.Params(), f.name)}" for f in dataclasses.fields(cls.Params))
        rows.append((name, cls.kind, (cls.__doc__ or "").strip().splitlines()[0], params or "-"))
    return rows


def run_augment_cli(args: argparse.Namespace) -> int:
    """Run `engine augment` for parsed `args`; returns the exit code."""
    from rich.console import Console
    from rich.table import Table

    from vlaforge.errors import ConfigError, DatasetError

    con = Console()
    if args.list:
        t = Table(show_header=True, header_style="bold")
        for h in ("name", "kind", "what it does", "parameters (defaults)"):
            t.add_column(h, overflow="fold")
        for row in list_augmentations():
            t.add_row(*row)
        con.print(t)
        return 0
    if args.dataset is None or args.out is None:
        raise ConfigError("engine augment needs DATASET and --out (or --list)")
    if not args.dataset.is_dir():
        raise DatasetError(f"{args.dataset} is not a dataset directory (expected meta/info.json inside)")
    if args.preview:
        from vlaforge.data.augment.preview import write_preview

        png, page = write_preview(args.dataset, args.out, episode=args.episode, times=args.times, seed=args.seed,
                                  cols=args.columns, cameras=args.camera)
        con.print(f"wrote {png} and {page}")
        return 0
    from vlaforge.data.reader import open_dataset
    from vlaforge.data.augment.offline import augment_dataset

    out = augment_dataset(args.dataset, args.out, recipe=args.recipe, copies=args.copies, keep_original=not args.no_originals,
                          seed=args.seed, overwrite=args.overwrite, progress=not args.no_progress)
    ds = open_dataset(out)
    con.print(f"wrote {out}: {ds.num_episodes} episodes, {ds.num_frames} frames (version {ds.lineage.get('version')}, "
              f"recipe {args.recipe}, {args.copies} augmented cop{'y' if args.copies == 1 else 'ies'} per episode)")
    return 0
