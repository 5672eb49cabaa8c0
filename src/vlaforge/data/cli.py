"""`vlaforge data ...`: sample, info, check, convert, import, edit, restats, cache."""

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
        "(monotonic, on the fps grid), index gaps, video length vs data, video frames decode (a sample; --deep: all), "
        "stats present and fresh, fingerprint.",
    )
    p.add_argument("path", type=Path)
    p.add_argument("--quick", action="store_true", help="skip the statistics check")
    p.add_argument("--deep", action="store_true", help="decode every video frame (default: first, last and a seeded sample per file)")
    p.set_defaults(func=_check)

    p = sub.add_parser("convert", help="convert a LeRobot v2.1 dataset (one parquet + mp4 per episode) to v3.0")
    p.add_argument("src", type=Path, help="v2.1 dataset directory")
    p.add_argument("--out", required=True, type=Path, help="where to write the v3.0 dataset")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_convert)

    _register_import(sub)
    _register_edit(sub)

    p = sub.add_parser("restats", help="recompute meta/stats.json and per-episode stats from the data (new version, atomic)")
    p.add_argument("path", type=Path)
    p.set_defaults(func=_restats)

    p = sub.add_parser(
        "cache",
        help="list the decoded-frame caches training builds (size, dataset, state); --prune or --clear frees the disk",
        description="Training decodes every camera frame of a dataset once into a cache ($VLAFORGE_CACHE/frames, default "
        "~/.cache/vlaforge/frames). A cache is current while its dataset's files are unchanged, superseded once they "
        "change, orphaned once the dataset is gone; superseded and orphaned caches are never read again and are pruned "
        "before each new build. Any cache is safe to delete: it is rebuilt on the next training run.",
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument("--prune", action="store_true", help="remove superseded and orphaned caches")
    how.add_argument("--clear", action="store_true", help="remove every cache")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_cache)


def _register_import(sub: argparse._SubParsersAction) -> None:
    from vlaforge.data import importers

    formats = "\n".join(f"  {n:<10} {importers.get(n).description}" for n in importers.names())
    p = sub.add_parser(
        "import",
        help="import a foreign dataset (robomimic/LIBERO HDF5, RLDS/Open X-Embodiment TFRecord) as LeRobot v3.0",
        description="Convert a dataset in another format to LeRobot v3.0 (parquet + mp4), atomically. The source, the "
        "converter and its version, and the options are recorded in meta/vlaforge.json; each episode's flags name the "
        "source episode it came from. Malformed input stops the import with the file and field at fault.",
        epilog=f"formats:\n{formats}\n\nexample:\n  vlaforge data import --format robomimic lift_image.hdf5 outputs/lift",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("src", type=Path, help="source file or directory")
    p.add_argument("out", type=Path, nargs="?", help="where to write the v3.0 dataset (or --out)")
    p.add_argument("--out", dest="out_flag", type=Path, metavar="OUT", help=argparse.SUPPRESS)
    p.add_argument("--format", default="auto", choices=["auto", *importers.names()], help="source format (default: auto-detect)")
    p.add_argument("--fps", type=int, help="control rate, for sources that do not record it (RLDS)")
    p.add_argument("--task", help="instruction for episodes whose source has none (never overrides the source's)")
    p.add_argument("--max-episodes", type=int, help="stop after this many episodes")
    p.add_argument("--cameras", type=_str_list, help="camera names to keep, comma-separated (default: every RGB camera)")
    p.add_argument("--state-keys", type=_str_list, help="source keys concatenated into observation.state, in order")
    p.add_argument("--action-keys", type=_str_list, help="RLDS: step keys concatenated into action, e.g. action/world_vector,action/rotation_delta")
    p.add_argument("--image-transform", choices=["none", "flip-vertical", "rotate-180"], default="none",
                   help="applied to every frame (LIBERO's raw frames are upside down: rotate-180 matches the common LIBERO ports)")
    p.add_argument("--filter-key", help="robomimic: only the demos listed in mask/<KEY> (e.g. train, valid)")
    p.add_argument("--split", help="RLDS: only shards of this split (NAME-SPLIT.tfrecord-*)")
    p.add_argument("--lossless", action="store_true", help="encode video losslessly (larger files, exact pixels)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset at OUT")
    p.set_defaults(func=_import)


def _str_list(text: str) -> tuple[str, ...]:
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    if not items:
        raise argparse.ArgumentTypeError("expected comma-separated names")
    return items


def _import(args: argparse.Namespace) -> int:
    from vlaforge.data.importers._base import ImportOptions
    from vlaforge.data.importers._run import import_dataset
    from vlaforge.data.reader import open_dataset
    from vlaforge.data.video import VideoConfig
    from vlaforge.errors import ConfigError

    if (args.out is None) == (args.out_flag is None):
        raise ConfigError("give the output directory once: `vlaforge data import SRC OUT` (or --out OUT)")
    out = args.out or args.out_flag
    opts = ImportOptions(
        fps=args.fps, task=args.task, max_episodes=args.max_episodes, cameras=args.cameras, state_keys=args.state_keys,
        action_keys=args.action_keys, image_transform=args.image_transform, filter_key=args.filter_key, split=args.split,
    )
    video = VideoConfig.lossless() if args.lossless else None
    import_dataset(args.src, out, args.format, opts, overwrite=args.overwrite, video=video, log=lambda m: print(f"  {m}"))
    ds = open_dataset(out)
    op = ds.lineage.get("operation", {})
    print(f"imported {args.src} ({op.get('format')}) -> {out}: {ds.num_episodes} episodes, {ds.num_frames} frames at {ds.fps} fps, "
          f"{len(ds.tasks)} task(s); check it with `vlaforge data check {out}`")
    return 0


def _register_edit(sub: argparse._SubParsersAction) -> None:
    edit = sub.add_parser(
        "edit",
        help="derive a new dataset version: filter, split, merge, relabel, trim-idle, subsample",
        description="Each edit writes a new dataset atomically (--out may equal the source to replace it) and records "
        "the parent fingerprint and the operation in meta/vlaforge.json.",
    )
    ops = edit.add_subparsers(dest="edit_command", metavar="<edit>")

    def op(name: str, help_: str) -> argparse.ArgumentParser:
        p = ops.add_parser(name, help=help_, description=help_)
        p.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")
        p.set_defaults(func=_edit, edit=name)
        return p

    p = op("filter", "keep episodes matching every condition given")
    p.add_argument("src", type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--task", action="append", dest="tasks", help="keep this task (repeatable)")
    p.add_argument("--drop-task", action="append", dest="drop_tasks", help="drop this task (repeatable)")
    p.add_argument("--min-length", type=int)
    p.add_argument("--max-length", type=int)
    p.add_argument("--success", choices=["true", "false"], help="keep only successful / failed episodes (flags.success)")
    p.add_argument("--flag", action="append", default=[], metavar="KEY=VALUE", help="keep episodes whose flag KEY equals VALUE (JSON value)")
    p.add_argument("--episodes", type=_int_list, help="keep these episode indices, e.g. 0,3,5")
    p.add_argument("--drop-episodes", type=_int_list, help="drop these episode indices")

    p = op("split", "episode-aware split into OUT/train and OUT/val")
    p.add_argument("src", type=Path)
    p.add_argument("--out", required=True, type=Path, help="directory that receives train/ and val/")
    p.add_argument("--val", type=float, default=0.1, help="fraction of episodes for validation (default 0.1)")
    p.add_argument("--seed", type=int, default=0)

    p = op("merge", "concatenate datasets with the same features and fps")
    p.add_argument("srcs", type=Path, nargs="+")
    p.add_argument("--out", required=True, type=Path)

    p = op("relabel", "rename tasks (instructions)")
    p.add_argument("src", type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--map", action="append", required=True, metavar="OLD=NEW", help="rename task OLD to NEW (repeatable)")
    p.add_argument("--regex", action="store_true", help="treat OLD as a regular expression and NEW as its replacement")

    p = op("trim-idle", "cut idle frames (no motion) at the start and end of each episode")
    p.add_argument("src", type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--action-eps", type=float, default=1e-3, help="|action| below this (non-gripper dims) counts as idle")
    p.add_argument("--state-eps", type=float, default=1e-4, help="per-frame state change below this counts as idle")

    p = op("subsample", "keep every k-th frame (fps / k); delta actions are summed over each window")
    p.add_argument("src", type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--factor", type=int, required=True)
    p.add_argument("--actions", choices=["auto", "sum", "keep"], default="auto")


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _pairs(items: list[str], what: str) -> dict[str, str]:
    from vlaforge.errors import ConfigError

    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"{what} expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k] = v
    return out


def _edit(args: argparse.Namespace) -> int:
    from vlaforge.data import edit

    e = args.edit
    if e == "filter":
        flags = {k: _json_value(v) for k, v in _pairs(args.flag, "--flag").items()} or None
        out = edit.filter_episodes(
            args.src, args.out, tasks=args.tasks, drop_tasks=args.drop_tasks, min_length=args.min_length,
            max_length=args.max_length, success=None if args.success is None else args.success == "true", flag=flags,
            episodes=args.episodes, drop_episodes=args.drop_episodes, overwrite=args.overwrite,
        )
    elif e == "split":
        a, b = edit.split_dataset(args.src, args.out, args.val, args.seed, overwrite=args.overwrite)
        out = f"{a} and {b}"
    elif e == "merge":
        out = edit.merge_datasets(args.srcs, args.out, overwrite=args.overwrite)
    elif e == "relabel":
        out = edit.relabel_tasks(args.src, args.out, _pairs(args.map, "--map"), regex=args.regex, overwrite=args.overwrite)
    elif e == "trim-idle":
        out = edit.trim_idle(args.src, args.out, args.action_eps, args.state_eps, overwrite=args.overwrite)
    else:
        out = edit.subsample(args.src, args.out, args.factor, args.actions, overwrite=args.overwrite)
    from vlaforge.data.reader import open_dataset

    for path in str(out).split(" and "):
        ds = open_dataset(path)
        print(f"{e}: wrote {path} ({ds.num_episodes} episodes, {ds.num_frames} frames, version {ds.lineage.get('version')})")
    return 0


def _json_value(v: str) -> object:
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


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


def _cache(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from vlaforge.data.cache import default_cache_root, list_caches, prune

    root = default_cache_root()
    removing = args.prune or args.clear
    entries = prune(root, everything=args.clear) if removing else list_caches(root)
    total = sum(e.nbytes for e in entries) / 2**30
    if args.json:
        print(json.dumps({"root": str(root), "removed" if removing else "caches": [{"path": str(e.path), "dataset": e.dataset, "frames": e.num_frames,
                                                       "gib": round(e.nbytes / 2**30, 3), "state": e.state} for e in entries],
                          "gib": round(total, 3)}, indent=2))
        return 0
    t = Table(title=f"{'removed ' if removing else ''}{len(entries)} frame caches, {total:.2f} GiB, at {root}")
    for col in ("dataset", "frames", "GiB", "state"):
        t.add_column(col)
    for e in entries:
        t.add_row(e.dataset, str(e.num_frames), f"{e.nbytes / 2**30:.2f}", e.state)
    Console().print(t)
    return 0


def _check(args: argparse.Namespace) -> int:
    from vlaforge.data.format import require_dataset_dir
    from vlaforge.data.validate import check_dataset, leftover_staging

    require_dataset_dir(args.path)  # a path that is no dataset at all is one line on stderr, not a problem list
    problems = check_dataset(args.path, deep=not args.quick, decode_all=args.deep)
    for line in leftover_staging(args.path):
        print(f"note: {line}")
    if not problems:
        print(f"ok: {args.path} is a valid LeRobot dataset")
        return 0
    print(f"{len(problems)} problem(s) in {args.path}:")
    for p in problems:
        print(f"  - {p}")
    return 1


def _convert(args: argparse.Namespace) -> int:
    from vlaforge.data.convert import convert_v21_to_v30

    out = convert_v21_to_v30(args.src, args.out, overwrite=args.overwrite)
    print(f"converted {args.src} -> {out} (LeRobot v3.0)")
    return 0


def _restats(args: argparse.Namespace) -> int:
    from vlaforge.data.edit import recompute_stats

    recompute_stats(args.path)
    print(f"recomputed statistics of {args.path}")
    return 0
