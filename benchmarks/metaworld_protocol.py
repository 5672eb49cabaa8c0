"""Meta-World MT10 / MT50 as published: demos per task from the scripted experts, train, evaluate, success per
difficulty with Wilson intervals beside the published numbers, and the compute it took.

    MUJOCO_GL=egl python benchmarks/metaworld_protocol.py --suite metaworld-mt50                 # the protocol (hours on a CPU)
    MUJOCO_GL=egl python benchmarks/metaworld_protocol.py --suite metaworld-mt10 --plan          # print the commands only
    MUJOCO_GL=egl python benchmarks/metaworld_protocol.py --suite metaworld:reach-v3 --smoke     # minutes: checks the pipeline

Protocol (LeRobot's `lerobot/metaworld_mt50`, used by SmolVLA): 50 scripted-expert demonstrations per task,
one camera view (corner2 repositioned = vlaforge's `front`) plus the 4-d state, the task description as
instruction, success = Meta-World's info["success"] within 500 steps. vlaforge adds the wrist camera and
reports the held-out-wording split too; evaluation seeds are fixed per split. Extra `vlaforge train` flags
pass through (e.g. --train.steps 20000 --model.width 256). Needs pip install -e ".[metaworld]".
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Contention, save  # noqa: E402

# Published MT50 success (%), for the table beside ours; per difficulty where the paper gives it.
PUBLISHED = {
    "SmolVLA (0.45B)": {"overall": 57.3, "easy": 82.5, "medium": 41.8, "hard": 45.0, "very_hard": 60.0},
    "pi0 (3.3B)": {"overall": "47.9-50.5"},
    "TinyVLA": {"overall": 31.6},
    "Diffusion Policy": {"overall": 10.5},
}


def commands(args: argparse.Namespace, extra: list[str]) -> list[list[str]]:
    """The three vlaforge commands of the protocol."""
    out = Path(args.out)
    return [
        ["sim", "collect", "--suite", args.suite, "--episodes", str(args.demos), "--workers", str(args.workers),
         "--image-size", str(args.image_size), "--out", str(out / "demos"), "--overwrite"],
        ["train", "--dataset", str(out / "demos"), "--out", str(out / "run"), "--no-progress", *extra],
        ["eval", "--checkpoint", str(out / "run"), "--suite", args.suite, "--split", args.split, "--episodes", str(args.episodes),
         "--workers", str(args.workers), "--out", str(out / "eval"), "--no-progress"],
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", default="metaworld-mt50", help="metaworld-mt10, metaworld-mt50 or metaworld:TASK[,TASK]")
    ap.add_argument("--demos", type=int, default=50, help="expert demonstrations per task (published protocol: 50)")
    ap.add_argument("--episodes", type=int, default=10, help="evaluation episodes per task and split")
    ap.add_argument("--split", default="seen,heldout-wording")
    ap.add_argument("--image-size", type=int, default=96)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="outputs/metaworld")
    ap.add_argument("--plan", action="store_true", help="print the commands and exit")
    ap.add_argument("--smoke", action="store_true", help="2 demos, 1 episode, 20 training steps: checks the pipeline, not a result")
    ap.add_argument("--name", default=None, help="result name (default metaworld_<suite>)")
    args, extra = ap.parse_known_args()
    if args.smoke:
        args.demos, args.episodes, extra = 2, 1, ["--train.steps", "20", *extra]
    cmds = commands(args, extra)
    if args.plan:
        print("\n".join("vlaforge " + shlex.join(c) for c in cmds))
        return
    from vlaforge.cli import main as cli

    stages = {}
    with Contention() as c:
        for name, cmd in zip(("collect", "train", "eval"), cmds):
            t0 = time.perf_counter()
            if cli(cmd) != 0:
                raise SystemExit(f"{name} failed: vlaforge {shlex.join(cmd)}")
            stages[name] = round(time.perf_counter() - t0, 1)
    res = json.loads((Path(args.out) / "eval" / "results.json").read_text())
    from vlaforge.models import load_policy

    params = sum(p.numel() for p in load_policy(Path(args.out) / "run").parameters())
    s = res["summary"]
    pct = lambda r: None if r["rate"] is None else {"rate": round(100 * r["rate"], 1), "ci95": [round(100 * x, 1) for x in r["ci95"]], "n": r["n"]}  # noqa: E731
    result = {"suite": args.suite, "smoke": args.smoke, "demos_per_task": args.demos, "episodes_per_task_and_split": args.episodes,
              "image_size": args.image_size, "train_flags": extra, "parameters": params, "stage_seconds": stages,
              "by_split": {k: pct(v) for k, v in s["by_split"].items()}, "by_difficulty": {k: pct(v) for k, v in s.get("by_group", {}).items()},
              "overall": pct(s["overall"]), "published_mt50": PUBLISHED, "contention": c.record()}
    o = result["overall"]
    line = (f"Meta-World {args.suite}{' (SMOKE, not a result)' if args.smoke else ''}: {o['rate']}% [{o['ci95'][0]}, {o['ci95'][1]}] "
            f"over {o['n']} episodes, " + ", ".join(f"{k} {v['rate']}%" for k, v in result["by_difficulty"].items())
            + f"; {params / 1e6:.1f}M parameters, {args.demos} demos/task, {sum(stages.values()) / 60:.0f} min "
            f"(SmolVLA 0.45B: 57.3% on MT50) — benchmarks/results/{args.name or 'metaworld_' + args.suite.replace(':', '_')}.json")
    save(args.name or "metaworld_" + args.suite.replace(":", "_").replace(",", "+"), result, line)


if __name__ == "__main__":
    main()
