"""`vlaforge eval`: closed-loop evaluation of a checkpoint on a suite (tabletop, Meta-World); `vlaforge eval compare A B`."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from vlaforge.jobs import add_arguments as add_backend_arguments
from vlaforge.jobs import from_args as backend_from_args

EPILOG = """examples:
  vlaforge eval --checkpoint runs/flow --split all --episodes 20 --out outputs/eval_flow
  vlaforge eval --checkpoint runs/flow --tasks pick_place,push --split perturbed --episodes 50 --out outputs/eval_p
  vlaforge eval --checkpoint runs/flow --executor async --latency-ms 100 --split seen --out outputs/eval_async100
  vlaforge eval --server http://127.0.0.1:8765 --token $TOKEN --latency-ms 100 --split seen --out outputs/eval_served
  vlaforge eval --checkpoint runs/mw --suite metaworld-mt10 --split seen --episodes 10 --out outputs/eval_mt10
  vlaforge eval --checkpoint /shared/runs/flow --backend ray --address auto --workers 32 --out outputs/eval_ray
  vlaforge eval compare outputs/eval_flow outputs/eval_chunk      paired test on the shared episodes"""


def register(parser: argparse.ArgumentParser) -> None:
    """Add the eval options and the `compare` sub-command."""
    from vlaforge.eval.suite import EVAL_SPLITS

    parser.epilog = EPILOG
    parser.add_argument("--checkpoint", type=Path, help="run directory or checkpoint to evaluate")
    parser.add_argument("--server", help="evaluate a policy served by `vlaforge serve` at this URL instead of a checkpoint")
    parser.add_argument("--token", default=None, help="bearer token for --server (or set VLAFORGE_TOKEN)")
    parser.add_argument("--executor", choices=["policy", "async", "naive"], default=None,
                        help="how chunks are executed: the policy's own queue (default for checkpoints), async (overlapped "
                             "inference + blending; default for --server and --latency-ms) or naive (wait, then act)")
    parser.add_argument("--latency-ms", type=float, default=0.0, metavar="MS",
                        help="simulated inference latency in milliseconds (default: 0): a chunk requested at one step "
                             "arrives ceil(MS x fps / 1000) control steps later on the sim clock (the tabletop sim runs "
                             "at 10 Hz: 100 = 1 step, 101 = 2; Meta-World at 80 Hz), whatever the real inference time; async keeps acting "
                             "meanwhile, naive waits. Implies --executor async unless naive is given")
    parser.add_argument("--suite", default="tabletop", help="tabletop (default), metaworld-mt10, metaworld-mt50 or metaworld:TASK[,TASK] "
                                                             "(Meta-World needs pip install -e '.[metaworld]'; see docs/metaworld.md)")
    parser.add_argument("--tasks", default=None, help="tabletop: task family, comma-separated families, or 'all' (default pick_place); "
                                                      "Meta-World: 'all' (default), easy|medium|hard|very_hard, or task names")
    parser.add_argument("--split", default="all", help=f"one of {', '.join(EVAL_SPLITS)}, a comma list, or 'all' "
                                                       "(Meta-World: seen, heldout-wording)")
    parser.add_argument("--episodes", type=int, default=20, help="episodes per task family and split (fixed seeds)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (1 torch thread each), local or on Ray (--backend)")
    add_backend_arguments(parser)
    parser.add_argument("--n-action-steps", type=int, default=0, help="actions executed per chunk before re-planning (default: the checkpoint's; for --server "
                             "the served spec's action.execute, i.e. the served policy's n_action_steps, else 8)")
    parser.add_argument("--gripper-hysteresis", type=float, default=None,
                        help="open/close the gripper only past mid-range +- this fraction of its range; 0 executes it as predicted "
                             "(default: the checkpoint's)")
    parser.add_argument("--temporal-ensemble", type=float, default=None, metavar="K",
                        help="checkpoints only: predict a chunk every step and execute the weighted mean of every chunk's action "
                             "for now, weight exp(-K i) with i = 0 for the oldest chunk (ACT's temporal ensembling, e.g. 0.01; "
                             "0 turns it off; default: the checkpoint's)")
    parser.add_argument("--videos", type=int, default=2, help="videos kept per split and outcome (success / failure)")
    parser.add_argument("--out", type=Path, help="output directory (records.jsonl, results.json, report.html, videos/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_eval)
    sub = parser.add_subparsers(dest="eval_command", metavar="[compare]")
    c = sub.add_parser("compare", help="paired test (McNemar) of two evaluations on the episodes they share",
                       description="Say whether B beats A: McNemar's exact test on the (task, split, seed) episodes both ran.")
    c.add_argument("a", type=Path, help="first `vlaforge eval --out` directory")
    c.add_argument("b", type=Path, help="second `vlaforge eval --out` directory")
    c.add_argument("--json", action="store_true", help="print the full comparison as JSON")
    c.set_defaults(func=run_compare)


def print_summary(summary: dict[str, Any], title: str = "success") -> None:
    """A table of success per split with intervals, recovery, jerk and latency."""
    from rich.console import Console
    from rich.table import Table

    from vlaforge.eval.stats import interval_text

    t = Table(title=title)
    for h in ("split", "episodes", "success", "95% interval"):
        t.add_column(h, justify="right" if h != "split" else "left")
    for name, r in {**summary["by_split"], **summary.get("by_group", {}), "all": summary["overall"]}.items():
        t.add_row(name, str(r["n"]), f"{r['rate']:.0%}", interval_text(r))
    con = Console()
    con.print(t)
    rec, lat = summary["recovery"], summary["inference_ms"]
    if rec["n"]:
        con.print(f"recovery after a perturbation: {rec['rate']:.0%} of {rec['n']} {interval_text(rec)}")
    if summary["failures"]:
        con.print("failures: " + ", ".join(f"{k} {v}" for k, v in summary["failures"].items()))
    if lat:
        con.print(f"inference {lat['mean']:.1f} ms per chunk (p99 {lat['p99']:.1f}), mean jerk {summary['mean_jerk']:.3g}")


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate, print the summary table and where the report is."""
    from vlaforge.errors import ConfigError
    from vlaforge.eval.runner import evaluate

    if (args.checkpoint is None) == (args.server is None) or args.out is None:
        raise ConfigError("vlaforge eval needs one of --checkpoint RUN or --server URL, and --out DIR (see `vlaforge eval --help`)")
    source: dict[str, Any] = {"checkpoint": args.checkpoint} if args.checkpoint else {"server": args.server, "token": args.token or os.environ.get("VLAFORGE_TOKEN")}
    for key in ("n_action_steps", "executor", "latency_ms"):
        if getattr(args, key):
            source[key] = getattr(args, key)
    for key in ("gripper_hysteresis", "temporal_ensemble"):
        if getattr(args, key) is not None:
            source[key] = getattr(args, key)
    res = evaluate(source, args.out, suite=args.suite, tasks=args.tasks, splits=args.split,
                   episodes=args.episodes, workers=args.workers, videos_per_outcome=args.videos, progress=not args.no_progress,
                   backend=backend_from_args(args))
    print_summary(res["summary"], f"{args.checkpoint or args.server} on {args.suite}")
    print(f"report: {args.out / 'report.html'}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """Print the paired comparison and its verdict."""
    from vlaforge.eval.compare import compare_dirs

    res = compare_dirs(args.a, args.b)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['shared_episodes']} shared episodes")
    for name, block in {**res["by_split"], "all": res["overall"]}.items():
        print(f"  {name:16s} {block['verdict']}")
    return 0
