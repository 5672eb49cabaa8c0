"""Execution horizon: one checkpoint, the same seeds, several numbers of actions executed per chunk before re-planning.

    python benchmarks/execution_horizon.py --checkpoint outputs/quality_all15k/run --tasks all --steps 8,4
    python benchmarks/execution_horizon.py --checkpoint outputs/quality/run --splits all --steps 8,4 --name execution_horizon_demo
    python benchmarks/execution_horizon.py --checkpoint RUN --suite metaworld-mt10 --tasks all --splits seen,heldout-wording \
        --episodes 10 --steps 8,4 --name execution_horizon_mt10      (needs the metaworld extra)

Training is untouched (`n_action_steps` acts only at inference), so every difference is the horizon's. Each setting is
compared with the first on the same episodes (exact McNemar test); intervals are Wilson 95%.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Contention, save  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="a run dir or checkpoint")
    ap.add_argument("--suite", default="tabletop", help="tabletop, metaworld-mt10, metaworld-mt50 or metaworld:TASK[,TASK]")
    ap.add_argument("--tasks", default="pick_place", help="task families or Meta-World tasks (comma-separated, or all)")
    ap.add_argument("--splits", default="seen")
    ap.add_argument("--episodes", type=int, default=50, help="per family and split")
    ap.add_argument("--steps", default="8,4", help="actions executed per chunk, comma-separated; the first is the reference")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--name", default="execution_horizon")
    args = ap.parse_args()
    steps = [int(s) for s in args.steps.split(",")]

    from vlaforge.eval.records import load_records
    from vlaforge.eval.runner import evaluate
    from vlaforge.eval.stats import interval_text, mcnemar
    from vlaforge.eval.suites import get_suite

    tasks = get_suite(args.suite).tasks(args.tasks)
    runs, outcomes = {}, {}
    with Contention() as c, tempfile.TemporaryDirectory() as tmp:
        for n in steps:
            res = evaluate({"checkpoint": args.checkpoint, "n_action_steps": n}, Path(tmp) / str(n), suite=args.suite, tasks=tasks,
                           splits=args.splits, episodes=args.episodes, workers=args.workers, videos_per_outcome=0, progress=False)
            recs = load_records(Path(tmp) / str(n) / "records.jsonl")
            outcomes[n] = {(r.family, r.split, r.seed): r.success for r in recs}
            s = res["summary"]
            runs[n] = {"overall": s["overall"], "by_split": s["by_split"], "by_family": {f: sum(r.success for r in recs if r.family == f) for f in tasks},
                       "failures": s.get("failures"), "recovery": s.get("recovery")}
    ref = steps[0]
    for n in steps[1:]:
        keys = sorted(outcomes[ref])
        runs[n]["vs_first"] = mcnemar([outcomes[ref][k] for k in keys], [outcomes[n][k] for k in keys])
    result = {"checkpoint": args.checkpoint, "suite": args.suite, "tasks": tasks, "splits": args.splits, "episodes_per_family_and_split": args.episodes,
              "runs": {str(n): r for n, r in runs.items()}, "contention": c.record()}
    parts = []
    for n in steps:
        o = runs[n]["overall"]
        t = runs[n].get("vs_first")
        parts.append(f"{n} actions {o['rate']:.0%} {interval_text(o)}" + (f" (vs {ref}: {t['b_only']} won, {t['a_only']} lost, p = {t['p_value']:.2f})" if t else ""))
    suite = "" if args.suite == "tabletop" else f" --suite {args.suite}"
    line = (f"**Execution horizon** ({args.checkpoint},{suite} {args.tasks if len(tasks) > 5 else ','.join(tasks)}, {args.splits}, {args.episodes} episodes per task and split, {o['n']} in all, same seeds): "
            + "; ".join(parts) + f". `python benchmarks/execution_horizon.py --checkpoint {args.checkpoint} --tasks {args.tasks} "
            f"--splits {args.splits} --steps {args.steps}{suite}" + (f" --name {args.name}`" if args.name != "execution_horizon" else "`"))
    save(args.name, result, line)


if __name__ == "__main__":
    main()
