"""Quality of a finished training run, with the compute that made it read from the run's own files.

    python benchmarks/run_quality.py --run RUN --tasks all --splits seen --name quality_all30k
    python benchmarks/run_quality.py --run RUN_B --baseline RUN_A --name ab        # plus a paired test against another run

`benchmarks/quality.py` measures what `vlaforge demo` reaches from nothing. This one evaluates any run directory
(`vlaforge train --out RUN`) against the same targets (>= 80% seen for every family when several are evaluated) and
states its training budget: steps, minutes and the cores other work took (`other_cores`, logged by the trainer), summed
over the chain of runs it started from (`--train.init`). `--baseline RUN` evaluates another run on the same episodes
and adds an exact McNemar test per family and overall. Intervals are Wilson 95%; evaluation contention is recorded.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Contention, machine, save  # noqa: E402
from quality import TARGETS  # noqa: E402

FAMILY_TARGET = 0.8


def p_text(p: float) -> str:
    """'p = 0.03', or 'p < 0.001' where two decimals would print 0.00."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def run_chain(run: Path) -> list[dict[str, Any]]:
    """The run and every run it was initialised from, oldest first: dataset, episodes, steps, minutes, other cores."""
    chain = []
    seen: set[Path] = set()
    while run and run.resolve() not in seen:
        seen.add(run.resolve())
        cfg = json.loads((run / "config.json").read_text())
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        other = [r["other_cores"] for r in rows if r.get("other_cores") is not None]
        info = json.loads((Path(cfg["dataset"]) / "meta" / "info.json").read_text())
        init = cfg["train"].get("init") or ""
        chain.append({"run": str(run), "dataset": cfg["dataset"], "episodes": info.get("total_episodes"), "steps": rows[-1]["step"],
                      "minutes": round(rows[-1]["elapsed_s"] / 60, 1), "batch_size": cfg["train"]["batch_size"],
                      "threads": sorted({r["threads"] for r in rows if r.get("threads")}),
                      "other_cores": round(sum(other) / len(other), 2) if other else None, "init": init,
                      "devices": sorted({r.get("device") or "cpu" for r in rows})})  # older runs did not log it: they ran on CPU
        run = Path(init) if init and (Path(init) / "config.json").exists() else None
    return chain[::-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="a `vlaforge train --out` directory")
    ap.add_argument("--tasks", default="all", help="task families (comma-separated, or all)")
    ap.add_argument("--splits", default="seen")
    ap.add_argument("--episodes", type=int, default=50, help="per family and split")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--baseline", type=Path, help="another run to evaluate on the same episodes (paired McNemar test)")
    ap.add_argument("--note", default="", help="anything about the run a reader must know")
    ap.add_argument("--name", default="run_quality", help="result name (JSON file and docs/benchmarks.md line)")
    args = ap.parse_args()

    import tempfile

    from vlaforge.eval.records import load_records
    from vlaforge.eval.runner import evaluate
    from vlaforge.eval.stats import interval_text, mcnemar
    from vlaforge.eval.suites import get_suite

    tasks = get_suite("tabletop").tasks(args.tasks)
    chain = run_chain(args.run)
    summaries: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, dict[tuple, bool]] = {}
    failures_by_family: dict[str, dict[str, int]] = {}
    with Contention() as c, tempfile.TemporaryDirectory() as tmp:
        for key, run in (("run", args.run), ("baseline", args.baseline)):
            if run is not None:
                summaries[key] = evaluate({"checkpoint": str(run)}, Path(tmp) / key, tasks=tasks, splits=args.splits, episodes=args.episodes,
                                          workers=args.workers, videos_per_outcome=0, progress=False)["summary"]
                records = load_records(Path(tmp) / key / "records.jsonl")
                outcomes[key] = {(e.family, e.split, e.seed): e.success for e in records}
                if key == "run":  # which failure signatures each family shows (an episode can show several)
                    failures_by_family = {f: dict(Counter(k for e in records if e.family == f for k in e.failures)) for f in tasks}
    s = summaries["run"]
    splits = {k: {"rate": v["rate"], "ci95": v["ci95"], "n": v["n"], "target": TARGETS.get(k)} for k, v in s["by_split"].items()}
    fams = s["by_family"].get("seen", {})
    result = {"run": str(args.run), "chain": chain, "tasks": tasks, "episodes_per_family_and_split": args.episodes, "splits": splits,
              "seen_by_family": fams, "failures": s.get("failures"), "failures_by_family": failures_by_family, "recovery": s.get("recovery"), "note": args.note,
              "eval_contention": c.record()}
    paired = ""
    if args.baseline is not None:
        keys = sorted(outcomes["run"])
        pair = lambda ks: mcnemar([outcomes["baseline"][k] for k in ks], [outcomes["run"][k] for k in ks])  # noqa: E731
        tests = {**{f: pair([k for k in keys if k[0] == f]) for f in tasks}, "all": pair(keys)}
        bs = summaries["baseline"]
        result["baseline"] = {"run": str(args.baseline), "chain": run_chain(args.baseline), "overall": bs["overall"],
                              "seen_by_family": bs["by_family"].get("seen", {}), "paired": tests}
        paired = (f" Against {args.baseline} on the same episodes: {bs['overall']['rate']:.0%} {interval_text(bs['overall'])} "
                  + "(" + ", ".join(f"{f} {r['rate']:.0%}" for f, r in bs["by_family"].get("seen", {}).items()) + "); this run won "
                  f"{tests['all']['b_only']} episodes and lost {tests['all']['a_only']} (McNemar {p_text(tests['all']['p_value'])}).")
    steps, minutes = sum(r["steps"] for r in chain), sum(r["minutes"] for r in chain)
    stages = "; then ".join(f"{r['steps']:,} steps of batch {r['batch_size']} on {r['episodes']} episodes ({r['minutes']:.1f} min, threads {r['threads']}"
                            + (f", other work {r['other_cores']:.2f} cores" if r["other_cores"] is not None else "") + ")" for r in chain)
    parts = [f"{k} {v['rate']:.0%} {interval_text(v)}" for k, v in splits.items()]
    per_family = (" Seen per family: " + ", ".join(f"{f} {r['rate']:.0%} {interval_text(r)}" for f, r in fams.items())
                  + f" (target >= {FAMILY_TARGET:.0%} each: {'met' if all(r['rate'] >= FAMILY_TARGET for r in fams.values()) else 'not met'})."
                  ) if len(fams) > 1 else ""
    devices = sorted({d for r in chain for d in r["devices"]})
    where = f"{machine()['cores']} CPU cores" if devices == ["cpu"] else " + ".join(devices)
    line = (f"**Run quality ({args.name})** ({args.run}: {steps:,} training steps, {minutes:.0f} min on {where} in all: {stages}; "
            f"{args.episodes} eval episodes per family and split): " + "; ".join(parts) + "." + per_family + paired
            + (f" {args.note.rstrip('.')}." if args.note else "")
            + f" `python benchmarks/run_quality.py --run {args.run} --tasks {args.tasks} --splits {args.splits}"
            + (f" --baseline {args.baseline}" if args.baseline else "") + f" --name {args.name}`")
    save(args.name, result, line)


if __name__ == "__main__":
    main()
