"""`vlaforge data ...`: sample, info, check, convert, restats."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    """Add the data sub-commands."""
    sub = parser.add_subparsers(dest="data_command", metavar="<subcommand>")

    p = sub.add_parser("sample", help="write a small generated dataset (two cameras, moving colored blocks)")
    p.add_argument("--out", required=True, type=Path, help="output dataset directory")
    p.add_argument("--episodes", type=int, default=6, help="number of episodes (default 6)")
    p.add_argument("--length", type=int, default=40, help="frames per episode (default 40)")
    p.add_argument("--fps", type=int, default=20)
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--lossless", action="store_true", help="encode video losslessly (larger files, exact pixels)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
    p.set_defaults(func=_sample)

    p = sub.add_parser("info", help="print a readable summary: episodes, frames, duration, fps, cameras, tasks, size")
    p.add_argument("path", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_info)

    p = sub.add_parser(
        "check",
        help="validate a dataset; exit 1 and list every problem (file, field) if any",
        description="Checks files present/referenced, schema and shapes against meta/info.json, NaN/inf, timestamps "
        "(monotonic, on the fps grid), index gaps, video length vs data, stats present and fresh, fingerprint.",
    )
    p.add_argument("path", type=Path)
    p.add_argument("--quick", action="store_true", help="skip the statistics check")
    p.set_defaults(func=_check)

    p = sub.add_parser("convert", help="convert a LeRobot v2.1 dataset (one parquet + mp4 per episode) to v3.0")
    p.add_argument("src", type=Path, help="v2.1 dataset directory")
    p.add_argument("--out", required=True, type=Path, help="where to write the v3.0 dataset")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_convert)

    p = sub.add_parser("restats", help="recompute meta/stats.json and per-episode stats from the data (new version, atomic)")
    p.add_argument("path", type=Path)
    p.set_defaults(func=_restats)


def _sample(args: argparse.Namespace) -> int:
    from vlaforge.data.sample import make_sample_dataset
    from vlaforge.data.video import VideoConfig

    video = VideoConfig.lossless() if args.lossless else None
    make_sample_dataset(args.out, args.episodes, args.length, args.fps, args.image_size, video=video, overwrite=args.overwrite)
    print(f"wrote {args.episodes} episodes to {args.out}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from vlaforge.data.reader import open_dataset

    s = open_dataset(args.path).summary()
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    t = Table(title=f"dataset {s['path']}", show_header=False)
    t.add_row("layout", f"LeRobot {s['layout']}")
    t.add_row("episodes", str(s["episodes"]))
    t.add_row("frames", f"{s['frames']} ({s['duration_s']:.1f} s at {s['fps']} fps)")
    t.add_row("cameras", ", ".join(f"{k.split('.')[-1]} {v[1]}x{v[0]}" for k, v in s["cameras"].items()) or "none")
    for k, f in s["features"].items():
        if f["names"]:
            t.add_row(k, f"{f['dtype']} {f['shape']} {f['names']}")
    t.add_row("tasks", f"{len(s['tasks'])}: " + "; ".join(s["tasks"][:5]) + (" ..." if len(s["tasks"]) > 5 else ""))
    t.add_row("size on disk", f"{s['size_mb']:.2f} MB")
    t.add_row("fingerprint", s["fingerprint"] or "(not written by vlaforge)")
    Console().print(t)
    return 0


def _check(args: argparse.Namespace) -> int:
    from vlaforge.data.validate import check_dataset

    problems = check_dataset(args.path, deep=not args.quick)
    if not problems:
        print(f"ok: {args.path} is a valid LeRobot dataset")
        return 0
    print(f"{len(problems)} problem(s) in {args.path}:")
    for p in problems:
        print(f"  - {p}")
    return 1


def _convert(args: argparse.Namespace) -> int:
    from vlaforge.data.legacy import convert_v21_to_v30

    out = convert_v21_to_v30(args.src, args.out, overwrite=args.overwrite)
    print(f"converted {args.src} -> {out} (LeRobot v3.0)")
    return 0


def _restats(args: argparse.Namespace) -> int:
    from vlaforge.data.edit import recompute_stats

    recompute_stats(args.path)
    print(f"recomputed statistics of {args.path}")
    return 0
